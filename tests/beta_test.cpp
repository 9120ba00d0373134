// The beta-CROWN node bound (bounds/beta.hpp): sound against brute force and
// the exact LP optimum, never weaker than CROWN, close to the LP after
// optimisation; split constraints (clamped bounds) enter through beta.
#include <gtest/gtest.h>

#include <random>

#include "leo/bounds/beta.hpp"
#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/bounds/lp.hpp"
#include "support.hpp"

namespace leo {
namespace {

Eigen::MatrixXd grid2(const Box& box, int per_axis) {
  Eigen::MatrixXd X(2, per_axis * per_axis);
  for (int k = 0; k < per_axis * per_axis; ++k)
    for (int i = 0; i < 2; ++i) {
      const int step = i == 0 ? k % per_axis : k / per_axis;
      X(i, k) = box.lower[i] + (box.upper[i] - box.lower[i]) * step / (per_axis - 1.0);
    }
  return X;
}

NetworkBounds crown_of(const Network& net, const Box& box) {
  NetworkBounds b = interval_bounds(net, box);
  crown_bounds(net, box, b);
  return b;
}

// Without splits: CROWN >= beta >= LP optimum >= brute force, and the
// optimiser closes most of the gap between CROWN and the LP.
TEST(BetaBound, BetweenCrownAndTheLpOptimum) {
  std::mt19937_64 rng(3);
  double crown_gap = 0, beta_gap = 0;
  int targets = 0;
  for (int n = 0; n < 8; ++n) {
    Network net = test::random_network({2, 12, 12, 8, 1}, rng, 0.5);
    Box box = Box::uniform(2, -1, 1);
    NetworkBounds b = crown_of(net, box);
    auto pre = net.pre_activations(grid2(box, 101));
    for (std::size_t k = 1; k < 3; ++k)
      for (Eigen::Index i = 0; i < net.layers[k].outputs(); ++i)
        for (double sign : {1.0, -1.0}) {
          Eigen::VectorXd a = Eigen::VectorXd::Zero(net.layers[k].outputs());
          a[i] = sign;
          const double crown = sign > 0 ? b[k].upper[i] : -b[k].lower[i];
          const double brute = (sign * pre[k].row(i)).maxCoeff();
          LpSolution lp = lp_maximise(net, box, b, k, a);
          ASSERT_TRUE(lp.optimal);
          BetaOptions o;
          o.iterations = 200;
          BetaResult r = beta_maximise(net, box, b, k, a, nullptr, o);
          SCOPED_TRACE("net " + std::to_string(n) + " layer " + std::to_string(k) + " unit " + std::to_string(i));
          EXPECT_GE(r.bound, brute);
          EXPECT_GE(r.bound, lp.objective - 1e-9);  // never tighter than the exact optimum
          EXPECT_LE(r.bound, crown + 1e-9);         // never weaker than CROWN (its start)
          EXPECT_EQ(r.nu.size(), k);
          // The multipliers reproduce the bound (they are a certificate leaf).
          EXPECT_NEAR(dual_upper_bound(net, box, b, k, a, r.nu), r.bound, 1e-9 * (1 + std::abs(r.bound)));
          crown_gap += crown - lp.objective;
          beta_gap += r.bound - lp.objective;
          ++targets;
        }
  }
  EXPECT_GT(targets, 100);
  EXPECT_GT(crown_gap, 0.0);
  EXPECT_LT(beta_gap, 0.25 * crown_gap) << "crown gap " << crown_gap << ", beta gap " << beta_gap;
}

// With splits: units clamped to one phase (lower >= 0 or upper <= 0) and the
// bounds re-propagated: the bound holds for every grid point whose phases
// agree with the splits, and beta makes it tighter than CROWN's on the node.
TEST(BetaBound, SoundOnSplitRegions) {
  std::mt19937_64 rng(11);
  int nodes = 0, tighter = 0;
  for (int n = 0; n < 10; ++n) {
    Network net = test::random_network({2, 10, 10, 6, 1}, rng, 0.5);
    Box box = Box::uniform(2, -1, 1);
    const NetworkBounds root = crown_of(net, box);
    Eigen::MatrixXd X = grid2(box, 151);
    auto pre = net.pre_activations(X);
    for (int t = 0; t < 6; ++t) {
      NetworkBounds b = root;
      std::vector<std::pair<std::size_t, Eigen::Index>> splits;
      std::vector<bool> active;
      for (std::size_t j = 0; j < 2; ++j)
        for (Eigen::Index i = 0; i < b[j].lower.size(); ++i)
          if (b[j].lower[i] < 0 && b[j].upper[i] > 0 && rng() % 3 == 0) {
            const bool on = rng() % 2 == 0;
            (on ? b[j].lower[i] : b[j].upper[i]) = 0.0;
            splits.emplace_back(j, i);
            active.push_back(on);
          }
      interval_tighten(net, box, b, 1);
      CrownOptions c;
      c.report = false;
      crown_bounds(net, box, b, c);
      bool empty = false;
      for (std::size_t j = 0; j < 3; ++j) empty = empty || (b[j].lower.array() > b[j].upper.array()).any();
      if (empty) continue;
      // The grid points of the node's region.
      std::vector<Eigen::Index> in;
      for (Eigen::Index p = 0; p < X.cols(); ++p) {
        bool ok = true;
        for (std::size_t s = 0; s < splits.size() && ok; ++s) {
          const double g = pre[splits[s].first](splits[s].second, p);
          ok = active[s] ? g >= 0 : g <= 0;
        }
        if (ok) in.push_back(p);
      }
      const std::size_t k = 2;
      for (Eigen::Index i = 0; i < net.layers[k].outputs(); ++i)
        for (double sign : {1.0, -1.0}) {
          Eigen::VectorXd a = Eigen::VectorXd::Zero(net.layers[k].outputs());
          a[i] = sign;
          BetaOptions o;
          o.iterations = 50;
          BetaResult r = beta_maximise(net, box, b, k, a, nullptr, o);
          for (Eigen::Index p : in) ASSERT_GE(r.bound, sign * pre[k](i, p)) << "net " << n << " unit " << i;
          const double crown = sign > 0 ? b[k].upper[i] : -b[k].lower[i];
          EXPECT_LE(r.bound, crown + 1e-9);
          tighter += r.bound < crown - 1e-6;
          ++nodes;
        }
    }
  }
  EXPECT_GT(nodes, 200);
  EXPECT_GT(tighter, nodes / 4);
}

// A warm start from good parameters is never worse than its start, and with
// no iterations the bound equals the start's.
TEST(BetaBound, WarmStartKeepsTheBestParameters) {
  std::mt19937_64 rng(17);
  Network net = test::random_network({3, 16, 16, 4}, rng, 0.5);
  Box box = Box::uniform(3, -1, 1);
  NetworkBounds b = crown_of(net, box);
  for (Eigen::Index i = 0; i < 4; ++i) {
    Eigen::VectorXd a = Eigen::VectorXd::Zero(4);
    a[i] = 1;
    BetaOptions o;
    o.iterations = 60;
    BetaResult first = beta_maximise(net, box, b, 2, a, nullptr, o);
    o.iterations = 0;
    BetaResult again = beta_maximise(net, box, b, 2, a, &first.state, o);
    EXPECT_NEAR(again.bound, first.bound, 1e-12 * (1 + std::abs(first.bound)));
    o.iterations = 20;
    BetaResult more = beta_maximise(net, box, b, 2, a, &first.state, o);
    EXPECT_LE(more.bound, first.bound + 1e-12 * (1 + std::abs(first.bound)));
  }
}

}  // namespace
}  // namespace leo

