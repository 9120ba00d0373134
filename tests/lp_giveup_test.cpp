// The LP stage's give-up rules (LpOptions::sign_streak, full_probe): which
// LPs they skip, that they skip nothing else, and that the bounds stay sound.
#include <gtest/gtest.h>

#include <random>

#include "leo/bounds/alpha.hpp"
#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/bounds/lp.hpp"
#include "support.hpp"

using namespace leo;

namespace {

struct Start {
  Network net;
  Box box;
  NetworkBounds bounds;  // interval, then (when asked) CROWN
};

Start start(std::mt19937_64& rng, double radius, bool crown = true) {
  Network net = test::random_network({8, 16, 16, 16, 2}, rng, 0.5);
  Eigen::VectorXd centre = test::random_points(Eigen::VectorXd::Constant(8, -1), Eigen::VectorXd::Constant(8, 1), 1, rng);
  Box box((centre.array() - radius).matrix(), (centre.array() + radius).matrix());
  NetworkBounds b = interval_bounds(net, box);
  if (crown) crown_bounds(net, box, b);
  return {std::move(net), std::move(box), std::move(b)};
}

std::vector<std::vector<bool>> one_layer(const Network& net, std::size_t k) {
  std::vector<std::vector<bool>> t(net.layers.size());
  t[k].assign(static_cast<std::size_t>(net.layers[k].outputs()), true);
  return t;
}

bool settled(const Bounds& b, Eigen::Index i) { return b.upper[i] <= 0 || b.lower[i] >= 0; }

// Every sampled input's pre-activations lie within the bounds.
void expect_encloses(const Network& net, const Box& box, const NetworkBounds& b, std::mt19937_64& rng) {
  const Eigen::MatrixXd X = test::random_points(box.lower, box.upper, 2000, rng);
  const auto pre = net.pre_activations(X);
  for (std::size_t k = 0; k < b.size(); ++k)
    for (Eigen::Index i = 0; i < pre[k].rows(); ++i) {
      EXPECT_GE(pre[k].row(i).minCoeff(), b[k].lower[i]) << "layer " << k << " unit " << i;
      EXPECT_LE(pre[k].row(i).maxCoeff(), b[k].upper[i]) << "layer " << k << " unit " << i;
    }
}

}  // namespace

// The units of one layer are independent questions (their LPs read the layers
// before only), so the rule's outcome follows from the answers without it: in
// unit order, each unit's answer as without the rule until `streak` units in
// a row settled nothing, the units after that untouched.
TEST(LpGiveUp, SignQuestionsStopAfterARunThatSettledNothing) {
  std::mt19937_64 rng(7);
  const int streak = 5;
  int skipped = 0, reset = 0, would_change = 0;
  int settled_by_lp = 0;
  for (int trial = 0; trial < 16; ++trial) {
    Start s = start(rng, 0.05 + 0.05 * (trial % 6), false);  // interval bounds: the LPs settle some
    const std::size_t k = 2;
    const std::vector<Eigen::Index> units = [&] {
      std::vector<Eigen::Index> u;
      for (Eigen::Index i = 0; i < s.bounds[k].lower.size(); ++i)
        if (s.bounds[k].lower[i] < 0 && s.bounds[k].upper[i] > 0) u.push_back(i);
      return u;
    }();
    NetworkBounds all = s.bounds, rule = s.bounds;
    lp_bounds(s.net, s.box, all, one_layer(s.net, k), LpOptions{});
    LpOptions o;
    o.sign_streak = streak;
    lp_bounds(s.net, s.box, rule, one_layer(s.net, k), o);
    int run = 0;
    bool given_up = false;
    for (Eigen::Index i : units) {
      if (given_up) {
        EXPECT_EQ(rule[k].lower[i], s.bounds[k].lower[i]) << trial << " unit " << i;
        EXPECT_EQ(rule[k].upper[i], s.bounds[k].upper[i]) << trial << " unit " << i;
        ++skipped;
        would_change += all[k].lower[i] != s.bounds[k].lower[i] || all[k].upper[i] != s.bounds[k].upper[i];
        continue;
      }
      EXPECT_EQ(rule[k].lower[i], all[k].lower[i]) << trial << " unit " << i;
      EXPECT_EQ(rule[k].upper[i], all[k].upper[i]) << trial << " unit " << i;
      settled_by_lp += settled(all[k], i);
      if (settled(all[k], i)) {
        reset += run > 0;
        run = 0;
      } else {
        given_up = ++run >= streak;
      }
    }
    for (std::size_t l = 0; l < k; ++l) EXPECT_EQ(rule[l].upper, s.bounds[l].upper);
    expect_encloses(s.net, s.box, rule, rng);
  }
  // The nets exercise both branches: units skipped, and a run broken by a settled unit.
  EXPECT_GT(skipped, 0);
  EXPECT_GT(would_change, 0);  // some skipped unit's LP would have tightened it
  EXPECT_GT(reset, 0) << settled_by_lp << " units settled by the LP";
}

