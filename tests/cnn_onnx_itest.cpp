// CNNs through the `leo` program (issue 12): the reference CIFAR CNNs read
// as ONNX Runtime runs them and convert ONNX -> ONNX staying convolutional
// (ORT on the written model agrees); eval on a CNN; every reader refusal is
// one line naming the node, exit 2 (docs/errors.md).
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "leo/domain/vnnlib.hpp"
#include "leo/io/onnx.hpp"
#include "onnx_builder.hpp"
#include "ort_check.hpp"
#include "support.hpp"

namespace leo {
namespace {

namespace fs = std::filesystem;
using test::OnnxBuilder;
using test::run_leo;

std::string q(const fs::path& p) { return fmt::format("'{}'", p.string()); }

std::map<std::string, int> op_counts(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  onnx::ModelProto m;
  if (!in || !m.ParseFromIstream(&in)) return {};
  std::map<std::string, int> n;
  for (const auto& node : m.graph().node()) ++n[node.op_type()];
  return n;
}

struct Reference {
  const char* model;
  const char* vnnlib;
};
const Reference kCifar[] = {
    {"cifar_base_kw", "prop_0_eps_0.008.vnnlib"},
    {"cifar_deep_kw", "prop_0_eps_0.008.vnnlib"},
    {"cifar10_small", "networkcifar10_small_index1189_eps0.012_target1_orig0.vnnlib"},
    {"cifar10_medium", "networkcifar10_small_index1189_eps0.012_target1_orig0.vnnlib"},
    {"resnet_2b", "prop_0_eps_0.008.vnnlib"},
};

TEST(CnnOnnx, ReferenceCnnsReadAsOrtRunsThemAndConvertStayingConvolutional) {
  const fs::path dir = test::temp_dir("cnn_onnx_itest");
  for (const auto& r : kCifar) {
    SCOPED_TRACE(r.model);
    const fs::path model = test::models_dir() / "cifar" / (std::string(r.model) + ".onnx");
    const fs::path vnnlib = test::models_dir() / "cifar" / r.vnnlib;
    const fs::path out = dir / (std::string(r.model) + ".onnx");
    const auto c = run_leo("convert " + q(model) + " " + q(out));
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const auto before = op_counts(model), after = op_counts(out);
    EXPECT_GT(after.count("Conv") ? after.at("Conv") : 0, 0);
    EXPECT_EQ(after.count("Conv") ? after.at("Conv") : 0, before.at("Conv"));
    EXPECT_EQ(after.count("Add") ? after.at("Add") : 0, std::string(r.model) == "resnet_2b" ? 2 : 0);
    // leo's reading of the original against ORT's, and ORT on the written model
    // against ORT on the original, on points of the VNN-LIB box.
    LEO_EXPECT_ORT_AGREES(model, out, "--vnnlib " + q(vnnlib), 1000);
    // Read back, the written model is the same layers computing the same function.
    const Network a = read_onnx(model), b = read_onnx(out);
    ASSERT_EQ(a.layers.size(), b.layers.size());
    for (std::size_t l = 0; l < a.layers.size(); ++l) EXPECT_EQ(a.layers[l].is_dense(), b.layers[l].is_dense());
    EXPECT_EQ(b.input.name, a.input.name);
    EXPECT_EQ(b.output.name, a.output.name);
    const Eigen::MatrixXd X = test::ort_check_points(read_vnnlib_box(vnnlib), 200);
    const Eigen::MatrixXd ya = a.evaluate(X), yb = b.evaluate(X);
    // Weights are kept exactly (float32 read, float32 written); resnet_2b's two
    // Conv biases of a residual Add are one summed bias, rounded to float32 once.
    EXPECT_LE((ya - yb).cwiseAbs().maxCoeff(), 1e-6 * (1.0 + ya.cwiseAbs().maxCoeff()));
  }
  fs::remove_all(dir);
}

TEST(CnnOnnx, InfoShowsConvLayersAndCarriesApart) {
  const fs::path model = test::models_dir() / "cifar" / "resnet_2b.onnx";
  const auto t = run_leo("info " + q(model));
  ASSERT_EQ(t.exit_code, 0) << t.err;
  EXPECT_NE(t.out.find("hidden units:   6244 (and 3072 carried for skip connections, not model units)"),
            std::string::npos)
      << t.out;
  EXPECT_NE(t.out.find("layer 0:        conv  3x32x32 -> 8x16x16: Conv 3 -> 8 channels 3x3 stride 2,2 pad 1,1,1,1"),
            std::string::npos)
      << t.out;
  EXPECT_NE(t.out.find("layer 5:        dense 1024 -> 100"), std::string::npos) << t.out;
  const auto r = run_leo("info --json " + q(model));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("hidden_units"), 6244);
  EXPECT_EQ(j.at("carried_units"), 3072);
  EXPECT_EQ(j.at("widths"), nlohmann::json({2048, 1024, 1024, 1024, 1024, 100}));
  const auto& l1 = j.at("layer_details").at(1);
  EXPECT_EQ(l1.at("kind"), "conv");
  EXPECT_EQ(l1.at("carry_units"), 2048);
  const auto& conv = l1.at("blocks").at(0).at("ops").at(0);
  EXPECT_EQ(conv.at("op"), "Conv");
  EXPECT_EQ(conv.at("name"), "layer1.0.conv1.weight");
  EXPECT_EQ(conv.at("input"), nlohmann::json({8, 16, 16}));
  EXPECT_EQ(conv.at("output"), nlohmann::json({16, 8, 8}));
  EXPECT_EQ(conv.at("kernel"), nlohmann::json({3, 3}));
  EXPECT_EQ(conv.at("stride"), nlohmann::json({2, 2}));
  EXPECT_EQ(j.at("layer_details").at(5).at("kind"), "dense");
}

TEST(CnnOnnx, EvalOnACnnGivesPyTorchsOutputs) {
  const fs::path dir = test::temp_dir("cnn_eval");
  std::ifstream in(test::fixtures_dir() / "pytorch" / "cnn_residual.json");
  const auto j = nlohmann::json::parse(in);
  {
    std::ofstream csv(dir / "x.csv");
    for (const auto& row : j.at("inputs")) {
      std::vector<std::string> cells;
      for (const auto& v : row) cells.push_back(fmt::format("{}", v.get<double>()));
      csv << fmt::format("{}\n", fmt::join(cells, ","));
    }
  }
  const auto r = run_leo("eval " + q(test::fixtures_dir() / "pytorch" / "cnn_residual.onnx") + " --input " +
                         q(dir / "x.csv") + " --json --dtype double");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto out = nlohmann::json::parse(r.out);
  EXPECT_EQ(out.at("dtype"), "double");
  const auto& want = j.at("outputs");
  ASSERT_EQ(out.at("outputs").size(), want.size());
  for (std::size_t s = 0; s < want.size(); ++s)
    for (std::size_t k = 0; k < want[s].size(); ++k)
      EXPECT_NEAR(out.at("outputs")[s][k].get<double>(), want[s][k].get<double>(), 1e-6);
  // By default a float32 model is evaluated in float32 arithmetic, as a runtime does.
  const auto f = run_leo("eval " + q(test::fixtures_dir() / "pytorch" / "cnn_residual.onnx") + " --input " +
                         q(dir / "x.csv") + " --json");
  ASSERT_EQ(f.exit_code, 0) << f.err;
  const auto of = nlohmann::json::parse(f.out);
  EXPECT_EQ(of.at("dtype"), "float");
  for (std::size_t s = 0; s < want.size(); ++s)
    for (std::size_t k = 0; k < want[s].size(); ++k) {
      const double w = want[s][k].get<double>();
      EXPECT_NEAR(of.at("outputs")[s][k].get<double>(), w, 1e-4 * (1.0 + std::abs(w)));
    }
  fs::remove_all(dir);
}

// Deterministic pseudo-random weights in [-1, 1).
std::vector<double> weights(std::size_t n, unsigned seed) {
  std::vector<double> v(n);
  std::uint64_t x = 0x9E3779B97F4A7C15ull * (seed + 1);
  for (auto& w : v) {
    x = x * 6364136223846793005ull + 1442695040888963407ull;
    w = static_cast<double>(x >> 11) / 9007199254740992.0 * 2.0 - 1.0;
  }
  return v;
}

void attr_ints(onnx::NodeProto* n, const char* name, std::vector<std::int64_t> v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}
void attr_string(onnx::NodeProto* n, const char* name, const std::string& v) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::STRING);
  a->set_s(v);
}

