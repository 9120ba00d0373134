// Certificates end to end (docs/certificates.md): `analyze/compress
// --certificate` on the reference models and domains, `leo check` accepts
// every honest certificate (exit 0), rejects every tampered one with exit 1
// naming the claim, and a certificate of another model, another version or a
// truncated/garbled file with exit 2.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "leo/checker/certificate.hpp"
#include "leo/io/onnx.hpp"
#include "certificate_check.hpp"
#include "support.hpp"

namespace leo {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string q(const fs::path& p) { return fmt::format("'{}'", p.string()); }
fs::path acas() { return test::models_dir() / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx"; }
fs::path acas_prop1() { return test::models_dir() / "acasxu" / "prop_1.vnnlib"; }
fs::path mnist256() { return test::models_dir() / "mnistfc" / "mnist-net_256x2.onnx"; }
fs::path mnist_prop0() { return test::models_dir() / "mnistfc" / "prop_0_0.03.vnnlib"; }
fs::path example_l1() { return fs::path(LEO_SOURCE_DIR) / "examples" / "mnist_l1_50x2.onnx"; }

json load(const fs::path& p) { return json::parse(test::read_file(p)); }
void save(const json& j, const fs::path& p) { std::ofstream(p, std::ios::binary) << j.dump(); }

// Certificates made once for the whole suite (analysis is the slow part).
class Certificates : public ::testing::Test {
 protected:
  static inline fs::path dir;
  static inline std::map<std::string, fs::path> made;

  static void SetUpTestSuite() { dir = test::temp_dir("certificates"); }
  static void TearDownTestSuite() { fs::remove_all(dir); }

  // analyze MODEL ARGS --certificate; cached by name.
  static fs::path certificate(const std::string& name, const fs::path& model, const std::string& args) {
    auto it = made.find(name);
    if (it != made.end()) return it->second;
    const fs::path c = dir / (name + ".cert");
    auto r = test::run_leo("-q analyze " + q(model) + " " + args + " --certificate " + q(c));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    made[name] = c;
    return c;
  }

  // A network with 3 inputs, small enough for a quick input-splitting tree.
  static fs::path small_net() {
    const fs::path p = dir / "small3.onnx";
    if (!fs::exists(p)) {
      std::mt19937_64 rng(7);
      write_onnx(test::random_network({3, 16, 16, 2}, rng, 0.3), p);
    }
    return p;
  }

  static json check_ok(const fs::path& model, const fs::path& cert, const std::string& extra = "") {
    return test::check_ok(model, cert, extra);
  }

  // A tampered copy must fail with `code` and a message naming `expected`.
  static void expect_rejected(const fs::path& model, const json& tampered, int code, const std::string& expected,
                              const std::string& extra = "") {
    test::expect_check_rejects(model, tampered, dir / "tampered.cert", code, expected, extra);
  }
};

// Index of the first step with rule `rule` (and a predicate), or -1.
template <typename P>
int find_step(const json& c, const std::string& rule, P pred) {
  for (std::size_t s = 0; s < c["steps"].size(); ++s)
    if (c["steps"][s]["rule"] == rule && pred(c["steps"][s])) return static_cast<int>(s);
  return -1;
}
int find_step(const json& c, const std::string& rule) {
  return find_step(c, rule, [](const json&) { return true; });
}

// ---- honest certificates check -------------------------------------------------

TEST_F(Certificates, AcasXuProp1) {
  const fs::path c = certificate("acas", acas(), "--vnnlib " + q(acas_prop1()));
  json s = check_ok(acas(), c);
  ASSERT_TRUE(s.contains("claims"));
  EXPECT_EQ(s["claims"]["stable_units"].get<int>() + s["claims"]["unstable_units"].get<int>() +
                s["claims"]["undecided_units"].get<int>(),
            300);
  EXPECT_EQ(s["claims"]["input_split_trees"], 1);  // the bab stage's tree
  EXPECT_GT(s["claims"]["stable_units"].get<int>(), 150);
}

TEST_F(Certificates, MnistfcVnnlibBox) {
  const fs::path c = certificate("mnist", mnist256(), "--vnnlib " + q(mnist_prop0()) + " --seed 1");
  json s = check_ok(mnist256(), c);
  ASSERT_TRUE(s.contains("claims"));
  EXPECT_GT(s["claims"]["linear"].get<int>(), 0);      // alpha / lp multipliers
  EXPECT_GT(s["claims"]["relu_split"].get<int>(), 0);  // the split stage's proofs
  EXPECT_EQ(s["claims"]["stable_units"].get<int>() + s["claims"]["unstable_units"].get<int>() +
                s["claims"]["undecided_units"].get<int>(),
            512);
}

TEST_F(Certificates, MnistfcUnitBoxWithTimeLimit) {
  const fs::path c = certificate("mnist01", mnist256(), "--time-limit 10 --seed 1");
  check_ok(mnist256(), c);
}

TEST_F(Certificates, L1ExampleAndSmallModels) {
  check_ok(example_l1(), certificate("l1", example_l1(), ""));
  for (const char* m : {"test_nano", "test_small", "test_sat"}) {
    const fs::path model = test::models_dir() / "small" / fmt::format("{}.onnx", m);
    check_ok(model, certificate(m, model, "--box -1,1 --time-limit 5"));
  }
}

// Regression: the split/milp residue of the l1 example left a unit whose only
// negative witness had g = -1e-17, within rounding of 0: the checker could
// not confirm it and rejected the honest certificate. The writer now keeps
// only witnesses whose sign survives a rounding-error bound and writes a unit
// without two such witnesses as undecided.
TEST_F(Certificates, WitnessesWithinRoundingOfZeroAreNotClaimed) {
  json s = check_ok(example_l1(), certificate("l1_split_milp", example_l1(), "--stages ibp,split,milp --threads 1"));
  EXPECT_GT(s["claims"]["unstable_units"].get<int>(), 0);
}

TEST_F(Certificates, CompressDeletionsAreRederived) {
  const fs::path out = dir / "l1_small.onnx", c = dir / "l1_compress.cert";
  auto r = test::run_leo("-q compress " + q(example_l1()) + " -o " + q(out) + " --certificate " + q(c));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = check_ok(example_l1(), c, "--compressed " + q(out));
  ASSERT_TRUE(s.contains("compress"));
  EXPECT_GT(s["compress"]["removed_on_proven_verdicts"].get<int>(), 0);
  EXPECT_GT(s["compress"]["rewrites_replayed"].get<int>(), 0);
  EXPECT_TRUE(s["compress"]["compressed_model_checked"].get<bool>());

  // A fate that names an unproven (unstable) unit as deleted inactive.
  json cert = load(c);
  bool done = false;
  for (std::size_t k = 0; k < cert["verdicts"].size() && !done; ++k) {
    std::string v = cert["verdicts"][k], f = cert["compress"]["fates"][k];
    for (std::size_t i = 0; i < v.size() && !done; ++i)
      if (v[i] == 'u') {
        f[i] = 'i';
        cert["compress"]["fates"][k] = f;
        done = true;
      }
  }
  ASSERT_TRUE(done);
  expect_rejected(example_l1(), cert, 1, "deleted as stably inactive");

  // Another compressed model than the one certified (here: the original itself).
  expect_rejected(example_l1(), load(c), 1, "not the one this certificate was written for",
                  "--compressed " + q(example_l1()));
}

// A network on [-1, 1]^2 built so that compress applies every dense rewrite
// that computes new weights: in hidden layer 0 a constant unit (u5), a
// duplicate (u4 = 2 u3, both unstable), linearly dependent active units
// (u2 = u0 + u1 - 7), an inactive unit (u6); hidden layer 1 is stably active
// throughout and is folded into the output layer.
Network crafted_rewrites_network() {
  AffineLayer l0, l1, l2;
  l0.weights.resize(7, 2);
  l0.weights << 1, 0, 0, 1, 1, 1, 1, -0.5, 2, -1, 0, 0, 1, 1;
  l0.bias.resize(7);
  l0.bias << 5, 5, 3, 0, 0, 0.75, -10;
  l1.weights.resize(3, 7);
  l1.weights << 0.5, -0.25, 0.125, 1, -0.5, 2, 3,  //
      -0.75, 0.5, 0.25, -1, 0.25, -1, 1,            //
      0.25, 0.25, -0.5, 0.5, 0.75, 0.5, -2;
  l1.bias.resize(3);
  l1.bias << 40, 50, 60;
  l2.weights.resize(2, 3);
  l2.weights << 1, -0.5, 0.25, -0.125, 0.75, 1.5;
  l2.bias.resize(2);
  l2.bias << 0.5, -0.25;
  return Network({l0, l1, l2});
}

TEST_F(Certificates, CompressWithRecomputedWeightsIsReplayed) {
  const fs::path model = dir / "crafted.onnx", out = dir / "crafted_small.onnx", c = dir / "crafted.cert";
  write_onnx(crafted_rewrites_network(), model);
  auto r = test::run_leo("-q compress " + q(model) + " --box -1,1 -o " + q(out) + " --certificate " + q(c));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const json honest = load(c);
  std::map<std::string, int> kinds;
  for (const auto& w : honest["compress"]["rewrites"]) ++kinds[w["kind"].get<std::string>()];
  for (const char* k : {"inactive_unit", "constant_unit", "duplicate_unit", "dependent_active", "layer_fold"})
    EXPECT_EQ(kinds[k], 1) << k << " in " << honest["compress"]["rewrites"].dump();
  json s = check_ok(model, c, "--compressed " + q(out));
  ASSERT_TRUE(s.contains("compress"));
  EXPECT_EQ(s["compress"]["rewrites_replayed"].get<std::size_t>(), honest["compress"]["rewrites"].size());
  EXPECT_TRUE(s["compress"]["compressed_model_checked"].get<bool>());
  EXPECT_LE(s["compress"]["max_residual_ratio"].get<double>(), 1e-12);
  const std::string compressed = "--compressed " + q(out);
  auto find = [&](const std::string& kind) {
    for (std::size_t n = 0; n < honest["compress"]["rewrites"].size(); ++n)
      if (honest["compress"]["rewrites"][n]["kind"] == kind) return n;
    return std::size_t{0};
  };

  // A written weight changed by more than rounding (and the digest updated,
  // so that only the replay can catch it).
  {
    Network tampered = read_onnx(out);
    AffineLayer& last = tampered.layers.back();
    last.weights(0, 0) = static_cast<double>(static_cast<float>(last.weights(0, 0) * (1 + 1e-5) + 1e-6));
    const fs::path t = dir / "crafted_tampered.onnx";
    write_onnx(tampered, t);
    json cert = honest;
    cert["compress"]["output_digest"] = cert::digest(read_onnx(t));
    expect_rejected(model, cert, 1, "the replayed rewrites give", "--compressed " + q(t));
  }
  // A rewrite's unit changed (the inactive deletion names an active unit).
  {
    json t = honest;
    const std::size_t n = find("inactive_unit");
    t["compress"]["rewrites"][n]["units"][0] = 0;
    expect_rejected(model, t, 1, fmt::format("rewrites[{}] (inactive_unit", n), compressed);
  }
  // The duplicate merged into another unit.
  {
    json t = honest;
    const std::size_t n = find("duplicate_unit");
    t["compress"]["rewrites"][n]["into"][0] = 0;
    expect_rejected(model, t, 1, fmt::format("rewrites[{}] (duplicate_unit", n), compressed);
  }
  // A factor, a constant value, a dependence coefficient changed.
  {
    json t = honest;
    const std::size_t n = find("duplicate_unit");
    t["compress"]["rewrites"][n]["factors"][0] = t["compress"]["rewrites"][n]["factors"][0].get<double>() * 1.001;
    expect_rejected(model, t, 1, "identities it rests on", compressed);
    t = honest;
    const std::size_t m = find("constant_unit");
    t["compress"]["rewrites"][m]["values"][0] = 0.7501;
    expect_rejected(model, t, 1, "identities it rests on", compressed);
    t = honest;
    const std::size_t d = find("dependent_active");
    t["compress"]["rewrites"][d]["alpha"][0][0] = t["compress"]["rewrites"][d]["alpha"][0][0].get<double>() + 1e-4;
    expect_rejected(model, t, 1, "identities it rests on", compressed);
  }
  // A rewrite removed; two rewrites swapped.
  for (std::size_t n = 0; n < honest["compress"]["rewrites"].size(); ++n) {
    json t = honest;
    t["compress"]["rewrites"].erase(n);
    expect_rejected(model, t, 1, "compress: ", compressed);
  }
  {  // (rewrites of different layers may commute: the constant and the duplicate of layer 0 do not)
    json t = honest;
    auto& rw = t["compress"]["rewrites"];
    std::swap(rw[find("constant_unit")], rw[find("duplicate_unit")]);
    expect_rejected(model, t, 1, "compress: ", compressed);
  }
  // The fold of a layer that is not proven stable: claim the fold one layer earlier.
  {
    json t = honest;
    const std::size_t n = find("layer_fold");
    t["compress"]["rewrites"][n]["layer"] = 0;
    expect_rejected(model, t, 1, "not proven stable", compressed);
  }
}

// Honest compress certificates of random nets on narrow boxes (so that layers
// fold and active units depend on each other), written as float32 and as
// double: every one replays and checks.
TEST_F(Certificates, RandomCompressionsReplay) {
  std::mt19937_64 rng(11);
  int folds = 0, dependent = 0;
  for (int n = 0; n < 4; ++n) {
    const fs::path model = dir / fmt::format("random{}.onnx", n);
    write_onnx(test::random_network({4, 12, 12, 12, 3}, rng, 2.0), model);
    for (const char* dtype : {"float", "double"}) {
      SCOPED_TRACE(fmt::format("net {} {}", n, dtype));
      const fs::path out = dir / "random_small.onnx", c = dir / "random.cert";
      const std::string box = n % 2 ? "--box 0.2,0.201" : "--box -0.001,0.001";
      auto r = test::run_leo("-q compress " + q(model) + " " + box + " --fold-layers always --dtype " + dtype + " -o " +
                             q(out) + " --certificate " + q(c));
      ASSERT_EQ(r.exit_code, 0) << r.err;
      json s = check_ok(model, c, "--compressed " + q(out));
      ASSERT_TRUE(s.contains("compress"));
      EXPECT_TRUE(s["compress"]["compressed_model_checked"].get<bool>());
      const json written = load(c);
      for (const auto& w : written["compress"]["rewrites"]) {
        folds += w["kind"] == "layer_fold";
        dependent += w["kind"] == "dependent_active";
      }
    }
  }
  EXPECT_GT(folds, 0);
  EXPECT_GT(dependent, 0);
}

TEST_F(Certificates, CompressWithFolds) {
  const fs::path out = dir / "acas_small.onnx", c = dir / "acas_compress.cert";
  auto r = test::run_leo("-q compress " + q(small_net()) + " --box -1,1 -o " + q(out) + " --certificate " + q(c) +
                         " --fold-layers always");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  json s = check_ok(small_net(), c, "--compressed " + q(out));
  ASSERT_TRUE(s.contains("compress"));
  EXPECT_TRUE(s["compress"]["compressed_model_checked"].get<bool>());
}

// ---- tampering is caught (exit 1, naming the claim) ------------------------------------

TEST_F(Certificates, TamperedLinearClaims) {
  const json honest = load(certificate("mnist", mnist256(), "--vnnlib " + q(mnist_prop0()) + " --seed 1"));
  const int s = find_step(honest, "linear");
  ASSERT_GE(s, 0);
  // A bound tightened.
  json t = honest;
  json& claim = t["steps"][s]["claims"][0];
  const double b = claim["bound"];
  claim["bound"] = claim["side"] == "upper" ? b - 1.0 - std::abs(b) : b + 1.0 + std::abs(b);
  expect_rejected(mnist256(), t, 1, fmt::format("step {} (linear): claims[0]", s));
  // Multipliers changed so that the bound no longer follows.
  t = honest;
  json& nu = t["steps"][s]["claims"][0]["nu"];
  bool changed = false;
  for (auto& v : nu)
    for (auto& x : v["v"]) x = -100.0 * x.get<double>() - 1.0, changed = true;
  ASSERT_TRUE(changed);
  expect_rejected(mnist256(), t, 1, "the multipliers give only");
}

TEST_F(Certificates, TamperedReluSplit) {
  const json honest = load(certificate("mnist", mnist256(), "--vnnlib " + q(mnist_prop0()) + " --seed 1"));
  const int s = find_step(honest, "relu_split", [](const json& st) { return st["nodes"].size() > 1; });
  ASSERT_GE(s, 0);
  // The proven bound tightened beyond what the leaves give.
  json t = honest;
  const double b = t["steps"][s]["bound"];
  t["steps"][s]["bound"] = t["steps"][s]["side"] == "upper" ? b - 1.0 - std::abs(b) : b + 1.0 + std::abs(b);
  expect_rejected(mnist256(), t, 1, fmt::format("step {} (relu_split)", s));
  // A leaf removed: the leaves no longer cover the domain.
  t = honest;
  t["steps"][s]["nodes"].erase(t["steps"][s]["nodes"].size() - 1);
  expect_rejected(mnist256(), t, 1, "do not cover the domain");
  // A leaf's multipliers changed.
  t = honest;
  bool changed = false;
  for (auto& n : t["steps"][s]["nodes"])
    if (n.is_object() && !changed)
      for (auto& v : n["nu"])
        for (auto& x : v["v"]) x = -100.0 * x.get<double>() - 1.0, changed = true;
  // (Leaves settled by the beta-CROWN bound carry multipliers: there is one.)
  ASSERT_TRUE(changed) << "no leaf with multipliers";
  expect_rejected(mnist256(), t, 1, fmt::format("step {} (relu_split)", s));
}

TEST_F(Certificates, TamperedInputSplit) {
  const fs::path c = certificate("small3", small_net(), "--box -1,1 --stages ibp,samples,attack,crown,bab --seed 1");
  check_ok(small_net(), c);
  const json honest = load(c);
  const int s = find_step(honest, "input_split");
  ASSERT_GE(s, 0);
  ASSERT_GT(honest["steps"][s]["nodes"].size(), 1u);
  // A leaf removed.
  json t = honest;
  t["steps"][s]["nodes"].erase(t["steps"][s]["nodes"].size() - 1);
  expect_rejected(small_net(), t, 1, "do not cover the domain");
  // A split point moved outside its box.
  t = honest;
  t["steps"][s]["nodes"][0][1] = 5.0;
  expect_rejected(small_net(), t, 1, "outside its box");
  // The tree replaced by a single leaf: the stable verdicts that rest on it fail.
  t = honest;
  t["steps"][s]["nodes"] = json::array({nullptr});
  auto r = test::run_leo("-q check " + q(small_net()) + " " + q(c));
  ASSERT_EQ(r.exit_code, 0);
  const fs::path p = dir / "leaf.cert";
  save(t, p);
  r = test::run_leo("-q check " + q(small_net()) + " " + q(p));
  if (r.exit_code != 0) {
    EXPECT_NE(r.err.find("called stably"), std::string::npos) << r.err;
  }
}

TEST_F(Certificates, TamperedVerdictsAndWitnesses) {
  const json honest = load(certificate("mnist", mnist256(), "--vnnlib " + q(mnist_prop0()) + " --seed 1"));
  ASSERT_FALSE(honest["witnesses"].empty());
  // A unit flipped from unstable to stable, both ways.
  for (char flip : {'i', 'a'}) {
    json t = honest;
    bool done = false;
    for (auto& layer : t["verdicts"]) {
      std::string v = layer;
      auto at = v.find('u');
      if (at == std::string::npos) continue;
      v[at] = flip;
      layer = v;
      done = true;
      break;
    }
    ASSERT_TRUE(done);
    expect_rejected(mnist256(), t, 1, flip == 'i' ? "called stably inactive" : "called stably active");
  }
  // A stable unit flipped to unstable: no witness shows it.
  {
    json t = honest;
    std::string v = t["verdicts"][0];
    auto at = v.find('i');
    ASSERT_NE(at, std::string::npos);
    v[at] = 'u';
    t["verdicts"][0] = v;
    expect_rejected(mnist256(), t, 1, "called unstable, but no witness");
  }
  // A witness moved outside the domain.
  {
    json t = honest;
    t["witnesses"][0]["input"][0] = t["domain"]["upper"][0].get<double>() + 0.5;
    expect_rejected(mnist256(), t, 1, "outside the domain");
  }
  // A witness moved to where the sign is wrong: the claimed sign flipped.
  {
    json t = honest;
    json& sign = t["witnesses"][0]["signs"][0];
    sign[2] = -sign[2].get<int>();
    expect_rejected(mnist256(), t, 1, "witnesses[0]: signs[0]");
  }
  // A witness removed: its units lose a sign.
  {
    json t = honest;
    t["witnesses"].erase(0);
    expect_rejected(mnist256(), t, 1, "called unstable, but no witness");
  }
}

// ---- bad input (exit 2) ---------------------------------------------------------------

TEST_F(Certificates, BadInput) {
  const fs::path c = certificate("mnist", mnist256(), "--vnnlib " + q(mnist_prop0()) + " --seed 1");
  const json honest = load(c);
  // A certificate of another model.
  {
    auto r = test::run_leo("-q check " + q(test::models_dir() / "mnistfc" / "mnist-net_256x4.onnx") + " " + q(c));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("another model"), std::string::npos) << r.err;
  }
  // Truncated.
  {
    const std::string text = test::read_file(c);
    const fs::path p = dir / "truncated.cert";
    std::ofstream(p, std::ios::binary) << text.substr(0, text.size() / 2);
    auto r = test::run_leo("-q check " + q(mnist256()) + " " + q(p));
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("not a valid JSON certificate"), std::string::npos) << r.err;
  }
  // Another version, a missing field, a wrong type, a garbled domain, a bad rule.
  json t = honest;
  t["version"] = 1;
  expect_rejected(mnist256(), t, 2, "version 1 is not supported");
  t = honest;
  t.erase("verdicts");
  expect_rejected(mnist256(), t, 2, "missing field 'verdicts'");
  t = honest;
  t["steps"][0]["crown"] = "yes";
  expect_rejected(mnist256(), t, 2, "steps[0].crown");
  t = honest;
  t["domain"]["upper"][3] = 0.75;
  expect_rejected(mnist256(), t, 2, "does not match its digest");
  t = honest;
  t["steps"][0]["rule"] = "trust_me";
  expect_rejected(mnist256(), t, 2, "unknown rule 'trust_me'");
  t = honest;
  t["verdicts"][0] = "ii";
  expect_rejected(mnist256(), t, 2, "verdicts for 256 units");
  // A CNN is checked now (cnn_certificate_itest): a dense model's certificate is of another model.
  const fs::path cnn = test::models_dir() / "cifar" / "cifar10_small.onnx";
  auto r = test::run_leo("-q check " + q(cnn) + " " + q(c));
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("it is of another model"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace leo
