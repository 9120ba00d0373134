// `leo compress` checks the model as written, and `leo eval` computes in the
// model's element type (issue 16, "The check and eval use the stored
// precision"), through the leo program, on the robustness cases of
// tests/fixtures/robustness (README there).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "leo/io/model_file.hpp"
#include "leo/network/evaluate_float.hpp"
#include "ort_check.hpp"
#include "support.hpp"

using namespace leo;
namespace fs = std::filesystem;

namespace {

fs::path robustness() { return test::fixtures_dir() / "robustness"; }
std::string q(const fs::path& p) {
  std::string out = "'";
  out += p.string();
  out += "'";
  return out;
}
bool empty_folder(const fs::path& dir) { return fs::directory_iterator(dir) == fs::directory_iterator(); }

}  // namespace

TEST(CheckIntegration, RobustnessCasesAreCheckedAsStored) {
  const fs::path dir = test::temp_dir("check-robustness");
  // round.nnet (double weights) written as float: the rounded weights move the
  // output by 1; it used to be written with leo.max_abs_deviation=0.
  auto round = test::run_leo("-q compress " + q(robustness() / "nnet" / "round.nnet") + " -o " + q(dir / "r.onnx") +
                             " --dtype float");
  EXPECT_EQ(round.exit_code, 3) << round.out << round.err;
  EXPECT_NE(round.err.find("not written: the float model differs"), std::string::npos) << round.err;
  EXPECT_NE(round.err.find("--dtype double"), std::string::npos) << round.err;
  EXPECT_TRUE(round.out.empty());
  // Kept in double it is written, unchanged.
  auto round64 = test::run_leo("-q compress " + q(robustness() / "nnet" / "round.nnet") + " -o " +
                               q(dir / "r64.onnx") + " --dtype double --json");
  EXPECT_EQ(round64.exit_code, 0) << round64.err;
  LEO_EXPECT_ORT_AGREES(robustness() / "nnet" / "round.nnet", dir / "r64.onnx", "");  // its box [0,1]
  fs::remove(dir / "r64.onnx");
  // subnorm.onnx on a box around 1e6: its composed weights rounded to float32
  // deviate by 0.0058 (it used to be written unchecked).
  auto subnorm = test::run_leo("-q compress " + q(robustness() / "onnx" / "subnorm.onnx") +
                               " --box 1000000,1000001 -o " + q(dir / "s.onnx"));
  EXPECT_EQ(subnorm.exit_code, 3) << subnorm.out << subnorm.err;
  EXPECT_NE(subnorm.err.find("not written"), std::string::npos) << subnorm.err;
  // overflow_compose.onnx: composing its MatMuls gives 2.7e77, not a float32:
  // refused, no infinite weights written.
  auto overflow = test::run_leo("-q compress " + q(robustness() / "onnx" / "overflow_compose.onnx") +
                                " --box 0,1 -o " + q(dir / "oc.onnx"));
  EXPECT_EQ(overflow.exit_code, 3) << overflow.out << overflow.err;
  EXPECT_NE(overflow.err.find("not a finite float32 value"), std::string::npos) << overflow.err;
  EXPECT_EQ(overflow.err.find('\n'), overflow.err.size() - 1) << overflow.err;  // one line
  EXPECT_TRUE(empty_folder(dir));
  fs::remove_all(dir);
}

