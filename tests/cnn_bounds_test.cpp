// Every bound and stability stage on structured (convolutional) layers:
// (1) each bound stage gives on a tiny CNN the bounds it gives on the CNN's
//     dense twin (the same maps as dense matrices), up to rounding, and both
//     enclose the true range; (2) every verdict of every stage agrees with a
//     brute-force grid over the few input pixels that vary (stable verdicts
//     never contradicted, unstable witnesses real), also with a residual
//     (carry) connection; (3) the per-channel summary on a net with a known
//     answer; (4) the size limits of the exact stages leave units undecided.
#include <gtest/gtest.h>

#include <random>

#include "leo/bounds/alpha.hpp"
#include "leo/bounds/crown.hpp"
#include "leo/bounds/driver.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/bounds/lp.hpp"
#include "leo/network/structured.hpp"
#include "leo/stability/analysis_json.hpp"
#include "leo/stability/analysis_table.hpp"
#include "leo/stability/cascade.hpp"
#include "leo/stability/channels.hpp"
#include "leo/stability/evidence.hpp"
#include "leo/stability/exact.hpp"
#include "leo/util/progress.hpp"
#include "cnn_builders.hpp"
#include "stability_check.hpp"
#include "support.hpp"

namespace leo {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;

MatrixXd random_matrix(Eigen::Index r, Eigen::Index c, std::mt19937_64& rng, double scale = 0.5) {
  std::normal_distribution<double> d(0.0, scale);
  MatrixXd m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
  return m;
}

using test::conv2d;
using test::structured_layer;

// The same network with every layer a dense matrix.
Network dense_twin(const Network& net) {
  std::vector<AffineLayer> layers;
  for (const AffineLayer& l : net.layers) layers.emplace_back(l.dense(), l.bias);
  return Network(std::move(layers));
}

// A tiny CNN on a 1x4x4 input: conv 3x3 pad 1 (2x4x4) -> ReLU -> conv 3x3
// pad 1 (3x4x4), with `chain` a per-channel scale (BatchNorm) and a 2x2
// average pool (3x2x2) in the same layer -> ReLU -> dense 2.
Network tiny_cnn(std::mt19937_64& rng, bool chain = true) {
  const Shape3 x{1, 4, 4};
  Conv2d c1 = conv2d(x, 2, 3, 1, 1, random_matrix(2, 9, rng));  // 2x4x4
  Conv2d c2 = conv2d(c1.output(), 3, 3, 1, 1, random_matrix(3, 18, rng, 0.4));  // 3x4x4
  ChannelAffine bn(c2.output(), VectorXd::Constant(3, 1.3), VectorXd::Zero(3));
  Window2d pool;
  pool.kernel_h = pool.kernel_w = 2;
  pool.stride_h = pool.stride_w = 2;
  AvgPool2d ap(c2.output(), pool, false);  // 3x2x2
  std::vector<AffineLayer> layers;
  layers.push_back(structured_layer(StructuredMap({{x}}, {{c1.output()}}, {StructuredMap::Block{0, 0, {c1}, {}}}),
                                    random_matrix(32, 1, rng, 0.3).col(0)));
  if (chain) {
    layers.push_back(structured_layer(
        StructuredMap({{c1.output()}}, {{ap.output()}}, {StructuredMap::Block{0, 0, {c2, bn, ap}, {}}}),
        random_matrix(12, 1, rng, 0.3).col(0)));
    layers.emplace_back(random_matrix(2, 12, rng), random_matrix(2, 1, rng).col(0));
  } else {
    layers.push_back(structured_layer(
        StructuredMap({{c1.output()}}, {{c2.output()}}, {StructuredMap::Block{0, 0, {c2}, {}}}),
        random_matrix(48, 1, rng, 0.3).col(0)));
    layers.emplace_back(random_matrix(2, 48, rng), random_matrix(2, 1, rng).col(0));
  }
  Network net(std::move(layers));
  net.validate();
  return net;
}

// A residual CNN: h1 = relu(conv(x)) (2x4x4); layer 1 gives [conv(h1); carry
// h1]; layer 2 gives conv(h2) + h1 (the residual Add); then dense 2.
Network residual_cnn(std::mt19937_64& rng) {
  const Shape3 x{1, 4, 4};
  const Shape3 h{2, 4, 4};
  Conv2d c1 = conv2d(x, 2, 3, 1, 1, random_matrix(2, 9, rng));
  Conv2d c2 = conv2d(h, 2, 3, 1, 1, random_matrix(2, 18, rng, 0.4));
  Conv2d c3 = conv2d(h, 2, 3, 1, 1, random_matrix(2, 18, rng, 0.4));
  std::vector<AffineLayer> layers;
  layers.push_back(structured_layer(StructuredMap({{x}}, {{h}}, {StructuredMap::Block{0, 0, {c1}, {}}}),
                                    random_matrix(32, 1, rng, 0.3).col(0)));
  VectorXd b1(64);
  b1.head(32) = random_matrix(32, 1, rng, 0.3).col(0);
  b1.tail(32).setZero();  // a carry has no offset
  layers.push_back(structured_layer(
      StructuredMap({{h}}, {{h}, {h, true}}, {StructuredMap::Block{0, 0, {c2}, {}}, StructuredMap::Block{0, 1, {}, {}}}),
      b1));
  layers.push_back(structured_layer(
      StructuredMap({{h}, {h}}, {{h}}, {StructuredMap::Block{0, 0, {c3}, {}}, StructuredMap::Block{1, 0, {}, {}}}),
      random_matrix(32, 1, rng, 0.3).col(0)));
  layers.emplace_back(random_matrix(2, 32, rng), random_matrix(2, 1, rng).col(0));
  Network net(std::move(layers));
  net.validate();
  return net;
}

// Three pixels vary in [0, 1]; the others are fixed at values in [0, 1].
Domain few_pixels(std::mt19937_64& rng) {
  Domain d;
  std::uniform_real_distribution<double> u(0.0, 1.0);
  d.box.lower.resize(16);
  d.box.upper.resize(16);
  for (int i = 0; i < 16; ++i) d.box.lower[i] = d.box.upper[i] = u(rng);
  for (int i : {5, 6, 10}) d.box.lower[i] = 0.0, d.box.upper[i] = 1.0;
  d.probes.resize(16, 0);
  d.description = "three pixels";
  return d;
}

// A dense grid (per_axis points per varying feature) plus every corner.
MatrixXd grid(const Box& box, int per_axis) {
  std::vector<Eigen::Index> vary;
  for (Eigen::Index i = 0; i < box.size(); ++i)
    if (box.upper[i] > box.lower[i]) vary.push_back(i);
  Eigen::Index count = 1;
  for (std::size_t k = 0; k < vary.size(); ++k) count *= per_axis;
  MatrixXd X(box.size(), count);
  for (Eigen::Index c = 0; c < count; ++c) {
    X.col(c) = box.lower;
    Eigen::Index rest = c;
    for (Eigen::Index i : vary) {
      const Eigen::Index step = rest % per_axis;
      rest /= per_axis;
      X(i, c) = box.lower[i] + (box.upper[i] - box.lower[i]) * static_cast<double>(step) / (per_axis - 1);
    }
  }
  return X;
}

// Every hidden and output pre-activation of the grid lies within the bounds.
void expect_enclosing(const Network& net, const NetworkBounds& bounds, const MatrixXd& X, const std::string& what) {
  const auto pre = net.pre_activations(X);
  for (std::size_t l = 0; l < bounds.size(); ++l)
    for (Eigen::Index i = 0; i < pre[l].rows(); ++i) {
      EXPECT_LE(bounds[l].lower[i], pre[l].row(i).minCoeff()) << what << " layer " << l << " unit " << i;
      EXPECT_GE(bounds[l].upper[i], pre[l].row(i).maxCoeff()) << what << " layer " << l << " unit " << i;
    }
}

void expect_same_bounds(const NetworkBounds& a, const NetworkBounds& b, const std::string& what) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t l = 0; l < a.size(); ++l)
    for (Eigen::Index i = 0; i < a[l].lower.size(); ++i) {
      const double scale = 1e-9 * (1 + std::abs(a[l].lower[i]) + std::abs(a[l].upper[i]));
      EXPECT_NEAR(a[l].lower[i], b[l].lower[i], scale) << what << " layer " << l << " unit " << i;
      EXPECT_NEAR(a[l].upper[i], b[l].upper[i], scale) << what << " layer " << l << " unit " << i;
    }
}

