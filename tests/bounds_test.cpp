// Soundness and known answers for the bound propagation stages (bounds/).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "leo/bounds/alpha.hpp"
#include "leo/bounds/crown.hpp"
#include "leo/bounds/driver.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/bounds/lp.hpp"
#include "leo/bounds/rounding.hpp"
#include "leo/util/error.hpp"
#include "support.hpp"

using namespace leo;

namespace {

// Pre-activations of every layer in long double (much closer to the real
// values than a double forward pass), one matrix per layer, units x N.
std::vector<Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>> exact_pre(const Network& net,
                                                                                const Eigen::MatrixXd& X) {
  using M = Eigen::Matrix<long double, Eigen::Dynamic, Eigen::Dynamic>;
  std::vector<M> out;
  M a = X.cast<long double>();
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    M W = net.layers[l].weights.cast<long double>();
    M g = W * a;
    g.colwise() += net.layers[l].bias.cast<long double>();
    out.push_back(g);
    a = g.cwiseMax(0.0L);
  }
  return out;
}

// Random points plus (for up to 12 inputs) every corner of the box.
Eigen::MatrixXd probe_points(const Box& box, int n, std::mt19937_64& rng) {
  Eigen::MatrixXd X = test::random_points(box.lower, box.upper, n, rng);
  if (box.size() <= 12) {
    int corners = 1 << box.size();
    Eigen::MatrixXd C(box.size(), corners);
    for (int c = 0; c < corners; ++c)
      for (Eigen::Index i = 0; i < box.size(); ++i) C(i, c) = (c >> i) & 1 ? box.upper[i] : box.lower[i];
    Eigen::MatrixXd all(box.size(), X.cols() + corners);
    all << X, C;
    return all;
  }
  return X;
}

// Number of (point, unit) pairs outside the bounds.
long violations(const Network& net, const NetworkBounds& bounds, const Eigen::MatrixXd& X) {
  auto pre = exact_pre(net, X);
  long bad = 0;
  for (std::size_t l = 0; l < pre.size(); ++l)
    for (Eigen::Index j = 0; j < pre[l].cols(); ++j)
      for (Eigen::Index i = 0; i < pre[l].rows(); ++i) {
        long double g = pre[l](i, j);
        if (g < static_cast<long double>(bounds[l].lower[i]) || g > static_cast<long double>(bounds[l].upper[i])) ++bad;
      }
  return bad;
}

// Random small network: 1-6 inputs, 1-3 hidden layers of 2-10 units.
Network small_network(std::mt19937_64& rng, double bias_scale = 0.5) {
  std::uniform_int_distribution<int> in(1, 6), width(2, 10), depth(1, 3);
  std::vector<int> sizes{in(rng)};
  int d = depth(rng);
  for (int k = 0; k < d; ++k) sizes.push_back(width(rng));
  sizes.push_back(in(rng));
  return test::random_network(sizes, rng, bias_scale);
}

// Every bound of `inner` lies within `outer`.
bool within(const NetworkBounds& inner, const NetworkBounds& outer) {
  for (std::size_t l = 0; l < inner.size(); ++l)
    if ((inner[l].lower.array() < outer[l].lower.array()).any() || (inner[l].upper.array() > outer[l].upper.array()).any())
      return false;
  return true;
}

Box random_box(Eigen::Index n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> c(-1.0, 1.0), r(0.0, 1.0);
  Box box{Eigen::VectorXd(n), Eigen::VectorXd(n)};
  for (Eigen::Index i = 0; i < n; ++i) {
    double mid = c(rng), rad = r(rng);
    if (i == 0 && n > 2) rad = 0.0;  // a degenerate feature now and then
    box.lower[i] = mid - rad;
    box.upper[i] = mid + rad;
  }
  return box;
}

}  // namespace

TEST(IntervalBounds, HandComputed) {
  // g1 = [x0 - x1, x0 + x1 - 1], y = 2 relu(g1_0) - relu(g1_1) + 0.5, x in [0,1]^2.
  AffineLayer l1{Eigen::MatrixXd{{1, -1}, {1, 1}}, Eigen::VectorXd{{0, -1}}};
  AffineLayer l2{Eigen::MatrixXd{{2, -1}}, Eigen::VectorXd{{0.5}}};
  Network net({l1, l2});
  NetworkBounds b = interval_bounds(net, Box::uniform(2, 0, 1));
  ASSERT_EQ(b.size(), 2u);
  // IBP: g1_0 in [-1, 1], g1_1 in [-1, 1]; y in [2*0 - 1 + .5, 2*1 - 0 + .5] = [-0.5, 2.5].
  // Exact: g1_0 in [-1,1], g1_1 in [-1,1]; y max at (1,0): 2 - 0 + .5 = 2.5; y min: x0 = x1 = 1 gives
  // 0 - 1 + .5 = -0.5. Here IBP is exact up to rounding.
  EXPECT_NEAR(b[0].lower[0], -1, 1e-14);
  EXPECT_NEAR(b[0].upper[0], 1, 1e-14);
  EXPECT_NEAR(b[0].lower[1], -1, 1e-14);
  EXPECT_NEAR(b[0].upper[1], 1, 1e-14);
  EXPECT_NEAR(b[1].lower[0], -0.5, 1e-14);
  EXPECT_NEAR(b[1].upper[0], 2.5, 1e-14);
  // Outward: never inside the exact values.
  EXPECT_LE(b[0].lower[0], -1);
  EXPECT_GE(b[0].upper[0], 1);
  EXPECT_LE(b[1].lower[0], -0.5);
  EXPECT_GE(b[1].upper[0], 2.5);
}