TEST(CnnOnnx, AutoPadGroupsAndBatchNormWhereNoConvPrecedesAgreeWithOrt) {
  // BN on the input (a ChannelAffine before the first Conv), a grouped Conv
  // with auto_pad SAME_UPPER and stride 2, BN after a Relu, a Conv with
  // auto_pad SAME_LOWER, one VALID, GlobalAveragePool, Gemm.
  const fs::path dir = test::temp_dir("cnn_autopad");
  OnnxBuilder b({-1, 4, 7, 6}, {-1, 3});
  auto bn = [&](const std::string& p, std::int64_t c, unsigned seed) {
    auto w = weights(static_cast<std::size_t>(4 * c), seed);
    std::vector<double> g, beta, mean, var;
    for (std::int64_t k = 0; k < c; ++k) {
      g.push_back(1.0 + 0.5 * w[k]);
      beta.push_back(0.3 * w[c + k]);
      mean.push_back(0.2 * w[2 * c + k]);
      var.push_back(1.0 + 0.5 * w[3 * c + k]);
    }
    b.init(p + ".g", {c}, g);
    b.init(p + ".b", {c}, beta);
    b.init(p + ".m", {c}, mean);
    b.init(p + ".v", {c}, var);
  };
  bn("bn0", 4, 1);
  b.node("BatchNormalization", {"x", "bn0.g", "bn0.b", "bn0.m", "bn0.v"}, {"n0"}, "bn0");
  b.init("W1", {6, 2, 3, 3}, weights(108, 2));
  b.init("B1", {6}, weights(6, 3));
  auto* c1 = b.node("Conv", {"n0", "W1", "B1"}, {"h1"}, "c1");
  attr_string(c1, "auto_pad", "SAME_UPPER");
  attr_ints(c1, "strides", {2, 2});
  OnnxBuilder::attr_int(c1, "group", 2);
  b.node("Relu", {"h1"}, {"r1"}, "relu1");
  bn("bn1", 6, 4);
  b.node("BatchNormalization", {"r1", "bn1.g", "bn1.b", "bn1.m", "bn1.v"}, {"n1"}, "bn1");
  b.init("W2", {5, 6, 2, 2}, weights(120, 5));
  auto* c2 = b.node("Conv", {"n1", "W2"}, {"h2"}, "c2");
  attr_string(c2, "auto_pad", "SAME_LOWER");
  b.node("Relu", {"h2"}, {"r2"}, "relu2");
  b.init("W3", {4, 5, 2, 2}, weights(80, 6));
  b.init("B3", {4}, weights(4, 7));
  auto* c3 = b.node("Conv", {"r2", "W3", "B3"}, {"h3"}, "c3");
  attr_string(c3, "auto_pad", "VALID");
  b.node("Relu", {"h3"}, {"r3"}, "relu3");
  b.node("GlobalAveragePool", {"r3"}, {"p"}, "gap");
  b.node("Flatten", {"p"}, {"f"}, "flat");
  b.init("Wd", {3, 4}, weights(12, 8));
  b.init("Bd", {3}, weights(3, 9));
  OnnxBuilder::attr_int(b.node("Gemm", {"f", "Wd", "Bd"}, {"y"}, "fc"), "transB", 1);
  const fs::path model = b.save(dir, "autopad.onnx");
  const Box box = Box::uniform(4 * 7 * 6, -1, 1);
  EXPECT_TRUE(test::ort_matches_leo(model, box, 1000));
  const auto c = run_leo("convert " + q(model) + " " + q(dir / "out.onnx"));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(op_counts(dir / "out.onnx").at("Conv"), 3);
  LEO_EXPECT_ORT_AGREES(model, dir / "out.onnx", box, 1000);
  fs::remove_all(dir);
}

