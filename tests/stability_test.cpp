// The stability stages on small networks: samples and attack find witnesses,
// bound stages prove planted stable units, verdicts agree with a dense grid,
// a time limit leaves units undecided but never wrong.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <mutex>
#include <regex>
#include <set>
#include <thread>

#include "leo/stability/analysis_json.hpp"
#include "leo/stability/analysis_table.hpp"
#include "leo/stability/attack.hpp"
#include "leo/stability/cascade.hpp"
#include "leo/stability/relu_split.hpp"
#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/stability/samples.hpp"
#include "leo/stability/evidence.hpp"
#include "leo/stability/exact.hpp"
#include "leo/stability/stages.hpp"
#include "leo/util/error.hpp"
#include "leo/util/progress.hpp"
#include "leo/util/threads.hpp"
#include "stability_check.hpp"
#include "support.hpp"

namespace leo {
namespace {

Domain box_domain(Eigen::Index n, double lo, double hi) {
  Domain d;
  d.box = Box::uniform(n, lo, hi);
  d.probes.resize(n, 0);
  d.description = "test box";
  return d;
}

// Net k of the brute-force tests: 1 input (k even) or 2, three hidden layers
// of 8, 8, 6 units, on [-1, 1]^n.
struct SmallNet {
  Network net;
  Domain domain;
};
SmallNet small_input_net(int k, std::mt19937_64& rng) {
  const int n = 1 + k % 2;
  return {test::random_network({n, 8, 8, 6, 1}, rng, 0.6), box_domain(n, -1, 1)};
}

// A dense grid over a box of 1 or 2 features.
Eigen::MatrixXd grid(const Box& box, int per_axis) {
  const Eigen::Index n = box.size();
  Eigen::Index count = n == 1 ? per_axis : static_cast<Eigen::Index>(per_axis) * per_axis;
  Eigen::MatrixXd X(n, count);
  for (Eigen::Index k = 0; k < count; ++k)
    for (Eigen::Index i = 0; i < n; ++i) {
      Eigen::Index step = i == 0 ? k % per_axis : k / per_axis;
      X(i, k) = box.lower[i] + (box.upper[i] - box.lower[i]) * static_cast<double>(step) / (per_axis - 1);
    }
  return X;
}

TEST(Samples, SeeBothSignsOfASimpleUnit) {
  // g = x on [-1, 1]: unstable; g = x + 2: never negative; one input.
  Network net({AffineLayer{Eigen::MatrixXd::Ones(2, 1), Eigen::Vector2d(0, 2)},
               AffineLayer{Eigen::MatrixXd::Ones(1, 2), Eigen::VectorXd::Zero(1)}});
  Analysis a = make_analysis(net, box_domain(1, -1, 1));
  std::mt19937_64 rng(1);
  EXPECT_EQ(sample_stage(net, a, rng), 1);
  EXPECT_EQ(a.layers[0][0].status, Status::unstable);
  EXPECT_EQ(a.layers[0][0].stage, Stage::samples);
  EXPECT_EQ(a.layers[0][1].status, Status::undecided);
  EXPECT_TRUE(a.layers[0][1].seen_positive);
  EXPECT_FALSE(a.layers[0][1].seen_negative);
  test::expect_valid_witnesses(net, a);
}

// One unit, g = x - 0.9999 on [0, 1]: positive only very near 1.
Network near_one_net() {
  return Network({AffineLayer{Eigen::MatrixXd::Ones(1, 1), Eigen::VectorXd::Constant(1, -0.9999)},
                  AffineLayer{Eigen::MatrixXd::Ones(1, 1), Eigen::VectorXd::Zero(1)}});
}

// The samples stage with the box centre and the probes only (no corners, no random points).
SampleOptions probes_only() {
  SampleOptions o;
  o.max_all_corners_log2 = 0;
  o.random_corners = 0;
  o.random_points = 0;
  return o;
}

TEST(Samples, ProbePointsAreUsed) {
  // g = x - 0.9999 on [0, 1] is positive only very near 1: the probe 1.0 shows it
  // even with no random point and no corner.
  Network net = near_one_net();
  Domain d = box_domain(1, 0, 1);
  d.probes = Eigen::MatrixXd::Constant(1, 1, 1.0);
  Analysis a = make_analysis(net, d);
  std::mt19937_64 rng(1);
  SampleOptions o = probes_only();
  sample_stage(net, a, rng, o);
  EXPECT_EQ(a.layers[0][0].status, Status::unstable);  // centre: negative, probe: positive
  test::expect_valid_witnesses(net, a);
}

TEST(Samples, EveryProbeIsUsedWhateverTheBatch) {
  // g = x - 0.9999 on [0, 1]: only the last of three probes shows it positive;
  // batches of one column, and an idle batch (the first probes show nothing
  // new) must not end the probe phase.
  Network net = near_one_net();
  Domain d = box_domain(1, 0, 1);
  d.probes = Eigen::MatrixXd(1, 3);
  d.probes << 0.2, 0.3, 1.0;
  Analysis a = make_analysis(net, d);
  std::mt19937_64 rng(1);
  SampleOptions o = probes_only();
  o.batch = 1;
  sample_stage(net, a, rng, o);
  EXPECT_EQ(a.layers[0][0].status, Status::unstable);
  test::expect_valid_witnesses(net, a);
}

TEST(Samples, IdleStopEvaluatesAPrefixOfTheFullRun) {
  // Random corners only, same seed: the run that stops after an idle batch
  // draws a prefix of the full run's corners, so it sees no sign the full run
  // does not, and its witnesses are valid.
  for (std::uint64_t seed = 1; seed <= 3; ++seed) {
    std::mt19937_64 init(seed);
    Network net = test::random_network({40, 12, 12, 3}, init);
    Domain d = box_domain(40, 0, 1);
    Analysis full = make_analysis(net, d), idle = make_analysis(net, d);
    std::mt19937_64 r1(seed), r2(seed);
    SampleOptions o;
    o.max_all_corners_log2 = 0;
    o.random_points = 0;
    o.batch = 64;
    o.stop_when_idle = false;
    sample_stage(net, full, r1, o);
    o.stop_when_idle = true;
    sample_stage(net, idle, r2, o);
    EXPECT_LE(idle.witnesses.size(), full.witnesses.size());
    for (std::size_t h = 0; h < full.layers.size(); ++h)
      for (std::size_t i = 0; i < full.layers[h].size(); ++i) {
        EXPECT_TRUE(!idle.layers[h][i].seen_positive || full.layers[h][i].seen_positive);
        EXPECT_TRUE(!idle.layers[h][i].seen_negative || full.layers[h][i].seen_negative);
      }
    test::expect_valid_witnesses(net, idle);
  }
}

TEST(Attack, RelaxationCornerIsExactForTheFirstLayer) {
  // g = sum x - 49.99 over [0,1]^50 is positive only within 0.01 (in l1) of
  // the all-ones corner: no random point or sign step from the centre gets
  // there in one step; the relaxation's corner is that corner.
  const int n = 50;
  Network net({AffineLayer{Eigen::MatrixXd::Ones(1, n), Eigen::VectorXd::Constant(1, -(n - 0.01))},
               AffineLayer{Eigen::MatrixXd::Ones(1, 1), Eigen::VectorXd::Zero(1)}});
  Analysis a = make_analysis(net, box_domain(n, 0, 1));
  std::mt19937_64 rng(1);
  AttackOptions o;
  o.starts = 2;  // centre (negative), relaxation corner
  o.steps = 1;   // no gradient step at all
  EXPECT_EQ(attack_stage(net, a, rng, o), 1);
  EXPECT_EQ(a.layers[0][0].status, Status::unstable);
  test::expect_valid_witnesses(net, a);
}

TEST(Attack, FindsANarrowPositiveRegion) {
  // Layer 2 unit g = relu(x1) + relu(x2) - 1.9 over [0,1]^2 x [-1,1]^8: positive only
  // near the corner x1 = x2 = 1; random points rarely get there, the gradient does.
  const int n = 10;
  Eigen::MatrixXd W1 = Eigen::MatrixXd::Zero(2, n);
  W1(0, 0) = 1;
  W1(1, 1) = 1;
  Eigen::MatrixXd W2(1, 2);
  W2 << 1, 1;
  Network net({AffineLayer{W1, Eigen::Vector2d(0, 0)}, AffineLayer{W2, Eigen::VectorXd::Constant(1, -1.9)},
               AffineLayer{Eigen::MatrixXd::Ones(1, 1), Eigen::VectorXd::Zero(1)}});
  Domain d = box_domain(n, -1, 1);
  d.box.lower[0] = d.box.lower[1] = 0;
  Analysis a = make_analysis(net, d);
  // Only the centre (negative): the attack must find the positive side.
  a.layers[0][0].status = a.layers[0][1].status = Status::unstable;
  a.layers[1][0].seen_negative = true;
  std::mt19937_64 rng(3);
  AttackOptions o;
  o.starts = 1;  // from the centre only
  EXPECT_EQ(attack_stage(net, a, rng, o), 1);
  EXPECT_EQ(a.layers[1][0].status, Status::unstable);
  EXPECT_EQ(a.layers[1][0].stage, Stage::attack);
  ASSERT_EQ(a.witnesses.size(), 1u);
  EXPECT_GT(net.pre_activations(Eigen::MatrixXd(a.witnesses[0].input))[1](0, 0), 0.0);
}

TEST(Cascade, ParsesOptions) {
  EXPECT_EQ(parse_stages("samples, ibp").size(), 2u);
  EXPECT_EQ(parse_stages("all").size(), 9u);
  EXPECT_TRUE(parse_stages("split").count(Stage::split));
  EXPECT_TRUE(parse_stages("bab").count(Stage::bab));
  EXPECT_TRUE(parse_stages("none").empty());
  EXPECT_THROW(parse_stages("samples,foo"), InputError);
  EXPECT_EQ(parse_exact("per-unit"), ExactMethod::per_unit);
  EXPECT_THROW(parse_exact("all"), InputError);
  AnalyzeOptions o;
  apply_baseline(o, "leo2020");
  EXPECT_EQ(o.exact, ExactMethod::per_unit);
  EXPECT_FALSE(o.stages.count(Stage::samples));
  apply_baseline(o, "isa2021");
  EXPECT_EQ(o.exact, ExactMethod::network);
  EXPECT_TRUE(o.stages.count(Stage::samples));
  EXPECT_THROW(apply_baseline(o, "x"), InputError);
}

TEST(Cascade, RefusesABadDomain) {
  std::mt19937_64 rng(1);
  Network net = test::random_network({3, 4, 2}, rng);
  EXPECT_THROW(analyze(net, box_domain(2, 0, 1)), InputError);
  EXPECT_THROW(analyze(net, box_domain(3, 1, 0)), InputError);
}

TEST(Cascade, ApplyBoundsConvention) {
  std::mt19937_64 rng(1);
  Network net = test::random_network({2, 4, 1}, rng);
  Analysis a = make_analysis(net, box_domain(2, 0, 1));
  NetworkBounds b(2);
  b[0].lower = Eigen::Vector4d(0, -1, -1, 0);
  b[0].upper = Eigen::Vector4d(1, 0, 1, 0);
  b[1].lower = Eigen::VectorXd::Zero(1);
  b[1].upper = Eigen::VectorXd::Zero(1);
  a.layers[0][2].seen_positive = true;
  EXPECT_EQ(apply_bounds(a, b, Stage::ibp), 3);
  EXPECT_EQ(a.layers[0][0].status, Status::active);    // lower >= 0
  EXPECT_EQ(a.layers[0][1].status, Status::inactive);  // upper <= 0
  EXPECT_EQ(a.layers[0][2].status, Status::undecided);
  EXPECT_EQ(a.layers[0][3].status, Status::inactive);  // g == 0 everywhere: inactive
  EXPECT_EQ(a.layers[0][0].stage, Stage::ibp);
  // A bound contradicting a witness is not used.
  b[0].upper[2] = -1;
  EXPECT_EQ(apply_bounds(a, b, Stage::crown), 0);
  EXPECT_EQ(a.layers[0][2].status, Status::undecided);
}

TEST(Cascade, SmallInputNetsAgainstADenseGrid) {
  std::mt19937_64 rng(42);
  for (int trial = 0; trial < 20; ++trial) {
    int n = 1 + trial % 2;
    Network net = test::random_network({n, 6, 5, 1}, rng, 0.6);
    Domain d = box_domain(n, -1, 1);
    AnalyzeOptions o;
    o.seed = static_cast<std::uint64_t>(trial);
    Analysis a = analyze(net, d, o);
    SCOPED_TRACE("trial " + std::to_string(trial));
    test::expect_valid_witnesses(net, a);
    Eigen::MatrixXd X = grid(d.box, n == 1 ? 20001 : 301);
    test::expect_not_contradicted(net, a, X);
    // A unit the grid shows both ways can never be called stable; when every
    // stage is available nothing is left undecided.
    auto pre = net.pre_activations(X);
    for (std::size_t h = 0; h < a.layers.size(); ++h)
      for (std::size_t i = 0; i < a.layers[h].size(); ++i) {
        auto row = pre[h].row(static_cast<Eigen::Index>(i));
        if (row.maxCoeff() > 0 && row.minCoeff() < 0) {
          EXPECT_FALSE(a.stable(h, static_cast<int>(i)));
        }
        if (stage_available(Stage::milp)) {
          EXPECT_NE(a.layers[h][i].status, Status::undecided);
        }
      }
  }
}

TEST(Cascade, PlantedUnitsAreProvenByTheFirstAbleStage) {
  // Layer 0: unit 0 very negative bias, small weights -> inactive by interval
  // bounds; unit 1 very positive -> active by interval bounds; the rest random.
  std::mt19937_64 rng(7);
  Network net = test::random_network({6, 8, 8, 2}, rng, 0.1);
  net.layers[0].weights.row(0) *= 0.01;
  net.layers[0].bias[0] = -5;
  net.layers[0].weights.row(1) *= 0.01;
  net.layers[0].bias[1] = 5;
  net.layers[1].weights.row(3) *= 0.01;
  net.layers[1].bias[3] = -5;
  Domain d = box_domain(6, -1, 1);
  Analysis a = analyze(net, d);
  if (!stage_available(Stage::ibp)) GTEST_SKIP() << "interval bounds not in this build";
  EXPECT_EQ(a.layers[0][0].status, Status::inactive);
  EXPECT_EQ(a.layers[0][0].stage, Stage::ibp);
  EXPECT_EQ(a.layers[0][1].status, Status::active);
  EXPECT_EQ(a.layers[0][1].stage, Stage::ibp);
  EXPECT_EQ(a.layers[1][3].status, Status::inactive);
  EXPECT_EQ(a.layers[1][3].stage, Stage::ibp);
  // Samples are no proof: with only samples, they stay undecided.
  AnalyzeOptions o;
  o.stages = {Stage::samples, Stage::attack};
  Analysis s = analyze(net, d, o);
  EXPECT_EQ(s.layers[0][0].status, Status::undecided);
  EXPECT_EQ(s.layers[0][1].status, Status::undecided);
  test::expect_valid_witnesses(net, s);
}

TEST(Cascade, CrownProvesWhatIntervalsCannot) {
  // g2 = relu(x) - relu(x) ... : layer 1 unit = x0 - x0 - 0.1 style cancellation,
  // which interval arithmetic cannot see but a symbolic bound can.
  Eigen::MatrixXd W1(2, 1);
  W1 << 1, 1;
  Eigen::MatrixXd W2(1, 2);
  W2 << 1, -1;
  Network net({AffineLayer{W1, Eigen::Vector2d(2, 2)}, AffineLayer{W2, Eigen::VectorXd::Constant(1, -0.1)},
               AffineLayer{Eigen::MatrixXd::Ones(1, 1), Eigen::VectorXd::Zero(1)}});
  // On [-1, 1] both layer-0 units are active (x + 2 >= 1), so g = -0.1 exactly.
  Analysis a = analyze(net, box_domain(1, -1, 1));
  if (!stage_available(Stage::crown)) GTEST_SKIP() << "CROWN not in this build";
  EXPECT_EQ(a.layers[0][0].stage, Stage::ibp);
  EXPECT_EQ(a.layers[1][0].status, Status::inactive);
  EXPECT_EQ(a.layers[1][0].stage, Stage::crown);
}

TEST(Cascade, TimeLimitLeavesUnitsUndecidedNeverWrong) {
  std::mt19937_64 rng(11);
  Network net = test::random_network({8, 30, 30, 30, 2}, rng, 0.3);
  Domain d = box_domain(8, -1, 1);
  AnalyzeOptions o;
  o.time_limit = 1e-6;
  Analysis a = analyze(net, d, o);
  EXPECT_TRUE(a.timed_out);
  EXPECT_GT(undecided_units(a), 0);
  test::expect_valid_witnesses(net, a);
  test::expect_not_contradicted(net, a, 20000, rng);
}

TEST(Cascade, SameSeedSameVerdicts) {
  std::mt19937_64 rng(5);
  Network net = test::random_network({5, 10, 10, 2}, rng, 0.3);
  Domain d = box_domain(5, -1, 1);
  AnalyzeOptions o;
  o.exact = ExactMethod::none;
  Analysis a = analyze(net, d, o), b = analyze(net, d, o);
  for (std::size_t h = 0; h < a.layers.size(); ++h)
    for (std::size_t i = 0; i < a.layers[h].size(); ++i) EXPECT_EQ(a.layers[h][i].status, b.layers[h][i].status);
}

TEST(AnalysisJson, FieldsAndCounts) {
  std::mt19937_64 rng(3);
  Network net = test::random_network({3, 5, 4, 2}, rng, 0.5);
  Analysis a = analyze(net, box_domain(3, -1, 1));
  nlohmann::json j = to_json(a);
  ASSERT_TRUE(j.contains("domain"));
  ASSERT_TRUE(j.contains("time_seconds"));
  ASSERT_EQ(j["layers"].size(), 2u);
  for (std::size_t h = 0; h < 2; ++h) {
    const auto& l = j["layers"][h];
    EXPECT_EQ(l["units"].get<int>(), l["stably_active"].get<int>() + l["stably_inactive"].get<int>() +
                                         l["unstable"].get<int>() + l["undecided"].get<int>());
    EXPECT_EQ(l["verdicts"].size(), l["units"].get<std::size_t>());
    for (const auto& v : l["verdicts"]) {
      std::string s = v["status"];
      EXPECT_TRUE(s == "active" || s == "inactive" || s == "unstable" || s == "undecided");
      EXPECT_TRUE(v.contains("stage") && v.contains("lower") && v.contains("upper"));
    }
  }
  for (const auto& w : j["witnesses"]) {
    EXPECT_EQ(w["input"].size(), 3u);
    for (const auto& u : w["units"]) {
      std::string s = u["sign"];
      EXPECT_TRUE(s == "positive" || s == "negative");
    }
  }
  ASSERT_TRUE(j.contains("certification"));
  const auto& c = j["certification"];
  EXPECT_EQ(c["claims"].get<int>(), c["proven"].get<int>() + c["refuted"].get<int>() + c["unknown"].get<int>());
  std::string table = format_table(a);
  EXPECT_NE(table.find("unstable"), std::string::npos);
}

// Input splitting (bab.hpp): units that no bound on the whole box proves.
// x in [-1, 1]; layer 1: a = x, b = -x, e = x + 1 (always >= 0); layer 2:
//   h0 =  2 relu(a) - relu(e) + 1.01 =  |x| + 0.01        (active, min 0.01)
//   h1 = -2 relu(a) + relu(e) - 1.01 = -|x| - 0.01        (inactive, max -0.01)
//   h2 = -2 relu(a) + relu(e) - 0.999 = -|x| + 0.001      (unstable: > 0 only for |x| < 0.001)
// Interval bounds prove none of them.
TEST(Bab, ProvesPlantedUnitsIntervalsCannot) {
  Eigen::MatrixXd W1(3, 1);
  W1 << 1, -1, 1;
  Eigen::MatrixXd W2(3, 3);
  W2 << 2, 0, -1, -2, 0, 1, -2, 0, 1;
  Network net({AffineLayer{W1, Eigen::Vector3d(0, 0, 1)}, AffineLayer{W2, Eigen::Vector3d(1.01, -1.01, -0.999)},
               AffineLayer{Eigen::MatrixXd::Ones(1, 3), Eigen::VectorXd::Zero(1)}});
  AnalyzeOptions o;
  o.stages = {Stage::ibp};
  Analysis before = analyze(net, box_domain(1, -1, 1), o);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(before.layers[1][i].status, Status::undecided) << i;
  o.stages = {Stage::ibp, Stage::bab};
  Analysis a = analyze(net, box_domain(1, -1, 1), o);
  EXPECT_EQ(a.layers[1][0].status, Status::active);
  EXPECT_EQ(a.layers[1][0].stage, Stage::bab);
  EXPECT_GE(a.layers[1][0].lower, 0.0);
  EXPECT_EQ(a.layers[1][1].status, Status::inactive);
  EXPECT_EQ(a.layers[1][1].stage, Stage::bab);
  EXPECT_LE(a.layers[1][1].upper, 0.0);
  EXPECT_EQ(a.layers[1][2].status, Status::unstable);
  EXPECT_EQ(a.layers[1][2].stage, Stage::bab);
  test::expect_valid_witnesses(net, a);
}

TEST(Bab, NodeBudgetLeavesUnitsUndecidedNeverWrong) {
  Eigen::MatrixXd W1(3, 1);
  W1 << 1, -1, 1;
  Eigen::MatrixXd W2(2, 3);
  W2 << 2, 0, -1, -2, 0, 1;
  Network net({AffineLayer{W1, Eigen::Vector3d(0, 0, 1)}, AffineLayer{W2, Eigen::Vector2d(1.01, -1.01)},
               AffineLayer{Eigen::MatrixXd::Ones(1, 2), Eigen::VectorXd::Zero(1)}});
  AnalyzeOptions o;
  o.stages = {Stage::ibp, Stage::bab};
  o.bab.max_nodes = 1;
  Analysis a = analyze(net, box_domain(1, -1, 1), o);
  EXPECT_EQ(a.layers[1][0].status, Status::undecided);
  EXPECT_EQ(a.layers[1][1].status, Status::undecided);
  // Too many inputs: skipped.
  o.bab.max_nodes = 1000;
  o.bab.max_inputs = 0;
  a = analyze(net, box_domain(1, -1, 1), o);
  EXPECT_EQ(a.layers[1][0].status, Status::undecided);
}

// Brute force: on random nets with 1 or 2 inputs, intervals then input
// splitting alone decide every unit (the tree is explored to the end), the
// verdicts match a dense grid (a unit the grid sees both ways is unstable; a
// stable one is never contradicted) and the exact per-unit MILP.
TEST(Bab, MatchesGridAndMilpOnOneAndTwoInputNets) {
  std::mt19937_64 rng(11);
  int by_bab = 0;
  for (int k = 0; k < 12; ++k) {
    auto [net, d] = small_input_net(k, rng);
    const int n = static_cast<int>(d.box.size());
    SCOPED_TRACE("net " + std::to_string(k));
    AnalyzeOptions o;
    o.stages = {Stage::ibp, Stage::bab};
    Analysis a = analyze(net, d, o);
    EXPECT_EQ(undecided_units(a), 0);
    test::expect_valid_witnesses(net, a);
    Eigen::MatrixXd X = grid(d.box, n == 1 ? 20001 : 301);
    test::expect_not_contradicted(net, a, X);
    auto pre = net.pre_activations(X);
    AnalyzeOptions exact;
    exact.stages = {Stage::ibp, Stage::milp};
    Analysis m = analyze(net, d, exact);
    for (std::size_t h = 0; h < a.layers.size(); ++h)
      for (std::size_t i = 0; i < a.layers[h].size(); ++i) {
        const auto row = pre[h].row(static_cast<Eigen::Index>(i));
        if (row.maxCoeff() > 0 && row.minCoeff() < 0) {
          EXPECT_EQ(a.layers[h][i].status, Status::unstable);
        }
        if (m.layers[h][i].status != Status::undecided) {
          EXPECT_STREQ(to_string(a.layers[h][i].status), to_string(m.layers[h][i].status))
              << "layer " << h << " unit " << i;
        }
        by_bab += a.layers[h][i].stage == Stage::bab;
      }
  }
  EXPECT_GT(by_bab, 20);
}

// The sound ReLU-split search (relu_split.hpp) against a dense grid on nets
// with 1 or 2 inputs: never a proof the grid contradicts, never a refutation
// without a point that shows it, and every sign the grid shows with a clear
// margin is proven (a complete search: leaves with every phase fixed are
// exact LPs). Nodes bounded by beta-CROWN and the LP, by beta-CROWN alone (the
// LP only where every phase is fixed), and by the LP alone.
class ReluSplitModes : public ::testing::TestWithParam<std::pair<int, bool>> {};
INSTANTIATE_TEST_SUITE_P(BetaLp, ReluSplitModes,
                         ::testing::Values(std::pair{20, true}, std::pair{20, false}, std::pair{0, true}));

TEST_P(ReluSplitModes, SoundAndCompleteAgainstADenseGrid) {
  std::mt19937_64 rng(5);
  int proven = 0, refuted = 0, clear = 0;
  for (int k = 0; k < 10; ++k) {
    const int n = 1 + k % 2;
    Network net = test::random_network({n, 8, 8, 6, 1}, rng, 0.6);
    Box box = Box::uniform(n, -1, 1);
    Eigen::MatrixXd X = grid(box, n == 1 ? 20001 : 301);
    auto pre = net.pre_activations(X);
    NetworkBounds b = interval_bounds(net, box);
    SCOPED_TRACE("net " + std::to_string(k));
    for (std::size_t layer = 1; layer < 3; ++layer)
      for (Eigen::Index i = 0; i < net.layers[layer].outputs(); ++i)
        for (bool nonpositive : {true, false}) {
          const double max = pre[layer].row(i).maxCoeff(), min = pre[layer].row(i).minCoeff();
          bool shown = false;
          auto check = [&](const Eigen::VectorXd& x) {
            double g = net.pre_activations(Eigen::MatrixXd(x))[layer](i, 0);
            shown = nonpositive ? g > 0 : g < 0;
            return shown;
          };
          SplitOptions o;
          o.max_nodes = 5000;
          o.beta_iterations = GetParam().first;
          o.lp = GetParam().second;
          SplitResult r = prove_sign(net, box, b, layer, i, nonpositive, o, check);
          if (o.beta_iterations == 0) {
            EXPECT_EQ(r.betas, 0);
          }
          if (r.status == SplitResult::Status::proven) {
            ++proven;
            EXPECT_LE(nonpositive ? max : -min, 0.0) << "layer " << layer << " unit " << i;
            EXPECT_LE(nonpositive ? max : -min, nonpositive ? r.bound : -r.bound);
            EXPECT_LE(nonpositive ? r.bound : -r.bound, 0.0);
          } else if (r.status == SplitResult::Status::refuted) {
            ++refuted;
            EXPECT_TRUE(shown);
          }
          const double extreme = nonpositive ? max : -min;  // < 0: the sign holds on the grid
          if (extreme < -1e-3) {
            ++clear;
            EXPECT_EQ(r.status, SplitResult::Status::proven) << "layer " << layer << " unit " << i;
          }
          if (extreme > 1e-3) {
            EXPECT_NE(r.status, SplitResult::Status::proven);
          }
        }
  }
  EXPECT_GT(proven, 20);
  EXPECT_GT(refuted, 20);
  EXPECT_GT(clear, 20);
}

// The cascade's split stage alone after interval bounds: never contradicted by
// a dense grid, witnesses valid, and it decides units intervals cannot.
TEST(ReluSplit, StageAgainstADenseGrid) {
  std::mt19937_64 rng(21);
  int by_split = 0, undecided = 0;
  for (int k = 0; k < 8; ++k) {
    auto [net, d] = small_input_net(k, rng);
    const int n = static_cast<int>(d.box.size());
    SCOPED_TRACE("net " + std::to_string(k));
    AnalyzeOptions o;
    o.stages = {Stage::ibp, Stage::split};
    o.split.unit_nodes = 500;
    Analysis a = analyze(net, d, o);
    test::expect_valid_witnesses(net, a);
    test::expect_not_contradicted(net, a, grid(d.box, n == 1 ? 20001 : 301));
    for (const auto& layer : a.layers)
      for (const auto& v : layer) by_split += v.stage == Stage::split;
    undecided += undecided_units(a);
  }
  EXPECT_GT(by_split, 30);
  EXPECT_LT(undecided, 12);  // the first layer's unstable units need a witness from another stage
}

// The split stage (beta-CROWN nodes, then beta alone) agrees with the per-unit
// MILP baseline on random nets with more inputs than a grid covers: every unit
// both decide gets the same verdict, and split decides most of what MILP does.
TEST(ReluSplit, StageAgreesWithThePerUnitMilp) {
  std::mt19937_64 rng(33);
  int both = 0, by_milp = 0, by_split = 0;
  const int nets = test::repetitions(4, 4);  // 1 under the sanitizers (minutes otherwise)
  for (int k = 0; k < nets; ++k) {
    Network net = test::random_network({5, 14, 14, 10, 2}, rng, 0.4);
    Domain d = box_domain(5, -1, 1);
    // The baseline. Under the sanitizers (which check split's memory, not
    // CBC's: it is not instrumented, and their allocator made it 95% of the
    // test's two minutes) the two split runs are each other's baseline.
    Analysis m;
    if (!test::kSanitized) {
      AnalyzeOptions exact;
      exact.stages = {Stage::ibp, Stage::milp};
      m = analyze(net, d, exact);
    }
    for (bool lp : {true, false}) {
      SCOPED_TRACE("net " + std::to_string(k) + (lp ? " beta+lp" : " beta"));
      AnalyzeOptions o;
      o.stages = {Stage::ibp, Stage::samples, Stage::attack, Stage::crown, Stage::split};
      o.split.unit_nodes = 300;
      o.split.lp = lp;
      Analysis a = analyze(net, d, o);
      test::expect_valid_witnesses(net, a);
      if (test::kSanitized && lp) {
        m = a;
        continue;
      }
      for (std::size_t h = 0; h < a.layers.size(); ++h)
        for (std::size_t i = 0; i < a.layers[h].size(); ++i) {
          const Status s = a.layers[h][i].status, t = m.layers[h][i].status;
          by_milp += t != Status::undecided;
          by_split += s != Status::undecided;
          if (s == Status::undecided || t == Status::undecided) continue;
          ++both;
          EXPECT_STREQ(to_string(s), to_string(t)) << "layer " << h << " unit " << i;
        }
    }
  }
  EXPECT_GT(both, (test::kSanitized ? 75 : 150) * nets / 4);
  EXPECT_GE(by_split, by_milp * 9 / 10) << by_split << " of " << by_milp << " (both " << both << ")";
}

// The last pass (a large budget for what the two cheap passes left) decides
// more, keeps every verdict of the cheap passes, agrees with the per-unit
// MILP, and gives the same verdicts on 1 and 2 threads.
TEST(ReluSplit, LastPassDecidesWhatTheCheapPassesLeave) {
  std::mt19937_64 rng(57);
  int cheap = 0, last = 0;
  const int nets = test::repetitions(2, 2);  // 1 under the sanitizers (minutes otherwise)
  for (int k = 0; k < nets; ++k) {
    SCOPED_TRACE("net " + std::to_string(k));
    Network net = test::random_network({5, 14, 14, 10, 2}, rng, 0.4);
    Domain d = box_domain(5, -1, 1);
    AnalyzeOptions o;
    o.stages = {Stage::ibp, Stage::samples, Stage::split};
    o.split.unit_nodes = 1;
    o.split.hard_unit_nodes = 2;
    o.split.last_unit_nodes = 0;  // none
    o.threads = 1;
    const Analysis a = analyze(net, d, o);
    o.split.last_unit_nodes = 400;
    const Analysis b = analyze(net, d, o);
    o.threads = 2;
    const Analysis b2 = analyze(net, d, o);
    // A pass total too small to give each unit left more than the second
    // pass's budget: no last pass, the cheap passes' verdicts.
    o.threads = 1;
    o.split.last_pass_nodes = 2;
    const Analysis shared = analyze(net, d, o);
    // The per-unit MILP baseline: the release build only (CBC is not
    // instrumented; under the sanitizers' allocator it was 98% of 2 minutes).
    Analysis m = b;
    if (!test::kSanitized) {
      AnalyzeOptions exact;
      exact.stages = {Stage::ibp, Stage::milp};
      m = analyze(net, d, exact);
    }
    test::expect_valid_witnesses(net, b);
    for (std::size_t h = 0; h < a.layers.size(); ++h)
      for (std::size_t i = 0; i < a.layers[h].size(); ++i) {
        const Status sa = a.layers[h][i].status, sb = b.layers[h][i].status, sm = m.layers[h][i].status;
        cheap += a.layers[h][i].stage == Stage::split;
        last += b.layers[h][i].stage == Stage::split;
        EXPECT_STREQ(to_string(sb), to_string(b2.layers[h][i].status)) << "layer " << h << " unit " << i;
        EXPECT_STREQ(to_string(sa), to_string(shared.layers[h][i].status)) << "layer " << h << " unit " << i;
        if (sa != Status::undecided) {
          EXPECT_STREQ(to_string(sa), to_string(sb)) << "layer " << h << " unit " << i;
        }
        if (sb != Status::undecided && sm != Status::undecided) {
          EXPECT_STREQ(to_string(sb), to_string(sm)) << "layer " << h << " unit " << i;
        }
      }
  }
  EXPECT_GT(last, cheap + (nets == 2 ? 3 : 0)) << cheap << " -> " << last;
}

// A node budget too small to finish leaves the answer unknown, never wrong.
TEST(ReluSplit, NodeBudgetGivesUnknownNeverAProof) {
  std::mt19937_64 rng(8);
  int unknown = 0;
  for (int k = 0; k < 10; ++k) {
    Network net = test::random_network({2, 10, 10, 1}, rng, 0.3);
    Box box = Box::uniform(2, -1, 1);
    Eigen::MatrixXd X = grid(box, 301);
    auto pre = net.pre_activations(X);
    NetworkBounds b = interval_bounds(net, box);
    for (Eigen::Index i = 0; i < net.layers[1].outputs(); ++i) {
      SplitOptions o;
      o.max_nodes = 2;
      SplitResult r = prove_sign(net, box, b, 1, i, true, o);  // no point check: only proofs or unknown
      EXPECT_NE(r.status, SplitResult::Status::refuted);
      if (r.status == SplitResult::Status::proven) {
        EXPECT_LE(pre[1].row(i).maxCoeff(), 0.0);
      }
      unknown += r.status == SplitResult::Status::unknown;
      EXPECT_LE(r.nodes, 2);
    }
  }
  EXPECT_GT(unknown, 5);
}

// Layer-1 targets of nets with more inputs than a grid covers, where every
// split is on layer 0 and prove_sign branches by beta's child estimates: its
// verdicts equal the per-unit MILP baseline's. Never a proof against the
// MILP's verdict; every unit the MILP proves stable is proven too; a side
// refuted only with a re-evaluated point on the wrong side.
TEST(ReluSplit, FirstLayerBranchingAgreesWithThePerUnitMilp) {
  std::mt19937_64 rng(61);
  int stable = 0, proven = 0, refuted = 0;
  const int nets = test::repetitions(10, 5);  // 2 under the sanitizers (CBC's baseline is slow under their allocator)
  for (int k = 0; k < nets; ++k) {
    SCOPED_TRACE("net " + std::to_string(k));
    Network net = test::random_network({8, 24, 12, 1}, rng, 0.5);
    Domain d = box_domain(8, -1, 1);
    AnalyzeOptions exact;
    exact.stages = {Stage::ibp, Stage::milp};
    const Analysis m = analyze(net, d, exact);
    NetworkBounds b = interval_bounds(net, d.box);
    crown_bounds(net, d.box, b);
    for (Eigen::Index i = 0; i < net.layers[1].outputs(); ++i) {
      const Status s = m.layers[1][static_cast<std::size_t>(i)].status;
      ASSERT_NE(s, Status::undecided);
      bool proved = false;
      long last_nodes = 0;
      int last_status = -1;
      for (bool nonpositive : {true, false}) {
        auto shows = [&](const Eigen::VectorXd& x) {
          const double g = net.pre_activations(Eigen::MatrixXd(x))[1](i, 0);
          return nonpositive ? g > 0 : g < 0;
        };
        SplitOptions o;
        o.max_nodes = 20000;
        o.lp = false;
        SplitResult r = prove_sign(net, d.box, b, 1, i, nonpositive, o, shows);
        if (nonpositive == (s == Status::inactive)) last_nodes = r.nodes, last_status = static_cast<int>(r.status);
        if (r.status == SplitResult::Status::proven) {
          EXPECT_EQ(s, nonpositive ? Status::inactive : Status::active) << "unit " << i;
          proved = true;
        }
        if (r.status == SplitResult::Status::refuted) {
          ++refuted;
          EXPECT_NE(s, nonpositive ? Status::inactive : Status::active) << "unit " << i;
        }
      }
      if (s != Status::unstable) {
        ++stable;
        proven += proved;
        EXPECT_TRUE(proved) << "unit " << i << " is " << to_string(s) << " by the MILP, bounds " << m.layers[1][static_cast<std::size_t>(i)].lower << " " << m.layers[1][static_cast<std::size_t>(i)].upper << " nodes " << last_nodes << " status " << last_status;
      }
    }
  }
  EXPECT_GT(stable, nets / 2);
  EXPECT_EQ(proven, stable);  // every unit the MILP proves stable is proven by the split search too
  EXPECT_GT(refuted, nets);
}

// Progress lines captured (and the global Progress restored) for one test.
class CapturedProgress {
 public:
  explicit CapturedProgress(Progress::Clock clock = {}, bool watcher = false) {
    Progress& p = Progress::global();
    p.set_enabled(true);
    p.set_watcher(watcher);
    p.set_clock(std::move(clock));
    p.set_sink([this](const std::string& line) {
      std::lock_guard<std::mutex> lock(mutex_);
      lines_.push_back(line);
    });
  }
  ~CapturedProgress() {
    Progress& p = Progress::global();
    p.set_enabled(false);
    p.set_watcher(true);
    p.set_clock({});
    p.set_sink({});
    p.set_interval(5);
  }
  std::vector<std::string> lines() {
    std::lock_guard<std::mutex> lock(mutex_);
    return lines_;
  }

