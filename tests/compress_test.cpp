// The lossless rewrites (compress/rewrites.hpp), each alone on networks built
// to need it, then the whole fixpoint (compress/compress.hpp) on random nets.
// Verdicts here come from plain interval arithmetic with a margin (sound
// enough for these small, well-scaled nets) or are planted by hand; every
// check compares outputs with the original on 100,000 random points of the box.
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "leo/compress/affine_hull.hpp"
#include "leo/compress/compress.hpp"
#include "leo/compress/rewrites.hpp"
#include "support.hpp"

using namespace leo;

namespace {

using Statuses = std::vector<std::vector<Status>>;

// Interval bounds of every hidden pre-activation; a unit is stable only with a margin.
Statuses interval_statuses(const Network& net, const Box& box, double margin = 1e-9) {
  Statuses out;
  Eigen::VectorXd lo = box.lower, hi = box.upper;
  for (std::size_t l = 0; l + 1 < net.layers.size(); ++l) {
    const auto& W = net.layers[l].weights;
    Eigen::MatrixXd Wp = W.cwiseMax(0.0), Wn = W.cwiseMin(0.0);
    Eigen::VectorXd glo = Wp * lo + Wn * hi + net.layers[l].bias;
    Eigen::VectorXd ghi = Wp * hi + Wn * lo + net.layers[l].bias;
    out.emplace_back();
    for (Eigen::Index i = 0; i < glo.size(); ++i)
      out.back().push_back(glo[i] > margin ? Status::active : ghi[i] < -margin ? Status::inactive : Status::unstable);
    lo = glo.cwiseMax(0.0);
    hi = ghi.cwiseMax(0.0);
  }
  return out;
}

Statuses all_unstable(const Network& net) {
  Statuses out;
  for (auto w : net.widths()) out.emplace_back(static_cast<std::size_t>(w), Status::unstable);
  return out;
}

// Largest |f_a - f_b| relative to max(1, |f_a|) over n random points of the box.
double max_deviation(const Network& a, const Network& b, const Box& box, int n = 100000, unsigned seed = 3) {
  std::mt19937_64 rng(seed);
  double worst = 0;
  const int chunk = 10000;
  for (int done = 0; done < n; done += chunk) {
    Eigen::MatrixXd X = test::random_points(box.lower, box.upper, std::min(chunk, n - done), rng);
    Eigen::MatrixXd ya = a.evaluate(X), yb = b.evaluate(X);
    Eigen::ArrayXXd scale = ya.array().abs().cwiseMax(1.0);
    worst = std::max(worst, ((ya - yb).array().abs() / scale).maxCoeff());
  }
  return worst;
}

std::set<std::pair<int, int>> origins(const Compressible& s) {
  std::set<std::pair<int, int>> out;
  for (const auto& layer : s.origin)
    for (const auto& u : layer) out.insert({u.layer, u.unit});
  return out;
}

std::set<std::pair<int, int>> all_units_but(const Network& net, const std::set<std::pair<int, int>>& removed) {
  std::set<std::pair<int, int>> out;
  auto widths = net.widths();
  for (std::size_t h = 0; h < widths.size(); ++h)
    for (int i = 0; i < widths[h]; ++i)
      if (!removed.count({static_cast<int>(h), i})) out.insert({static_cast<int>(h), i});
  return out;
}

int removed_by(const std::vector<RewriteStep>& steps, RewriteKind kind) {
  int n = 0;
  for (const auto& s : steps)
    if (s.kind == kind) n += s.units;
  return n;
}

Box unit_box(Eigen::Index n) { return Box::uniform(n, -1.0, 1.0); }

}  // namespace

TEST(Compress, InactiveUnitsDisappearAndNothingElse) {
  std::mt19937_64 rng(11);
  Network net = test::random_network({4, 8, 6, 3}, rng);
  // Plant: units 2 and 5 of hidden layer 0, unit 1 of hidden layer 1 can never fire on [-1,1]^4.
  for (int i : {2, 5}) net.layers[0].bias[i] = -10;
  net.layers[1].bias[1] = -20;
  Box box = unit_box(4);
  Compressible start(net, all_unstable(net));
  start.status[0][2] = start.status[0][5] = start.status[1][1] = Status::inactive;

  RewriteResult r = remove_inactive_units(start);
  EXPECT_EQ(removed_by(r.steps, RewriteKind::inactive_unit), 3);
  EXPECT_EQ(r.state.network.widths(), (std::vector<Eigen::Index>{6, 5}));
  EXPECT_EQ(origins(r.state), all_units_but(net, {{0, 2}, {0, 5}, {1, 1}}));
  EXPECT_LT(max_deviation(net, r.state.network, box), 1e-12);

  CompressResult c = compress(start, box);
  EXPECT_EQ(origins(c.state), all_units_but(net, {{0, 2}, {0, 5}, {1, 1}}));
  EXPECT_LT(max_deviation(net, c.network(), box), 1e-12);
}