TEST(IntervalBounds, LooseWhereInputsAreShared) {
  // g1 = [x0, x0], y = relu(g1_0) - relu(g1_1) = 0 exactly; IBP gives [-1, 1] on [0,1].
  AffineLayer l1{Eigen::MatrixXd{{1}, {1}}, Eigen::VectorXd{{0, 0}}};
  AffineLayer l2{Eigen::MatrixXd{{1, -1}}, Eigen::VectorXd{{0}}};
  Network net({l1, l2});
  NetworkBounds b = interval_bounds(net, Box::uniform(1, 0, 1));
  EXPECT_NEAR(b[1].lower[0], -1, 1e-14);
  EXPECT_NEAR(b[1].upper[0], 1, 1e-14);
}

TEST(IntervalBounds, RoundingCannotFakeStability) {
  // g = x0 + x1 - 1 at x = (1, +-1e-17): the double sum is exactly 0, the real one is +-1e-17.
  for (double eps : {1e-17, -1e-17}) {
    AffineLayer l1{Eigen::MatrixXd{{1, 1}}, Eigen::VectorXd{{-1}}};
    AffineLayer l2{Eigen::MatrixXd{{1}}, Eigen::VectorXd{{0}}};
    Network net({l1, l2});
    Box box(Eigen::VectorXd{{1, eps}}, Eigen::VectorXd{{1, eps}});
    NetworkBounds b = interval_bounds(net, box);
    EXPECT_LE(b[0].lower[0], eps);
    EXPECT_GE(b[0].upper[0], eps);
    if (eps > 0) {
      EXPECT_GT(b[0].upper[0], 0.0);  // not provably inactive
    }
    if (eps < 0) {
      EXPECT_LT(b[0].lower[0], 0.0);  // not provably active
    }
  }
}

TEST(IntervalBounds, SoundOnRandomNetworks) {
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<int> in(1, 6), width(2, 10), depth(1, 3);
  for (int trial = 0; trial < 30; ++trial) {
    std::vector<int> sizes{in(rng)};
    int d = depth(rng);
    for (int k = 0; k < d; ++k) sizes.push_back(width(rng));
    sizes.push_back(in(rng));
    Network net = test::random_network(sizes, rng, 0.5);
    Box box = random_box(sizes[0], rng);
    NetworkBounds b = interval_bounds(net, box);
    ASSERT_EQ(b.size(), net.layers.size());
    Eigen::MatrixXd X = probe_points(box, trial < 1 ? 100000 : 5000, rng);
    EXPECT_EQ(violations(net, b, X), 0) << "trial " << trial;
  }
}

TEST(IntervalBounds, RejectsWrongBox) {
  std::mt19937_64 rng(1);
  Network net = test::random_network({3, 4, 2}, rng);
  EXPECT_THROW(interval_bounds(net, Box::uniform(2, 0, 1)), Error);
}

TEST(CrownBounds, StrictlyTighterThanIntervalsOnSharedInputs) {
  // y = relu(x0) - relu(x0) = 0 on [0,1] (units stably active): IBP [-1,1], CROWN [0,0] up to rounding.
  AffineLayer l1{Eigen::MatrixXd{{1}, {1}}, Eigen::VectorXd{{0, 0}}};
  AffineLayer l2{Eigen::MatrixXd{{1, -1}}, Eigen::VectorXd{{0}}};
  Network net({l1, l2});
  Box box = Box::uniform(1, 0, 1);
  NetworkBounds b = interval_bounds(net, box);
  crown_bounds(net, box, b);
  EXPECT_LE(b[1].lower[0], 0.0);
  EXPECT_GE(b[1].upper[0], 0.0);
  EXPECT_GT(b[1].lower[0], -1e-14);
  EXPECT_LT(b[1].upper[0], 1e-14);
}