class Quiet : public testing::Test {
 protected:
  void SetUp() override { Progress::global().set_enabled(false); }
  void TearDown() override { Progress::global().set_enabled(true); }
};

using CnnBounds = Quiet;

// Layers of single operators (and identities): the products are the dense
// ones, so the bounds agree up to rounding.
TEST_F(CnnBounds, EveryBoundStageGivesTheBoundsOfTheDenseTwin) {
  for (int seed = 0; seed < 3; ++seed) {
    std::mt19937_64 rng(100 + seed);
    for (const Network& net : {tiny_cnn(rng, false), residual_cnn(rng)}) {
      const Network twin = dense_twin(net);
      const Domain d = few_pixels(rng);
      const MatrixXd X = grid(d.box, 9);
      NetworkBounds s = interval_bounds(net, d.box), t = interval_bounds(twin, d.box);
      expect_same_bounds(s, t, "ibp");
      expect_enclosing(net, s, X, "ibp");
      crown_bounds(net, d.box, s);
      crown_bounds(twin, d.box, t);
      expect_same_bounds(s, t, "crown");
      expect_enclosing(net, s, X, "crown");
      NetworkBounds s2 = s, t2 = t;
      // Adam's steps follow the sign of near-zero gradients, which rounding
      // flips: the optimised slopes may part, so alpha agrees loosely.
      alpha_bounds(net, d.box, s, all_units(net));
      alpha_bounds(twin, d.box, t, all_units(twin));
      for (std::size_t l = 0; l < s.size(); ++l)
        for (Eigen::Index i = 0; i < s[l].lower.size(); ++i) {
          EXPECT_NEAR(s[l].lower[i], t[l].lower[i], 0.05 * (1 + std::abs(t[l].lower[i])));
          EXPECT_NEAR(s[l].upper[i], t[l].upper[i], 0.05 * (1 + std::abs(t[l].upper[i])));
        }
      expect_enclosing(net, s, X, "alpha");
      // LP from the (equal) CROWN bounds.
      LpOptions lp;
      lp.stop_at_sign = false;
      lp_bounds(net, d.box, s2, all_units(net), lp);
      lp_bounds(twin, d.box, t2, all_units(twin), lp);
      for (std::size_t l = 0; l < s2.size(); ++l)  // Clp's pivots may differ: agree to its tolerance
        for (Eigen::Index i = 0; i < s2[l].lower.size(); ++i) {
          EXPECT_NEAR(s2[l].lower[i], t2[l].lower[i], 1e-6);
          EXPECT_NEAR(s2[l].upper[i], t2[l].upper[i], 1e-6);
        }
      expect_enclosing(net, s2, X, "lp");
    }
  }
}