TEST(Compress, DependentActiveUnitsFoldIntoNextLayer) {
  std::mt19937_64 rng(12);
  Network net = test::random_network({3, 8, 5, 2}, rng);
  // Units 0..5 of layer 0 always active on the box: six rows in R^3, rank 3.
  std::set<int> planted{0, 1, 2, 3, 4, 5};
  for (int i : planted) net.layers[0].bias[i] = 5;
  Box box = unit_box(3);
  Compressible start(net, all_unstable(net));
  for (int i : planted) start.status[0][static_cast<std::size_t>(i)] = Status::active;

  RewriteResult r = fold_dependent_active_units(start, box);
  EXPECT_EQ(removed_by(r.steps, RewriteKind::dependent_active), 3);
  EXPECT_EQ(r.state.network.widths(), (std::vector<Eigen::Index>{5, 5}));
  // The units kept are 3 of the planted ones plus the two unstable ones.
  auto kept = origins(r.state);
  EXPECT_TRUE(kept.count({0, 6}) && kept.count({0, 7}));
  for (int i = 0; i < 5; ++i) EXPECT_TRUE(kept.count({1, i}));
  EXPECT_LT(max_deviation(net, r.state.network, box), 1e-9);
  // Nothing more to do: a second application is a no-op.
  EXPECT_FALSE(fold_dependent_active_units(r.state, box).changed());
}

TEST(Compress, DependenceIsTakenOnTheDomainsAffineHull) {
  std::mt19937_64 rng(13);
  Network net = test::random_network({3, 4, 4, 2}, rng);
  // Feature 2 is fixed by the domain: rows 0..2 (active) are rank 3 as raw
  // rows but rank 2 on the inputs the layer receives.
  for (int i : {0, 1, 2}) net.layers[0].bias[i] = 5;
  Box box(Eigen::Vector3d(-1, -1, 0.25), Eigen::Vector3d(1, 1, 0.25));
  Compressible start(net, all_unstable(net));
  for (int i : {0, 1, 2}) start.status[0][static_cast<std::size_t>(i)] = Status::active;

  RewriteResult r = fold_dependent_active_units(start, box);
  EXPECT_EQ(removed_by(r.steps, RewriteKind::dependent_active), 1);
  EXPECT_LT(max_deviation(net, r.state.network, box), 1e-9);
  // On the full box the three rows are independent: nothing to fold.
  EXPECT_FALSE(fold_dependent_active_units(start, unit_box(3)).changed());
}

TEST(Compress, HullOfAHiddenLayerFollowsItsActiveUnits) {
  // Layer 0: three active units that depend on x0 only (a 1-dim image), one
  // unstable unit. The hull of x^1 has dimension 2 although it has 4
  // coordinates, so layer 1's three active units have rank 2 there.
  Network net({AffineLayer{Eigen::MatrixXd{{1, 0}, {2, 0}, {-1, 0}, {0.5, 1}}, Eigen::VectorXd{{3, 4, 3, 0}}},
               AffineLayer{Eigen::MatrixXd{{1, 0.5, 0.25, 0.1}, {0.2, 1, -0.3, 0.3}, {0.3, -0.1, 1, -0.2}},
                           Eigen::VectorXd{{4, 4, 4}}},
               AffineLayer{Eigen::MatrixXd{{1, -1, 0.5}}, Eigen::VectorXd{{0.1}}}});
  Box box = unit_box(2);
  Statuses st = interval_statuses(net, box);
  ASSERT_EQ(st[0], (std::vector<Status>{Status::active, Status::active, Status::active, Status::unstable}));
  ASSERT_EQ(st[1], (std::vector<Status>(3, Status::active)));
  Compressible start(net, st);
  auto hulls = layer_input_hulls(start, box, default_rank_tolerance);
  EXPECT_EQ(hulls[0].dimension(), 2);
  EXPECT_EQ(hulls[1].dimension(), 2);

  RewriteResult r = fold_dependent_active_units(start, box);
  // Layer 0 loses 2 of its 3 active units (rank 1), layer 1 loses 1 of 3 (rank 2).
  EXPECT_EQ(r.state.network.widths(), (std::vector<Eigen::Index>{2, 2}));
  EXPECT_LT(max_deviation(net, r.state.network, box), 1e-9);
}