 private:
  std::mutex mutex_;
  std::vector<std::string> lines_;
};

TEST(Evidence, MarkStableKeepsOneRuleOnContradictions) {
  std::mt19937_64 rng(1);
  Network net = test::random_network({2, 3, 1}, rng);
  Analysis a = make_analysis(net, box_domain(2, 0, 1));
  CapturedProgress progress;
  EXPECT_TRUE(mark_stable(a, 0, 0, true, -0.5, Stage::lp));
  EXPECT_EQ(a.layers[0][0].status, Status::inactive);
  EXPECT_EQ(a.layers[0][0].stage, Stage::lp);
  EXPECT_EQ(a.layers[0][0].upper, -0.5);
  EXPECT_FALSE(mark_stable(a, 0, 0, false, 1.0, Stage::milp));  // decided units keep their verdict
  EXPECT_EQ(a.layers[0][0].status, Status::inactive);
  EXPECT_FALSE(mark_stable(a, 0, 1, true, 0.5, Stage::lp));  // a bound without the sign proves nothing
  EXPECT_EQ(a.layers[0][1].status, Status::undecided);
  a.layers[0][2].seen_negative = true;
  EXPECT_FALSE(mark_stable(a, 0, 2, false, 0.0, Stage::crown));  // contradicted: warning, undecided
  EXPECT_EQ(a.layers[0][2].status, Status::undecided);
  auto lines = progress.lines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_NE(lines[0].find("crown: warning: layer 0 unit 2"), std::string::npos) << lines[0];
}

TEST(Evidence, TheExactStageWarnsOnABoundThatContradictsAWitness) {
  // Unit 0: g = x - 5 <= -4 on [0, 1] (stable by its bounds), but flagged as
  // seen positive: the exact stage must leave it undecided, with the same
  // warning as every other stage (it used to skip it silently).
  Network net({AffineLayer{Eigen::MatrixXd::Ones(2, 1), Eigen::Vector2d(-5, -0.5)},
               AffineLayer{Eigen::MatrixXd::Ones(1, 2), Eigen::VectorXd::Zero(1)}});
  Domain d = box_domain(1, 0, 1);
  Analysis a = make_analysis(net, d);
  a.layers[0][0].seen_positive = true;
  CapturedProgress progress;
  exact_per_unit(net, d.box, interval_bounds(net, d.box), a, {});
  EXPECT_NE(a.layers[0][0].status, Status::inactive);  // never a verdict on contradicting evidence
  EXPECT_EQ(a.layers[0][1].status, Status::unstable);  // x - 0.5 on [0, 1]
  bool warned = false;
  for (const auto& line : progress.lines()) warned = warned || line.find("milp: warning: layer 0 unit 0") != std::string::npos;
  EXPECT_TRUE(warned);
}

TEST(Evidence, HarvestCountsFactsAndKeepsOnlyPointsOfTheBox) {
  Network net({AffineLayer{Eigen::MatrixXd::Ones(2, 1), Eigen::Vector2d(0, 2)},
               AffineLayer{Eigen::MatrixXd::Ones(1, 2), Eigen::VectorXd::Zero(1)}});
  Analysis a = make_analysis(net, box_domain(1, -1, 1));
  Eigen::MatrixXd X(1, 3);
  X << 0.5, 5.0, -0.5;  // 5 lies outside the box
  Harvest h = harvest(net, X, a, Stage::samples);
  EXPECT_EQ(h.unstable, 1);  // g = x seen both ways
  EXPECT_EQ(h.facts, 3);     // x > 0, x + 2 > 0, then x < 0
  EXPECT_EQ(a.witnesses.size(), 2u);
  EXPECT_EQ(a.layers[0][0].status, Status::unstable);
  EXPECT_EQ(a.layers[0][1].status, Status::undecided);
  EXPECT_FALSE(a.layers[0][1].seen_negative);
}

TEST(StageTable, DrivesNamesParsingHelpAndTable) {
  std::set<Stage> all = parse_stages("all");
  EXPECT_EQ(all.size(), std::size(kStages));
  const std::string help = stages_help();
  std::string order;
  for (const StageInfo& info : kStages) {
    EXPECT_EQ(stage_from_name(info.name), info.stage);
    EXPECT_STREQ(to_string(info.stage), info.name);
    EXPECT_TRUE(all.count(info.stage)) << info.name;
    EXPECT_NE(help.find(std::string("\n  ") + info.name), std::string::npos) << info.name;
    order += std::string(order.empty() ? "" : ",") + info.name;
  }
  EXPECT_EQ(order, "ibp,samples,attack,crown,alpha,bab,lp,split,milp");  // the cascade's run order
  EXPECT_NE(help.find("split"), std::string::npos);
  EXPECT_FALSE(stage_from_name("none"));
  try {
    parse_stages("ibp,nope");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(stage_names()), std::string::npos) << e.what();
  }
  // The table's header has one column per stage, in the table's order.
  std::mt19937_64 rng(1);
  Network net = test::random_network({2, 3, 1}, rng);
  std::string table = format_table(make_analysis(net, box_domain(2, 0, 1)));
  std::size_t at = 0;
  for (const StageInfo& info : kStages) {
    std::size_t next = table.find(std::string(" ") + info.name, at);
    ASSERT_NE(next, std::string::npos) << info.name << "\n" << table;
    at = next + 1;
  }
}

TEST(StageTable, TheCascadeRunsTheStagesInTheTablesOrder) {
  std::mt19937_64 rng(3);
  Network net = test::random_network({2, 8, 8, 1}, rng, 0.6);
  AnalyzeOptions o;
  o.samples.random_points = 0;  // leave units to the later stages
  o.samples.random_corners = 0;
  o.samples.max_all_corners_log2 = 0;
  o.attack.starts = 1;
  o.attack.steps = 1;
  Analysis a = analyze(net, box_domain(2, -1, 1), o);
  std::size_t k = 0;
  for (const StageTime& t : a.stage_times) {
    while (k < std::size(kStages) && kStages[k].stage != t.stage) ++k;
    EXPECT_LT(k, std::size(kStages)) << "stage " << to_string(t.stage) << " out of order";
  }
}

TEST(Summary, CountsUndecidedUnitsPerLayerAndInTotal) {
  std::mt19937_64 rng(1);
  Network net = test::random_network({3, 5, 4, 1}, rng);
  AnalyzeOptions o;
  o.stages = {Stage::ibp};  // leaves units undecided
  Analysis a = analyze(net, box_domain(3, -1, 1), o);
  const int undecided = undecided_units(a);
  ASSERT_GT(undecided, 0);
  auto j = to_json(a);
  EXPECT_EQ(j["totals"]["undecided"].get<int>(), undecided);
  EXPECT_EQ(j["totals"]["units"].get<int>(), 9);
  EXPECT_EQ(j["layers"][0]["undecided"].get<int>() + j["layers"][1]["undecided"].get<int>(), undecided);
  EXPECT_NE(format_table(a).find(fmt::format("undecided units: {} of 9", undecided)), std::string::npos)
      << format_table(a);
}

TEST(Progress, HeartbeatFollowsTheIntervalWithAFakeClock) {
  double now = 0;
  CapturedProgress progress([&] { return now; });
  Progress& p = Progress::global();
  p.set_interval(5);
  p.begin_stage("lp", 10);
  now = 4.9;
  p.heartbeat();
  EXPECT_TRUE(progress.lines().empty());
  now = 5.0;
  p.heartbeat();
  p.count_decided(3);
  now = 7;
  p.heartbeat();
  now = 10.5;
  p.heartbeat();
  p.end_stage();
  now = 100;
  p.heartbeat();
  auto lines = progress.lines();
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_NE(lines[0].find("lp: 0 decided, 10 left, 5.0s"), std::string::npos) << lines[0];
  EXPECT_NE(lines[1].find("lp: 3 decided, 7 left, 10.5s"), std::string::npos) << lines[1];
}

TEST(Progress, TheWatcherPrintsWhileAStageBlocks) {
  CapturedProgress progress({}, true);
  Progress::global().set_interval(0.02);
  {
    StageProgress stage("milp", 7);
    // Blocks as one long solver call would; waits for a line (at most 20 s).
    for (int k = 0; k < 2000 && progress.lines().empty(); ++k) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto lines = progress.lines();
  ASSERT_FALSE(lines.empty());
  EXPECT_NE(lines[0].find("milp: 0 decided, 7 left"), std::string::npos) << lines[0];
}

TEST(Progress, EveryStagePrintsWhileItRuns) {
  // A clock that moves 10 s at every reading: every heartbeat() call of a
  // stage's loop prints (interval 5 s). Each stage alone, on units all undecided.
  double now = 0;
  CapturedProgress progress([&] { return now += 10; });
  std::mt19937_64 rng(5);
  Network net = test::random_network({2, 8, 8, 1}, rng, 0.6);
  const std::regex beat(R"(\] (\w+): (\d+) decided, (\d+) left, )");
  for (const StageInfo& info : kStages) {
    AnalyzeOptions o;
    o.stages = {info.stage};
    Analysis a = analyze(net, box_domain(2, -1, 1), o);
    int beats = 0;
    for (const auto& line : progress.lines()) {
      std::smatch m;
      if (std::regex_search(line, m, beat) && m[1] == info.name) ++beats;
    }
    EXPECT_GE(beats, 1) << info.name << ": no progress line while it ran";
  }
}

TEST(Threads, MoreThreadsThanCoresAreCapped) {
  EXPECT_EQ(effective_threads(0), 0);
  EXPECT_EQ(effective_threads(-3), 0);
  EXPECT_EQ(effective_threads(1), 1);
  EXPECT_EQ(effective_threads(1000), hardware_threads());
  EXPECT_GE(hardware_threads(), 1);
}

}  // namespace
}  // namespace leo