TEST(CrownBounds, HandComputedUnstableUnit) {
  // g1 = x0 on [-1, 1] (unstable), y = relu(g1) - 0.5 x-free: y = relu(x0) - 0.5, exact range [-0.5, 0.5].
  // CROWN: upper chord (x0 + 1)/2 maxes at 1 -> 0.5; lower slope alpha=1 (u >= -l) gives x0 >= -1 -> -1.5.
  AffineLayer l1{Eigen::MatrixXd{{1}}, Eigen::VectorXd{{0}}};
  AffineLayer l2{Eigen::MatrixXd{{1}}, Eigen::VectorXd{{-0.5}}};
  Network net({l1, l2});
  Box box = Box::uniform(1, -1, 1);
  NetworkBounds b = interval_bounds(net, box);
  EXPECT_NEAR(b[1].lower[0], -0.5, 1e-14);  // IBP is exact here (relu(g) in [0,1])
  crown_bounds(net, box, b);                 // never loosens it
  EXPECT_NEAR(b[1].lower[0], -0.5, 1e-14);
  EXPECT_NEAR(b[1].upper[0], 0.5, 1e-14);
  EXPECT_LE(b[1].lower[0], -0.5);
  EXPECT_GE(b[1].upper[0], 0.5);
}

TEST(CrownBounds, SoundAndNeverLooserOnRandomNetworks) {
  std::mt19937_64 rng(4242);
  int tighter = 0;
  for (int trial = 0; trial < 30; ++trial) {
    Network net = small_network(rng);
    Box box = random_box(net.inputs(), rng);
    NetworkBounds ibp = interval_bounds(net, box);
    NetworkBounds b = ibp;
    crown_bounds(net, box, b);
    EXPECT_TRUE(within(b, ibp)) << "trial " << trial;
    tighter += (b.back().upper - b.back().lower).sum() < (ibp.back().upper - ibp.back().lower).sum() - 1e-9;
    Eigen::MatrixXd X = probe_points(box, trial < 1 ? 100000 : 5000, rng);
    EXPECT_EQ(violations(net, b, X), 0) << "trial " << trial;
  }
  EXPECT_GT(tighter, 10);
}

// first_layer leaves the layers before it as they are; after a ReLU split
// clamped into layer j, re-bounding from layer j + 1 gives exactly what
// re-bounding every layer gives (the split search relies on it).
TEST(CrownBounds, FirstLayerSkipsEarlierLayersAndLosesNothingAfterASplit) {
  std::mt19937_64 rng(31337);
  int skipped_tighter = 0, splits = 0;
  for (int trial = 0; trial < 40; ++trial) {
    Network net = test::random_network({3, 8, 8, 8, 2}, rng, 0.5);
    Box box = random_box(net.inputs(), rng);
    const NetworkBounds ibp = interval_bounds(net, box);
    NetworkBounds late = ibp;
    crown_bounds(net, box, late, CrownOptions{.first_layer = 2, .report = false});
    NetworkBounds all = ibp;
    crown_bounds(net, box, all, CrownOptions{.report = false});
    for (std::size_t l = 0; l < 2; ++l) {
      EXPECT_TRUE((late[l].lower.array() == ibp[l].lower.array()).all()) << "trial " << trial << " layer " << l;
      EXPECT_TRUE((late[l].upper.array() == ibp[l].upper.array()).all()) << "trial " << trial << " layer " << l;
    }
    skipped_tighter += (all[1].upper - all[1].lower).sum() < (ibp[1].upper - ibp[1].lower).sum() - 1e-9;
    // A split g <= 0 on an unstable unit of layer 1 of the CROWN bounds.
    for (Eigen::Index i = 0; i < all[1].lower.size(); ++i) {
      if (!(all[1].lower[i] < 0 && all[1].upper[i] > 0)) continue;
      ++splits;
      NetworkBounds from_split = all;
      from_split[1].upper[i] = 0.0;
      interval_tighten(net, box, from_split, 2);
      NetworkBounds every = from_split;
      crown_bounds(net, box, from_split, CrownOptions{.first_layer = 2, .report = false});
      crown_bounds(net, box, every, CrownOptions{.report = false});
      // Equal up to the rounding of products of other shapes (a batch
      // without the split unit): never looser by more than that.
      for (std::size_t l = 0; l < net.layers.size(); ++l) {
        const double scale = 1e-12 * (1.0 + every[l].upper.cwiseAbs().maxCoeff() + every[l].lower.cwiseAbs().maxCoeff());
        EXPECT_LE((every[l].lower - from_split[l].lower).maxCoeff(), scale) << "trial " << trial << " layer " << l;
        EXPECT_LE((from_split[l].upper - every[l].upper).maxCoeff(), scale) << "trial " << trial << " layer " << l;
      }
      break;
    }
  }
  EXPECT_GT(skipped_tighter, 10);  // layer 1 was left although CROWN tightens it
  EXPECT_GT(splits, 10);
}