TEST(CheckIntegration, CompressReportsBothDeviationsAndTheKeptUnits) {
  const fs::path dir = test::temp_dir("check-json");
  const fs::path model = fs::path(LEO_SOURCE_DIR) / "examples" / "mnist_l1_50x2.onnx";
  auto r = test::run_leo("-q compress " + q(model) + " -o " + q(dir / "small.onnx") + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  LEO_EXPECT_ORT_AGREES(model, dir / "small.onnx", "--box 0,1");
  auto j = nlohmann::json::parse(r.out);
  const double in_double = j.at("max_abs_deviation_double").get<double>();
  const double stored = j.at("max_abs_deviation_stored").get<double>();
  EXPECT_EQ(j.at("max_abs_deviation").get<double>(), std::max(in_double, stored));
  EXPECT_EQ(j.at("check").at("arithmetic_original"), "float");
  EXPECT_EQ(j.at("check").at("arithmetic_written"), "float");
  EXPECT_EQ(j.at("check").at("candidate"), "rewrites");
  // Removing columns changes the float32 sums: the float32 deviation is
  // rounding noise far above the double one, and what a float32 runtime sees.
  EXPECT_GT(stored, in_double);
  EXPECT_LE(stored, 1e-4);
  // The kept-unit map: one entry per hidden layer, units in increasing order.
  const auto& kept = j.at("kept_units");
  ASSERT_EQ(kept.size(), j.at("units_after").size());
  for (std::size_t h = 0; h < kept.size(); ++h) {
    EXPECT_EQ(kept[h].at("original_layer").get<int>(), static_cast<int>(h));
    EXPECT_EQ(kept[h].at("units").size(), j.at("units_after")[h].get<std::size_t>());
  }
  Network small = read_model(dir / "small.onnx");
  EXPECT_TRUE(small.metadata.count("leo.max_abs_deviation_double"));
  EXPECT_TRUE(small.metadata.count("leo.max_abs_deviation_stored"));
  EXPECT_EQ(small.metadata.at("leo.check_arithmetic"), "float vs float");
  // The summary names both.
  auto s = test::run_leo("-q compress " + q(model) + " -o " + q(dir / "small2.onnx"));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  LEO_EXPECT_ORT_AGREES(model, dir / "small2.onnx", "--box 0,1");
  EXPECT_NE(s.out.find("in float vs float arithmetic"), std::string::npos) << s.out;
  EXPECT_NE(s.out.find("in double"), std::string::npos) << s.out;
  fs::remove_all(dir);
}

TEST(CheckIntegration, EvalComputesInTheModelsElementType) {
  const fs::path dir = test::temp_dir("check-eval");
  // y = x - 2^24 on a float32 model: x = 2^24 + 1 is not a float, so a float32
  // runtime gives 0; in double 1.
  Network net({AffineLayer{Eigen::MatrixXd{{1}}, Eigen::VectorXd{{-16777216}}}});
  write_model(net, dir / "f.onnx", ModelWriteOptions{ElementType::float32, {}});
  write_model(net, dir / "d.onnx", ModelWriteOptions{ElementType::float64, {}});
  std::ofstream(dir / "x.csv") << "16777217\n";
  auto f = test::run_leo("eval " + q(dir / "f.onnx") + " --input " + q(dir / "x.csv"));
  EXPECT_EQ(f.exit_code, 0) << f.err;
  EXPECT_EQ(f.out, "0\n");
  auto f64 = test::run_leo("eval " + q(dir / "f.onnx") + " --input " + q(dir / "x.csv") + " --dtype float64");
  EXPECT_EQ(f64.out, "1\n") << f64.err;
  auto d = test::run_leo("eval " + q(dir / "d.onnx") + " --input " + q(dir / "x.csv"));
  EXPECT_EQ(d.out, "1\n") << d.err;
  auto d32 = test::run_leo("eval " + q(dir / "d.onnx") + " --input " + q(dir / "x.csv") + " --dtype float --json");
  ASSERT_EQ(d32.exit_code, 0) << d32.err;
  auto j = nlohmann::json::parse(d32.out);
  EXPECT_EQ(j.at("dtype"), "float");
  EXPECT_EQ(j.at("outputs")[0][0].get<double>(), 0.0);
  auto bad = test::run_leo("eval " + q(dir / "f.onnx") + " --input " + q(dir / "x.csv") + " --dtype half");
  EXPECT_EQ(bad.exit_code, 2);
  fs::remove_all(dir);
}

TEST(CheckIntegration, EvalReportsInfiniteOutputsAsSuch) {
  // huge_vals.csv: inputs of 1e308 overflow base.onnx's outputs (float32 and
  // double alike); --json used to print null.
  const fs::path model = robustness() / "onnx" / "base.onnx";
  const fs::path csv = robustness() / "csv" / "huge_vals.csv";
  for (const char* dtype : {"", " --dtype double"}) {
    auto r = test::run_leo("eval " + q(model) + " --input " + q(csv) + " --json" + dtype);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out.find("null"), std::string::npos) << r.out;
    auto j = nlohmann::json::parse(r.out);
    int words = 0;
    for (const auto& row : j.at("outputs"))
      for (const auto& v : row) {
        if (v.is_string()) {
          EXPECT_TRUE(v == "inf" || v == "-inf" || v == "nan") << v;
          ++words;
        } else {
          EXPECT_TRUE(v.is_number()) << v;
        }
      }
    EXPECT_GT(words, 0) << r.out;
    // The CSV output says the same in words.
    auto c = test::run_leo("eval " + q(model) + " --input " + q(csv) + dtype);
    EXPECT_TRUE(c.out.find("inf") != std::string::npos || c.out.find("nan") != std::string::npos) << c.out;
  }
}