TEST(Compress, FullyActiveLayerIsFolded) {
  std::mt19937_64 rng(14);
  Network net = test::random_network({3, 3, 6, 2}, rng);
  net.layers[0].bias.setConstant(6);  // layer 0 always active on the box
  // Layer 1's units are zero at the box centre (input 0): unstable.
  net.layers[1].bias = -net.layers[1].weights * net.layers[0].bias;
  Box box = unit_box(3);
  Statuses st = interval_statuses(net, box);
  ASSERT_EQ(st[0], std::vector<Status>(3, Status::active));
  Compressible start(net, st);

  RewriteResult r = fold_stable_layers(start, FoldLayers::automatic);
  ASSERT_EQ(removed_by(r.steps, RewriteKind::layer_fold), 3);
  EXPECT_EQ(r.state.network.depth(), 2u);
  EXPECT_EQ(r.state.network.widths(), (std::vector<Eigen::Index>{6}));
  EXPECT_EQ(r.state.status[0], st[1]);  // the merged layer keeps layer 1's units and verdicts
  for (int i = 0; i < 6; ++i) EXPECT_EQ(r.state.origin[0][static_cast<std::size_t>(i)], (UnitOrigin{1, i}));
  EXPECT_LT(max_deviation(net, r.state.network, box), 1e-12);
  EXPECT_FALSE(fold_stable_layers(start, FoldLayers::never).changed());
}

TEST(Compress, FoldAutoOnlyWhenItLowersTheParameterCount) {
  std::mt19937_64 rng(15);
  // 20 -> 2 (active) -> 20: folding gives a 20x20 layer, far larger than 2x20 + 20x2.
  Network net = test::random_network({20, 2, 20, 1}, rng);
  net.layers[0].bias.setConstant(50);
  Box box = unit_box(20);
  Compressible start(net, interval_statuses(net, box));
  ASSERT_EQ(start.status[0], std::vector<Status>(2, Status::active));
  EXPECT_FALSE(fold_stable_layers(start, FoldLayers::automatic).changed());
  RewriteResult r = fold_stable_layers(start, FoldLayers::always);
  EXPECT_EQ(r.state.network.depth(), 2u);
  EXPECT_LT(max_deviation(net, r.state.network, box), 1e-12);
}

TEST(Compress, DeadLayerGivesTheConstantNetwork) {
  std::mt19937_64 rng(16);
  Network net = test::random_network({4, 6, 5, 3}, rng);
  net.layers[1].bias.setConstant(-30);  // hidden layer 1 never fires
  Box box = unit_box(4);
  Statuses st = interval_statuses(net, box);
  ASSERT_EQ(st[1], std::vector<Status>(5, Status::inactive));
  Compressible start(net, st);
  RewriteResult r = collapse_dead_layer(start);
  ASSERT_TRUE(r.changed());
  EXPECT_TRUE(r.state.constant());
  EXPECT_EQ(r.state.network.depth(), 1u);
  EXPECT_EQ(r.state.network.inputs(), 4);
  EXPECT_EQ(r.state.network.outputs(), 3);
  EXPECT_LT(max_deviation(net, r.state.network, box), 1e-12);
  CompressResult c = compress(start, box);
  EXPECT_TRUE(c.state.constant());
  EXPECT_LT(max_deviation(net, c.network(), box), 1e-12);
}

TEST(Compress, ProportionalDuplicatesAreMerged) {
  std::mt19937_64 rng(17);
  Network net = test::random_network({4, 6, 3}, rng);
  auto& l0 = net.layers[0];
  l0.weights.row(4) = 2.5 * l0.weights.row(1);
  l0.bias[4] = 2.5 * l0.bias[1];
  l0.weights.row(5) = -1.5 * l0.weights.row(2);  // negatively proportional: not a duplicate
  l0.bias[5] = -1.5 * l0.bias[2];
  Box box = unit_box(4);
  Compressible start(net, all_unstable(net));
  RewriteResult r = merge_duplicate_units(start, box);
  EXPECT_EQ(removed_by(r.steps, RewriteKind::duplicate_unit), 1);
  EXPECT_EQ(origins(r.state), all_units_but(net, {{0, 4}}));
  EXPECT_LT(max_deviation(net, r.state.network, box), 1e-12);
}