TEST(AlphaBounds, SoundAndNeverLooserThanCrown) {
  std::mt19937_64 rng(777);
  int tighter = 0;
  for (int trial = 0; trial < 30; ++trial) {
    Network net = small_network(rng);
    Box box = random_box(net.inputs(), rng);
    NetworkBounds crown = interval_bounds(net, box);
    crown_bounds(net, box, crown);
    NetworkBounds b = crown;
    alpha_bounds(net, box, b, all_units(net), AlphaOptions{.iterations = 30, .stop_when_settled = false});
    EXPECT_TRUE(within(b, crown)) << "trial " << trial;
    tighter += (b.back().upper - b.back().lower).sum() < (crown.back().upper - crown.back().lower).sum() - 1e-6;
    Eigen::MatrixXd X = probe_points(box, trial < 1 ? 100000 : 5000, rng);
    EXPECT_EQ(violations(net, b, X), 0) << "trial " << trial;
  }
  EXPECT_GT(tighter, 5);
}

TEST(AlphaBounds, OptimisedSlopeBeatsAdaptiveOne) {
  // g = x0 on [-1, 2] (unstable, u >= -l so CROWN takes alpha = 1), y = -relu(x0) + 0.3 x0 (the 0.3 x0
  // through a stably active unit x0 + 10), exact maximum 0 at x0 = 0. CROWN: -relu(g) <= -g gives
  // -0.7 x0 <= 0.7 (IBP gives 0.6); the best slope alpha = 0.3 gives 0.
  AffineLayer a1{Eigen::MatrixXd{{1}, {1}}, Eigen::VectorXd{{0, 10}}};  // unit 1 = x0 + 10 > 0: stably active
  AffineLayer a2{Eigen::MatrixXd{{-1, 0.3}}, Eigen::VectorXd{{-3}}};     // y = -relu(x0) + 0.3 (x0 + 10) - 3
  Network net({a1, a2});
  Box box = Box::uniform(1, -1, 2);
  NetworkBounds crown = interval_bounds(net, box);
  crown_bounds(net, box, crown);
  EXPECT_NEAR(crown[1].upper[0], 0.6, 1e-12);  // IBP's, CROWN's 0.7 is looser
  NetworkBounds b = crown;
  alpha_bounds(net, box, b, all_units(net), AlphaOptions{.iterations = 100, .stop_when_settled = false});
  EXPECT_LT(b[1].upper[0], 0.05);
  EXPECT_GE(b[1].upper[0], 0.0);
}

namespace {
// y = relu(x) - relu(x - 0.5) on x in [-1, 1]: exact range [0, 0.5]; the triangle LP gives [-0.25, 0.75],
// CROWN's upper bound is 1 (alpha = 0 for the second unit since u = 0.5 < -l = 1.5), the best slopes give 0.75.
Network two_unit_net() {
  AffineLayer l1{Eigen::MatrixXd{{1}, {1}}, Eigen::VectorXd{{0, -0.5}}};
  AffineLayer l2{Eigen::MatrixXd{{1, -1}}, Eigen::VectorXd{{0}}};
  return Network({l1, l2});
}
}  // namespace

TEST(LpBounds, HandComputedTriangleOptimum) {
  Network net = two_unit_net();
  Box box = Box::uniform(1, -1, 1);
  NetworkBounds b = interval_bounds(net, box);
  EXPECT_NEAR(b[1].upper[0], 1.0, 1e-14);
  crown_bounds(net, box, b);
  EXPECT_NEAR(b[1].upper[0], 1.0, 1e-14);
  NetworkBounds a = b;
  alpha_bounds(net, box, a, all_units(net), AlphaOptions{.iterations = 200, .stop_when_settled = false});
  EXPECT_NEAR(a[1].upper[0], 0.75, 0.01);
  EXPECT_GE(a[1].upper[0], 0.75);
  lp_bounds(net, box, b, all_units(net));
  EXPECT_NEAR(b[1].upper[0], 0.75, 1e-9);
  EXPECT_NEAR(b[1].lower[0], -0.25, 1e-9);
  EXPECT_GE(b[1].upper[0], 0.75);
  EXPECT_LE(b[1].lower[0], -0.25);
  LpSolution sol = lp_maximise(net, box, b, 1, Eigen::VectorXd{{1.0}});
  ASSERT_TRUE(sol.optimal);
  EXPECT_NEAR(sol.objective, 0.75, 1e-9);
}

