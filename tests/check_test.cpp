// The stored-precision check of `leo compress` (verify/check.hpp) and its
// parts: float32 evaluation (network/evaluate_float.hpp), the stored weights
// (compress/stored.hpp), the fallback of compress_checked, and the kept-unit
// map (compress/compress.hpp).
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "leo/compress/compress.hpp"
#include "leo/compress/stored.hpp"
#include "leo/network/evaluate_float.hpp"
#include "leo/stability/cascade.hpp"
#include "leo/verify/check.hpp"
#include "stability_check.hpp"
#include "support.hpp"

using namespace leo;
using test::analysis_of;

namespace {

Network with_type(Network net, ElementType type) {
  net.input.type = net.output.type = type;
  return net;
}

// y = x1 - x2 on [0,1]^2, written two ways: directly, and through two stably
// active units that add 1e7 to each input (the same real function; in float32,
// x + 1e7 keeps only 1 significant bit of x below 1).
Network direct_difference() {
  return with_type(Network({AffineLayer{Eigen::MatrixXd{{1, -1}}, Eigen::VectorXd{{0}}}}), ElementType::float32);
}
Network offset_difference() {
  return with_type(Network({AffineLayer{Eigen::MatrixXd{{1, 0}, {0, 1}, {0, 0}}, Eigen::VectorXd{{1e7, 1e7, -1}}},
                            AffineLayer{Eigen::MatrixXd{{1, -1, 5}}, Eigen::VectorXd{{0}}}}),
                   ElementType::float32);
}

}  // namespace

TEST(EvaluateFloat, ComputesInFloat32) {
  // 2^24 + 1 is not a float: the input rounds to 2^24 and the output is 0, not 1.
  Network net({AffineLayer{Eigen::MatrixXd{{1}}, Eigen::VectorXd{{-16777216}}}});
  Eigen::MatrixXd x{{16777217}};
  EXPECT_EQ(net.evaluate(x)(0, 0), 1.0);
  EXPECT_EQ(evaluate_in(net, x, ElementType::float64)(0, 0), 1.0);
  EXPECT_EQ(evaluate_in(net, x, ElementType::float32)(0, 0), 0.0);
  // Sums in float: 1 + 1e-8 is 1 in float32.
  Network sum({AffineLayer{Eigen::MatrixXd{{1, 1}}, Eigen::VectorXd{{-1}}}});
  Eigen::MatrixXd p{{1}, {1e-8}};
  EXPECT_NEAR(sum.evaluate(p)(0, 0), 1e-8, 1e-15);
  EXPECT_EQ(Float32Network(sum).evaluate(p)(0, 0), 0.0);
  // ReLU in float, and an overflow gives inf as in a float32 runtime.
  Network big({AffineLayer{Eigen::MatrixXd{{1e30}}, Eigen::VectorXd{{0}}},
               AffineLayer{Eigen::MatrixXd{{1e30}}, Eigen::VectorXd{{0}}}});
  EXPECT_TRUE(std::isinf(Float32Network(big).evaluate(Eigen::MatrixXd{{1}})(0, 0)));
  EXPECT_EQ(Float32Network(big).evaluate(Eigen::MatrixXd{{-1}})(0, 0), 0.0);
  EXPECT_DOUBLE_EQ(big.evaluate(Eigen::MatrixXd{{1}})(0, 0), 1e60);
}