TEST(Compress, ZeroRowsAndColumns) {
  std::mt19937_64 rng(18);
  Network net = test::random_network({4, 7, 5, 2}, rng);
  net.layers[0].weights.row(3).setZero();  // constant relu(0.7)
  net.layers[0].bias[3] = 0.7;
  net.layers[0].weights.row(6).setZero();  // constant relu(-0.2) = 0
  net.layers[0].bias[6] = -0.2;
  net.layers[2].weights.col(2).setZero();  // unit 2 of hidden layer 1 feeds nothing
  Box box = unit_box(4);
  Compressible start(net, all_unstable(net));
  // A zero row with an 'unstable' verdict is contradictory; use 'undecided' (what a timed-out analysis gives).
  start.status[0][3] = start.status[0][6] = Status::undecided;

  RewriteResult zero_out = remove_zero_outgoing(start);
  EXPECT_EQ(origins(zero_out.state), all_units_but(net, {{1, 2}}));
  EXPECT_LT(max_deviation(net, zero_out.state.network, box), 1e-12);

  RewriteResult constant = fold_constant_units(start, box);
  EXPECT_EQ(origins(constant.state), all_units_but(net, {{0, 3}, {0, 6}}));
  EXPECT_LT(max_deviation(net, constant.state.network, box), 1e-12);

  CompressResult c = compress(start, box);
  EXPECT_EQ(origins(c.state), all_units_but(net, {{0, 3}, {0, 6}, {1, 2}}));
  EXPECT_LT(max_deviation(net, c.network(), box), 1e-12);
}

TEST(Compress, NothingToRemoveLeavesTheNetworkBitIdentical) {
  std::mt19937_64 rng(19);
  Network net = test::random_network({5, 10, 10, 3}, rng);
  Box box = unit_box(5);
  CompressResult c = compress(Compressible(net, all_unstable(net)), box);
  EXPECT_FALSE(c.changed());
  ASSERT_EQ(c.network().depth(), net.depth());
  for (std::size_t l = 0; l < net.depth(); ++l) {
    EXPECT_TRUE((c.network().layers[l].weights.array() == net.layers[l].weights.array()).all());
    EXPECT_TRUE((c.network().layers[l].bias.array() == net.layers[l].bias.array()).all());
  }
}

TEST(Compress, EmptyingALayerByFoldingGivesAConstant) {
  // Every unit of layer 0 is active and constant on the box (feature 1 is
  // fixed and the rows only read it): rank 0, all folded, network constant.
  Network net({AffineLayer{Eigen::MatrixXd{{0, 1}, {0, 2}}, Eigen::VectorXd{{1, 1}}},
               AffineLayer{Eigen::MatrixXd{{1, -1}}, Eigen::VectorXd{{0.5}}}});
  Box box(Eigen::Vector2d(-1, 0.5), Eigen::Vector2d(1, 0.5));
  Compressible start(net, interval_statuses(net, box));
  CompressResult c = compress(start, box);
  EXPECT_TRUE(c.state.constant());
  EXPECT_LT(max_deviation(net, c.network(), box), 1e-12);
}

TEST(Compress, RandomNetworksKeepTheirFunctionOnTheBox) {
  std::mt19937_64 rng(20);
  std::uniform_int_distribution<int> width(1, 9), depth(1, 4), inputs(1, 5);
  std::normal_distribution<double> normal;
  int removed_total = 0;
  for (int trial = 0; trial < test::repetitions(60, 4); ++trial) {
    std::vector<int> sizes{inputs(rng)};
    int hidden = depth(rng);
    for (int h = 0; h < hidden; ++h) sizes.push_back(width(rng));
    sizes.push_back(1 + trial % 3);
    Network net = test::random_network(sizes, rng, 1.0);
    Eigen::VectorXd c(sizes[0]), r(sizes[0]);
    for (int i = 0; i < sizes[0]; ++i) {
      c[i] = normal(rng);
      r[i] = trial % 5 == 0 && i == 0 ? 0.0 : 0.05 + std::abs(normal(rng)) * 0.5;  // some fixed features
    }
    Box box(c - r, c + r);
    Compressible start(net, interval_statuses(net, box));
    for (auto policy : {FoldLayers::automatic, FoldLayers::always, FoldLayers::never}) {
      CompressResult out = compress(start, box, {policy, default_rank_tolerance});
      EXPECT_LT(max_deviation(net, out.network(), box, 20000, static_cast<unsigned>(trial)), 1e-9)
          << "trial " << trial << " policy " << to_string(policy);
      EXPECT_LE(out.network().hidden_units(), net.hidden_units());
      removed_total += static_cast<int>(net.hidden_units() - out.network().hidden_units());
    }
  }
  EXPECT_GT(removed_total, 0);
}