// A layer of several operators (Conv -> BN -> AvgPool): interval bounds use
// |A3||A2||A1| >= |A3 A2 A1| (network/network.hpp), so they may be looser
// than the dense twin's, never tighter than the true range; the other stages
// use the plain products and are as tight as on the dense twin (up to the
// interval bounds they start from).
TEST_F(CnnBounds, ChainedOperatorsGiveSoundBoundsNoTighterThanDenseIntervals) {
  for (int seed = 0; seed < 3; ++seed) {
    std::mt19937_64 rng(200 + seed);
    const Network net = tiny_cnn(rng, true);
    const Network twin = dense_twin(net);
    const Domain d = few_pixels(rng);
    const MatrixXd X = grid(d.box, 9);
    NetworkBounds s = interval_bounds(net, d.box), t = interval_bounds(twin, d.box);
    expect_enclosing(net, s, X, "ibp");
    for (std::size_t l = 0; l < s.size(); ++l)
      for (Eigen::Index i = 0; i < s[l].lower.size(); ++i) {
        EXPECT_LE(s[l].lower[i], t[l].lower[i] + 1e-9);
        EXPECT_GE(s[l].upper[i], t[l].upper[i] - 1e-9);
      }
    crown_bounds(net, d.box, s);
    expect_enclosing(net, s, X, "crown");
    alpha_bounds(net, d.box, s, all_units(net));
    expect_enclosing(net, s, X, "alpha");
    lp_bounds(net, d.box, s, all_units(net));
    expect_enclosing(net, s, X, "lp");
  }
}