TEST(CnnOnnx, SkipFromAValueThatIsNotAReluOutputIsRecomputedFromTheReluBeforeIt) {
  // x -> c0 -> relu0 -> c1 = h1 -> relu1 -> c2; y = relu(c2 + h1): h1 is not a
  // Relu output, but it is c1(relu0), and relu0 is carried (exact).
  const fs::path dir = test::temp_dir("cnn_skip");
  OnnxBuilder b({-1, 2, 5, 5}, {-1, 2});
  for (const char* w : {"W0", "W1", "W2"}) b.init(w, {2, 2, 3, 3}, weights(36, static_cast<unsigned>(w[1])));
  b.init("B1", {2}, {0.1, -0.2});
  auto pads = [&](onnx::NodeProto* n) { attr_ints(n, "pads", {1, 1, 1, 1}); };
  pads(b.node("Conv", {"x", "W0"}, {"h0"}, "c0"));
  b.node("Relu", {"h0"}, {"r0"}, "relu0");
  pads(b.node("Conv", {"r0", "W1", "B1"}, {"h1"}, "c1"));
  b.node("Relu", {"h1"}, {"r1"}, "relu1");
  pads(b.node("Conv", {"r1", "W2"}, {"h2"}, "c2"));
  b.node("Add", {"h2", "h1"}, {"s"}, "add");
  b.node("Relu", {"s"}, {"r2"}, "relu2");
  b.node("Flatten", {"r2"}, {"f"}, "flat");
  b.init("Wd", {2, 50}, weights(100, 9));
  OnnxBuilder::attr_int(b.node("Gemm", {"f", "Wd"}, {"y"}, "fc"), "transB", 1);
  const fs::path model = b.save(dir, "skip.onnx");
  const Box box = Box::uniform(50, -1, 1);
  EXPECT_TRUE(test::ort_matches_leo(model, box, 1000));
  const auto c = run_leo("convert " + q(model) + " " + q(dir / "out.onnx"));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  EXPECT_EQ(op_counts(dir / "out.onnx").at("Conv"), 4);  // c1 written twice: once per layer that reads it
  LEO_EXPECT_ORT_AGREES(model, dir / "out.onnx", box, 1000);
  fs::remove_all(dir);
}

