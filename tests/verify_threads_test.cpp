// The search of verify_equivalence (verify/verify.hpp) on several threads:
// its random chunks and gradient blocks are tasks, recorded in a fixed
// order, so that the result (deviation, worst point, output, how it was
// found, points counted) is the same for any thread count, in double, in
// float32, and with the float32 gradients of the check; and it still finds a
// planted deviation.
#include <gtest/gtest.h>

#include <random>

#include "leo/network/evaluate_float.hpp"
#include "leo/util/threads.hpp"
#include "leo/verify/verify.hpp"
#include "support.hpp"

using namespace leo;

namespace {

Network as_float(Network net) {
  net.input.type = net.output.type = ElementType::float32;
  return net;
}

void expect_same(const VerifyResult& x, const VerifyResult& y) {
  EXPECT_EQ(x.max_abs_deviation, y.max_abs_deviation);
  EXPECT_EQ(x.worst_output, y.worst_output);
  EXPECT_EQ(x.found_by, y.found_by);
  EXPECT_EQ(x.points_evaluated, y.points_evaluated);
  ASSERT_EQ(x.worst_input.size(), y.worst_input.size());
  EXPECT_TRUE((x.worst_input.array() == y.worst_input.array()).all());
}

// B: A with one weight of its last hidden layer moved by `delta`.
Network perturbed(const Network& a, double delta) {
  Network b = a;
  b.layers[b.layers.size() - 2].weights(0, 0) += delta;
  return b;
}

TEST(VerifyThreads, TheSearchIsTheSameOnAnyNumberOfThreads) {
  std::mt19937_64 rng(21);
  for (int trial = 0; trial < 2; ++trial) {
    // 5 outputs x 2 x 8 starts = 80 gradient columns (one block); 13 outputs: 208 (3 blocks).
    const int outputs = trial % 2 ? 13 : 5;
    Network a = test::random_network({20, 40, 30, outputs}, rng);
    Network b = perturbed(a, 1e-3 * (trial + 1));
    const Box box(Eigen::VectorXd::Constant(20, -1.0), Eigen::VectorXd::Ones(20));
    const Eigen::MatrixXd probes = test::random_points(box.lower, box.upper, 3, rng);
    for (int mode = 0; mode < 3; ++mode) {
      VerifyOptions o;
      o.random_points = 10000;  // chunks of 4096 points: 3 chunks, in 1 or 2 waves
      o.gradient_steps = 20;
      o.seed = 7 + trial;
      if (mode > 0) o.arithmetic_a = o.arithmetic_b = ElementType::float32;
      o.gradients_in_arithmetic = mode == 2;
      SCOPED_TRACE(::testing::Message() << "trial " << trial << " mode " << mode);
      o.threads = 1;
      const VerifyResult one = verify_equivalence(as_float(a), as_float(b), box, probes, o);
      EXPECT_GT(one.max_abs_deviation, 0.0);
      EXPECT_EQ(one.points_evaluated, 3 + 1 + 256 + 10000 + 20 * 2 * 8 * outputs);
      for (int threads : {2, 3}) {
        o.threads = threads;
        expect_same(one, verify_equivalence(as_float(a), as_float(b), box, probes, o));
      }
    }
  }
}

// With OpenBLAS on two threads around the call, the one-thread search must
// still compute its products on one BLAS thread, as the tasks of a
// many-thread search do: a product split over BLAS's threads rounds
// otherwise (a row's sum depends on where the row falls in the kernel's
// tiles), and so would the points the gradient ascent reaches.
TEST(VerifyThreads, OneThreadIsTheSameWhateverOpenBlasIsSetTo) {
  std::mt19937_64 rng(8);
  Network a = test::random_network({300, 400, 300, 10}, rng);
  // B: A with the units of its last hidden layer in reverse order, the same
  // function: the differences are rounding noise, and so are the gradient
  // steps' signs, so any other rounding of a product leads elsewhere.
  Network b = a;
  auto& hidden = b.layers[b.layers.size() - 2];
  auto& out = b.layers.back();
  hidden.weights = hidden.weights.colwise().reverse().eval();
  hidden.bias = hidden.bias.reverse().eval();
  out.weights = out.weights.rowwise().reverse().eval();
  const Box box(Eigen::VectorXd::Zero(300), Eigen::VectorXd::Ones(300));
  VerifyOptions o;
  o.random_points = 600;
  o.gradient_steps = 8;
  o.threads = 2;
  const VerifyResult two = verify_equivalence(a, b, box, Eigen::MatrixXd(300, 0), o);
  const int blas = blas_threads();
  set_threads(2);
  o.threads = 1;
  const VerifyResult one = verify_equivalence(a, b, box, Eigen::MatrixXd(300, 0), o);
  set_threads(blas);
  EXPECT_GT(two.max_abs_deviation, 0.0);
  EXPECT_LT(two.max_abs_deviation, 1e-10);
  expect_same(one, two);
}

TEST(VerifyThreads, FindsAPlantedDeviationOnEveryThreadCount) {
  std::mt19937_64 rng(4);
  Network a = test::random_network({10, 30, 20, 3}, rng);
  const Box box(Eigen::VectorXd::Zero(10), Eigen::VectorXd::Ones(10));
  for (double delta : {1e-5, 1e-3}) {
    Network b = perturbed(a, delta);
    // The planted deviation is delta times unit 0 of the last hidden layer's
    // input feature 0, times that unit's outgoing weights: brute force on
    // 50,000 points gives (nearly) its maximum.
    const Eigen::MatrixXd X = test::random_points(box.lower, box.upper, 50000, rng);
    const double brute = (a.evaluate(X) - b.evaluate(X)).cwiseAbs().maxCoeff();
    ASSERT_GT(brute, 0.0);
    for (int threads : {1, 2}) {
      VerifyOptions o;
      o.threads = threads;
      o.tolerance = 0.1 * brute;
      const VerifyResult r = verify_equivalence(a, b, box, Eigen::MatrixXd(10, 0), o);
      EXPECT_FALSE(r.within_tolerance());
      // Gradient ascent reaches what brute force sees, within 1 %.
      EXPECT_GE(r.max_abs_deviation, 0.99 * brute) << "delta " << delta << " threads " << threads;
    }
  }
}

}  // namespace