// Each stage alone (after interval bounds, which every bound stage builds
// on) and the whole cascade, on the tiny CNN and the residual one: verdicts
// against a 31^3 grid and the corners.
TEST_F(CnnBounds, EveryStageAgreesWithBruteForce) {
  const Stage stages[] = {Stage::ibp, Stage::samples, Stage::attack, Stage::crown, Stage::alpha,
                          Stage::bab, Stage::lp,      Stage::split,  Stage::milp};
  int decided_stable = 0, decided_unstable = 0;
  const int seeds = test::repetitions(2, 2);  // one seed under the sanitizers
  for (int seed = 0; seed < seeds; ++seed) {
    std::mt19937_64 rng(7 + seed);
    for (const Network& net : {tiny_cnn(rng), residual_cnn(rng)}) {
      const Domain d = few_pixels(rng);
      const MatrixXd X = grid(d.box, 21);
      for (Stage stage : stages) {
        AnalyzeOptions o;
        o.stages = {stage};
        o.threads = 1;
        Analysis a = analyze(net, d, o);
        SCOPED_TRACE(to_string(stage));
        test::expect_valid_witnesses(net, a);
        test::expect_not_contradicted(net, a, X);
      }
      AnalyzeOptions all;
      all.threads = 1;
      Analysis a = analyze(net, d, all);
      test::expect_valid_witnesses(net, a);
      test::expect_not_contradicted(net, a, X);
      // On so small a net the cascade decides every unit, and the grid agrees:
      // a unit the grid shows both ways is unstable.
      const auto pre = net.pre_activations(X);
      for (std::size_t h = 0; h < a.layers.size(); ++h)
        for (std::size_t i = 0; i < a.layers[h].size(); ++i) {
          const UnitVerdict& v = a.layers[h][i];
          EXPECT_NE(v.status, Status::undecided) << "layer " << h << " unit " << i;
          const auto row = pre[h].row(static_cast<Eigen::Index>(i));
          if (row.maxCoeff() > 0 && row.minCoeff() < 0) {
            EXPECT_EQ(v.status, Status::unstable);
          }
          if (v.status == Status::unstable) ++decided_unstable; else ++decided_stable;
          if (a.is_carry(h, static_cast<Eigen::Index>(i))) {  // a carried value is >= 0 (0: inactive)
            EXPECT_TRUE(v.status == Status::active || v.status == Status::inactive);
          }
        }
    }
  }
  EXPECT_GT(decided_stable, 15 * seeds);  // the test sees both kinds of verdicts
  EXPECT_GT(decided_unstable, 15 * seeds);
}

