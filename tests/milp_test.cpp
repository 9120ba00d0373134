// The MILP encoding and the two exact stability formulations (milp/).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "leo/milp/cbc.hpp"
#include "leo/stability/exact.hpp"
#include "leo/milp/relu_milp.hpp"
#include "milp_checks.hpp"
#include "support.hpp"

namespace leo {
namespace {
using test::expect_not_contradicted;
using test::expect_witnesses_valid;
using test::fresh;
using test::simple_bounds;

TEST(MilpModel, AddRowMergesDuplicatesAndDropsZeros) {
  MilpModel m;
  int a = m.add_column(0, 1), b = m.add_column(0, 1, 0, true);
  m.add_row({a, b, a}, {1.0, 0.0, 2.0}, -1, 1);
  ASSERT_EQ(m.rows(), 1);
  ASSERT_EQ(m.row_columns.size(), 1u);
  EXPECT_EQ(m.row_columns[0], a);
  EXPECT_EQ(m.row_values[0], 3.0);
  EXPECT_EQ(m.integers(), 1);
}

TEST(MilpSolver, SmallKnapsackOptimumAndIncumbents) {
  // max 5a + 4b + 3c  s.t. 2a + 3b + c <= 5, 4a + b + 2c <= 11, 3a + 4b + 2c <= 8, binaries:
  // a + b = 9, a + c = 8, b + c = 7, a + b + c violates the first row.
  MilpModel m;
  int a = m.add_column(0, 1, -5, true), b = m.add_column(0, 1, -4, true), c = m.add_column(0, 1, -3, true);
  m.add_row({a, b, c}, {2, 3, 1}, -MilpModel::infinity, 5);
  m.add_row({a, b, c}, {4, 1, 2}, -MilpModel::infinity, 11);
  m.add_row({a, b, c}, {3, 4, 2}, -MilpModel::infinity, 8);
  MilpSolver solver(m);
  int seen = 0;
  MilpResult r = solver.minimize({}, [&](const std::vector<double>& s) {
    EXPECT_EQ(s.size(), 3u);
    ++seen;
    return false;
  });
  EXPECT_EQ(r.status, MilpResult::Status::optimal);
  EXPECT_NEAR(r.objective, -9, 1e-9);
  EXPECT_NEAR(r.solution[a] + r.solution[b], 2.0, 1e-9);
  EXPECT_GE(seen, 1);
  // With a cutoff that nothing reaches: infeasible.
  MilpSettings s;
  s.cutoff = -9.5;
  EXPECT_EQ(solver.minimize(s).status, MilpResult::Status::infeasible);
}

TEST(ReluMilp, EncodingMaximumMatchesNetwork) {
  // One input in [-1, 2], hidden unit relu(x), output -relu(x) + 0.5 x: the max
  // over the MILP of the output is attained at an endpoint.
  std::vector<AffineLayer> layers(2);
  layers[0].weights = Eigen::MatrixXd::Constant(1, 1, 1.0);
  layers[0].bias = Eigen::VectorXd::Zero(1);
  layers[1].weights = Eigen::MatrixXd::Constant(1, 1, -1.0);
  layers[1].bias = Eigen::VectorXd::Zero(1);
  Network net(layers);
  Box box(Eigen::VectorXd::Constant(1, -1.0), Eigen::VectorXd::Constant(1, 2.0));
  auto bounds = simple_bounds(net, box);
  MilpModel m;
  auto in = add_input_columns(m, box);
  auto enc = encode_relu_network(m, net, bounds, in, net.depth());
  ASSERT_EQ(enc.size(), 2u);
  EXPECT_GE(enc[0].z[0], 0);
  EXPECT_EQ(enc[1].z[0], -1);
  std::vector<double> obj(static_cast<std::size_t>(m.columns()), 0.0);
  // minimise f + 0.5 x  (f = -relu(x)): at x = 2: -2 + 1 = -1; at x = -1: -0.5
  obj[enc[1].g[0]] = 1.0;
  obj[in[0]] = 0.5;
  MilpSolver solver(m);
  solver.set_objective(obj);
  MilpResult r = solver.minimize({});
  ASSERT_EQ(r.status, MilpResult::Status::optimal);
  EXPECT_NEAR(r.objective, -1.0, 1e-7);
  EXPECT_NEAR(r.solution[in[0]], 2.0, 1e-7);
  // maximise: at x = -1: 0 - 0.5 = -0.5; at x = 0: 0
  for (double& v : obj) v = -v;
  solver.set_objective(obj);
  r = solver.minimize({});
  ASSERT_EQ(r.status, MilpResult::Status::optimal);
  EXPECT_NEAR(-r.objective, 0.0, 1e-7);
}

TEST(ReluMilp, TwoNetworksOverSharedInputs) {
  std::mt19937_64 rng(7);
  Network a = test::random_network({3, 6, 2}, rng), b = a;
  b.layers[1].bias[0] += 0.25;  // f_B,0 = f_A,0 + 0.25 everywhere
  Box box = Box::uniform(3, -1, 1);
  MilpModel m;
  auto in = add_input_columns(m, box);
  auto ea = encode_relu_network(m, a, simple_bounds(a, box), in, a.depth());
  auto eb = encode_relu_network(m, b, simple_bounds(b, box), in, b.depth());
  std::vector<double> obj(static_cast<std::size_t>(m.columns()), 0.0);
  obj[eb.back().g[0]] = -1.0;  // max f_B,0 - f_A,0
  obj[ea.back().g[0]] = 1.0;
  MilpSolver solver(m);
  solver.set_objective(obj);
  MilpResult r = solver.minimize({});
  ASSERT_EQ(r.status, MilpResult::Status::optimal);
  EXPECT_NEAR(-r.objective, 0.25, 1e-6);
}

TEST(Exact, PlantedInactiveAndActive) {
  std::mt19937_64 rng(3);
  Network net = test::random_network({4, 8, 6, 2}, rng);
  net.layers[0].bias[1] = -10;  // inactive
  net.layers[0].bias[2] = +10;  // active
  net.layers[1].bias[3] = -10;
  net.layers[1].bias[4] = +10;
  Box box = Box::uniform(4, -1, 1);
  auto bounds = simple_bounds(net, box);
  for (int method = 0; method < 2; ++method) {
    Analysis a = fresh(net);
    ExactOptions o;
    if (method == 0)
      exact_per_unit(net, box, bounds, a, o);
    else
      exact_network(net, box, bounds, a, o);
    EXPECT_EQ(a.layers[0][1].status, Status::inactive);
    EXPECT_EQ(a.layers[0][2].status, Status::active);
    EXPECT_EQ(a.layers[1][3].status, Status::inactive);
    EXPECT_EQ(a.layers[1][4].status, Status::active);
    EXPECT_FALSE(a.timed_out);
  }
}

// Units whose sign only a MILP settles: interval bounds straddle 0 but the
// unit is stable (a cancelling pair of paths).
TEST(Exact, StableOnlyByMilp) {
  std::vector<AffineLayer> layers(3);
  layers[0].weights.resize(2, 1);
  layers[0].weights << 1, -1;
  layers[0].bias = Eigen::VectorXd::Zero(2);  // relu(x), relu(-x)
  layers[1].weights.resize(2, 2);
  layers[1].weights << 1, 1, -1, -1;  // |x| - 0.1 (unstable), -|x| - 0.1 (inactive; IBP says [-2.1, -0.1] -> stable)
  layers[1].bias.resize(2);
  layers[1].bias << -0.1, -0.1;
  layers[2].weights = Eigen::MatrixXd::Ones(1, 2);
  layers[2].bias = Eigen::VectorXd::Zero(1);
  Network net(layers);
  Box box(Eigen::VectorXd::Constant(1, -1.0), Eigen::VectorXd::Constant(1, 1.0));
  auto bounds = simple_bounds(net, box);
  // Make IBP useless on layer 1 so that the MILP must decide: loosen its bounds.
  bounds[1].lower = Eigen::VectorXd::Constant(2, -3.0);
  bounds[1].upper = Eigen::VectorXd::Constant(2, 3.0);
  for (int method = 0; method < 2; ++method) {
    Analysis a = fresh(net);
    if (method == 0)
      exact_per_unit(net, box, bounds, a, {});
    else
      exact_network(net, box, bounds, a, {});
    EXPECT_EQ(a.layers[0][0].status, Status::unstable);
    EXPECT_EQ(a.layers[0][1].status, Status::unstable);
    EXPECT_EQ(a.layers[1][0].status, Status::unstable);
    EXPECT_EQ(a.layers[1][1].status, Status::inactive);
    expect_witnesses_valid(net, box, a);
  }
}

// A unit whose maximum is exactly 0 (g = -|x| on [-1, 1]) is never called
// active or unstable, and not inactive without the margin: undecided.
TEST(Exact, MaximumExactlyZeroStaysUndecided) {
  std::vector<AffineLayer> layers(3);
  layers[0].weights.resize(2, 1);
  layers[0].weights << 1, -1;
  layers[0].bias = Eigen::VectorXd::Zero(2);
  layers[1].weights.resize(1, 2);
  layers[1].weights << -1, -1;
  layers[1].bias = Eigen::VectorXd::Zero(1);
  layers[2].weights = Eigen::MatrixXd::Ones(1, 1);
  layers[2].bias = Eigen::VectorXd::Zero(1);
  Network net(layers);
  Box box(Eigen::VectorXd::Constant(1, -1.0), Eigen::VectorXd::Constant(1, 1.0));
  auto bounds = simple_bounds(net, box);
  bounds[1].upper[0] = 1.0;  // not stable by bounds
  for (int method = 0; method < 2; ++method) {
    Analysis a = fresh(net);
    if (method == 0)
      exact_per_unit(net, box, bounds, a, {});
    else
      exact_network(net, box, bounds, a, {});
    EXPECT_EQ(a.layers[1][0].status, Status::undecided);
    EXPECT_TRUE(a.layers[1][0].seen_negative);
    EXPECT_FALSE(a.layers[1][0].seen_positive);
  }
}

// 1 and 2 inputs: verdicts against a dense grid.
TEST(Exact, AgreesWithDenseGrid) {
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < test::repetitions(6, 3); ++trial) {
    int n = trial % 2 + 1;
    Network net = test::random_network({n, 8, 8, 6, 1}, rng, 0.5);
    Box box = Box::uniform(n, -1, 1);
    Eigen::MatrixXd X;
    if (n == 1) {
      X.resize(1, 20001);
      for (int k = 0; k <= 20000; ++k) X(0, k) = -1.0 + 2.0 * k / 20000;
    } else {
      const int m = 301;
      X.resize(2, m * m);
      for (int a = 0; a < m; ++a)
        for (int b = 0; b < m; ++b) X(0, a * m + b) = -1.0 + 2.0 * a / (m - 1), X(1, a * m + b) = -1.0 + 2.0 * b / (m - 1);
    }
    auto pre = net.pre_activations(X);
    auto bounds = simple_bounds(net, box);
    for (int method = 0; method < 2; ++method) {
      Analysis a = fresh(net);
      if (method == 0)
        exact_per_unit(net, box, bounds, a, {});
      else
        exact_network(net, box, bounds, a, {});
      expect_not_contradicted(net, a, X);
      expect_witnesses_valid(net, box, a);
      for (std::size_t l = 0; l < a.layers.size(); ++l)
        for (std::size_t i = 0; i < a.layers[l].size(); ++i) {
          double mx = pre[l].row(static_cast<Eigen::Index>(i)).maxCoeff();
          double mn = pre[l].row(static_cast<Eigen::Index>(i)).minCoeff();
          if (mx > 1e-6 && mn < -1e-6) {
            EXPECT_EQ(a.layers[l][i].status, Status::unstable) << "trial " << trial << " layer " << l << " unit " << i;
          }
          if (a.layers[l][i].status == Status::undecided) {
            EXPECT_TRUE(std::abs(mx) < 1e-3 || std::abs(mn) < 1e-3) << "trial " << trial << " layer " << l;
          }
        }
    }
  }
}

// Random small nets: both formulations agree, are not contradicted by random
// samples, and their witnesses hold.
TEST(Exact, FormulationsAgreeOnRandomNets) {
  std::mt19937_64 rng(2024);
  std::uniform_int_distribution<int> inputs(4, 10), depth(2, 3), width(5, 10);
  for (int trial = 0; trial < test::repetitions(8, 4); ++trial) {
    std::vector<int> sizes{inputs(rng)};
    int d = depth(rng);
    for (int k = 0; k < d; ++k) sizes.push_back(width(rng));
    sizes.push_back(2);
    Network net = test::random_network(sizes, rng, 0.5);
    Eigen::VectorXd c = test::random_points(Eigen::VectorXd::Constant(sizes[0], -1), Eigen::VectorXd::Constant(sizes[0], 1), 1, rng);
    Box box(c.array() - 0.5, c.array() + 0.5);
    auto bounds = simple_bounds(net, box);
    Analysis a = fresh(net), b = fresh(net);
    exact_per_unit(net, box, bounds, a, {});
    exact_network(net, box, bounds, b, {});
    for (std::size_t l = 0; l < a.layers.size(); ++l)
      for (std::size_t i = 0; i < a.layers[l].size(); ++i)
        EXPECT_EQ(a.layers[l][i].status, b.layers[l][i].status) << "trial " << trial << " layer " << l << " unit " << i;
    Eigen::MatrixXd X = test::random_points(box.lower, box.upper, 20000, rng);
    expect_not_contradicted(net, a, X);
    expect_not_contradicted(net, b, X);
    expect_witnesses_valid(net, box, a);
    expect_witnesses_valid(net, box, b);
  }
}

TEST(Exact, UsesOneSidedEvidenceAndKeepsDecidedUnits) {
  std::mt19937_64 rng(5);
  Network net = test::random_network({3, 6, 5, 1}, rng, 0.5);
  Box box = Box::uniform(3, -1, 1);
  auto bounds = simple_bounds(net, box);
  Analysis ref = fresh(net);
  exact_per_unit(net, box, bounds, ref, {});
  // Start from the reference verdicts of layer 0 and fresh layer 1.
  Analysis a = fresh(net);
  a.layers[0] = ref.layers[0];
  exact_network(net, box, bounds, a, {});
  for (std::size_t i = 0; i < a.layers[1].size(); ++i) EXPECT_EQ(a.layers[1][i].status, ref.layers[1][i].status);
  for (std::size_t i = 0; i < a.layers[0].size(); ++i) EXPECT_EQ(a.layers[0][i].stage, ref.layers[0][i].stage);
}

TEST(Exact, TimeLimitLeavesUnitsUndecidedNeverWrong) {
  std::mt19937_64 rng(9);
  Network net = test::random_network({8, 30, 30, 30, 1}, rng, 0.3);
  Box box = Box::uniform(8, -1, 1);
  auto bounds = simple_bounds(net, box);
  Eigen::MatrixXd X = test::random_points(box.lower, box.upper, 20000, rng);
  for (double seconds : {1e-9, 0.05}) {
    for (int method = 0; method < 2; ++method) {
      Analysis a = fresh(net);
      ExactOptions o;
      o.deadline = Deadline(seconds);
      if (method == 0)
        exact_per_unit(net, box, bounds, a, o);
      else
        exact_network(net, box, bounds, a, o);
      int undecided = 0;
      for (std::size_t l = 0; l < a.layers.size(); ++l) undecided += a.count(l, Status::undecided);
      if (seconds < 1e-6) {
        EXPECT_GT(undecided, 0);
        EXPECT_TRUE(a.timed_out);
      }
      expect_not_contradicted(net, a, X);
      expect_witnesses_valid(net, box, a);
    }
  }
}

TEST(Exact, ThreadsGiveTheSameVerdicts) {
  std::mt19937_64 rng(77);
  Network net = test::random_network({5, 10, 10, 1}, rng, 0.3);
  Box box = Box::uniform(5, -1, 1);
  auto bounds = simple_bounds(net, box);
  Analysis one = fresh(net), two = fresh(net);
  ExactOptions o;
  exact_network(net, box, bounds, one, o);
  o.threads = 2;
  exact_network(net, box, bounds, two, o);
  for (std::size_t l = 0; l < one.layers.size(); ++l)
    for (std::size_t i = 0; i < one.layers[l].size(); ++i) EXPECT_EQ(one.layers[l][i].status, two.layers[l][i].status);
  expect_witnesses_valid(net, box, two);
}

}  // namespace
}  // namespace leo