// A Conv model x [N,C,H,W] -> Conv(W) -> Flatten -> y, for the error cases.
OnnxBuilder conv_model(std::vector<std::int64_t> in, std::vector<std::int64_t> w, const std::string& name = "c1") {
  OnnxBuilder b(in, {-1, 1});
  std::vector<double> values(static_cast<std::size_t>(w[0] * w[1] * w[2] * w[3]), 0.1);
  b.init("W", w, values);
  b.node("Conv", {"x", "W"}, {"h"}, name);
  b.node("Flatten", {"h"}, {"y"}, "flat");
  return b;
}

struct ErrorCase {
  std::string file;
  std::string message;
};

TEST(CnnOnnx, BadCnnsAreRefusedNamingTheNode) {
  const fs::path dir = test::temp_dir("cnn_errors");
  std::vector<ErrorCase> cases;
  cases.push_back({(test::fixtures_dir() / "pytorch" / "cnn_maxpool.onnx").string(),
                   "cnn_maxpool.onnx: node '/MaxPool' (MaxPool): unsupported op MaxPool"});
  conv_model({-1, 1, 3, 3}, {1, 1, 5, 5}).save(dir, "big.onnx");
  cases.push_back({(dir / "big.onnx").string(),
                   "big.onnx: Conv node 'c1': the kernel 5x5 is bigger than the padded input 3x3"});
  conv_model({-1, 2, 4, 4}, {1, 3, 3, 3}).save(dir, "channels.onnx");
  cases.push_back({(dir / "channels.onnx").string(),
                   "channels.onnx: node 'c1' (Conv): channel mismatch: the input has 2 channels but the weight W "
                   "[1,3,3,3] expects 3"});
  {
    OnnxBuilder b({-1, 1, 3, 3}, {-1, 1});
    b.init_int64("pads", {0, 0, 1, 1, 0, 0, 1, 1});
    b.init("one", {}, {1.0});
    b.init("W", {1, 1, 3, 3}, std::vector<double>(9, 0.1));
    b.node("Pad", {"x", "pads", "one"}, {"p"}, "pad1");
    b.node("Conv", {"p", "W"}, {"h"}, "c1");
    b.node("Flatten", {"h"}, {"y"});
    b.save(dir, "padvalue.onnx");
    cases.push_back({(dir / "padvalue.onnx").string(),
                     "padvalue.onnx: node 'pad1' (Pad): pads with the value 1: leo merges only zero padding"});
  }
  {
    OnnxBuilder b({-1, 1, 3, 3}, {-1, 9});
    b.init_int64("pads", {0, 0, 1, 1, 0, 0, 1, 1});
    b.node("Pad", {"x", "pads"}, {"p"}, "pad1");
    b.node("Relu", {"p"}, {"r"}, "relu1");
    b.node("Flatten", {"r"}, {"y"});
    b.save(dir, "padrelu.onnx");
    cases.push_back({(dir / "padrelu.onnx").string(),
                     "padrelu.onnx: node 'relu1' (Relu): reads the output of Pad node 'pad1': leo merges a zero Pad "
                     "only into the Conv or AveragePool that reads it"});
  }
  {
    OnnxBuilder b({-1, 1, 3, 3}, {-1, 1});
    b.init_int64("pads", {0, 1, 0, 0, 0, 0, 0, 0});
    b.init("W", {1, 2, 3, 3}, std::vector<double>(18, 0.1));
    b.node("Pad", {"x", "pads"}, {"p"}, "pad1");
    b.node("Conv", {"p", "W"}, {"h"}, "c1");
    b.node("Flatten", {"h"}, {"y"});
    b.save(dir, "padchannel.onnx");
    cases.push_back({(dir / "padchannel.onnx").string(),
                     "padchannel.onnx: node 'pad1' (Pad): pads the channel axis"});
  }
  {  // a skip from the raw input across a Relu
    OnnxBuilder b({-1, 1, 3, 3}, {-1, 9});
    b.init("W1", {1, 1, 3, 3}, std::vector<double>(9, 0.1));
    b.init("W2", {1, 1, 3, 3}, std::vector<double>(9, -0.1));
    auto* c1 = b.node("Conv", {"x", "W1"}, {"h1"}, "c1");
    auto* c2 = b.node("Relu", {"h1"}, {"r1"}, "relu1");
    (void)c2;
    auto* c3 = b.node("Conv", {"r1", "W2"}, {"h2"}, "c2");
    for (auto* n : {c1, c3}) {
      auto* a = n->add_attribute();
      a->set_name("pads");
      a->set_type(onnx::AttributeProto::INTS);
      for (int k = 0; k < 4; ++k) a->add_ints(1);
    }
    b.node("Add", {"h2", "x"}, {"s"}, "skip");
    b.node("Flatten", {"s"}, {"y"});
    b.save(dir, "skip.onnx");
    cases.push_back({(dir / "skip.onnx").string(),
                     "skip.onnx: node 'skip' (Add): adds a tensor computed from the network input without a Relu "
                     "between to one computed after a Relu"});
  }
  {  // a BatchNormalization of the wrong size
    OnnxBuilder b({-1, 2, 3, 3}, {-1, 18});
    for (const char* p : {"g", "b", "m"}) b.init(p, {3}, {1, 1, 1});
    b.init("v", {3}, {1, 1, 1});
    b.node("BatchNormalization", {"x", "g", "b", "m", "v"}, {"n"}, "bn1");
    b.node("Flatten", {"n"}, {"y"});
    b.save(dir, "bn.onnx");
    cases.push_back({(dir / "bn.onnx").string(),
                     "bn.onnx: BatchNormalization node 'bn1': scale, B, mean and var have 3, 3, 3 and 3 entries; the "
                     "input has 2 channels"});
  }
  for (const auto& c : cases) {
    SCOPED_TRACE(c.file);
    for (const char* cmd : {"info", "convert"}) {
      std::string args = fmt::format("{} {}", cmd, q(c.file));
      if (std::string(cmd) == "convert") args += fmt::format(" {}", q(dir / "out.onnx"));
      const auto r = run_leo(args);
      EXPECT_EQ(r.exit_code, 2) << r.err;
      EXPECT_NE(r.err.find(c.message), std::string::npos) << r.err;
      EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
      EXPECT_TRUE(r.out.empty()) << r.out;
      EXPECT_FALSE(fs::exists(dir / "out.onnx"));
    }
  }
  fs::remove_all(dir);
}