// Layer 0 of a 3-channel conv on a nonnegative input: channel 0 has only
// negative weights and bias (wholly inactive), channel 1 only positive ones
// (wholly active), channel 2 mixed (unstable where the input varies).
TEST_F(CnnBounds, PerChannelSummaryOnAKnownNet) {
  const Shape3 x{1, 4, 4};
  MatrixXd w(3, 9);
  w.row(0).setConstant(-0.5);
  w.row(1).setConstant(0.5);
  w.row(2) << 1, -1, 1, -1, 1, -1, 1, -1, 1;
  Conv2d c = conv2d(x, 3, 3, 1, 1, w);
  VectorXd b(48);
  b.segment(0, 16).setConstant(-0.1);
  b.segment(16, 16).setConstant(0.1);
  b.segment(32, 16).setConstant(0.0);
  std::vector<AffineLayer> layers;
  layers.push_back(structured_layer(StructuredMap({{x}}, {{c.output()}}, {StructuredMap::Block{0, 0, {c}, {}}}), b));
  layers.emplace_back(MatrixXd::Ones(1, 48), VectorXd::Zero(1));
  Network net(std::move(layers));
  Domain d;
  d.box = Box::uniform(16, 0.0, 1.0);
  d.probes.resize(16, 0);
  d.description = "[0,1]^16";
  Analysis a = analyze(net, d, AnalyzeOptions{});
  const auto channels = channel_summary(a, 0);
  ASSERT_EQ(channels.size(), 3u);
  EXPECT_TRUE(channels[0].whole_inactive());
  EXPECT_EQ(channels[0].inactive, 16);
  EXPECT_TRUE(channels[1].whole_active());
  EXPECT_EQ(channels[1].active, 16);
  EXPECT_FALSE(channels[2].whole_inactive() || channels[2].whole_active());
  EXPECT_EQ(channels[2].positions, 16);
  EXPECT_GT(channels[2].unstable, 0);
  EXPECT_EQ(channels[2].inactive + channels[2].active + channels[2].unstable + channels[2].undecided, 16);
  const nlohmann::json j = to_json(a);
  const auto& layer = j["layers"][0];
  EXPECT_EQ(layer["shape"], nlohmann::json({3, 4, 4}));
  EXPECT_EQ(layer["channels"][0]["whole"], "inactive");
  EXPECT_EQ(layer["channels"][1]["whole"], "active");
  EXPECT_EQ(layer["channels"][2]["stable"], false);
  EXPECT_EQ(layer["whole_channels"]["stably_inactive"], 1);
  EXPECT_EQ(layer["whole_channels"]["stably_active"], 1);
  EXPECT_EQ(layer["verdicts"][16 + 4 * 2 + 3]["index"], nlohmann::json({1, 2, 3}));
  EXPECT_EQ(layer["verdicts"][16 + 4 * 2 + 3]["unit"], 27);
  const std::string table = format_table(a);
  EXPECT_NE(table.find("3 channels, 1 wholly inactive, 1 wholly active"), std::string::npos) << table;
  EXPECT_NE(table.find("stably inactive"), std::string::npos);
}

TEST_F(CnnBounds, CarryUnitsAreReportedApart) {
  std::mt19937_64 rng(3);
  const Network net = residual_cnn(rng);
  const Domain d = few_pixels(rng);
  Analysis a = analyze(net, d, AnalyzeOptions{});
  EXPECT_EQ(a.layers[1].size(), 64u);
  EXPECT_EQ(a.model_units(1), 32);
  EXPECT_EQ(a.carry_units(1), 32);
  const nlohmann::json j = to_json(a);
  EXPECT_EQ(j["layers"][1]["units"], 32);
  EXPECT_EQ(j["layers"][1]["verdicts"].size(), 32u);
  EXPECT_EQ(j["layers"][1]["channels"].size(), 2u);  // the carry's channels are not in the summary
  EXPECT_EQ(j["layers"][1]["carry"]["units"], 32);
  // A post-ReLU value: >= 0, so stably active (or inactive where it is always 0).
  EXPECT_EQ(j["layers"][1]["carry"]["stably_active"].get<int>() + j["layers"][1]["carry"]["stably_inactive"].get<int>(),
            32);
  EXPECT_GT(j["layers"][1]["carry"]["stably_active"].get<int>(), 0);
  EXPECT_EQ(j["totals"]["units"], 32 * 3);
  EXPECT_EQ(j["totals"]["carry_units"], 32);
  int counted = 0;
  for (const char* k : {"stably_active", "stably_inactive", "unstable", "undecided"})
    counted += j["layers"][1][k].get<int>();
  EXPECT_EQ(counted, 32);
  EXPECT_NE(format_table(a).find("32 carried units"), std::string::npos);
  // The stages' "decided" counts units of the model only, as the totals do:
  // they add up to the units decided (the carries, decided too, are not in them).
  int decided = 0;
  for (const auto& s : j["stages"]) decided += s["decided"].get<int>();
  EXPECT_EQ(decided, j["totals"]["units"].get<int>() - j["totals"]["undecided"].get<int>());
  // The network counts its units the same way.
  EXPECT_EQ(net.hidden_units(), 32 * 4);
  EXPECT_EQ(net.model_units(), 32 * 3);
  EXPECT_EQ(net.carried_units(), 32);
  EXPECT_EQ(net.model_widths(), (std::vector<Eigen::Index>{32, 32, 32}));
}

