// End to end: analyse, compress, verify. Random small networks proven
// equivalent by the MILP; the example model and reference models through the
// CLI; bad input (OUT == IN, unwritable OUT, a failing deviation check).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "leo/compress/compress.hpp"
#include "leo/io/onnx.hpp"
#include "leo/stability/cascade.hpp"
#include "leo/verify/verify.hpp"
#include "ort_check.hpp"
#include "support.hpp"

using namespace leo;
namespace fs = std::filesystem;

namespace {

fs::path example_model() { return fs::path(LEO_SOURCE_DIR) / "examples" / "mnist_l1_50x2.onnx"; }

std::string q(const fs::path& p) { return "'" + p.string() + "'"; }

bool folder_has_only(const fs::path& dir, std::size_t n) {
  return static_cast<std::size_t>(std::distance(fs::directory_iterator(dir), fs::directory_iterator())) == n;
}

}  // namespace

TEST(CompressIntegration, RandomNetworksCompressAndAreProvenEquivalent) {
  std::mt19937_64 rng(2024);
  std::uniform_int_distribution<int> width(2, 8), depth(1, 3), inputs(1, 4), outputs(1, 3);
  std::normal_distribution<double> normal;
  int removed = 0, proven = 0;
  for (int trial = 0; trial < 100; ++trial) {
    std::vector<int> sizes{inputs(rng)};
    int hidden = depth(rng);
    for (int h = 0; h < hidden; ++h) sizes.push_back(width(rng));
    sizes.push_back(outputs(rng));
    Network net = test::random_network(sizes, rng, 0.8);
    Eigen::VectorXd c(sizes[0]), r(sizes[0]);
    for (int i = 0; i < sizes[0]; ++i) c[i] = normal(rng), r[i] = 0.05 + std::abs(normal(rng)) * 0.5;
    Domain domain;
    domain.box = Box(c - r, c + r);
    domain.description = "random box";
    AnalyzeOptions options;
    options.time_limit = 10;
    options.seed = static_cast<std::uint64_t>(trial);
    Analysis analysis = analyze(net, domain, options);
    CompressResult out = compress(net, analysis, domain.box);
    removed += static_cast<int>(net.hidden_units() - out.network().hidden_units());
    VerifyOptions check;
    check.exact = true;
    check.random_points = 2000;
    check.deadline = Deadline(30);
    VerifyResult v = verify_equivalence(net, out.network(), domain.box, domain.probes, check);
    EXPECT_TRUE(v.within_tolerance()) << "trial " << trial << ": deviation " << v.max_abs_deviation;
    EXPECT_TRUE(v.proven_equivalent()) << "trial " << trial << ": proven bound " << v.proven_bound;
    proven += v.proven_equivalent();
  }
  EXPECT_GT(removed, 50);
  EXPECT_EQ(proven, 100);
}