namespace leo {
namespace {

// The child estimates of first-layer splits (BetaResult::split_off/on) equal
// the bound of each child computed from scratch with the same parameters (0
// iterations, warm start): for targets in layer 1 and 2, every unstable unit
// of layer 0, both children; NaN exactly for the units that are not unstable.
TEST(BetaBound, FirstLayerChildEstimatesMatchTheChildrensBounds) {
  std::mt19937_64 rng(29);
  int checked = 0;
  for (int n = 0; n < 4; ++n) {
    Network net = test::random_network({4, 12, 10, 6, 1}, rng, 0.5);
    Box box = Box::uniform(4, -1, 1);
    const NetworkBounds b = crown_of(net, box);
    for (std::size_t k = 1; k < 3; ++k)
      for (Eigen::Index t = 0; t < 3; ++t)
        for (double sign : {1.0, -1.0}) {
          Eigen::VectorXd a = Eigen::VectorXd::Zero(net.layers[k].outputs());
          a[t] = sign;
          BetaOptions o;
          o.iterations = 15;
          const BetaResult r = beta_maximise(net, box, b, k, a, nullptr, o);
          ASSERT_EQ(r.split_off.size(), b[0].lower.size());
          ASSERT_EQ(r.split_on.size(), b[0].lower.size());
          BetaOptions none;
          none.iterations = 0;
          for (Eigen::Index i = 0; i < b[0].lower.size(); ++i) {
            const bool unstable = b[0].lower[i] < 0 && b[0].upper[i] > 0;
            EXPECT_EQ(unstable, std::isfinite(r.split_off[i])) << "unit " << i;
            EXPECT_EQ(unstable, std::isfinite(r.split_on[i])) << "unit " << i;
            if (!unstable) continue;
            for (bool on : {false, true}) {
              NetworkBounds child = b;  // layer 0 clamped; later layers kept, as the estimate assumes
              (on ? child[0].lower[i] : child[0].upper[i]) = 0.0;
              const BetaResult c = beta_maximise(net, box, child, k, a, &r.state, none);
              const double estimate = on ? r.split_on[i] : r.split_off[i];
              EXPECT_NEAR(estimate, c.bound, 1e-9 * (1 + std::abs(c.bound)))
                  << "net " << n << " layer " << k << " target " << t << " unit " << i << (on ? " on" : " off");
              ++checked;
            }
          }
        }
  }
  EXPECT_GT(checked, 200);
}

}  // namespace
}  // namespace leo