TEST(LpBounds, WrongDualsGiveWeakerButSoundBounds) {
  std::mt19937_64 rng(99);
  std::normal_distribution<double> noise(0.0, 1.0);
  for (int trial = 0; trial < 10; ++trial) {
    Network net = small_network(rng);
    Box box = random_box(net.inputs(), rng);
    NetworkBounds b = interval_bounds(net, box);
    crown_bounds(net, box, b);
    const std::size_t k = net.layers.size() - 1;
    Eigen::VectorXd a = Eigen::VectorXd::Zero(net.outputs());
    a[0] = 1.0;
    LpSolution sol = lp_maximise(net, box, b, k, a);
    ASSERT_TRUE(sol.optimal);
    // The rigorous bound agrees with Clp's primal optimum.
    EXPECT_GE(sol.bound, sol.objective - 1e-9 * (1 + std::abs(sol.objective)));
    EXPECT_LE(sol.bound, sol.objective + 1e-7 * (1 + std::abs(sol.objective)));
    Eigen::MatrixXd X = probe_points(box, 5000, rng);
    double seen = net.pre_activations(X)[k].row(0).maxCoeff();
    for (double scale : {1e-9, 1e-3, 1.0, 10.0}) {
      std::vector<Eigen::VectorXd> nu = sol.nu;
      for (auto& v : nu)
        for (Eigen::Index i = 0; i < v.size(); ++i) v[i] += scale * noise(rng);
      double bound = dual_upper_bound(net, box, b, k, a, nu);
      EXPECT_GE(bound, sol.objective - 1e-9 * (1 + std::abs(sol.objective))) << trial << " " << scale;
      EXPECT_GE(bound, seen) << trial << " " << scale;
    }
    std::vector<Eigen::VectorXd> flipped = sol.nu;  // a sign error in the dual
    for (auto& v : flipped) v = -v;
    EXPECT_GE(dual_upper_bound(net, box, b, k, a, flipped), seen);
  }
}

TEST(LpBounds, SoundAndNeverLooserThanAlpha) {
  std::mt19937_64 rng(31337);
  int tighter = 0;
  for (int trial = 0; trial < 20; ++trial) {
    Network net = small_network(rng);
    Box box = random_box(net.inputs(), rng);
    NetworkBounds ibp = interval_bounds(net, box);
    NetworkBounds crown = ibp;
    crown_bounds(net, box, crown);
    NetworkBounds alpha = crown;
    alpha_bounds(net, box, alpha, all_units(net));
    NetworkBounds lp = alpha;
    lp_bounds(net, box, lp, all_units(net), LpOptions{.stop_at_sign = false});
    EXPECT_TRUE(within(crown, ibp));
    EXPECT_TRUE(within(alpha, crown));
    EXPECT_TRUE(within(lp, alpha));
    tighter += (lp.back().upper - lp.back().lower).sum() < (alpha.back().upper - alpha.back().lower).sum() - 1e-6;
    Eigen::MatrixXd X = probe_points(box, trial < 1 ? 100000 : 5000, rng);
    EXPECT_EQ(violations(net, lp, X), 0) << "trial " << trial;
  }
  EXPECT_GT(tighter, 3);
}

TEST(LpBounds, SignOnlyModeIsSound) {
  std::mt19937_64 rng(2024);
  for (int trial = 0; trial < 15; ++trial) {
    Network net = small_network(rng, 0.3);
    Box box = random_box(net.inputs(), rng);
    NetworkBounds b = interval_bounds(net, box);
    crown_bounds(net, box, b);
    NetworkBounds before = b;
    lp_bounds(net, box, b, all_units(net));  // default: stop_at_sign
    EXPECT_TRUE(within(b, before));
    Eigen::MatrixXd X = probe_points(box, 5000, rng);
    EXPECT_EQ(violations(net, b, X), 0) << "trial " << trial;
  }
}

TEST(Deadline, ExpiredDeadlineLeavesBoundsAsTheyAre) {
  std::mt19937_64 rng(5);
  Network net = test::random_network({4, 8, 8, 2}, rng);
  Box box = Box::uniform(4, -1, 1);
  const NetworkBounds ibp = interval_bounds(net, box);
  Deadline expired(1e-9);
  while (!expired.expired()) {
  }
  NetworkBounds b = ibp;
  crown_bounds(net, box, b, expired);
  alpha_bounds(net, box, b, all_units(net), {}, expired);
  lp_bounds(net, box, b, all_units(net), {}, expired);
  for (std::size_t l = 0; l < b.size(); ++l) {
    EXPECT_EQ(b[l].lower, ibp[l].lower);
    EXPECT_EQ(b[l].upper, ibp[l].upper);
  }
}

TEST(Overflow, HugeWeightsGiveInfiniteNotWrongBounds) {
  // Products overflow to infinity: every stage must give +-inf (or a valid finite bound), never NaN.
  AffineLayer l1{Eigen::MatrixXd{{1e300, -1e300}, {1e300, 1e300}}, Eigen::VectorXd{{0, 0}}};
  AffineLayer l2{Eigen::MatrixXd{{1e300, -1e300}}, Eigen::VectorXd{{0}}};
  Network net({l1, l2});
  Box box = Box::uniform(2, -1e10, 1e10);
  NetworkBounds b = interval_bounds(net, box);
  crown_bounds(net, box, b);
  alpha_bounds(net, box, b, all_units(net));
  for (const auto& layer : b) {
    EXPECT_FALSE(layer.lower.hasNaN());
    EXPECT_FALSE(layer.upper.hasNaN());
    EXPECT_TRUE((layer.lower.array() <= layer.upper.array()).all());
  }
  EXPECT_EQ(b[1].upper[0], std::numeric_limits<double>::infinity());
  EXPECT_EQ(b[1].lower[0], -std::numeric_limits<double>::infinity());
}

