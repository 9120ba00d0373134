// Equivalence checking (verify/verify.hpp): the search finds differences
// where they are, the gradient ascent climbs to interior maxima, the MILP
// finds what sampling cannot and proves equivalence of equal functions.
#include <gtest/gtest.h>

#include <filesystem>

#include "leo/compress/compress.hpp"
#include "leo/compress/stored.hpp"
#include "leo/io/model_file.hpp"
#include "leo/domain/vnnlib.hpp"
#include "leo/stability/cascade.hpp"
#include "leo/verify/joint.hpp"
#include "leo/util/progress.hpp"
#include "leo/util/error.hpp"
#include "leo/verify/verify.hpp"
#include "support.hpp"

using namespace leo;
namespace fs = std::filesystem;

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
  EXPECT_TRUE(r.found_by == "milp" || r.found_by == "split") << r.found_by;
  EXPECT_FALSE(r.within_tolerance());
  EXPECT_FALSE(r.proven_equivalent());
  // The point reported really shows the deviation.
  EXPECT_NEAR(std::abs(a.evaluate(r.worst_input)[0]), r.max_abs_deviation, 1e-12);
}

TEST(Verify, ProvesSmallPerturbationsWithinTolerance) {
  if (std::getenv("LEO_DEBUG")) Progress::global().set_enabled(true);
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

TEST(Verify, ExactBoundsAreProvenNotWidenedGuesses) {
  // f_A - f_B = -delta everywhere. Below the tolerance (even by 5%), the bound
  // proven is delta itself (to rounding): the search proves it, no margin is
  // needed. Above it: not proven, and the point found shows it.
  std::mt19937_64 rng(4);
  Network a = test::random_network({2, 6, 6, 1}, rng);
  Box box = Box::uniform(2, -1, 1);
  VerifyOptions options;
  options.exact = true;
  options.tolerance = 1e-4;
  for (double delta : {9.5e-5, 7e-5}) {
    Network b = a;
    b.layers.back().bias[0] += delta;
    VerifyResult r = verify_equivalence(a, b, box, Eigen::MatrixXd(2, 0), options);
    EXPECT_NEAR(r.max_abs_deviation, delta, 1e-12);
    ASSERT_EQ(r.outputs.size(), 1u);
    EXPECT_TRUE(r.outputs[0].complete);
    // The real difference is the rounded bias change (exact: Sterbenz); the
    // deviation found is that difference evaluated in double (to 1e-15).
    const double exact = b.layers.back().bias[0] - a.layers.back().bias[0];
    EXPECT_GE(r.proven_bound, exact);
    EXPECT_LE(r.proven_bound, exact + 1e-12) << delta;
    EXPECT_NEAR(r.max_abs_deviation, exact, 1e-15);
    EXPECT_TRUE(r.proven_equivalent()) << delta;
  }
}

TEST(Verify, IllConditionedPairIsProvenOrLeftUnproven) {
  // Weights spanning 1e-11 to 1 (as l1 training leaves them, tests/fixtures/milp),
  // B = A compressed (stored in float32) proves within the tolerance; C, which
  // differs by up to 3e-4 on a small region, is never proven, and the exact
  // stage names a real point there.
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> exponent(-11, 0);
  Network a = test::random_network({6, 16, 16, 3}, rng, 0.3);
  for (auto& layer : a.layers)
    for (Eigen::Index i = 0; i < layer.weights.size(); ++i) layer.weights.data()[i] *= std::pow(10.0, exponent(rng));
  for (auto& layer : a.layers) {
    layer.weights = layer.weights.cast<float>().cast<double>();
    layer.bias = layer.bias.cast<float>().cast<double>();
  }
  Box box = Box::uniform(6, 0, 1);
  Analysis analysis;
  {
    Domain d;
    d.box = box;
    d.probes = Eigen::MatrixXd(6, 0);
    AnalyzeOptions ao;
    ao.time_limit = 20;
    analysis = analyze(a, d, ao);
  }
  CompressResult small = compress(a, analysis, box);
  Network b = small.network();
  for (auto& layer : b.layers) {
    layer.weights = layer.weights.cast<float>().cast<double>();
    layer.bias = layer.bias.cast<float>().cast<double>();
  }
  VerifyOptions options;
  options.exact = true;
  options.random_points = 2000;
  options.deadline = Deadline(60);
  VerifyResult r = verify_equivalence(a, b, box, Eigen::MatrixXd(6, 0), options);
  EXPECT_TRUE(r.proven_equivalent()) << r.proven_bound;
  for (const auto& o : r.outputs) {
    EXPECT_TRUE(o.complete);
    EXPECT_GE(o.proven, o.found);
  }
  // C = A plus a narrow bump 3e-4 * relu(1 - 40 (|x_0 - 0.37| + |x_1 - 0.61|))
  // on output 0 (four more units in hidden layer 0, one in hidden layer 1):
  // above the tolerance only on 6e-4 of the box, where no gradient leads.
  Network extra = a;
  {
    auto& l0 = extra.layers[0];
    const Eigen::Index w0 = l0.outputs();
    l0.weights.conservativeResize(w0 + 4, Eigen::NoChange);
    l0.bias.conservativeResize(w0 + 4);
    l0.weights.bottomRows(4).setZero();
    const double c[2] = {0.37, 0.61};
    for (int i = 0; i < 2; ++i) {
      l0.weights(w0 + 2 * i, i) = 1, l0.bias[w0 + 2 * i] = -c[i];
      l0.weights(w0 + 2 * i + 1, i) = -1, l0.bias[w0 + 2 * i + 1] = c[i];
    }
    auto& l1 = extra.layers[1];
    const Eigen::Index w1 = l1.outputs();
    l1.weights.conservativeResize(w1 + 1, w0 + 4);
    l1.weights.rightCols(4).setZero();
    l1.weights.row(w1).setZero();
    l1.weights.row(w1).tail(4).setConstant(-40);
    l1.bias.conservativeResize(w1 + 1);
    l1.bias[w1] = 1;
    auto& l2 = extra.layers[2];
    l2.weights.conservativeResize(Eigen::NoChange, w1 + 1);
    l2.weights.col(w1).setZero();
    l2.weights(0, w1) = 3e-4;
  }
  options.random_points = 200;
  VerifyResult bad = verify_equivalence(a, extra, box, Eigen::MatrixXd(6, 0), options);
  EXPECT_FALSE(bad.proven_equivalent());
  EXPECT_GT(bad.max_abs_deviation, options.tolerance);
  EXPECT_TRUE(bad.found_by == "split" || bad.found_by == "milp") << bad.found_by;
  EXPECT_NEAR(std::abs(a.evaluate(bad.worst_input)[bad.worst_output] - extra.evaluate(bad.worst_input)[bad.worst_output]),
              bad.max_abs_deviation, 1e-12);
}

TEST(Verify, ExactProvesTheExampleModelAndItsCompression) {
  // The README's pair: before, CBC proved nothing in 60 s (issue 14); the
  // difference network of the two, with the verdicts of both, proves it.
  Network a = read_model(fs::path(LEO_SOURCE_DIR) / "examples" / "mnist_l1_50x2.onnx");
  Box box = Box::uniform(a.inputs(), 0, 1);
  Domain d;
  d.box = box;
  d.probes = Eigen::MatrixXd(a.inputs(), 0);
  AnalyzeOptions ao;
  ao.time_limit = 30;
  Analysis analysis = analyze(a, d, ao);
  Network b = stored_network(compress(a, analysis, box).network(), ElementType::float32);
  ASSERT_LT(b.hidden_units(), a.hidden_units());
  VerifyOptions options;
  options.exact = true;
  options.random_points = 1000;
  options.deadline = Deadline(60);
  Stopwatch watch;
  VerifyResult r = verify_equivalence(a, b, box, Eigen::MatrixXd(a.inputs(), 0), options);
  EXPECT_TRUE(r.proven_equivalent()) << r.proven_bound;
  EXPECT_LT(watch.seconds(), 60);
  for (const auto& o : r.outputs) EXPECT_TRUE(std::isfinite(o.proven)) << o.output;
}

TEST(Verify, ExactProvesACompressionWithFolds) {
  // ACAS Xu 1_1 on prop_1: compression folds dependent stably active units
  // into the next layer, so the rows of later layers change. Each changed unit
  // is matched to its original (same weights on the units that vary) and its
  // difference bounded by back-substitution: proven in seconds, where CBC on
  // the two networks ran out of any time limit (tests/limits_itest.cpp).
  const fs::path acas = test::models_dir() / "acasxu";
  Network a = read_model(acas / "ACASXU_run2a_1_1_batch_2000.onnx");
  Domain d;
  d.box = read_vnnlib_box(acas / "prop_1.vnnlib");
  d.probes = Eigen::MatrixXd(a.inputs(), 0);
  AnalyzeOptions ao;
  ao.time_limit = 3;
  Analysis analysis = analyze(a, d, ao);
  CompressResult small = compress(a, analysis, d.box);
  int folded = 0;
  for (const auto& step : small.steps) folded += step.kind == RewriteKind::dependent_active;
  ASSERT_GT(folded, 0) << "the test needs a fold";
  VerifyOptions options;
  options.exact = true;
  options.random_points = 1000;
  options.deadline = Deadline(60);
  VerifyResult r = verify_equivalence(a, small.network(), d.box, d.probes, options);
  EXPECT_TRUE(r.proven_equivalent()) << r.proven_bound;
  EXPECT_LT(r.proven_bound, 1e-6);
}

TEST(Verify, DifferenceNetworkComputesTheDifference) {
  // J over (x, no carriers) for a network and its deletions-only compression
  // (every B unit shared): J's rows are f_A - f_B - T and f_B - f_A - T.
  std::mt19937_64 rng(21);
  int checked = 0;
  for (int trial = 0; trial < 5; ++trial) {
    Network a = test::random_network({3, 7, 6, 2}, rng, 1.0);
    Box box = Box::uniform(3, -1, 1);
    Domain d;
    d.box = box;
    d.probes = Eigen::MatrixXd(3, 0);
    Analysis analysis = analyze(a, d);
    CompressOptions deletions;
    deletions.deletions_only = true;
    Network b = compress(a, analysis, box, deletions).network();
    if (b.depth() != a.depth()) continue;
    JointNetwork j = joint_difference(a, b, analysis, Analysis{}, box, 1e-4);
    ASSERT_EQ(j.box.size(), 3);  // no near copies: nothing differs
    ++checked;
    EXPECT_EQ(j.units_shared, b.hidden_units());
    Eigen::MatrixXd X = test::random_points(box.lower, box.upper, 500, rng);
    Eigen::MatrixXd y = j.net.evaluate(X), fa = a.evaluate(X), fb = b.evaluate(X);
    for (Eigen::Index k = 0; k < a.outputs(); ++k) {
      EXPECT_LT((y.row(2 * k) - (fa.row(k) - fb.row(k)).array().matrix() + Eigen::RowVectorXd::Constant(500, 1e-4))
                    .cwiseAbs()
                    .maxCoeff(),
                1e-12);
      EXPECT_LT((y.row(2 * k + 1) - (fb.row(k) - fa.row(k)) + Eigen::RowVectorXd::Constant(500, 1e-4))
                    .cwiseAbs()
                    .maxCoeff(),
                1e-12);
    }
  }
  EXPECT_GE(checked, 3);
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