// Full LPs: after the first `full_probe` units of a layer, the rest are
// skipped when the probe narrowed them by less than full_min_gain; a gain
// nothing reaches (> 100 %) stops every layer after the probe, a zero one
// never, and then the result is that of no rule at all.
TEST(LpGiveUp, FullLpsStopWhereTheyDoNotNarrow) {
  std::mt19937_64 rng(11);
  int more_than_probe = 0;
  for (int trial = 0; trial < 8; ++trial) {
    Start s = start(rng, 0.4);
    alpha_bounds(s.net, s.box, s.bounds, all_units(s.net));
    std::vector<std::vector<bool>> hidden(s.net.layers.size()), none(s.net.layers.size());
    for (std::size_t l = 0; l + 1 < s.net.layers.size(); ++l)
      hidden[l].assign(static_cast<std::size_t>(s.net.layers[l].outputs()), true);
    LpOptions base;
    base.full = &hidden;
    NetworkBounds plain = s.bounds, never = s.bounds, always = s.bounds;
    lp_bounds(s.net, s.box, plain, none, base);
    LpOptions o = base;
    o.full_probe = 2;
    o.full_min_gain = 0.0;
    lp_bounds(s.net, s.box, never, none, o);
    o.full_min_gain = 2.0;
    lp_bounds(s.net, s.box, always, none, o);
    for (std::size_t l = 0; l < s.bounds.size(); ++l) {
      EXPECT_EQ(never[l].lower, plain[l].lower) << trial;
      EXPECT_EQ(never[l].upper, plain[l].upper) << trial;
    }
    for (std::size_t l = 0; l + 1 < s.bounds.size(); ++l) {
      int changed = 0, changed_plain = 0;
      for (Eigen::Index i = 0; i < s.bounds[l].lower.size(); ++i) {
        changed += always[l].lower[i] != s.bounds[l].lower[i] || always[l].upper[i] != s.bounds[l].upper[i];
        changed_plain += plain[l].lower[i] != s.bounds[l].lower[i] || plain[l].upper[i] != s.bounds[l].upper[i];
      }
      EXPECT_LE(changed, 2) << trial << " layer " << l;
      more_than_probe += changed_plain > 2;
    }
    expect_encloses(s.net, s.box, always, rng);
  }
  EXPECT_GT(more_than_probe, 0);  // without the rule, more units than the probe's change
}

// Sign questions out of reach: with full LPs on layer 1 measuring the LP's
// gain, a reach nothing satisfies skips every sign question of layer 2, and
// an unbounded one changes nothing.
TEST(LpGiveUp, SignQuestionsOutOfReachAreNotAsked) {
  std::mt19937_64 rng(23);
  int would_change = 0;
  for (int trial = 0; trial < 10; ++trial) {
    Start s = start(rng, 0.05 + 0.05 * (trial % 5), false);
    std::vector<std::vector<bool>> full(s.net.layers.size());
    full[1].assign(static_cast<std::size_t>(s.net.layers[1].outputs()), true);
    LpOptions base;
    base.full = &full;
    NetworkBounds plain = s.bounds, tiny = s.bounds, huge = s.bounds;
    lp_bounds(s.net, s.box, plain, one_layer(s.net, 2), base);
    LpOptions o = base;
    o.sign_reach = 1e-12;
    lp_bounds(s.net, s.box, tiny, one_layer(s.net, 2), o);
    o.sign_reach = 1e12;
    lp_bounds(s.net, s.box, huge, one_layer(s.net, 2), o);
    for (std::size_t l = 0; l < s.bounds.size(); ++l) {
      EXPECT_EQ(huge[l].lower, plain[l].lower) << trial;
      EXPECT_EQ(huge[l].upper, plain[l].upper) << trial;
    }
    EXPECT_EQ(tiny[1].upper, plain[1].upper) << trial;  // the full LPs ran
    EXPECT_EQ(tiny[2].lower, s.bounds[2].lower) << trial;
    EXPECT_EQ(tiny[2].upper, s.bounds[2].upper) << trial;
    would_change += plain[2].upper != s.bounds[2].upper || plain[2].lower != s.bounds[2].lower;
    expect_encloses(s.net, s.box, tiny, rng);
  }
  EXPECT_GT(would_change, 0);
}