TEST(Rounding, StepsMatchNextafter) {
  const double inf = std::numeric_limits<double>::infinity();
  const double values[] = {0.0, -0.0, 1.0, -1.0, 0.1, -0.1, 1e300, -1e300, std::numeric_limits<double>::max(),
                           -std::numeric_limits<double>::max(), std::numeric_limits<double>::min(),
                           -std::numeric_limits<double>::min(), std::numeric_limits<double>::denorm_min(),
                           -std::numeric_limits<double>::denorm_min(), 3e-310, -3e-310, inf, -inf};
  for (double x : values) {
    EXPECT_EQ(rounding::up(x), std::nextafter(x, inf)) << x;
    EXPECT_EQ(rounding::down(x), std::nextafter(x, -inf)) << x;
  }
  EXPECT_TRUE(std::isnan(rounding::up(std::nan(""))));
  EXPECT_TRUE(std::isnan(rounding::down(std::nan(""))));
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<double> e(-300, 300);
  for (int k = 0; k < 10000; ++k) {
    double x = std::pow(10.0, e(rng)) * (k % 2 ? 1 : -1);
    ASSERT_EQ(rounding::up(x), std::nextafter(x, inf)) << x;
    ASSERT_EQ(rounding::down(x), std::nextafter(x, -inf)) << x;
  }
}

// The warm-started LP of branch-and-bound nodes (SplitLp) against fresh LPs:
// with only "active" splits both solve the same LP; with "inactive" splits
// SplitLp keeps the split rows, so it is at least as tight; and its rigorous
// bound holds on every sampled input of the node's region.
TEST(SplitLp, AgreesWithFreshLpsAndIsSoundOnNodeRegions) {
  std::mt19937_64 rng(4242);
  int nodes = 0, cut = 0;
  for (int trial = 0; trial < 30; ++trial) {
    Network net = small_network(rng, 0.3);
    if (net.layers.size() < 2) continue;
    Box box = random_box(net.inputs(), rng);
    NetworkBounds root = interval_bounds(net, box);
    crown_bounds(net, box, root);
    const std::size_t k = net.layers.size() - 1;
    Eigen::VectorXd a = Eigen::VectorXd::Zero(net.outputs());
    a[0] = 1.0;
    SplitLp lp(net, box, root, k);
    Eigen::MatrixXd X = probe_points(box, 4000, rng);
    EXPECT_EQ(violations(net, root, X), 0);
    auto pre = net.pre_activations(X);
    // Up to 3 random unstable units, split in every combination of phases in
    // turn (as siblings follow each other in a search); node 0 is the root.
    std::vector<std::pair<std::size_t, Eigen::Index>> units;
    for (int s = 0; s < 3; ++s) {
      std::size_t j = std::uniform_int_distribution<std::size_t>(0, k - 1)(rng);
      Eigen::Index i = std::uniform_int_distribution<Eigen::Index>(0, root[j].lower.size() - 1)(rng);
      if (root[j].lower[i] < 0 && root[j].upper[i] > 0 &&
          std::find(units.begin(), units.end(), std::pair{j, i}) == units.end())
        units.emplace_back(j, i);
    }
    for (int node = -1; node < (1 << units.size()); ++node) {
      NetworkBounds b = root;
      std::vector<std::tuple<std::size_t, Eigen::Index, bool>> splits;
      for (std::size_t q = 0; q < units.size() && node >= 0; ++q) {
        auto [j, i] = units[q];
        bool active = (node >> q) & 1;
        (active ? b[j].lower[i] : b[j].upper[i]) = 0.0;
        splits.emplace_back(j, i, active);
      }
      // Sampled inputs of the node's region.
      double seen = -std::numeric_limits<double>::infinity();
      for (Eigen::Index p = 0; p < X.cols(); ++p) {
        bool in = true;
        for (auto [j, i, active] : splits) in = in && (active ? pre[j](i, p) >= 0 : pre[j](i, p) <= 0);
        if (in) seen = std::max(seen, pre[k](0, p));
      }
      LpSolution warm = lp.maximise(b, a);
      LpSolution fresh = lp_maximise(net, box, b, k, a);
      if (!warm.optimal || !fresh.optimal) {  // Clp finds the region empty: no sample may lie in it
        EXPECT_EQ(seen, -std::numeric_limits<double>::infinity()) << trial << " " << node;
        EXPECT_GE(warm.bound, seen);
        continue;
      }
      ++nodes;
      EXPECT_GE(warm.bound, seen) << trial << " " << node;
      EXPECT_GE(warm.bound, warm.objective - 1e-9 * (1 + std::abs(warm.objective)));
      bool inactive_split = false;
      for (auto [j, i, active] : splits) inactive_split = inactive_split || !active;
      if (inactive_split) {
        EXPECT_LE(warm.objective, fresh.objective + 1e-7 * (1 + std::abs(fresh.objective))) << trial << " " << node;
        cut += warm.objective < fresh.objective - 1e-6;
      } else {
        EXPECT_NEAR(warm.objective, fresh.objective, 1e-7 * (1 + std::abs(fresh.objective))) << trial << " " << node;
      }
      ASSERT_EQ(warm.input.size(), box.size());
    }
  }
  EXPECT_GT(nodes, 100);
  EXPECT_GT(cut, 0);  // the kept rows of inactive splits do cut
}

