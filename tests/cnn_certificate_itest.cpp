// Certificates of CNNs end to end (docs/certificates.md, "Structured
// layers"): `analyze/compress --certificate` on the PyTorch fixtures
// (tests/fixtures/pytorch/cnn_*: Conv with padding, stride, groups and
// dilation, BatchNorm, AvgPool, a residual carry, an NHWC Permute), each with
// an inactive channel and a constant channel planted, and on a reference
// CNN; `leo check` accepts them (exit 0), replays the channel removals of
// the compressed model, and rejects tampered ones with exit 1 naming the
// claim.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "leo/checker/certificate.hpp"
#include "leo/io/model_file.hpp"
#include "leo/network/structured.hpp"
#include "certificate_check.hpp"
#include "support.hpp"

namespace leo {
namespace {

namespace fs = std::filesystem;
using Eigen::MatrixXd;
using nlohmann::json;

std::string q(const fs::path& p) { return fmt::format("'{}'", p.string()); }
json load(const fs::path& p) { return json::parse(test::read_file(p)); }
void save(const json& j, const fs::path& p) { std::ofstream(p, std::ios::binary) << j.dump(); }

bool per_channel(const StructuredMap::Op& op) {
  return std::holds_alternative<AvgPool2d>(op) || std::holds_alternative<ChannelAffine>(op);
}

// Channel `channel` of output segment 0 of layers[h] gets a zero kernel row
// in every block writing it and the bias `bias` at every position: its
// pre-activation is the constant `bias` (inactive for a negative one). False
// when segment 0 is a carry, or a writer does not end in a Conv.
bool plant_channel(Network& net, std::size_t h, std::int64_t channel, double bias) {
  AffineLayer& layer = net.layers[h];
  if (layer.is_dense()) return false;
  const StructuredMap& m = *layer.structured;
  if (m.output_segments()[0].carry || m.output_segments()[0].shape.channels <= channel) return false;
  auto blocks = m.blocks();
  for (auto& blk : blocks) {
    if (blk.out != 0) continue;
    std::size_t k = blk.ops.size();
    while (k > 0 && per_channel(blk.ops[k - 1])) --k;
    if (k == 0 || !std::holds_alternative<Conv2d>(blk.ops[k - 1])) return false;
    const Conv2d& c = std::get<Conv2d>(blk.ops[k - 1]);
    MatrixXd w = c.weights();
    w.row(channel).setZero();
    blk.ops[k - 1] = Conv2d(c.input(), c.output().channels, c.window(), c.group(), w, c.bias());
  }
  const auto P = m.output_segments()[0].shape.positions();
  const auto first = m.output_offset(0) + channel * P;
  layer.structured = std::make_shared<const StructuredMap>(m.input_segments(), m.output_segments(), std::move(blocks));
  layer.bias.segment(first, P).setConstant(bias);
  return true;
}

long model_carries(const fs::path& model) { return static_cast<long>(read_model(model).carried_units()); }

const std::vector<std::string> kFixtures = {"cnn_basic",   "cnn_bn",       "cnn_avgpool",   "cnn_residual",
                                            "cnn_nhwc",    "cnn_zeropad",  "cnn_depthwise", "cnn_dilated"};

class CnnCertificates : public ::testing::Test {
 protected:
  static inline fs::path dir;
  static void SetUpTestSuite() { dir = test::temp_dir("cnn_certificates"); }
  static void TearDownTestSuite() { fs::remove_all(dir); }

  // The fixture with channel 0 of layer 0 inactive (g = -0.5) and, in the
  // last hidden layer when it is structured, channel 1 constant (g = 0.25,
  // folded into the dense layer after it). Written once.
  static fs::path planted(const std::string& name) {
    const fs::path p = dir / (name + "_planted.onnx");
    if (fs::exists(p)) return p;
    Network net = read_model(test::fixtures_dir() / "pytorch" / (name + ".onnx"));
    EXPECT_TRUE(plant_channel(net, 0, 0, -0.5)) << name;
    const std::size_t last = net.layers.size() - 2;
    if (net.layers[last + 1].is_dense()) plant_channel(net, last, 1, 0.25);
    write_model(net, p);
    return p;
  }

  static json check_ok(const fs::path& model, const fs::path& cert, const std::string& extra = "") {
    return test::check_ok(model, cert, extra);
  }

  // A tampered copy must fail with exit 1 and a message naming `expected`.
  static void expect_rejected(const fs::path& model, const json& tampered, const std::string& expected,
                              const std::string& extra = "", int code = 1) {
    test::expect_check_rejects(model, tampered, dir / "tampered.cert", code, expected, extra);
  }