// The main job on a reference CNN through the program: analyze reports
// (channel, row, column) units and a per-channel summary; compress writes a
// model that keeps its Conv nodes and that ONNX Runtime runs as the original.
TEST(CnnOnnx, AnalyzeAndCompressAReferenceCnnThroughTheCli) {
  const fs::path model = test::models_dir() / "cifar" / "cifar_base_kw.onnx";
  const fs::path vnnlib = test::models_dir() / "cifar" / "prop_0_eps_0.008.vnnlib";
  const fs::path dir = test::temp_dir("cnn_main_job");
  const std::string stages = " --stages ibp,samples --time-limit 60";
  const auto a = run_leo("analyze --json " + q(model) + " --vnnlib " + q(vnnlib) + stages);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const auto j = nlohmann::json::parse(a.out);
  const auto dump = j.dump();
  EXPECT_NE(dump.find("\"channels\""), std::string::npos);  // the per-channel summary
  EXPECT_NE(dump.find("\"index\""), std::string::npos);     // units as [channel, row, column]
  const fs::path out = dir / "c.onnx";
  const auto c = run_leo("compress --json " + q(model) + " --vnnlib " + q(vnnlib) + stages + " -o " + q(out));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  ASSERT_TRUE(fs::exists(out));
  const std::string written = test::read_file(out);
  EXPECT_NE(written.find("Conv"), std::string::npos);
  const Network a_net = read_onnx(model), b_net = read_onnx(out);
  EXPECT_EQ(b_net.input.name, a_net.input.name);
  EXPECT_EQ(b_net.output.name, a_net.output.name);
  EXPECT_FALSE(b_net.layers.front().is_dense());  // still convolutional
  EXPECT_LE(b_net.parameters(), a_net.parameters());
  LEO_EXPECT_ORT_AGREES(model, out, "--vnnlib " + q(vnnlib), 1000);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace leo
