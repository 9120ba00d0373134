// Equivalence checking (verify/verify.hpp): the search finds differences
// where they are, the gradient ascent climbs to interior maxima, the MILP
// finds what sampling cannot and proves equivalence of equal functions.
#include <gtest/gtest.h>

#include "leo/compress/compress.hpp"
#include "leo/util/error.hpp"
#include "leo/verify/verify.hpp"
#include "support.hpp"

using namespace leo;

namespace {

// relu(height - slope * ||x - c||_1): a bump of the given height at c, zero
// farther than height/slope (in L1) from c. Hidden layer 0 computes
// |x_i - c_i| as relu(x_i - c_i) + relu(c_i - x_i).
Network bump(const Eigen::VectorXd& c, double height, double slope, double out_scale = 1.0) {
  const Eigen::Index n = c.size();
  AffineLayer l0{Eigen::MatrixXd::Zero(2 * n, n), Eigen::VectorXd::Zero(2 * n)};
  for (Eigen::Index i = 0; i < n; ++i) {
    l0.weights(2 * i, i) = 1, l0.bias[2 * i] = -c[i];
    l0.weights(2 * i + 1, i) = -1, l0.bias[2 * i + 1] = c[i];
  }
  AffineLayer l1{Eigen::MatrixXd::Constant(1, 2 * n, -slope), Eigen::VectorXd::Constant(1, height)};
  AffineLayer l2{Eigen::MatrixXd::Constant(1, 1, out_scale), Eigen::VectorXd::Zero(1)};
  return Network({l0, l1, l2});
}

Network zero_network(Eigen::Index inputs) {
  return Network({AffineLayer{Eigen::MatrixXd::Zero(1, inputs), Eigen::VectorXd::Zero(1)}});
}

}  // namespace

TEST(Verify, InputGradientsMatchFiniteDifferences) {
  std::mt19937_64 rng(1);
  Network net = test::random_network({4, 7, 6, 3}, rng);
  Eigen::MatrixXd X = test::random_points(Eigen::VectorXd::Constant(4, -1), Eigen::VectorXd::Constant(4, 1), 5, rng);
  Eigen::MatrixXd C = Eigen::MatrixXd::Random(3, 5);
  Eigen::MatrixXd G = input_gradients(net, X, C);
  const double h = 1e-7;
  for (int j = 0; j < 5; ++j)
    for (int i = 0; i < 4; ++i) {
      Eigen::VectorXd xp = X.col(j), xm = X.col(j);
      xp[i] += h, xm[i] -= h;
      double fd = C.col(j).dot(net.evaluate(xp) - net.evaluate(xm)) / (2 * h);
      EXPECT_NEAR(G(i, j), fd, 1e-5);
    }
}

TEST(Verify, SameNetworkIsEquivalentAndProvenSo) {
  std::mt19937_64 rng(2);
  Network net = test::random_network({3, 8, 8, 2}, rng);
  Box box = Box::uniform(3, -1, 1);
  VerifyOptions options;
  options.exact = true;
  VerifyResult r = verify_equivalence(net, net, box, Eigen::MatrixXd(3, 0), options);
  EXPECT_EQ(r.max_abs_deviation, 0.0);
  EXPECT_TRUE(r.within_tolerance());
  ASSERT_TRUE(r.exact);
  EXPECT_TRUE(r.proven_equivalent());
  EXPECT_EQ(r.outputs.size(), 2u);
}

TEST(Verify, GradientSearchClimbsToAnInteriorMaximum) {
  // |f_A - f_B| = 1 - ||x - c||_1 / 12 on [0,1]^12, largest (1) at the interior point c.
  Eigen::VectorXd c = Eigen::VectorXd::Constant(12, 0.3);
  Network a = bump(c, 1.0, 1.0 / 12);
  Box box = Box::uniform(12, 0, 1);
  VerifyOptions options;
  options.random_points = 2000;
  VerifyResult r = verify_equivalence(a, zero_network(12), box, Eigen::MatrixXd(12, 0), options);
  EXPECT_GT(r.max_abs_deviation, 0.99);
  EXPECT_EQ(r.found_by, "gradient");
  EXPECT_LT((r.worst_input - c).cwiseAbs().sum(), 0.12);
  EXPECT_FALSE(r.within_tolerance());
}

TEST(Verify, MilpFindsWhatSamplingMisses) {
  // A narrow bump (L1 radius 0.05 in 12 dimensions): no sample lands in it and
  // the gradient is zero around it; the MILP finds its top.
  Eigen::VectorXd c = Eigen::VectorXd::Constant(12, 0.4);
  Network a = bump(c, 1.0, 20.0);
  Box box = Box::uniform(12, 0, 1);
  VerifyOptions options;
  options.random_points = 2000;
  VerifyResult sampled = verify_equivalence(a, zero_network(12), box, Eigen::MatrixXd(12, 0), options);
  EXPECT_EQ(sampled.max_abs_deviation, 0.0);
  options.exact = true;
  VerifyResult r = verify_equivalence(a, zero_network(12), box, Eigen::MatrixXd(12, 0), options);
  EXPECT_GT(r.max_abs_deviation, options.tolerance);
  EXPECT_EQ(r.found_by, "milp");
  EXPECT_FALSE(r.within_tolerance());
  EXPECT_FALSE(r.proven_equivalent());
  // The point reported really shows the deviation.
  EXPECT_NEAR(std::abs(a.evaluate(r.worst_input)[0]), r.max_abs_deviation, 1e-12);
}