namespace leo {
namespace {

// Issue 15 section 3: the attack's second round starts a deep unit's search
// from the witness of the predecessor that pushes it hardest.
// Layer 0: p = 10 (x0 - 0.9) (active only for x0 > 0.9), q = x1 - 0.5.
// Layer 1: t = relu(p) - 0.5 (positive only for x0 > 0.95).
Network deep_unit_net() {
  AffineLayer l0{Eigen::MatrixXd{{10.0, 0.0}, {0.0, 1.0}}, Eigen::Vector2d(-9.0, -0.5)};
  AffineLayer l1{Eigen::MatrixXd{{1.0, 0.0}}, Eigen::VectorXd::Constant(1, -0.5)};
  AffineLayer out{Eigen::MatrixXd::Ones(1, 1), Eigen::VectorXd::Zero(1)};
  return Network({l0, l1, out});
}

TEST(Attack, DeepRoundStartsFromThePredecessorsWitness) {
  const Network net = deep_unit_net();
  for (bool deep : {false, true}) {
    Analysis a = make_analysis(net, box_domain(2, 0, 1));
    // A witness that p is active (x0 = 0.91: p = 0.1 > 0, t = -0.4 < 0).
    harvest_witnesses(net, Eigen::MatrixXd(Eigen::Vector2d(0.91, 0.5)), a, Stage::samples);
    ASSERT_TRUE(a.layers[0][0].seen_positive);
    ASSERT_TRUE(a.layers[1][0].seen_negative);
    ASSERT_FALSE(a.layers[1][0].seen_positive);
    AttackOptions options;
    options.starts = 1;  // round 1: the box centre only (t = -0.5 there, no gradient)
    options.steps = 1;
    options.deep_starts = deep ? 1 : 0;  // round 2: the guided start alone
    options.deep_guided = 1;
    options.deep_steps = 20;
    std::mt19937_64 rng(3);
    attack_stage(net, a, rng, options);
    EXPECT_EQ(a.layers[1][0].status == Status::unstable, deep);
    // Every witness shows what it claims when re-evaluated in double.
    for (const Witness& w : a.witnesses) {
      const auto pre = net.pre_activations(Eigen::MatrixXd(w.input));
      for (const WitnessUnit& u : w.units) {
        const double g = pre[static_cast<std::size_t>(u.layer)](u.unit, 0);
        EXPECT_TRUE(u.positive ? g > 0 : g < 0);
      }
    }
  }
}

TEST(Attack, DeepRoundWitnessesAreRealOnRandomNets) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 5; ++trial) {
    Network net = test::random_network({4, 10, 10, 10, 10, 10, 2}, rng, 0.8);
    Analysis a = make_analysis(net, box_domain(4, 0, 1));
    AttackOptions options;
    options.starts = 2;
    options.steps = 5;
    attack_stage(net, a, rng, options);
    for (const Witness& w : a.witnesses) {
      EXPECT_TRUE((w.input.array() >= 0).all() && (w.input.array() <= 1).all());
      const auto pre = net.pre_activations(Eigen::MatrixXd(w.input));
      for (const WitnessUnit& u : w.units) {
        const double g = pre[static_cast<std::size_t>(u.layer)](u.unit, 0);
        EXPECT_TRUE(u.positive ? g > 0 : g < 0) << trial;
      }
    }
    // Units decided unstable have both signs among the witnesses.
    for (std::size_t h = 0; h < a.layers.size(); ++h)
      for (const UnitVerdict& v : a.layers[h])
        if (v.status == Status::unstable) {
          EXPECT_TRUE(v.seen_positive && v.seen_negative);
        }
  }
}

}  // namespace
}  // namespace leo