namespace {

// The shared loop of the batched bound methods (bounds/driver.hpp).
TEST(BoundDriver, SelectsFlaggedUnstableUnitsAndAllFlaggedOutputs) {
  std::mt19937_64 rng(2);
  Network net = test::random_network({2, 4, 3}, rng);
  NetworkBounds b(2);
  b[0].lower = Eigen::Vector4d(-1, 0, -1, -2);  // unit 1 stably active
  b[0].upper = Eigen::Vector4d(1, 1, 0, 2);     // unit 2 stably inactive
  b[1].lower = Eigen::Vector3d(1, 1, 1);        // output: stable or not, always bounded
  b[1].upper = Eigen::Vector3d(2, 2, 2);
  using V = std::vector<Eigen::Index>;
  EXPECT_EQ(select_units(net, b, 0, {}), (V{0, 3}));
  EXPECT_EQ(select_units(net, b, 0, {nullptr, false}), (V{0, 1, 2, 3}));
  EXPECT_EQ(select_units(net, b, 1, {}), (V{0, 1, 2}));
  std::vector<std::vector<bool>> targets{{false, true, true, true}, {true}};  // a short vector flags fewer
  EXPECT_EQ(select_units(net, b, 0, {&targets}), (V{3}));
  EXPECT_EQ(select_units(net, b, 1, {&targets}), (V{0}));
  std::vector<std::vector<bool>> only_first{{true, true, true, true}};
  EXPECT_TRUE(select_units(net, b, 1, {&only_first}).empty());  // no vector for the layer: nothing
}

TEST(BoundDriver, BatchesCoverEveryUnitOnceAndOnlyTighten) {
  std::mt19937_64 rng(3);
  Network net = test::random_network({2, 7, 2}, rng);
  Box box = Box::uniform(2, -1, 1);
  NetworkBounds b = interval_bounds(net, box);
  b[0].lower.setConstant(-1);
  b[0].upper.setConstant(1);
  BatchLoop loop;
  loop.batch_rows = 6;  // 3 units per batch
  std::vector<int> seen(7, 0);
  std::vector<Eigen::Index> batch_sizes;
  auto fake = [&](std::size_t k, const Eigen::MatrixXd& A) {
    const Eigen::Index m = A.rows() / 2;
    if (k == 0) {
      batch_sizes.push_back(m);
      for (Eigen::Index q = 0; q < m; ++q)
        for (Eigen::Index i = 0; i < A.cols(); ++i)
          if (A(q, i) == 1.0) ++seen[static_cast<std::size_t>(i)];
    }
    Eigen::VectorXd up(A.rows());
    up.head(m).setConstant(0.5);   // upper 0.5: tighter than 1
    up.tail(m).setConstant(-2.0);  // lower 2 > upper: still intersected (the caller sees an empty box)
    if (k == 0) up.tail(m).setConstant(5.0);  // lower -5: looser than -1, ignored
    return up;
  };
  BatchLoopResult r = bound_in_batches(net, b, loop, Deadline(), fake);
  EXPECT_EQ(batch_sizes, (std::vector<Eigen::Index>{3, 3, 1}));
  EXPECT_EQ(seen, std::vector<int>(7, 1));
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.bounded, 7 + 2);
  EXPECT_EQ(b[0].upper, Eigen::VectorXd::Constant(7, 0.5));
  EXPECT_EQ(b[0].lower, Eigen::VectorXd::Constant(7, -1.0));
  // An expired deadline stops before the first batch: nothing changes.
  NetworkBounds before = interval_bounds(net, box), c = before;
  Deadline expired(1e-9);
  while (!expired.expired()) {
  }
  BatchLoopResult s = bound_in_batches(net, c, loop, expired, fake);
  EXPECT_TRUE(s.stopped);
  EXPECT_EQ(s.stopped_at, 0u);
  EXPECT_EQ(s.bounded, 0);
  EXPECT_EQ(c[0].upper, before[0].upper);
}

}  // namespace