TEST(Verify, ProvesSmallPerturbationsWithinTolerance) {
  std::mt19937_64 rng(3);
  Network a = test::random_network({2, 5, 5, 2}, rng);
  Network b = a;
  for (auto& layer : b.layers) layer.weights.array() += 1e-8;
  Box box = Box::uniform(2, -1, 1);
  VerifyOptions options;
  options.exact = true;
  options.tolerance = 1e-4;
  VerifyResult r = verify_equivalence(a, b, box, Eigen::MatrixXd(2, 0), options);
  EXPECT_GT(r.max_abs_deviation, 0.0);
  EXPECT_LT(r.max_abs_deviation, 1e-6);
  EXPECT_TRUE(r.proven_equivalent());
  for (const auto& o : r.outputs) EXPECT_TRUE(o.complete);
}

TEST(Verify, ExactClaimsKeepTheirMargin) {
  // f_A - f_B = -delta everywhere. Within the tolerance T but closer to it
  // than the margin m: CBC's "no difference above T" is not trusted, the bound
  // reported is delta + m > T. Farther than m below T: proven.
  std::mt19937_64 rng(4);
  Network a = test::random_network({2, 6, 6, 1}, rng);
  Box box = Box::uniform(2, -1, 1);
  VerifyOptions options;
  options.exact = true;
  options.tolerance = 1e-4;
  options.margin = 1e-5;
  options.margin_relative = 0;
  for (double delta : {9.5e-5, 7e-5}) {
    Network b = a;
    b.layers.back().bias[0] += delta;
    VerifyResult r = verify_equivalence(a, b, box, Eigen::MatrixXd(2, 0), options);
    EXPECT_NEAR(r.max_abs_deviation, delta, 1e-12);
    EXPECT_TRUE(r.within_tolerance());
    ASSERT_EQ(r.outputs.size(), 1u);
    EXPECT_TRUE(r.outputs[0].complete);
    EXPECT_NEAR(r.proven_bound, std::max(delta, options.tolerance - options.margin) + options.margin, 1e-9) << delta;
    EXPECT_EQ(r.proven_equivalent(), delta < options.tolerance - options.margin) << delta;
  }
}

TEST(Verify, RefusesMismatchedNetworks) {
  std::mt19937_64 rng(4);
  Network a = test::random_network({3, 4, 2}, rng), b = test::random_network({3, 4, 3}, rng),
          c = test::random_network({2, 4, 2}, rng);
  Box box = Box::uniform(3, 0, 1);
  EXPECT_THROW(verify_equivalence(a, b, box, Eigen::MatrixXd(3, 0)), InputError);
  EXPECT_THROW(verify_equivalence(a, c, box, Eigen::MatrixXd(3, 0)), InputError);
}

TEST(Verify, CompressedRandomNetworksAreProvenEquivalent) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  for (int trial = 0; trial < 10; ++trial) {
    Network net = test::random_network({3, 6, 6, 2}, rng, 1.0);
    Eigen::VectorXd c(3), r(3);
    for (int i = 0; i < 3; ++i) c[i] = normal(rng), r[i] = 0.1 + std::abs(normal(rng)) * 0.3;
    Box box(c - r, c + r);
    // Interval verdicts with a margin.
    std::vector<std::vector<Status>> st;
    Eigen::VectorXd lo = box.lower, hi = box.upper;
    for (std::size_t l = 0; l + 1 < net.depth(); ++l) {
      const auto& W = net.layers[l].weights;
      Eigen::VectorXd glo = W.cwiseMax(0.0) * lo + W.cwiseMin(0.0) * hi + net.layers[l].bias;
      Eigen::VectorXd ghi = W.cwiseMax(0.0) * hi + W.cwiseMin(0.0) * lo + net.layers[l].bias;
      st.emplace_back();
      for (Eigen::Index i = 0; i < glo.size(); ++i)
        st.back().push_back(glo[i] > 1e-9 ? Status::active : ghi[i] < -1e-9 ? Status::inactive : Status::unstable);
      lo = glo.cwiseMax(0.0), hi = ghi.cwiseMax(0.0);
    }
    CompressResult out = compress(Compressible(net, st), box);
    VerifyOptions options;
    options.exact = true;
    options.random_points = 1000;
    VerifyResult v = verify_equivalence(net, out.network(), box, Eigen::MatrixXd(3, 0), options);
    EXPECT_TRUE(v.proven_equivalent()) << "trial " << trial << " bound " << v.proven_bound;
  }
}