  struct Made {
    fs::path model, analyze_cert, compress_cert, compressed;
  };
  // analyze and compress --certificate on the planted fixture, cached.
  static Made made(const std::string& name) {
    static std::map<std::string, Made> cache;
    auto it = cache.find(name);
    if (it != cache.end()) return it->second;
    Made m{planted(name), dir / (name + ".a.cert"), dir / (name + ".c.cert"), dir / (name + "_small.onnx")};
    auto a = test::run_leo("-q analyze " + q(m.model) + " --box 0,1 --threads 1 --certificate " + q(m.analyze_cert));
    EXPECT_EQ(a.exit_code, 0) << a.err;
    EXPECT_EQ(a.err, "") << "no note: the certificate is checkable";
    auto c = test::run_leo("-q compress " + q(m.model) + " --box 0,1 --threads 1 -o " + q(m.compressed) +
                           " --certificate " + q(m.compress_cert));
    EXPECT_EQ(c.exit_code, 0) << c.err;
    cache[name] = m;
    return m;
  }
};

TEST_F(CnnCertificates, HonestCertificatesOfEveryFixtureCheckAndTheirChannelRemovalsReplay) {
  std::map<std::string, int> kinds;  // rewrites replayed, by kind, over all fixtures
  for (const std::string& name : kFixtures) {
    SCOPED_TRACE(name);
    const Made m = made(name);
    const json a = check_ok(m.model, m.analyze_cert);
    ASSERT_TRUE(a.value("valid", false));
    // The planted inactive channel is proven, position by position.
    EXPECT_GT(a["claims"]["stable_units"].get<long>(), 0);
    const json c = check_ok(m.model, m.compress_cert, "--compressed " + q(m.compressed));
    ASSERT_TRUE(c.value("valid", false));
    EXPECT_TRUE(c["compress"]["compressed_model_checked"].get<bool>());
    const json cert = load(m.compress_cert);
    for (const auto& r : cert["compress"]["rewrites"]) ++kinds[r["kind"].get<std::string>()];
  }
  // Channels are removable where no carry, Permute or grouped conv holds them:
  // most fixtures lose the inactive channel, and the chains into a dense
  // layer the constant one.
  EXPECT_GE(kinds["inactive_channel"], 4);
  EXPECT_GE(kinds["constant_channel"], 3);
}

TEST_F(CnnCertificates, ACertificateOfAnotherCnnIsRefused) {
  // The digest covers the convolutions' weights: the planted model differs
  // from the fixture only in conv kernels and biases.
  const Made m = made("cnn_basic");
  auto r = test::run_leo("-q check " + q(test::fixtures_dir() / "pytorch" / "cnn_basic.onnx") + " " + q(m.analyze_cert));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("it is of another model"), std::string::npos) << r.err;
}

TEST_F(CnnCertificates, TamperedVerdictsWitnessesAndBoundsAreRejected) {
  const Made m = made("cnn_avgpool");
  const json honest = load(m.analyze_cert);
  // A unit flipped: an unstable unit called stably inactive.
  json t = honest;
  const std::string v0 = honest["verdicts"][0];
  const auto u = v0.find('u');
  ASSERT_NE(u, std::string::npos);
  t["verdicts"][0] = v0.substr(0, u) + "i" + v0.substr(u + 1);
  expect_rejected(m.model, t, fmt::format("verdicts: layer 0 unit {}: called stably inactive", u));
  // A stably inactive unit (the planted channel) called active.
  const auto i = v0.find('i');
  ASSERT_NE(i, std::string::npos);
  t = honest;
  t["verdicts"][0] = v0.substr(0, i) + "a" + v0.substr(i + 1);
  expect_rejected(m.model, t, fmt::format("verdicts: layer 0 unit {}: called stably active", i));
  // A witness moved: outside the domain, and onto another sign.
  ASSERT_FALSE(honest["witnesses"].empty());
  t = honest;
  t["witnesses"][0]["input"][0] = 1.5;
  expect_rejected(m.model, t, "witnesses[0]: input feature 0 = 1.5 lies outside the domain");
  t = honest;
  auto& s0 = t["witnesses"][0]["signs"][0];
  s0[2] = -s0[2].get<int>();
  expect_rejected(m.model, t, "witnesses[0]: signs[0]: layer ");
  // Moved inside the domain: the witness of g > 0 of some unit replaced by
  // the input that shows its g < 0.
  const auto& ws = honest["witnesses"];
  std::map<std::pair<int, int>, std::size_t> negative;  // unit -> witness showing g < 0
  for (std::size_t w = 0; w < ws.size(); ++w)
    for (const auto& sg : ws[w]["signs"])
      if (sg[2].get<int>() < 0) negative[{sg[0].get<int>(), sg[1].get<int>()}] = w;
  bool moved = false;
  for (std::size_t w = 0; w < ws.size() && !moved; ++w)
    for (std::size_t k = 0; k < ws[w]["signs"].size() && !moved; ++k) {
      const auto& sg = ws[w]["signs"][k];
      auto it = negative.find({sg[0].get<int>(), sg[1].get<int>()});
      if (sg[2].get<int>() < 0 || it == negative.end() || it->second == w) continue;
      t = honest;
      t["witnesses"][w]["input"] = ws[it->second]["input"];
      expect_rejected(m.model, t, fmt::format("witnesses[{}]: signs[{}]: layer {} unit {} claimed g > 0", w, k,
                                              sg[0].get<int>(), sg[1].get<int>()));
      moved = true;
    }
  EXPECT_TRUE(moved);
  // A bound tightened: a linear claim on the last hidden layer whose bound
  // is below what its multipliers (all 0 before it) give, through the conv
  // and pooling layers.
  t = honest;
  const std::size_t last = honest["verdicts"].size() - 1;
  json nu = json::array();
  for (std::size_t j = 0; j < last; ++j) nu.push_back({{"i", json::array()}, {"v", json::array()}});
  t["steps"].push_back({{"rule", "linear"},
                        {"claims", json::array({{{"layer", last}, {"unit", 0}, {"side", "upper"}, {"bound", -1000.0},
                                                 {"nu", nu}}})}});
  expect_rejected(m.model, t, fmt::format("claims[0]: layer {} unit 0 upper bound: claimed -1000", last));
}

TEST_F(CnnCertificates, TamperedChannelRemovalsAndCompressedWeightsAreRejected) {
  const Made m = made("cnn_basic");
  const json honest = load(m.compress_cert);
  const std::string extra = "--compressed " + q(m.compressed);
  std::ptrdiff_t inactive = -1, constant = -1;
  const auto& rw = honest["compress"]["rewrites"];
  for (std::size_t k = 0; k < rw.size(); ++k) {
    if (rw[k]["kind"] == "inactive_channel") inactive = static_cast<std::ptrdiff_t>(k);
    if (rw[k]["kind"] == "constant_channel") constant = static_cast<std::ptrdiff_t>(k);
  }
  ASSERT_GE(inactive, 0);
  ASSERT_GE(constant, 0);
  const std::string ri = fmt::format("compress: rewrites[{}] (inactive_channel, layer 0)", inactive);
  // A channel-removal record changed: a unit of another (unstable) channel deleted instead.
  json t = honest;
  const std::string v0 = honest["verdicts"][0];
  const auto u = v0.find('u');
  ASSERT_NE(u, std::string::npos);
  t["compress"]["rewrites"][inactive]["units"][0] = u;
  std::sort(t["compress"]["rewrites"][inactive]["units"].begin(), t["compress"]["rewrites"][inactive]["units"].end());
  expect_rejected(m.model, t, ri + ": unit", extra);
  // The constant a channel was folded as, changed.
  t = honest;
  auto& value = t["compress"]["rewrites"][constant]["values"][0];
  value = value.get<double>() + 0.01;
  expect_rejected(m.model, t, fmt::format("compress: rewrites[{}] (constant_channel", constant), extra);
  // The channel removal dropped: the compressed model no longer follows.
  t = honest;
  t["compress"]["rewrites"].erase(static_cast<std::size_t>(inactive));
  expect_rejected(m.model, t, "compress: the compressed model: layer 0 is", extra);

  // An OUT conv weight changed by 1e-5 relative, the digest fixed up.
  Network out = read_model(m.compressed);
  ASSERT_FALSE(out.layers[0].is_dense());
  const StructuredMap& map = *out.layers[0].structured;
  auto blocks = map.blocks();
  const Conv2d& c = std::get<Conv2d>(blocks[0].ops[0]);
  MatrixXd w = c.weights();
  Eigen::Index row = 0, col = 0;
  w.cwiseAbs().maxCoeff(&row, &col);
  w(row, col) *= 1 + 1e-5;
  blocks[0].ops[0] = Conv2d(c.input(), c.output().channels, c.window(), c.group(), w, c.bias());
  out.layers[0].structured =
      std::make_shared<const StructuredMap>(map.input_segments(), map.output_segments(), std::move(blocks));
  const fs::path tampered_model = dir / "tampered_small.onnx";
  write_model(out, tampered_model);
  t = honest;
  t["compress"]["output_digest"] = cert::digest(read_model(tampered_model));
  expect_rejected(m.model, t, "compress: the compressed model: layer 0 weight", "--compressed " + q(tampered_model));
}

TEST_F(CnnCertificates, LinearAndReluSplitProofsThroughAResidualCarryCheckAndTamperingIsRejected) {
  // cnn_residual (a skip connection carried through a ReLU) on a small box:
  // alpha-CROWN records linear claims (multipliers through the carry and
  // the convolutions), the split and milp stages ReLU-split trees.
  const fs::path model = test::fixtures_dir() / "pytorch" / "cnn_residual.onnx";
  const fs::path c = dir / "residual_split.cert";
  auto a = test::run_leo("-q analyze " + q(model) + " --box 0.3,0.5 --stages ibp,crown,alpha,split,milp,samples "
                         "--threads 1 --certificate " + q(c));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  const json j = check_ok(model, c);
  ASSERT_GT(j["claims"]["linear"].get<long>(), 0);
  ASSERT_GT(j["claims"]["relu_split"].get<long>(), 0);
  EXPECT_GT(j["claims"]["relu_split_nodes"].get<long>(), 1);
  EXPECT_GT(model_carries(model), 0);
  const json honest = load(c);
  for (std::size_t n = 0; n < honest["steps"].size(); ++n) {
    const json& step = honest["steps"][n];
    if (step["rule"] == "linear") {
      json t = honest;
      auto& claim = t["steps"][n]["claims"][0];
      const double b = claim["bound"].get<double>();
      claim["bound"] = claim["side"] == "upper" ? b - 1e-3 * (1 + std::abs(b)) : b + 1e-3 * (1 + std::abs(b));
      expect_rejected(model, t, fmt::format("step {} (linear): claims[0]: layer ", n));
    } else if (step["rule"] == "relu_split") {
      json t = honest;
      const double b = step["bound"].get<double>();
      t["steps"][n]["bound"] = step["side"] == "upper" ? b - 0.5 * (1 + std::abs(b)) : b + 0.5 * (1 + std::abs(b));
      expect_rejected(model, t, fmt::format("step {} (relu_split): layer ", n));
      t = honest;
      t["steps"][n]["nodes"].erase(t["steps"][n]["nodes"].size() - 1);
      expect_rejected(model, t, "its leaves do not cover the domain");
    }
  }
}

TEST_F(CnnCertificates, AConstantChannelFoldedIntoAConvBiasReplays) {
  // cnn_basic's second conv has no padding, so a constant channel of layer 0
  // adds the same to every position of each of its output channels: folded
  // into the conv's bias, replayed on its flattened rows.
  Network net = read_model(test::fixtures_dir() / "pytorch" / "cnn_basic.onnx");
  ASSERT_TRUE(plant_channel(net, 0, 1, 0.25));
  const fs::path model = dir / "cnn_basic_const0.onnx", out = dir / "cnn_basic_const0_small.onnx",
                 cert = dir / "cnn_basic_const0.cert";
  write_model(net, model);
  auto c = test::run_leo("-q compress " + q(model) + " --box 0,1 --threads 1 -o " + q(out) + " --certificate " + q(cert));
  ASSERT_EQ(c.exit_code, 0) << c.err;
  const json honest = load(cert);
  std::ptrdiff_t k = -1;
  for (std::size_t n = 0; n < honest["compress"]["rewrites"].size(); ++n)
    if (honest["compress"]["rewrites"][n]["kind"] == "constant_channel" && honest["compress"]["rewrites"][n]["layer"] == 0)
      k = static_cast<std::ptrdiff_t>(n);
  ASSERT_GE(k, 0);
  EXPECT_EQ(honest["compress"]["rewrites"][k]["units"].size(), 36u);  // one 6x6 channel
  EXPECT_TRUE(check_ok(model, cert, "--compressed " + q(out))["compress"]["compressed_model_checked"].get<bool>());
  // A folded bias of the conv changed by 1e-5 relative: rejected.
  Network small = read_model(out);
  ASSERT_FALSE(small.layers[1].is_dense());
  const auto P = small.layers[1].structured->output_segments()[0].shape.positions();
  small.layers[1].bias.head(P).array() *= 1 + 1e-5;  // every position of channel 0 (one bias per channel)
  const fs::path bad = dir / "cnn_basic_const0_bad.onnx";
  write_model(small, bad);
  json t = honest;
  t["compress"]["output_digest"] = cert::digest(read_model(bad));
  expect_rejected(model, t, "compress: the compressed model: layer 1 bias 0", "--compressed " + q(bad));
}

TEST_F(CnnCertificates, ADeadConvLayerMakesTheNetworkAConstantThatReplays) {
  // Every channel of layer 0 inactive: compress writes the constant the
  // network computes, through the later conv layers (and the carry of
  // cnn_residual); the checker replays it from the structured layers.
  for (const std::string name : {"cnn_basic", "cnn_residual"}) {
    SCOPED_TRACE(name);
    Network net = read_model(test::fixtures_dir() / "pytorch" / (name + ".onnx"));
    const auto channels = net.layers[0].structured->output_segments()[0].shape.channels;
    for (std::int64_t c = 0; c < channels; ++c) ASSERT_TRUE(plant_channel(net, 0, c, -0.5));
    const fs::path model = dir / (name + "_dead.onnx"), out = dir / (name + "_dead_small.onnx"),
                   cert = dir / (name + "_dead.cert");
    write_model(net, model);
    auto c = test::run_leo("-q compress " + q(model) + " --box 0,1 --threads 1 -o " + q(out) + " --certificate " + q(cert));
    ASSERT_EQ(c.exit_code, 0) << c.err;
    const json j = check_ok(model, cert, "--compressed " + q(out));
    EXPECT_TRUE(j["compress"]["compressed_model_checked"].get<bool>());
    const json honest = load(cert);
    ASSERT_EQ(honest["compress"]["rewrites"].size(), 1u);
    EXPECT_EQ(honest["compress"]["rewrites"][0]["kind"], "dead_layer");
    // The constant changed by 1e-5 relative: rejected.
    Network small = read_model(out);
    small.layers.back().bias[0] *= 1 + 1e-5;
    small.layers.back().bias[0] += 1e-5;
    const fs::path bad = dir / (name + "_dead_bad.onnx");
    write_model(small, bad);
    json t = honest;
    t["compress"]["output_digest"] = cert::digest(read_model(bad));
    expect_rejected(model, t, "compress: the compressed model: layer 0 bias 0", "--compressed " + q(bad));
  }
}

TEST(CnnCertificatesReference, CifarBaseKwWithAShortTimeLimitChecks) {
  // A reference CNN (OVAL21 cifar_base_kw: two strided convs, 3,172 units)
  // on its VNN-LIB box: whatever the analysis proves in 3 s checks.
  const fs::path model = test::models_dir() / "cifar" / "cifar_base_kw.onnx";
  const fs::path spec = test::models_dir() / "cifar" / "prop_0_eps_0.008.vnnlib";
  const fs::path dir = test::temp_dir("cnn_certificate_cifar");
  const fs::path c = dir / "cifar.cert";
  auto a = test::run_leo("-q analyze " + q(model) + " --vnnlib " + q(spec) + " --time-limit 3 --threads 1 --certificate " + q(c));
  ASSERT_EQ(a.exit_code, 0) << a.err;
  auto r = test::run_leo("-q check " + q(model) + " " + q(c) + " --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json j = json::parse(r.out);
  EXPECT_GT(j["claims"]["stable_units"].get<long>(), 1000);
  EXPECT_GT(j["claims"]["unstable_units"].get<long>(), 0);
  // A bound tightened: the first linear claim (multipliers through both
  // convolutions) claims a little more than its multipliers give.
  json t = load(c);
  json* claim = nullptr;
  for (auto& s : t["steps"])
    if (s["rule"] == "linear" && !claim) claim = &s["claims"][0];
  ASSERT_NE(claim, nullptr) << "the analysis records linear claims on this CNN";
  const double b = (*claim)["bound"].get<double>();
  const bool upper = (*claim)["side"] == "upper";
  (*claim)["bound"] = upper ? b - 1e-3 * (1 + std::abs(b)) : b + 1e-3 * (1 + std::abs(b));
  const fs::path p = dir / "tampered.cert";
  save(t, p);
  auto bad = test::run_leo("-q check " + q(model) + " " + q(p));
  EXPECT_EQ(bad.exit_code, 1) << bad.err;
  EXPECT_NE(bad.err.find("(linear): claims[0]: layer "), std::string::npos) << bad.err;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace leo
