// The `leo` program itself: info / eval / convert on the reference models, and
// every bad input of the foundation issue (exit code 2, one line naming the
// file, no output file left behind).
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "leo/data/csv.hpp"
#include "leo/io/model_file.hpp"
#include "leo/io/nnet.hpp"
#include "ort_check.hpp"
#include "leo/network/evaluate_float.hpp"
#include "support.hpp"

using namespace leo;
using test::run_leo;
namespace fs = std::filesystem;

namespace {

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

fs::path acas(int a, int b) {
  return test::models_dir() / "acasxu" / fmt::format("ACASXU_run2a_{}_{}_batch_2000.onnx", a, b);
}

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::binary) << text; }

// Files in a folder (names), to check that nothing (not even a temporary) was left.
std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// A failed command: exit code 2, exactly one line on stderr, starting "leo: ",
// containing `expected`, nothing on stdout.
void expect_bad_input(const test::CommandResult& r, const std::string& expected) {
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.rfind("leo: ", 0), 0u) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
  EXPECT_NE(r.err.find(expected), std::string::npos) << "expected '" << expected << "' in: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

class Cli : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fs::exists(acas(1, 1))) << "reference models not found in " << test::models_dir();
    dir = test::temp_dir("cli");
  }
  void TearDown() override {
    if (!dir.empty()) fs::remove_all(dir);
  }
  fs::path dir;
};

}  // namespace

TEST_F(Cli, HelpForEveryCommand) {
  for (std::string command : {"info", "eval", "convert"}) {
    auto r = run_leo(command + " --help");
    EXPECT_EQ(r.exit_code, 0) << command;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << command << ": " << r.out;
  }
  auto r = run_leo("--help");
  EXPECT_EQ(r.exit_code, 0);
  for (std::string command : {"info", "eval", "convert"}) EXPECT_NE(r.out.find(command), std::string::npos);
}