TEST(StoredNetwork, RoundsToTheStoredTypeAndRefusesWhatDoesNotFit) {
  Network net({AffineLayer{Eigen::MatrixXd{{0.1, 2}}, Eigen::VectorXd{{0.3}}}});
  Network f = stored_network(net, ElementType::float32);
  EXPECT_EQ(f.layers[0].weights(0, 0), static_cast<double>(0.1f));
  EXPECT_NE(f.layers[0].weights(0, 0), 0.1);
  EXPECT_EQ(f.layers[0].bias[0], static_cast<double>(0.3f));
  EXPECT_EQ(stored_network(net, ElementType::float64).layers[0].weights(0, 0), 0.1);
  // 1e39 is a double but overflows float32; NaN and inf fit nothing.
  Network huge = net;
  huge.layers[0].weights(0, 1) = 1e39;
  EXPECT_EQ(stored_network(huge, ElementType::float64).layers[0].weights(0, 1), 1e39);
  try {
    stored_network(huge, ElementType::float32);
    FAIL() << "no error";
  } catch (const NotStorable& e) {
    EXPECT_EQ(e.code(), ExitCode::check_failed);
    EXPECT_NE(std::string(e.what()).find("weight (0, 1) of layer 0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("float32"), std::string::npos) << e.what();
  }
  Network nan = net;
  nan.layers[0].bias[0] = std::nan("");
  EXPECT_THROW(stored_network(nan, ElementType::float64), NotStorable);
}

TEST(CheckWrittenModel, DoubleModelWrittenAsFloatIsCheckedAsStored) {
  // A double model whose weight is not a float: written as float32, the output
  // moves by 1 at x = 1 (the case of tests/fixtures/robustness/nnet/round.nnet).
  Network original = with_type(Network({AffineLayer{Eigen::MatrixXd{{1e8 + 1}}, Eigen::VectorXd{{0}}}}),
                               ElementType::float64);
  Box box = Box::uniform(1, 0, 1);
  VerifyOptions options;
  options.random_points = 200;
  WrittenModelCheck as_float = check_written_model(original, original, ElementType::float32, box,
                                                   Eigen::MatrixXd(1, 0), options);
  EXPECT_EQ(as_float.written.layers[0].weights(0, 0), 1e8);
  EXPECT_NEAR(as_float.in_double.max_abs_deviation, 1.0, 1e-9);
  EXPECT_GE(as_float.as_deployed.max_abs_deviation, 1.0 - 1e-9);
  EXPECT_FALSE(as_float.passed());
  EXPECT_EQ(as_float.written_arithmetic, ElementType::float32);
  EXPECT_EQ(as_float.original_arithmetic, ElementType::float64);
  // Kept in double, the same model passes with no deviation, in one search.
  WrittenModelCheck as_double = check_written_model(original, original, ElementType::float64, box,
                                                    Eigen::MatrixXd(1, 0), options);
  EXPECT_TRUE(as_double.passed());
  EXPECT_EQ(as_double.in_double.max_abs_deviation, 0.0);
  EXPECT_TRUE(as_double.one_search());
}

TEST(CheckWrittenModel, SoftmaxModelsAreComparedOnTheirLogits) {
  // Two outputs whose logits differ by 0.01 in the first one only: after a
  // Softmax the probabilities differ by less (~0.0025 at most), so comparing
  // the probabilities would hide part of the change. The check compares logits.
  Network original = with_type(
      Network({AffineLayer{Eigen::MatrixXd{{1, 0}, {0, 1}}, Eigen::VectorXd{{0, 0}}}}), ElementType::float64);
  original.output_activation = OutputActivation::softmax;
  Network changed = original;
  changed.layers[0].bias[0] = 0.01;
  Box box = Box::uniform(2, 0, 1);
  VerifyOptions options;
  options.random_points = 200;
  options.tolerance = 0.005;
  WrittenModelCheck check =
      check_written_model(original, changed, ElementType::float64, box, Eigen::MatrixXd(2, 0), options);
  EXPECT_NEAR(check.in_double.max_abs_deviation, 0.01, 1e-12);
  EXPECT_FALSE(check.passed());
  EXPECT_EQ(check.written.output_activation, OutputActivation::softmax);  // written back as it was
  // The probabilities themselves moved by less than the tolerance.
  Eigen::MatrixXd x{{0.3}, {0.7}};
  EXPECT_LT((original.evaluate(x) - changed.evaluate(x)).cwiseAbs().maxCoeff(), 0.005);
}

TEST(CheckWrittenModel, Float32ArithmeticCatchesWhatDoubleMisses) {
  // The same real function; in double the two agree to 1e-9, in float32 they
  // differ by up to ~0.5 (x + 1e7 rounds x to an integer).
  Box box = Box::uniform(2, 0, 1);
  VerifyOptions options;
  options.random_points = 500;
  Network written = offset_difference();
  WrittenModelCheck c = check_written_model(direct_difference(), written, ElementType::float32, box,
                                            Eigen::MatrixXd(2, 0), options);
  EXPECT_LE(c.in_double.max_abs_deviation, 1e-8);
  EXPECT_GT(c.as_deployed.max_abs_deviation, 0.25);
  EXPECT_FALSE(c.passed());
  EXPECT_EQ(&c.worst(), &c.as_deployed);
  // The worst point is a float32 point of the box, and the deviation is real there.
  const Eigen::VectorXd x = c.as_deployed.worst_input;
  for (Eigen::Index i = 0; i < 2; ++i) {
    EXPECT_EQ(x[i], static_cast<double>(static_cast<float>(x[i])));
    EXPECT_GE(x[i], 0.0);
    EXPECT_LE(x[i], 1.0);
  }
  double d = std::abs(evaluate_in(direct_difference(), x, ElementType::float32)(0, 0) -
                      evaluate_in(c.written, x, ElementType::float32)(0, 0));
  EXPECT_EQ(d, c.as_deployed.max_abs_deviation);
  // Stored in double, the written model is exact where the float32 original is:
  // the deviation seen is the original's own float32 rounding (tiny here).
  WrittenModelCheck d64 = check_written_model(direct_difference(), written, ElementType::float64, box,
                                              Eigen::MatrixXd(2, 0), options);
  EXPECT_TRUE(d64.passed()) << d64.as_deployed.max_abs_deviation;
}

TEST(CompressChecked, FallsBackToDeletionsWhenFoldsFailInFloat32) {
  // offset_difference with its two active units and one inactive unit: the
  // full rewrites fold the layer into x1 - x2 + (1e7 - 1e7), which differs
  // from the original's float32 evaluation by ~0.5; deleting the inactive unit
  // alone keeps every float32 sum as it was.
  Network original = offset_difference();
  Box box = Box::uniform(2, 0, 1);
  Analysis analysis = analysis_of({{Status::active, Status::active, Status::inactive}});
  VerifyOptions options;
  options.random_points = 500;
  CompressOptions compress_options;
  compress_options.fold_layers = FoldLayers::always;
  CheckedCompression c =
      compress_checked(original, analysis, box, Eigen::MatrixXd(2, 0), ElementType::float32, compress_options, options);
  ASSERT_EQ(c.tried.size(), 2u);
  EXPECT_EQ(c.tried[0].candidate, "rewrites");
  EXPECT_FALSE(c.tried[0].passed);
  EXPECT_GT(c.tried[0].max_abs_deviation_stored, 0.25);
  EXPECT_EQ(c.candidate, "deletions only");
  EXPECT_TRUE(c.passed());
  EXPECT_EQ(c.check.as_deployed.max_abs_deviation, 0.0);
  EXPECT_EQ(c.check.written.widths(), std::vector<Eigen::Index>{2});
  // Stored in double the full rewrites pass.
  CheckedCompression d =
      compress_checked(original, analysis, box, Eigen::MatrixXd(2, 0), ElementType::float64, compress_options, options);
  EXPECT_EQ(d.candidate, "rewrites");
  EXPECT_EQ(d.check.written.depth(), 1u);
}

TEST(CompressChecked, OverflowingFoldIsNeverWritten) {
  // Every unit active: folding multiplies 1e20 by 1e20, finite in double,
  // infinite in float32.
  Network original = with_type(Network({AffineLayer{Eigen::MatrixXd{{1e20}}, Eigen::VectorXd{{1}}},
                                        AffineLayer{Eigen::MatrixXd{{1e20}}, Eigen::VectorXd{{0}}}}),
                               ElementType::float32);
  Analysis analysis = analysis_of({{Status::active}});
  CompressOptions fold;
  fold.fold_layers = FoldLayers::always;
  EXPECT_THROW(compress_checked(original, analysis, Box::uniform(1, 0, 1), Eigen::MatrixXd(1, 0), ElementType::float32,
                                fold),
               NotStorable);
  // In double the fold overflows too (1e200 * 1e200): compress skips it.
  Network wider = original;
  wider.layers[0].weights(0, 0) = 1e200;
  wider.layers[1].weights(0, 0) = 1e200;
  CompressResult r = compress(wider, analysis, Box::uniform(1, 0, 1), fold);
  EXPECT_FALSE(r.changed());
  EXPECT_EQ(r.network().depth(), 2u);
}

TEST(KeptUnits, MapFollowsDeletionsMergesAndFolds) {
  // Hidden layer 0: units 0 (unstable), 1 (inactive), 2 = 2 * unit 0 (a
  // duplicate), 3 (unstable). Hidden layer 1: both units active (a layer the
  // fold removes). Hidden layer 2: units 0 (inactive), 1 and 2 (unstable).
  Network net({AffineLayer{Eigen::MatrixXd{{1, 0.5}, {-1, -1}, {2, 1}, {0.3, -1}}, Eigen::VectorXd{{0.1, -5, 0.2, 0}}},
               AffineLayer{Eigen::MatrixXd{{1, 0, 1, 1}, {0.5, 0, 1, 2}}, Eigen::VectorXd{{10, 10}}},
               AffineLayer{Eigen::MatrixXd{{-1, -1}, {1, -1}, {0.5, 1}}, Eigen::VectorXd{{-100, 0, -10}}},
               AffineLayer{Eigen::MatrixXd{{1, 2, 3}}, Eigen::VectorXd{{0}}}});
  Compressible start(net, {{Status::unstable, Status::inactive, Status::unstable, Status::unstable},
                           {Status::active, Status::active},
                           {Status::inactive, Status::unstable, Status::unstable}});
  Box box = Box::uniform(2, -1, 1);
  CompressOptions options;
  options.fold_layers = FoldLayers::always;
  CompressResult r = compress(start, box, options);
  std::vector<KeptLayer> map = r.kept_units();
  // Layer 0 keeps units 0 and 3 (1 deleted, 2 merged into 0); layer 1 is
  // folded into layer 2, which keeps units 1 and 2.
  ASSERT_EQ(map.size(), 2u) << r.network().widths().size();
  EXPECT_EQ(map[0], (KeptLayer{0, {0, 3}}));
  EXPECT_EQ(map[1], (KeptLayer{2, {1, 2}}));
  // Each kept unit computes the original unit's pre-activation on the box.
  std::mt19937_64 rng(5);
  Eigen::MatrixXd X = test::random_points(box.lower, box.upper, 1000, rng);
  auto pre_a = net.pre_activations(X);
  auto pre_b = r.network().pre_activations(X);
  for (std::size_t h = 0; h < map.size(); ++h)
    for (std::size_t i = 0; i < map[h].units.size(); ++i)
      EXPECT_LT((pre_b[h].row(static_cast<Eigen::Index>(i)) -
                 pre_a[static_cast<std::size_t>(map[h].original_layer)].row(map[h].units[i]))
                    .cwiseAbs()
                    .maxCoeff(),
                1e-9)
          << h << " " << i;
  // Without rewrites the map is the identity; a constant network has none.
  CompressResult none = compress(Compressible(net, {{Status::unstable, Status::unstable, Status::unstable,
                                                     Status::unstable},
                                                    {Status::unstable, Status::unstable},
                                                    {Status::unstable, Status::unstable, Status::unstable}}),
                                 box, CompressOptions{FoldLayers::never});
  auto identity = none.kept_units();
  ASSERT_EQ(identity.size(), 3u);
  EXPECT_EQ(identity[1], (KeptLayer{1, {0, 1}}));
  CompressResult dead = compress(Compressible(net, {{Status::inactive, Status::inactive, Status::inactive,
                                                     Status::inactive},
                                                    {Status::active, Status::active},
                                                    {Status::inactive, Status::unstable, Status::unstable}}),
                                 box);
  EXPECT_TRUE(dead.kept_units().empty());
}

// ---- the proven double bound and float32 gradients (issue 15 section 6) ----

namespace {

// A float32 ReLU net 40-96-96-6 on [0,1]^40 whose first 24 units of each
// hidden layer are dead (bias -50: stably inactive, proven by interval
// bounds), with its analysis: a small stand-in for an l1-trained 2x800.
struct DeadUnitsNet {
  Network net;
  Box box = Box::uniform(40, 0, 1);
  Analysis analysis;
  DeadUnitsNet() {
    std::mt19937_64 rng(11);
    net = test::random_network({40, 96, 96, 6}, rng);
    for (std::size_t l = 0; l + 1 < net.layers.size(); ++l)
      for (Eigen::Index i = 0; i < 24; ++i) net.layers[l].bias[i] = -50;
    for (auto& layer : net.layers) {
      layer.weights = layer.weights.cast<float>().cast<double>();
      layer.bias = layer.bias.cast<float>().cast<double>();
    }
    net = with_type(net, ElementType::float32);
    Domain domain{box, Eigen::MatrixXd(40, 0), "test"};
    analysis = analyze(net, domain);
  }
};

double sampled_max_difference(const Network& a, const Network& b, const Box& box, int points) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> u(0, 1);
  Eigen::MatrixXd X(box.size(), points);
  for (Eigen::Index j = 0; j < X.cols(); ++j)
    for (Eigen::Index i = 0; i < X.rows(); ++i) X(i, j) = box.lower[i] + (box.upper[i] - box.lower[i]) * u(rng);
  return (a.evaluate(X) - b.evaluate(X)).cwiseAbs().maxCoeff();
}

}  // namespace

TEST(CheckWrittenModel, DeletionsAreProvenInDoubleAndSearchedInFloat32) {
  DeadUnitsNet d;
  ASSERT_GE(d.analysis.count(0, Status::inactive), 24);
  VerifyOptions options;
  options.random_points = 2000;
  CheckedCompression c = compress_checked(d.net, d.analysis, d.box, Eigen::MatrixXd(40, 0), ElementType::float32,
                                          CompressOptions{}, options);
  ASSERT_TRUE(c.passed());
  EXPECT_LE(c.check.written.hidden_units(), 2 * (96 - 24));
  // The deletions cancel exactly in the difference network: a proof of ~0.
  EXPECT_LE(c.check.in_double.proven_bound, 1e-12);
  // The double search then keeps only its fixed points (centre, 256 corners, the centre as the pool) ...
  EXPECT_LE(c.check.in_double.points_evaluated, 258);
  // ... and the float32 search is the full one (random points and gradient steps).
  EXPECT_GT(c.check.as_deployed.points_evaluated, 2000 + 6 * 2 * 8 * 60 - 1);
  EXPECT_EQ(to_json(c.check)["proven_bound_double"].get<double>(), c.check.in_double.proven_bound);
  // Without the analysis: no proof, the full double search, the same verdict.
  WrittenModelCheck plain = check_written_model(d.net, c.check.written, ElementType::float32, d.box,
                                                Eigen::MatrixXd(40, 0), options);
  EXPECT_TRUE(plain.passed());
  EXPECT_TRUE(std::isinf(plain.in_double.proven_bound));
  EXPECT_TRUE(to_json(plain)["proven_bound_double"].is_null());
  EXPECT_GT(plain.in_double.points_evaluated, 2000);
}

TEST(CheckWrittenModel, OneChangedDeepWeightIsCaughtWithTheAnalysisGiven) {
  DeadUnitsNet d;
  CompressResult deleted = compress(d.net, d.analysis, d.box);
  // One weight of the last hidden layer's row 30 (a live unit), changed by
  // 0.05: the proof fails, the full search finds the difference.
  Network written = deleted.network();
  ASSERT_EQ(written.layers.size(), 3u);
  written.layers[1].weights(10, 20) += 0.05;
  VerifyOptions options;
  options.random_points = 2000;
  WrittenModelCheck c = check_written_model(d.net, written, ElementType::float32, d.box, Eigen::MatrixXd(40, 0),
                                            options, &d.analysis);
  EXPECT_FALSE(c.passed());
  EXPECT_TRUE(std::isinf(c.in_double.proven_bound));
  EXPECT_GT(c.in_double.max_abs_deviation, options.tolerance);
  EXPECT_GT(c.in_double.points_evaluated, 2000);
}

TEST(CheckWrittenModel, ProvenDifferenceBoundIsSound) {
  // Small changes (within or beyond the tolerance) to a deep weight and an
  // output bias: a finite bound must cover every sampled difference.
  DeadUnitsNet d;
  CompressResult deleted = compress(d.net, d.analysis, d.box);
  for (double delta : {1e-7, 1e-5, 1e-3}) {
    Network written = deleted.network();
    written.layers[1].weights(5, 7) += delta;
    written.layers[2].bias[3] -= delta;
    const double bound = difference_bound(d.net, written, d.analysis, d.box);
    const double seen = sampled_max_difference(d.net, written, d.box, 3000);
    EXPECT_GE(bound, seen - 1e-12) << delta;
    EXPECT_GE(bound, delta) << delta;  // the bias alone moves output 3 by delta everywhere
  }
  // Unchanged deletions: ~0.
  EXPECT_LE(difference_bound(d.net, deleted.network(), d.analysis, d.box), 1e-12);
}

TEST(EvaluateFloat, Float32GradientsMatchDoubleAndShareTheForwardPass) {
  std::mt19937_64 rng(4);
  Network net = with_type(test::random_network({12, 30, 20, 4}, rng), ElementType::float32);
  Float32Network f(net);
  Box box = Box::uniform(12, -1, 1);
  std::uniform_real_distribution<double> u(-1, 1);
  Eigen::MatrixXd X(12, 50), C(4, 50);
  for (Eigen::Index j = 0; j < 50; ++j) {
    for (Eigen::Index i = 0; i < 12; ++i) X(i, j) = static_cast<float>(u(rng));
    for (Eigen::Index k = 0; k < 4; ++k) C(k, j) = u(rng);
  }
  Eigen::MatrixXd outputs;
  Eigen::MatrixXd g32 = f.input_gradients(X, C, &outputs);
  EXPECT_TRUE((outputs.array() == f.evaluate(X).array()).all());
  Eigen::MatrixXd g64 = input_gradients(net, X, C);
  EXPECT_LE((g32 - g64).cwiseAbs().maxCoeff(), 1e-4 * (1 + g64.cwiseAbs().maxCoeff()));
  EXPECT_GT(g64.cwiseAbs().maxCoeff(), 0.01);
}

TEST(CheckWrittenModel, TheOriginalWrittenBackNeedsNoSampling) {
  DeadUnitsNet d;
  VerifyOptions options;
  options.random_points = 2000;
  WrittenModelCheck same =
      check_written_model(d.net, d.net, ElementType::float32, d.box, Eigen::MatrixXd(40, 0), options);
  EXPECT_TRUE(same.passed());
  EXPECT_EQ(same.in_double.proven_bound, 0.0);
  EXPECT_EQ(same.worst().max_abs_deviation, 0.0);
  EXPECT_LE(same.points_checked(), 2 * 258);
  // One weight one float32 step away: not the same model, the full searches.
  Network moved = d.net;
  moved.layers[1].weights(40, 30) = std::nextafter(static_cast<float>(moved.layers[1].weights(40, 30)), 1.0f);
  WrittenModelCheck other =
      check_written_model(d.net, moved, ElementType::float32, d.box, Eigen::MatrixXd(40, 0), options);
  EXPECT_TRUE(std::isinf(other.in_double.proven_bound));
  EXPECT_GT(other.in_double.points_evaluated, 2000);
  EXPECT_GT(other.as_deployed.points_evaluated, 2000);
  EXPECT_GT(other.in_double.max_abs_deviation, 0.0);
}