// Limits of the exact stages: over them the LP, split and MILP stages build
// nothing and leave the units undecided (recorded in the analysis), never a
// wrong verdict and never a crash.
TEST_F(CnnBounds, ExactStagesOverTheSizeLimitLeaveUnitsUndecided) {
  std::mt19937_64 rng(5);
  const Network net = tiny_cnn(rng);
  const Domain d = few_pixels(rng);
  ModelLimits tiny;
  tiny.rows = 1;
  tiny.nonzeros = 1;
  EXPECT_FALSE(tiny.exceeded(net, interval_bounds(net, d.box), 0));  // no layer before: nothing to cap
  EXPECT_TRUE(tiny.exceeded(net, interval_bounds(net, d.box), 1));
  EXPECT_FALSE(ModelLimits{}.exceeded(dense_twin(net), interval_bounds(net, d.box), 2));
  // The LP stage alone with tiny limits changes nothing on layers >= 1.
  NetworkBounds b = interval_bounds(net, d.box), before = b;
  LpOptions lp;
  lp.limits = tiny;
  lp_bounds(net, d.box, b, all_units(net), lp);
  for (std::size_t l = 1; l < b.size(); ++l) {
    EXPECT_EQ(b[l].lower, before[l].lower);
    EXPECT_EQ(b[l].upper, before[l].upper);
  }
  // Split and MILP skip, and say so.
  Analysis a = make_analysis(net, d);
  apply_bounds(a, b, Stage::ibp);
  SplitStageOptions split;
  split.limits = tiny;
  split_stage(net, d.box, b, a, split);
  ExactOptions exact;
  exact.limits = tiny;
  exact_per_unit(net, d.box, b, a, exact);
  ASSERT_EQ(a.skipped_models.size(), 2u);
  EXPECT_EQ(a.skipped_models[0].stage, Stage::split);
  EXPECT_EQ(a.skipped_models[1].stage, Stage::milp);
  EXPECT_EQ(to_json(a)["skipped_models"].size(), 2u);
  test::expect_not_contradicted(net, a, grid(d.box, 11));
}

TEST_F(CnnBounds, BatchesOfConvLayersStayWithinTheMemoryBudget) {
  std::mt19937_64 rng(9);
  const Shape3 x{16, 32, 32};
  Conv2d c = conv2d(x, 32, 3, 1, 1, random_matrix(32, 16 * 9, rng));  // 32768 units over 16384 inputs
  std::vector<AffineLayer> layers;
  layers.push_back(structured_layer(StructuredMap({{x}}, {{c.output()}}, {StructuredMap::Block{0, 0, {c}, {}}}),
                                    VectorXd::Zero(c.outputs())));
  layers.emplace_back(MatrixXd::Zero(1, c.outputs()), VectorXd::Zero(1));
  Network net(std::move(layers));
  for (bool all : {false, true}) {
    BatchLoop loop;
    loop.all_layers = all;
    const Eigen::Index rows = rows_per_batch(net, 1, loop);
    EXPECT_GE(rows, 2);
    EXPECT_EQ(rows % 2, 0);
    EXPECT_LE(rows * batch_doubles(net, 1, all), loop.memory_doubles);
    EXPECT_LT(rows, 1024);
  }
}

}  // namespace
}  // namespace leo