// Issue 15 section 1: LP bounds of the units that feed later layers, the
// layerwise alpha-CROWN re-tightening, and the LP points as witness candidates.
TEST(LpBounds, FullUnitsGetTheirExactLpBoundsInSignMode) {
  std::mt19937_64 rng(4242);
  int checked = 0;
  for (int trial = 0; trial < 15; ++trial) {
    Network net = small_network(rng, 0.3);
    Box box = random_box(net.inputs(), rng);
    NetworkBounds start = interval_bounds(net, box);
    crown_bounds(net, box, start);
    // Reference: every unit to optimality.
    NetworkBounds exact = start;
    lp_bounds(net, box, exact, all_units(net), LpOptions{.stop_at_sign = false});
    // Sign mode for the undecided units, full LPs for every hidden unit.
    std::vector<std::vector<bool>> full = all_units(net);
    full.back().assign(full.back().size(), false);
    NetworkBounds b = start;
    LpOptions options;
    options.full = &full;
    options.realpha = true;
    lp_bounds(net, box, b, all_units(net), options);
    EXPECT_TRUE(within(b, start));
    Eigen::MatrixXd X = probe_points(box, 5000, rng);
    EXPECT_EQ(violations(net, b, X), 0) << "trial " << trial;
    // Layers 0 and 1: the layer-0 relaxations are the same in both runs, so
    // the full units of layer 0 and 1 have the exact LP's bounds (up to the
    // solver's path) when they are unstable.
    for (std::size_t k = 0; k < std::min<std::size_t>(2, b.size() - 1); ++k)
      for (Eigen::Index i = 0; i < b[k].lower.size(); ++i) {
        if (!(start[k].lower[i] < 0 && start[k].upper[i] > 0)) continue;
        if (k == 1 && !(exact[0].lower.array() == b[0].lower.array()).all()) continue;
        const double tol = 1e-7 * (1 + std::abs(exact[k].upper[i]) + std::abs(exact[k].lower[i]));
        EXPECT_NEAR(b[k].upper[i], exact[k].upper[i], tol) << trial << " " << k << " " << i;
        EXPECT_NEAR(b[k].lower[i], exact[k].lower[i], tol) << trial << " " << k << " " << i;
        ++checked;
      }
  }
  EXPECT_GT(checked, 20);
}

TEST(LpBounds, RealphaKeepsBoundsSoundAndNoLooserThanAlphaBefore) {
  std::mt19937_64 rng(777);
  for (int trial = 0; trial < 15; ++trial) {
    std::uniform_int_distribution<int> in(1, 4), width(3, 8);
    Network net = test::random_network({in(rng), width(rng), width(rng), width(rng), 2}, rng, 0.4);
    Box box = random_box(net.inputs(), rng);
    NetworkBounds b = interval_bounds(net, box);
    crown_bounds(net, box, b);
    alpha_bounds(net, box, b, all_units(net));
    const NetworkBounds before = b;
    std::vector<std::vector<bool>> full = all_units(net);
    full.back().assign(full.back().size(), false);
    LpOptions options;
    options.full = &full;
    options.realpha = true;
    lp_bounds(net, box, b, all_units(net), options);
    EXPECT_TRUE(within(b, before)) << "trial " << trial;  // bounds are only ever intersected
    Eigen::MatrixXd X = probe_points(box, 5000, rng);
    EXPECT_EQ(violations(net, b, X), 0) << "trial " << trial;
  }
}

TEST(LpBounds, PointsAreInTheBoxAndLayerZeroPointsAttainTheBound) {
  // For a layer-0 unit the relaxation is exact: the LP point maximising g
  // re-evaluated in double attains the LP's (rigorous) bound.
  std::mt19937_64 rng(99);
  int points = 0, attained = 0;
  for (int trial = 0; trial < 10; ++trial) {
    Network net = test::random_network({3, 6, 5, 2}, rng, 0.2);
    Box box = random_box(net.inputs(), rng);
    NetworkBounds b = interval_bounds(net, box);
    LpOptions options;
    options.stop_at_sign = false;
    std::vector<std::pair<std::size_t, Eigen::VectorXd>> seen;
    options.on_point = [&](std::size_t k, const Eigen::VectorXd& x) { seen.emplace_back(k, x); };
    std::vector<std::vector<bool>> targets = all_units(net);
    lp_bounds(net, box, b, targets, options);
    for (const auto& [k, x] : seen) {
      ++points;
      EXPECT_TRUE((x.array() >= box.lower.array()).all() && (x.array() <= box.upper.array()).all());
      if (k != 0) continue;
      const Eigen::VectorXd g = net.layers[0].weights * x + net.layers[0].bias;
      // Each layer-0 point is the argmax (or argmin) of some unit: it attains that unit's bound.
      for (Eigen::Index i = 0; i < g.size(); ++i)
        if (std::abs(g[i] - b[0].upper[i]) <= 1e-9 * (1 + std::abs(g[i])) ||
            std::abs(g[i] - b[0].lower[i]) <= 1e-9 * (1 + std::abs(g[i]))) {
          ++attained;
          break;
        }
    }
  }
  EXPECT_GT(points, 50);
  EXPECT_GT(attained, 30);
}