TEST_F(Cli, InfoOnEveryReferenceModel) {
  struct Expected {
    fs::path file;
    std::int64_t parameters;
    std::vector<int> widths;
    std::int64_t opset;
  };
  std::vector<Expected> models;
  for (int a = 1; a <= 5; ++a)
    for (int b = 1; b <= 9; ++b) models.push_back({acas(a, b), 5 * 50 + 50 + 5 * (50 * 50 + 50) + 50 * 5 + 5,
                                                   {50, 50, 50, 50, 50, 50}, 8});
  models.push_back({test::models_dir() / "mnistfc/mnist-net_256x2.onnx",
                    784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10, {256, 256}, 9});
  models.push_back({test::models_dir() / "mnistfc/mnist-net_256x4.onnx",
                    784 * 256 + 256 + 3 * (256 * 256 + 256) + 256 * 10 + 10, {256, 256, 256, 256}, 9});
  for (const auto& m : models) {
    auto r = run_leo("info --json " + q(m.file));
    ASSERT_EQ(r.exit_code, 0) << m.file << ": " << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_EQ(j.at("parameters").get<std::int64_t>(), m.parameters) << m.file;
    EXPECT_EQ(j.at("widths").get<std::vector<int>>(), m.widths) << m.file;
    EXPECT_EQ(j.at("layers").get<std::size_t>(), m.widths.size() + 1);
    EXPECT_EQ(j.at("opset").get<std::int64_t>(), m.opset);
    EXPECT_EQ(j.at("format"), "onnx");
    for (const char* key : {"input_shape", "output_shape", "producer", "multiply_adds", "input_name", "output_name"})
      EXPECT_TRUE(j.contains(key)) << key;
  }
  auto r = run_leo("info --json " + q(acas(1, 1)));
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["input_shape"], nlohmann::json({1, 1, 1, 5}));
  EXPECT_EQ(j["output_shape"], nlohmann::json({1, 5}));
  EXPECT_EQ(j["inputs"], 5);
  EXPECT_EQ(j["outputs"], 5);
  EXPECT_EQ(j["multiply_adds"], 5 * 50 + 5 * 50 * 50 + 50 * 5);

  // Every small model parses.
  for (const auto& e : fs::directory_iterator(test::models_dir() / "small")) {
    auto s = run_leo("info " + q(e.path()));
    EXPECT_EQ(s.exit_code, 0) << e.path() << ": " << s.err;
    EXPECT_NE(s.out.find("parameters:"), std::string::npos);
  }
  // Text output.
  auto t = run_leo("info " + q(test::models_dir() / "mnistfc/mnist-net_256x2.onnx"));
  EXPECT_EQ(t.exit_code, 0);
  EXPECT_NE(t.out.find("widths:         784 -> 256 -> 256 -> 10"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("parameters:     269322"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("opset:          9"), std::string::npos) << t.out;
}

TEST_F(Cli, InfoRefusesMaxPool) {
  auto r = run_leo("info " + q(test::fixtures_dir() / "pytorch/cnn_maxpool.onnx"));
  expect_bad_input(r, "cnn_maxpool.onnx: node '/MaxPool' (MaxPool): unsupported op MaxPool");
}

TEST_F(Cli, EvalPrintsOneRowPerInputRow) {
  Network net = read_model(acas(2, 3));
  std::mt19937_64 rng(5);
  Eigen::MatrixXd X = test::random_points(Eigen::VectorXd::Constant(5, -0.5), Eigen::VectorXd::Constant(5, 0.5), 50, rng);
  std::ostringstream csv;
  csv << "rho,theta,psi,v_own,v_int\n";
  write_csv_matrix(csv, X.transpose());
  write_text(dir / "in.csv", csv.str());

  auto r = run_leo("eval " + q(acas(2, 3)) + " --input " + q(dir / "in.csv"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  Eigen::MatrixXd got = parse_csv(r.out, "stdout").rows;
  // A float32 model is evaluated in float32 arithmetic (network/evaluate_float.hpp).
  Eigen::MatrixXd want = evaluate_in(net, X, ElementType::float32).transpose();
  ASSERT_EQ(got.rows(), 50);
  ASSERT_EQ(got.cols(), 5);
  EXPECT_EQ(got, want);  // shortest round-trip decimals: exact

  // --output writes the same to a file; --json gives the same numbers.
  auto w = run_leo("eval " + q(acas(2, 3)) + " --input " + q(dir / "in.csv") + " --output " + q(dir / "out.csv"));
  ASSERT_EQ(w.exit_code, 0) << w.err;
  EXPECT_TRUE(w.out.empty());
  EXPECT_EQ(test::read_file(dir / "out.csv"), r.out);
  auto js = run_leo("eval --json " + q(acas(2, 3)) + " --input " + q(dir / "in.csv"));
  ASSERT_EQ(js.exit_code, 0) << js.err;
  auto j = nlohmann::json::parse(js.out);
  EXPECT_EQ(j["rows"], 50);
  EXPECT_EQ(j["outputs"][7][3].get<double>(), want(7, 3));
}

TEST_F(Cli, EvalWrongWidthNamesFileAndLine) {
  write_text(dir / "narrow.csv", "a,b,c\n1,2,3\n");
  auto r = run_leo("eval " + q(acas(1, 1)) + " --input " + q(dir / "narrow.csv"));
  expect_bad_input(r, (dir / "narrow.csv").string() + ": line 2 has 3 columns but");
  EXPECT_NE(r.err.find("takes 5 inputs"), std::string::npos);

  write_text(dir / "ragged.csv", "1,2,3,4,5\n1,2,3,4\n");
  expect_bad_input(run_leo("eval " + q(acas(1, 1)) + " --input " + q(dir / "ragged.csv")),
                   "ragged.csv: line 2 has 4 columns, expected 5");
  write_text(dir / "word.csv", "1,2,3,4,5\n1,2,x,4,5\n");
  expect_bad_input(run_leo("eval " + q(acas(1, 1)) + " --input " + q(dir / "word.csv") + " --output " +
                           q(dir / "out.csv")),
                   "word.csv: line 2, column 3: 'x' is not a number");
  EXPECT_FALSE(fs::exists(dir / "out.csv"));
  expect_bad_input(run_leo("eval " + q(acas(1, 1)) + " --input " + q(dir / "missing.csv")),
                   "missing.csv: no such file");
  expect_bad_input(run_leo("eval " + q(acas(1, 1))), "--input");
  // The input is never overwritten.
  std::string before = test::read_file(dir / "word.csv");
  write_text(dir / "ok.csv", "1,2,3,4,5\n");
  expect_bad_input(run_leo("eval " + q(acas(1, 1)) + " --input " + q(dir / "ok.csv") + " --output " +
                           q(dir / "ok.csv")),
                   "refusing to overwrite");
  EXPECT_EQ(test::read_file(dir / "ok.csv"), "1,2,3,4,5\n");
}

TEST_F(Cli, ConvertOnnxToNnetAndBack) {
  for (auto [a, b] : {std::pair{1, 1}, std::pair{3, 7}, std::pair{5, 9}}) {
    fs::path nnet = dir / "m.nnet", back = dir / "m.onnx", direct = dir / "direct.onnx";
    auto r1 = run_leo("convert " + q(acas(a, b)) + " " + q(nnet));
    ASSERT_EQ(r1.exit_code, 0) << r1.err;
    auto r2 = run_leo("convert " + q(nnet) + " " + q(back));
    ASSERT_EQ(r2.exit_code, 0) << r2.err;
    auto r3 = run_leo("convert " + q(acas(a, b)) + " " + q(direct));
    ASSERT_EQ(r3.exit_code, 0) << r3.err;
    const Box acas_box = Box::uniform(5, -1, 1);
    LEO_EXPECT_ORT_AGREES(acas(a, b), nnet, acas_box);
    LEO_EXPECT_ORT_AGREES(acas(a, b), back, acas_box);
    LEO_EXPECT_ORT_AGREES(acas(a, b), direct, acas_box);
    Network original = read_model(acas(a, b)), via_nnet = read_model(back), onnx_onnx = read_model(direct);
    ASSERT_EQ(via_nnet.depth(), original.depth());
    for (std::size_t l = 0; l < original.depth(); ++l) {
      EXPECT_EQ(via_nnet.layers[l].weights, onnx_onnx.layers[l].weights);
      EXPECT_EQ(via_nnet.layers[l].bias, onnx_onnx.layers[l].bias);
      // Weights leo did not change are bit-identical float32 values.
      EXPECT_EQ(via_nnet.layers[l].weights, original.layers[l].weights) << "layer " << l;
    }
    EXPECT_EQ(via_nnet.input.name, original.input.name);
    EXPECT_EQ(via_nnet.output.name, original.output.name);
    EXPECT_EQ(via_nnet.input.features(), 5);
    std::mt19937_64 rng(a * 10 + b);
    Eigen::MatrixXd X = test::random_points(Eigen::VectorXd::Constant(5, -1), Eigen::VectorXd::Constant(5, 1), 100, rng);
    EXPECT_EQ(via_nnet.evaluate(X), onnx_onnx.evaluate(X));
    EXPECT_LE((via_nnet.evaluate(X) - original.evaluate(X)).cwiseAbs().maxCoeff(), 1e-6);
  }
  // Double precision on request, and .nnet -> .nnet.
  auto d = run_leo("convert --dtype double " + q(dir / "m.nnet") + " " + q(dir / "d.onnx"));
  ASSERT_EQ(d.exit_code, 0) << d.err;
  LEO_EXPECT_ORT_AGREES(dir / "m.nnet", dir / "d.onnx", Box::uniform(5, -1, 1));
  auto j = nlohmann::json::parse(run_leo("info --json " + q(dir / "d.onnx")).out);
  EXPECT_EQ(j["input_type"], "float64");
  ASSERT_EQ(run_leo("convert " + q(dir / "m.nnet") + " " + q(dir / "copy.nnet")).exit_code, 0);
  EXPECT_EQ(test::read_file(dir / "copy.nnet"), test::read_file(dir / "m.nnet"));
  // info on .nnet.
  auto i = run_leo("info --json " + q(dir / "m.nnet"));
  ASSERT_EQ(i.exit_code, 0) << i.err;
  EXPECT_EQ(nlohmann::json::parse(i.out)["format"], "nnet");
  EXPECT_EQ(nlohmann::json::parse(i.out)["parameters"], 13305);
}

TEST_F(Cli, NnetBoxesShowInInfo) {
  write_text(dir / "box.nnet",
             "1,2,1,2,\n2,1,\n0,\n-1,0,\n1,0.5,\n0,0,0,\n1,1,1,\n2,3,\n-1,\n");
  auto r = run_leo("info --json " + q(dir / "box.nnet"));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["input_box"]["lower"], nlohmann::json({-1, 0}));
  EXPECT_EQ(j["input_box"]["upper"], nlohmann::json({1, 0.5}));
  EXPECT_EQ(j["parameters"], 3);
  // The bounds survive ONNX -> back.
  ASSERT_EQ(run_leo("convert " + q(dir / "box.nnet") + " " + q(dir / "box.onnx")).exit_code, 0);
  ASSERT_EQ(run_leo("convert " + q(dir / "box.onnx") + " " + q(dir / "box2.nnet")).exit_code, 0);
  LEO_EXPECT_ORT_AGREES(dir / "box.nnet", dir / "box.onnx", Box(Eigen::Vector2d(-1, 0), Eigen::Vector2d(1, 0.5)));
  LEO_EXPECT_ORT_AGREES(dir / "box.onnx", dir / "box2.nnet", Box(Eigen::Vector2d(-1, 0), Eigen::Vector2d(1, 0.5)));
  Network a = read_model(dir / "box.nnet"), b = read_model(dir / "box2.nnet");
  EXPECT_EQ(a.metadata, b.metadata);
  EXPECT_EQ(a.layers[0].weights, b.layers[0].weights);
}

// The bad inputs of the foundation issue, through `convert` (which must then
// leave no output file) and `info`.
TEST_F(Cli, BadInputsExitTwoWithNoOutput) {
  const std::string model = test::read_file(acas(1, 1));
  write_text(dir / "truncated.onnx", model.substr(0, model.size() / 2));
  write_text(dir / "text.onnx", "this is not an ONNX model\n");
  write_text(dir / "empty.onnx", "");
  // NaN weights: a leo-written ONNX file whose one distinctive weight (1234.5f)
  // is patched to a NaN.
  write_text(dir / "nan.nnet", "1,2,1,2,\n2,1,\n0,\n0,0,\n1,1,\n0,0,0,\n1,1,1,\n1234.5,3,\n-1,\n");
  ASSERT_EQ(run_leo("convert --dtype float " + q(dir / "nan.nnet") + " " + q(dir / "clean.onnx")).exit_code, 0);
  std::string bytes = test::read_file(dir / "clean.onnx");
  const std::string weight("\x00\x50\x9a\x44", 4), nan("\x00\x00\xc0\x7f", 4);
  auto at = bytes.find(weight);
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 4, nan);
  write_text(dir / "nan.onnx", bytes);
  fs::remove(dir / "clean.onnx");
  write_text(dir / "nan.nnet", "1,2,1,2,\n2,1,\n0,\n0,0,\n1,1,\n0,0,0,\n1,1,1,\nnan,3,\n-1,\n");
  write_text(dir / "short.nnet", "1,2,1,2,\n2,1,\n0,\n0,0,\n1,1,\n0,0,0,\n1,1,1,\n1,3,\n");

  struct Case {
    fs::path in;
    std::string expected;
  };
  std::vector<Case> cases = {
      {dir / "truncated.onnx", "truncated.onnx: not an ONNX model"},
      {dir / "text.onnx", "text.onnx: not an ONNX model"},
      {dir / "empty.onnx", "empty.onnx: not an ONNX model"},
      {dir / "missing.onnx", "missing.onnx: no such file"},
      {dir / "missing.nnet", "missing.nnet: no such file"},
      {dir / "nan.onnx", "nan.onnx"},
      {dir / "nan.nnet", "nan.nnet: line 8: weight 1 of layer 1 unit 1 is nan"},
      {dir / "short.nnet", "short.nnet: the file ends (line 8) before bias of layer 1 unit 1"},
      {test::fixtures_dir() / "pytorch/cnn_maxpool.onnx", "MaxPool"},
      {dir, "is a folder"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.in.string());
    auto before = listing(dir);
    for (const char* out : {"out.onnx", "out.nnet"}) {
      auto r = run_leo("convert " + q(c.in) + " " + q(dir / out));
      expect_bad_input(r, c.expected);
      EXPECT_EQ(listing(dir), before) << "convert left a file behind";
    }
    expect_bad_input(run_leo("info " + q(c.in)), c.expected);
    write_text(dir / "row.csv", "1,2\n");
    expect_bad_input(run_leo("eval " + q(c.in) + " --input " + q(dir / "row.csv")), c.expected);
    fs::remove(dir / "row.csv");
  }
  auto nan_message = run_leo("info " + q(dir / "nan.onnx")).err;
  EXPECT_TRUE(nan_message.find("NaN") != std::string::npos || nan_message.find("nan") != std::string::npos)
      << nan_message;
}

TEST_F(Cli, ConvertNeverOverwritesItsInput) {
  ASSERT_EQ(run_leo("convert " + q(acas(1, 2)) + " " + q(dir / "m.nnet")).exit_code, 0);
  ASSERT_EQ(run_leo("convert " + q(acas(1, 2)) + " " + q(dir / "m.onnx")).exit_code, 0);
  LEO_EXPECT_ORT_AGREES(acas(1, 2), dir / "m.onnx", Box::uniform(5, -1, 1));
  for (const char* name : {"m.nnet", "m.onnx"}) {
    std::string before = test::read_file(dir / name);
    auto r = run_leo("convert " + q(dir / name) + " " + q(dir / name));
    expect_bad_input(r, std::string(name) + ": refusing to overwrite an input file");
    EXPECT_EQ(test::read_file(dir / name), before);
    // The same file through another path.
    auto r2 = run_leo("convert " + q(dir / name) + " " + q(dir / "." / name));
    expect_bad_input(r2, "refusing to overwrite");
    EXPECT_EQ(test::read_file(dir / name), before);
  }
  // An existing output that is not the input is replaced.
  write_text(dir / "old.nnet", "old");
  ASSERT_EQ(run_leo("convert " + q(dir / "m.onnx") + " " + q(dir / "old.nnet")).exit_code, 0);
  EXPECT_EQ(test::read_file(dir / "old.nnet").rfind("// Neural network in .nnet format", 0), 0u);
}

TEST_F(Cli, ConvertToAnUnwritablePlace) {
  auto before = listing(dir);
  expect_bad_input(run_leo("convert " + q(acas(1, 1)) + " " + q(dir / "no/such/folder/out.onnx")),
                   "folder " + (dir / "no/such/folder").string() + " does not exist");
  write_text(dir / "plain-file", "x");
  expect_bad_input(run_leo("convert " + q(acas(1, 1)) + " " + q(dir / "plain-file/out.nnet")), "plain-file/out.nnet");
  expect_bad_input(run_leo("convert " + q(acas(1, 1)) + " " + q(dir)), "is a folder");
  fs::remove(dir / "plain-file");
  EXPECT_EQ(listing(dir), before);
  // A folder nobody may create files in (even root): /proc.
  if (fs::is_directory("/proc"))
    for (const char* out : {"/proc/leo-test-out.onnx", "/proc/leo-test-out.nnet"})
      expect_bad_input(run_leo("convert " + q(acas(1, 1)) + " " + out),
                       std::string(out) + ": cannot write in folder /proc");
  auto half = run_leo("convert --dtype half " + q(acas(1, 1)) + " " + q(dir / "x.onnx"));
  EXPECT_EQ(half.exit_code, 2);
  EXPECT_NE(half.err.find("--dtype"), std::string::npos) << half.err;
  EXPECT_FALSE(fs::exists(dir / "x.onnx"));
}