TEST(CompressIntegration, ExampleModelThroughTheCli) {
  fs::path dir = test::temp_dir("compress-cli");
  fs::path out = dir / "small.onnx";
  auto r = test::run_leo("-q compress " + q(example_model()) + " -o " + q(out) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"units_before", "units_after", "layers_before", "layers_after", "parameters_before",
                          "parameters_after", "max_abs_deviation", "time_seconds", "analysis"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_LT(j["parameters_after"].get<long>(), j["parameters_before"].get<long>());
  EXPECT_LE(j["max_abs_deviation"].get<double>(), default_equivalence_tolerance);
  EXPECT_TRUE(j["analysis"].contains("layers"));

  Network original = read_onnx(example_model());
  Network small = read_onnx(out);
  EXPECT_EQ(small.input.name, original.input.name);
  EXPECT_EQ(small.output.name, original.output.name);
  EXPECT_EQ(small.metadata.at("leo.original_parameters"), std::to_string(original.parameters()));
  EXPECT_EQ(small.metadata.at("leo.version"), LEO_VERSION);
  EXPECT_TRUE(small.metadata.count("leo.domain"));

  auto v = test::run_leo("-q verify " + q(example_model()) + " " + q(out) + " --box 0,1");
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  LEO_EXPECT_ORT_AGREES(example_model(), out, "--box 0,1");
  // The summary (no --json) names the numbers.
  fs::path out2 = dir / "small2.onnx";
  auto s = test::run_leo("-q compress " + q(example_model()) + " -o " + q(out2));
  ASSERT_EQ(s.exit_code, 0) << s.err;
  LEO_EXPECT_ORT_AGREES(example_model(), out2, "--box 0,1");
  for (const char* word : {"units per layer", "parameters", "multiply-adds", "max deviation", "time"})
    EXPECT_NE(s.out.find(word), std::string::npos) << word;
  fs::remove_all(dir);
}

TEST(CompressIntegration, NothingToRemoveIsWrittenBackBitIdentical) {
  // A 2-2-1 net whose units both change sign on the box.
  fs::path dir = test::temp_dir("compress-identity");
  Network net({AffineLayer{Eigen::MatrixXd{{1, 0.5}, {-0.25, 1}}, Eigen::VectorXd{{0.125, -0.0625}}},
               AffineLayer{Eigen::MatrixXd{{1.5, -2}}, Eigen::VectorXd{{0.75}}}});
  write_onnx(net, dir / "in.onnx");
  auto r = test::run_leo("-q compress " + q(dir / "in.onnx") + " -o " + q(dir / "out.onnx") + " --box -1,1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  LEO_EXPECT_ORT_AGREES(dir / "in.onnx", dir / "out.onnx", "--box -1,1");
  Network back = read_onnx(dir / "out.onnx");
  ASSERT_EQ(back.depth(), 2u);
  for (std::size_t l = 0; l < 2; ++l) {
    EXPECT_TRUE((back.layers[l].weights.array() == net.layers[l].weights.array()).all());
    EXPECT_TRUE((back.layers[l].bias.array() == net.layers[l].bias.array()).all());
  }
  fs::remove_all(dir);
}

TEST(CompressIntegration, BadInput) {
  fs::path dir = test::temp_dir("compress-bad");
  fs::copy_file(example_model(), dir / "in.onnx");
  // OUT == IN.
  auto same = test::run_leo("-q compress " + q(dir / "in.onnx") + " -o " + q(dir / "in.onnx"));
  EXPECT_EQ(same.exit_code, 2);
  EXPECT_NE(same.err.find("refusing to overwrite"), std::string::npos) << same.err;
  // A folder that does not exist / a file used as a folder.
  auto missing = test::run_leo("-q compress " + q(dir / "in.onnx") + " -o " + q(dir / "no" / "out.onnx"));
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("does not exist"), std::string::npos) << missing.err;
  auto file_folder = test::run_leo("-q compress " + q(dir / "in.onnx") + " -o " + q(dir / "in.onnx" / "out.onnx"));
  EXPECT_EQ(file_folder.exit_code, 2);
  // A missing input.
  auto no_input = test::run_leo("-q compress " + q(dir / "nothing.onnx") + " -o " + q(dir / "out.onnx"));
  EXPECT_EQ(no_input.exit_code, 2);
  EXPECT_NE(no_input.err.find("nothing.onnx"), std::string::npos);
  // verify: mismatched models.
  auto mismatch = test::run_leo("-q verify " + q(dir / "in.onnx") + " " +
                                q(test::models_dir() / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx"));
  EXPECT_EQ(mismatch.exit_code, 2);
  EXPECT_TRUE(folder_has_only(dir, 1));  // nothing written, no temporary left
  fs::remove_all(dir);
}

TEST(CompressIntegration, FailingDeviationCheckWritesNothing) {
  // Three stably active units over two inputs: one is folded into the next
  // layer with coefficients that float32 cannot hold exactly, so the stored
  // model differs from the original by rounding; tolerance 0 rejects it.
  fs::path dir = test::temp_dir("compress-check");
  Network net({AffineLayer{Eigen::MatrixXd{{0.3, 0.7}, {0.9, -0.2}, {0.11, 0.13}, {1, -1}},
                           Eigen::VectorXd{{3, 3, 3, 0}}},
               AffineLayer{Eigen::MatrixXd{{0.7, -0.3, 0.9, 1}}, Eigen::VectorXd{{0.1}}}});
  write_onnx(net, dir / "in.onnx");
  auto r = test::run_leo("-q compress " + q(dir / "in.onnx") + " -o " + q(dir / "out.onnx") +
                         " --box -1,1 --tolerance 0");
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("not written"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(dir / "out.onnx"));
  EXPECT_TRUE(folder_has_only(dir, 1));
  // With the default tolerance the same model compresses and verifies.
  auto ok = test::run_leo("-q compress " + q(dir / "in.onnx") + " -o " + q(dir / "out.onnx") + " --box -1,1");
  EXPECT_EQ(ok.exit_code, 0) << ok.err;
  LEO_EXPECT_ORT_AGREES(dir / "in.onnx", dir / "out.onnx", "--box -1,1");
  auto v = test::run_leo("-q verify " + q(dir / "in.onnx") + " " + q(dir / "out.onnx") + " --box -1,1 --exact");
  EXPECT_EQ(v.exit_code, 0) << v.out << v.err;
  // A model that is not the same function: verify says so (exit 1).
  Network other = net;
  other.layers[1].bias[0] += 0.01;
  write_onnx(other, dir / "other.onnx");
  auto diff = test::run_leo("-q verify " + q(dir / "in.onnx") + " " + q(dir / "other.onnx") + " --box -1,1");
  EXPECT_EQ(diff.exit_code, 1) << diff.out;
  fs::remove_all(dir);
}

TEST(CompressIntegration, ReferenceModelsCompressAndVerify) {
  // A few ACAS Xu nets on their property box and mnistfc 256x2 on [0,1]^784,
  // with short time limits (the full table: bench/compress_zoo.sh).
  fs::path dir = test::temp_dir("compress-zoo");
  fs::path acas = test::models_dir() / "acasxu";
  struct Case {
    fs::path model;
    std::string domain;
  };
  std::vector<Case> cases = {
      {acas / "ACASXU_run2a_1_1_batch_2000.onnx", "--vnnlib " + q(acas / "prop_1.vnnlib")},
      {acas / "ACASXU_run2a_2_1_batch_2000.onnx", "--vnnlib " + q(acas / "prop_2.vnnlib")},
      {acas / "ACASXU_run2a_4_5_batch_2000.onnx", "--vnnlib " + q(acas / "prop_3.vnnlib")},
      {test::models_dir() / "mnistfc" / "mnist-net_256x2.onnx", "--box 0,1"},
  };
  for (const auto& c : cases) {
    fs::path out = dir / ("c-" + c.model.filename().string());
    auto r = test::run_leo("-q compress " + q(c.model) + " -o " + q(out) + " " + c.domain + " --time-limit 5 --json");
    ASSERT_EQ(r.exit_code, 0) << c.model << ": " << r.err;
    auto j = nlohmann::json::parse(r.out);
    EXPECT_LE(j["parameters_after"].get<long>(), j["parameters_before"].get<long>());
    auto v = test::run_leo("-q verify " + q(c.model) + " " + q(out) + " " + c.domain);
    EXPECT_EQ(v.exit_code, 0) << c.model << ": " << v.out << v.err;
    LEO_EXPECT_ORT_AGREES(c.model, out, c.domain);
  }
  fs::remove_all(dir);
}
