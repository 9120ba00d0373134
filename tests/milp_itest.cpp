// The exact stability formulations on many random networks (stability/exact.hpp):
// identical verdicts, never contradicted by sampling, valid witnesses.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <random>

#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/stability/exact.hpp"
#include "leo/util/progress.hpp"
#include "milp_checks.hpp"
#include "support.hpp"

namespace leo {
namespace {

TEST(ExactRandom, FiftyNetsBothFormulationsAgree) {
  // Widths up to 10 (not 15): CBC needs minutes on some 4x15 nets with
  // interval-tight boxes of this size; each formulation also gets 60 s.
  std::uniform_int_distribution<int> inputs(4, 10), depth(2, 4), width(5, 10);
  std::uniform_real_distribution<double> radius(0.1, 1.0);
  int timeouts = 0;
  int stable = 0, unstable = 0, undecided = 0;
  const char* only = std::getenv("LEO_MILP_TRIAL");
  const char* progress = std::getenv("LEO_MILP_PROGRESS");
  if (progress) Progress::global().set_enabled(true);
  for (int trial = 0; trial < 50; ++trial) {
    if (only && std::atoi(only) != trial) continue;
    std::mt19937_64 rng(20260101 + trial);
    std::vector<int> sizes{inputs(rng)};
    int d = depth(rng);
    for (int k = 0; k < d; ++k) sizes.push_back(width(rng));
    sizes.push_back(3);
    Network net = test::random_network(sizes, rng, 0.5);
    Eigen::VectorXd c = test::random_points(Eigen::VectorXd::Constant(sizes[0], -1),
                                            Eigen::VectorXd::Constant(sizes[0], 1), 1, rng);
    double r = radius(rng);
    Box box(c.array() - r, c.array() + r);
    // Big-M from sound CROWN bounds, as in the cascade.
    NetworkBounds bounds = interval_bounds(net, box);
    crown_bounds(net, box, bounds);
    // As in the cascade, a few samples come first (one-sided evidence included).
    Analysis a = test::fresh(net);
    Eigen::MatrixXd S = test::random_points(box.lower, box.upper, 20, rng);
    auto pre = net.pre_activations(S);
    for (Eigen::Index k = 0; k < S.cols(); ++k) {
      Witness w;
      w.input = S.col(k);
      for (std::size_t l = 0; l < a.layers.size(); ++l)
        for (std::size_t i = 0; i < a.layers[l].size(); ++i) {
          UnitVerdict& v = a.layers[l][i];
          double g = pre[l](static_cast<Eigen::Index>(i), k);
          if (g > 0 && !v.seen_positive) v.seen_positive = true, w.units.push_back({int(l), int(i), true});
          if (g < 0 && !v.seen_negative) v.seen_negative = true, w.units.push_back({int(l), int(i), false});
          if (v.seen_positive && v.seen_negative) v.status = Status::unstable, v.stage = Stage::samples;
        }
      if (!w.units.empty()) a.witnesses.push_back(w);
    }
    Analysis b = a;
    Stopwatch watch;
    ExactOptions options;
    options.deadline = Deadline(60);
    exact_per_unit(net, box, bounds, a, options);
    double per_unit_seconds = watch.seconds();
    options.deadline = Deadline(60);
    exact_network(net, box, bounds, b, options);
    timeouts += a.timed_out || b.timed_out;
    std::fprintf(stderr, "trial %d: %d layers, per-unit %.2fs, network %.2fs\n", trial, d, per_unit_seconds,
                 watch.seconds() - per_unit_seconds);
    for (std::size_t l = 0; l < a.layers.size(); ++l)
      for (std::size_t i = 0; i < a.layers[l].size(); ++i) {
        Status s = a.layers[l][i].status, t = b.layers[l][i].status;
        // Identical where both decided (a time-out leaves units undecided, never wrong).
        if (s != Status::undecided && t != Status::undecided) {
          EXPECT_EQ(s, t) << "trial " << trial << " layer " << l << " unit " << i;
        } else if (!a.timed_out && !b.timed_out) {
          EXPECT_EQ(s, t) << "trial " << trial << " layer " << l << " unit " << i;
        }
        stable += s == Status::active || s == Status::inactive;
        unstable += s == Status::unstable;
        undecided += s == Status::undecided;
      }
    Eigen::MatrixXd X = test::random_points(box.lower, box.upper, 100000, rng);
    test::expect_not_contradicted(net, a, X);
    test::expect_not_contradicted(net, b, X);
    test::expect_witnesses_valid(net, box, a);
    test::expect_witnesses_valid(net, box, b);
  }
  // Both kinds occur (the test is not vacuous); undecided (an extreme within
  // the margin of 0) is rare.
  if (!only) {
    EXPECT_GT(stable, 50);
    EXPECT_GT(unstable, 50);
  }
  EXPECT_LE(timeouts, 5);
  EXPECT_LE(undecided, 3 + 100 * timeouts);
  RecordProperty("stable", stable);
  RecordProperty("unstable", unstable);
  RecordProperty("timeouts", timeouts);
}

}  // namespace
}  // namespace leo
