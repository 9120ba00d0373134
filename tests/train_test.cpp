// Training: gradients of every layer and of every regulariser against central
// finite differences, learning a separable set, the effect of ℓ1, determinism.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
#include <random>

#include "leo/train/objective.hpp"
#include "leo/train/train.hpp"
#include "leo/util/error.hpp"
#include "support.hpp"

namespace leo {
namespace {

struct Batch {
  Eigen::MatrixXd X;
  std::vector<int> labels;
};

Batch random_batch(int inputs, int samples, int classes, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Batch b;
  b.X.resize(inputs, samples);
  for (Eigen::Index i = 0; i < b.X.size(); ++i) b.X.data()[i] = u(rng);
  for (int j = 0; j < samples; ++j) b.labels.push_back(static_cast<int>(rng() % static_cast<unsigned>(classes)));
  return b;
}

// Compares the analytic gradient with central differences for every weight and bias.
void expect_gradient_matches(const Parameters<double>& p, const Batch& batch, const Regularisation& reg) {
  Parameters<double> grad;
  loss_and_gradient(p, batch.X, batch.labels, reg, &grad);
  ASSERT_EQ(grad.layers(), p.layers());

  const double h = 1e-6;
  auto loss = [&](const Parameters<double>& q) {
    return loss_and_gradient<double>(q, batch.X, batch.labels, reg, nullptr).total();
  };
  int checked = 0;
  for (std::size_t l = 0; l < p.layers(); ++l) {
    ASSERT_EQ(grad.weights[l].rows(), p.weights[l].rows());
    ASSERT_EQ(grad.weights[l].cols(), p.weights[l].cols());
    ASSERT_EQ(grad.biases[l].size(), p.biases[l].size());
    for (Eigen::Index i = 0; i < p.weights[l].size(); ++i) {
      Parameters<double> a = p, b = p;
      a.weights[l].data()[i] += h;
      b.weights[l].data()[i] -= h;
      const double numeric = (loss(a) - loss(b)) / (2 * h);
      const double analytic = grad.weights[l].data()[i];
      EXPECT_NEAR(analytic, numeric, 1e-6 + 1e-5 * std::abs(numeric)) << "layer " << l << " weight " << i;
      ++checked;
    }
    for (Eigen::Index i = 0; i < p.biases[l].size(); ++i) {
      Parameters<double> a = p, b = p;
      a.biases[l][i] += h;
      b.biases[l][i] -= h;
      const double numeric = (loss(a) - loss(b)) / (2 * h);
      EXPECT_NEAR(grad.biases[l][i], numeric, 1e-6 + 1e-5 * std::abs(numeric)) << "layer " << l << " bias " << i;
      ++checked;
    }
  }
  EXPECT_EQ(checked, p.size());
}

void expect_gradient_matches(const std::vector<int>& sizes, const Regularisation& reg, std::uint64_t seed,
                             double bias_scale = 0.3) {
  std::mt19937_64 rng(seed);
  Network net = test::random_network(sizes, rng, bias_scale);
  Parameters<double> p = parameters_of(net);
  Batch batch = random_batch(sizes.front(), 9, sizes.back(), rng);
  expect_gradient_matches(p, batch, reg);
}

TEST(TrainGradient, CrossEntropyEveryLayer) {
  expect_gradient_matches({6, 5, 4, 3}, Regularisation{}, 1);
  expect_gradient_matches({3, 7, 2}, Regularisation{}, 2);
  expect_gradient_matches({4, 3}, Regularisation{}, 3);  // no hidden layer
}

TEST(TrainGradient, L1) {
  Regularisation reg;
  reg.l1 = 0.03;
  expect_gradient_matches({6, 5, 4, 3}, reg, 4);
}

TEST(TrainGradient, WeightDecay) {
  Regularisation reg;
  reg.weight_decay = 0.05;
  expect_gradient_matches({6, 5, 4, 3}, reg, 5);
}

TEST(TrainGradient, ReluStabilityThroughIntervalBounds) {
  Regularisation reg;
  reg.rs = 0.7;
  reg.rs_eps = 0.15;
  reg.box_lo = Eigen::VectorXd::Zero(6);
  reg.box_hi = Eigen::VectorXd::Ones(6);
  expect_gradient_matches({6, 5, 4, 3}, reg, 6);
  expect_gradient_matches({6, 8, 7, 6, 3}, reg, 7);  // three hidden layers
  reg.box_lo.resize(0);                               // no clipping
  reg.box_hi.resize(0);
  expect_gradient_matches({6, 5, 4, 3}, reg, 8);
}

TEST(TrainGradient, AllTermsTogether) {
  Regularisation reg;
  reg.l1 = 0.01;
  reg.weight_decay = 0.02;
  reg.rs = 0.3;
  reg.rs_eps = 0.05;
  reg.box_lo = Eigen::VectorXd::Zero(5);
  reg.box_hi = Eigen::VectorXd::Ones(5);
  expect_gradient_matches({5, 6, 6, 4}, reg, 9);
}

TEST(TrainObjective, ReluStabilityLossMatchesDefinition) {
  // One hidden unit, one sample: g = w x + b on the ball [x-eps, x+eps] ∩ [0,1].
  Parameters<double> p;
  p.weights = {Eigen::MatrixXd::Constant(1, 1, 2.0), Eigen::MatrixXd::Constant(2, 1, 1.0)};
  p.biases = {Eigen::VectorXd::Constant(1, -0.5), Eigen::VectorXd::Zero(2)};
  Eigen::MatrixXd X = Eigen::MatrixXd::Constant(1, 1, 0.05);
  Regularisation reg;
  reg.rs = 1.0;
  reg.rs_eps = 0.1;
  reg.box_lo = Eigen::VectorXd::Zero(1);
  reg.box_hi = Eigen::VectorXd::Ones(1);
  const LossTerms t = loss_and_gradient<double>(p, X, {0}, reg, nullptr);
  // x in [0, 0.15] -> g in [-0.5, -0.2]
  EXPECT_NEAR(t.rs, -std::tanh(1.0 + (-0.5) * (-0.2)), 1e-12);
}

// Four well-separated clusters in 2-D.
Dataset clusters(int per_class, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> noise(0.0, 0.05);
  const double centres[4][2] = {{0.2, 0.2}, {0.8, 0.2}, {0.2, 0.8}, {0.8, 0.8}};
  Dataset d;
  d.name = "clusters";
  d.classes = 4;
  d.shape = {2};
  d.features.resize(2, 4 * per_class);
  for (int k = 0; k < 4; ++k)
    for (int i = 0; i < per_class; ++i) {
      const int j = k * per_class + i;
      d.features(0, j) = centres[k][0] + noise(rng);
      d.features(1, j) = centres[k][1] + noise(rng);
      d.labels.push_back(k);
    }
  return d;
}

double weights_l1(const Network& net) {
  double s = 0;
  for (const auto& layer : net.layers) s += layer.weights.cwiseAbs().sum();
  return s;
}

TEST(Train, LearnsSeparableClustersPerfectly) {
  Dataset data = clusters(50, 11);
  TrainOptions opt;
  opt.hidden = {16, 16};
  opt.epochs = 60;
  opt.batch_size = 16;
  opt.learning_rate = 0.1;
  opt.seed = 3;
  TrainResult r = train_network(data, &data, opt);
  ASSERT_EQ(r.epochs.size(), 60u);
  EXPECT_EQ(r.epochs.back().test_accuracy, 100.0);
  EXPECT_EQ(accuracy(r.network, data).correct, data.samples());
  EXPECT_LT(r.epochs.back().cross_entropy, r.epochs.front().cross_entropy);
  EXPECT_EQ(r.network.input.shape, (std::vector<std::int64_t>{-1, 2}));
  EXPECT_EQ(r.network.outputs(), 4);
}

TEST(Train, AdamLearnsSeparableClusters) {
  Dataset data = clusters(50, 12);
  TrainOptions opt;
  opt.hidden = {16};
  opt.optimizer = OptimizerKind::adam;
  opt.learning_rate = 0.01;
  opt.epochs = 40;
  opt.batch_size = 16;
  TrainResult r = train_network(data, &data, opt);
  EXPECT_EQ(accuracy(r.network, data).correct, data.samples());
}

TEST(Train, L1ShrinksTheWeights) {
  Dataset data = clusters(50, 13);
  TrainOptions opt;
  opt.hidden = {20, 20};
  opt.epochs = 30;
  opt.batch_size = 16;
  opt.learning_rate = 0.05;
  opt.seed = 5;
  const Network plain = train_network(data, nullptr, opt).network;
  opt.regularisation.l1 = 1e-3;
  const Network small = train_network(data, nullptr, opt).network;
  opt.regularisation.l1 = 1e-2;
  const Network smaller = train_network(data, nullptr, opt).network;
  EXPECT_LT(weights_l1(small), weights_l1(plain));
  EXPECT_LT(weights_l1(smaller), weights_l1(small));
}

TEST(Train, ReluStabilityLossLowersUnstableUnits) {
  // Training with --rs makes the interval bounds straddle zero less often.
  Dataset data = clusters(50, 14);
  TrainOptions opt;
  opt.hidden = {20, 20};
  opt.epochs = 30;
  opt.batch_size = 16;
  opt.learning_rate = 0.05;
  opt.seed = 6;
  opt.regularisation.rs_eps = 0.05;
  opt.regularisation.box_lo = Eigen::VectorXd::Zero(2);
  opt.regularisation.box_hi = Eigen::VectorXd::Ones(2);
  auto rs_of = [&](const Network& net) {
    Regularisation probe = opt.regularisation;
    probe.rs = 1.0;
    return loss_and_gradient<double>(parameters_of(net), data.features, data.labels, probe, nullptr).rs;
  };
  const Network plain = train_network(data, nullptr, opt).network;
  opt.regularisation.rs = 0.1;
  const Network stable = train_network(data, nullptr, opt).network;
  EXPECT_LT(rs_of(stable), rs_of(plain));
}

// Trains twice with the same options, expects bit-identical weights, returns one.
Network expect_deterministic(const Dataset& data, const TrainOptions& opt) {
  const Network a = train_network(data, &data, opt).network;
  const Network b = train_network(data, &data, opt).network;
  EXPECT_EQ(a.layers.size(), b.layers.size());
  for (std::size_t l = 0; l < std::min(a.layers.size(), b.layers.size()); ++l) {
    EXPECT_EQ(a.layers[l].weights, b.layers[l].weights);
    EXPECT_EQ(a.layers[l].bias, b.layers[l].bias);
  }
  return a;
}

TEST(Train, SameSeedSameWeights) {
  Dataset data = clusters(40, 15);
  TrainOptions opt;
  opt.hidden = {12, 12};
  opt.epochs = 5;
  opt.batch_size = 8;
  opt.seed = 42;
  opt.regularisation.l1 = 1e-4;
  const Network a = expect_deterministic(data, opt);
  opt.seed = 43;
  const Network c = train_network(data, &data, opt).network;
  EXPECT_NE(a.layers[0].weights, c.layers[0].weights);
}

TEST(Train, SameSeedSameWeightsWithTwoThreads) {
  // Deterministic for a seed and a thread count, with BLAS and OpenMP threads
  // at work (batches large enough for the BLAS to split them).
  Dataset data = clusters(200, 17);
  TrainOptions opt;
  opt.hidden = {64, 64};
  opt.epochs = 3;
  opt.batch_size = 128;
  opt.seed = 7;
  opt.threads = 2;
  opt.regularisation.l1 = 1e-4;
  expect_deterministic(data, opt);
}

TEST(Train, DeadlineStopsAfterTheStepInProgress) {
  Dataset data = clusters(40, 18);
  TrainOptions opt;
  opt.hidden = {8};
  opt.batch_size = 16;
  opt.epochs = 1000000;  // far more than the deadline allows
  opt.deadline = Deadline(0.2);
  TrainResult r = train_network(data, &data, opt);
  EXPECT_TRUE(r.stopped_by_time);
  EXPECT_GT(r.steps, 0);
  EXPECT_LT(r.steps, r.planned_steps);
  ASSERT_FALSE(r.epochs.empty());
  EXPECT_EQ(r.epochs.back().steps, r.steps);
  EXPECT_GE(r.epochs.back().test_accuracy, 0.0);  // the partial epoch is closed and tested
  // Without a deadline nothing stops early.
  opt.epochs = 2;
  opt.deadline = Deadline();
  TrainResult full = train_network(data, nullptr, opt);
  EXPECT_FALSE(full.stopped_by_time);
  EXPECT_EQ(full.steps, full.planned_steps);
}

TEST(Train, StepsInsteadOfEpochs) {
  Dataset data = clusters(40, 16);  // 160 samples: 10 batches of 16 per epoch
  TrainOptions opt;
  opt.hidden = {8};
  opt.batch_size = 16;
  opt.steps = 25;
  TrainResult r = train_network(data, nullptr, opt);
  EXPECT_EQ(r.steps, 25);
  ASSERT_EQ(r.epochs.size(), 3u);
  EXPECT_EQ(r.epochs.back().steps, 25);
}

TEST(Train, LearningRateScheduleScalesWithEpochs) {
  Dataset data = clusters(10, 17);
  TrainOptions opt;
  opt.hidden = {4};
  opt.epochs = 12;  // milestones at epochs 5 and 10 (0-based): 1-5 0.01, 6-10 0.001, 11-12 0.0001
  TrainResult r = train_network(data, nullptr, opt);
  EXPECT_DOUBLE_EQ(r.epochs[4].learning_rate, 0.01);
  EXPECT_NEAR(r.epochs[5].learning_rate, 0.001, 1e-15);
  EXPECT_NEAR(r.epochs[9].learning_rate, 0.001, 1e-15);
  EXPECT_NEAR(r.epochs[10].learning_rate, 0.0001, 1e-16);
}

TEST(Train, KaimingInit) {
  Network net = kaiming_network(400, {300}, 10, 1);
  EXPECT_TRUE(net.layers[0].bias.isZero());
  const auto& w = net.layers[0].weights;
  const double var = w.squaredNorm() / static_cast<double>(w.size());
  EXPECT_NEAR(var, 2.0 / 400.0, 0.05 * 2.0 / 400.0);
}

TEST(Train, RejectsMismatchedData) {
  Dataset data = clusters(5, 18);
  TrainOptions opt;
  Network wrong = kaiming_network(3, {4}, 4, 0);
  EXPECT_THROW(train_network(data, nullptr, opt, &wrong), InputError);
  Dataset bad = data;
  bad.labels.pop_back();
  EXPECT_THROW(train_network(bad, nullptr, opt), InputError);
  EXPECT_THROW(accuracy(wrong, data), InputError);
}

// ---- convolutional networks ----------------------------------------------------

// A CNN of the architecture `arch` on inputs of shape `in`, with random biases
// (so that the ReLUs are of both signs).
Network tiny_cnn(const Shape3& in, const std::string& arch, int outputs, std::uint64_t seed) {
  Network net = kaiming_network(in, parse_architecture(arch), outputs, seed);
  Parameters<double> p = parameters_of(net);
  std::mt19937_64 rng(seed + 100);
  std::normal_distribution<double> d(0.0, 0.3);
  for (auto& b : p.biases)
    for (Eigen::Index i = 0; i < b.size(); ++i) b[i] = d(rng);
  set_parameters(net, p);
  return net;
}

TEST(TrainArch, ParsesLayers) {
  const auto a = parse_architecture("conv16x4s2,conv32x4s2p1,fc100,50");
  ASSERT_EQ(a.size(), 4u);
  EXPECT_EQ(a[0], (LayerSpec{true, 16, 4, 2, 0}));
  EXPECT_EQ(a[1], (LayerSpec{true, 32, 4, 2, 1}));
  EXPECT_EQ(a[2], (LayerSpec{false, 100, 0, 1, 0}));
  EXPECT_EQ(a[3], (LayerSpec{false, 50, 0, 1, 0}));
  EXPECT_EQ(architecture_string(a), "conv16x4s2,conv32x4s2p1,fc100,fc50");
  EXPECT_EQ(parse_architecture(architecture_string(a)), a);
  EXPECT_EQ(parse_architecture("conv8x3p1")[0], (LayerSpec{true, 8, 3, 1, 1}));
  EXPECT_TRUE(parse_architecture("none").empty());
  EXPECT_TRUE(parse_architecture("").empty());
}

TEST(TrainArch, BadSpecsNameTheLayer) {
  auto expect_bad = [](const std::string& text, const std::string& part) {
    try {
      parse_architecture(text);
      ADD_FAILURE() << text << " was accepted";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find("--arch " + text), std::string::npos) << e.what();
    }
  };
  expect_bad("conv16", "layer 1 'conv16' is not a convolution");
  expect_bad("conv16x", "has no kernel size");
  expect_bad("conv16x4s", "has no stride");
  expect_bad("conv16x4p", "has no pad");
  expect_bad("conv16x4s2q", "has 'q' left over");
  expect_bad("conv16x4p1s2", "has 's2' left over");  // stride before pad
  expect_bad("fc100,conv8x3", "layer 2 'conv8x3' is a convolution after a dense layer");
  expect_bad("fc0", "of 0");
  expect_bad("conv0x3", "of 0");
  expect_bad("conv4x3s0", "of 0");
  expect_bad("fc", "is not a layer");
  expect_bad("100,,10", "layer 2 '' is not a layer");
  expect_bad("dense100", "is not a layer");
  expect_bad("conv-4x3", "is not a convolution");
  expect_bad("fc99999999999999999999", "is not a layer");
  expect_bad("conv4x3000000", "too large");
}

TEST(TrainArch, KaimingCnn) {
  const Network net = kaiming_network(Shape3{1, 28, 28}, parse_architecture("conv16x4s2,conv32x4s2,fc100"), 10, 1);
  ASSERT_EQ(net.layers.size(), 4u);
  EXPECT_FALSE(net.layers[0].is_dense());
  EXPECT_FALSE(net.layers[1].is_dense());
  EXPECT_TRUE(net.layers[2].is_dense());
  EXPECT_EQ(net.layers[0].outputs(), 16 * 13 * 13);  // ERAN's ConvSmall
  EXPECT_EQ(net.layers[1].outputs(), 32 * 5 * 5);
  EXPECT_EQ(net.layers[2].inputs(), 800);
  EXPECT_EQ(net.outputs(), 10);
  net.validate();
  const Parameters<double> p = parameters_of(net);
  ASSERT_TRUE(p.is_conv(1));
  EXPECT_EQ(p.weights[1].rows(), 32);
  EXPECT_EQ(p.weights[1].cols(), 16 * 4 * 4);
  EXPECT_NEAR(p.weights[1].squaredNorm() / static_cast<double>(p.weights[1].size()), 2.0 / 256, 0.1 * 2.0 / 256);
  EXPECT_TRUE(p.biases[0].isZero());
  // Dense layers only: the same network as the MLP initialisation.
  const Network mlp = kaiming_network(Shape3{1, 2, 3}, parse_architecture("fc7,fc5"), 4, 9);
  const Network ref = kaiming_network(6, {7, 5}, 4, 9);
  for (std::size_t l = 0; l < 3; ++l) EXPECT_EQ(mlp.layers[l].weights, ref.layers[l].weights);
  // A kernel bigger than its padded input is refused, naming the layer.
  try {
    kaiming_network(Shape3{1, 6, 6}, parse_architecture("conv4x3s2,conv4x3"), 2, 1);  // 2x2 after layer 1
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--arch layer 2 (conv4x3): the kernel 3x3 is bigger than its padded input 2x2"),
              std::string::npos)
        << e.what();
  }
}

TEST(TrainConv, ParametersRoundTrip) {
  const Network net = tiny_cnn(Shape3{2, 7, 6}, "conv3x3s2p1,conv4x2,fc5", 3, 1);
  Network copy = net;
  set_parameters(copy, parameters_of(net));
  const Eigen::MatrixXd X = Eigen::MatrixXd::Random(84, 5);
  EXPECT_EQ(copy.logits(X), net.logits(X));
  // Its bias is per channel: a bias that differs between positions is refused.
  Network odd = net;
  odd.layers[0].bias[1] += 1.0;
  EXPECT_THROW(parameters_of(odd), InputError);
}

TEST(TrainConv, ForwardMatchesTheNetworkOperators) {
  // The objective's im2col products against the network's own (Conv2d in a
  // StructuredMap): for every sample and every label, the cross-entropy is
  // logsumexp(z) - z_y of the network's logits z.
  for (const auto& [in, arch] : {std::pair{Shape3{2, 7, 6}, std::string("conv3x3s2p1,conv4x2,fc5")},
                                 std::pair{Shape3{1, 5, 5}, std::string("conv2x3")},
                                 std::pair{Shape3{3, 6, 6}, std::string("conv4x3p2,conv2x3s3p1")}}) {
    const Network net = tiny_cnn(in, arch, 3, 2);
    const Parameters<double> p = parameters_of(net);
    std::mt19937_64 rng(3);
    const Batch batch = random_batch(static_cast<int>(in.size()), 6, 3, rng);
    const Eigen::MatrixXd z = net.logits(batch.X);
    for (Eigen::Index j = 0; j < batch.X.cols(); ++j) {
      const double m = z.col(j).maxCoeff();
      const double lse = m + std::log((z.col(j).array() - m).exp().sum());
      for (int y = 0; y < 3; ++y) {
        const LossTerms t = loss_and_gradient<double>(p, batch.X.col(j), {y}, Regularisation{}, nullptr);
        EXPECT_NEAR(t.cross_entropy, lse - z(y, j), 1e-12) << arch << " sample " << j << " label " << y;
      }
    }
  }
}

TEST(TrainConvGradient, CrossEntropyEveryLayer) {
  std::mt19937_64 rng(4);
  const Batch batch = random_batch(84, 7, 3, rng);
  expect_gradient_matches(parameters_of(tiny_cnn(Shape3{2, 7, 6}, "conv3x3s2p1,conv4x2,fc5", 3, 3)), batch,
                          Regularisation{});
  // Two convolutions straight into the output layer; a padded stride-3 one.
  const Batch b2 = random_batch(108, 5, 3, rng);
  expect_gradient_matches(parameters_of(tiny_cnn(Shape3{3, 6, 6}, "conv4x3p2,conv2x3s3p1", 3, 4)), b2,
                          Regularisation{});
  // A single convolution (no input gradient to propagate).
  const Batch b3 = random_batch(25, 5, 2, rng);
  expect_gradient_matches(parameters_of(tiny_cnn(Shape3{1, 5, 5}, "conv2x3", 2, 5)), b3, Regularisation{});
}

TEST(TrainConvGradient, DilatedConvolution) {
  // Dilation is not in --arch, but the objective supports any Window2d.
  std::mt19937_64 rng(6);
  std::normal_distribution<double> d(0.0, 0.4);
  Parameters<double> p;
  Window2d w;
  w.kernel_h = 3;
  w.kernel_w = 2;
  w.stride_h = 2;
  w.dilation_h = 2;
  w.dilation_w = 3;
  w.pad_top = 1;
  w.pad_right = 2;
  const ConvGeometry g{Shape3{2, 7, 6}, 3, w};
  const Eigen::Index out = g.output().size();
  ASSERT_GT(out, 0);
  p.conv = {g, std::nullopt};
  p.weights = {Eigen::MatrixXd::NullaryExpr(3, g.kernel_size(), [&] { return d(rng); }),
               Eigen::MatrixXd::NullaryExpr(4, out, [&] { return d(rng); })};
  p.biases = {Eigen::VectorXd::NullaryExpr(3, [&] { return d(rng); }), Eigen::VectorXd::NullaryExpr(4, [&] { return d(rng); })};
  const Batch batch = random_batch(84, 6, 4, rng);
  expect_gradient_matches(p, batch, Regularisation{});
}

TEST(TrainConvGradient, L1AndWeightDecay) {
  Regularisation reg;
  reg.l1 = 0.02;
  reg.weight_decay = 0.03;
  std::mt19937_64 rng(7);
  const Batch batch = random_batch(84, 6, 3, rng);
  expect_gradient_matches(parameters_of(tiny_cnn(Shape3{2, 7, 6}, "conv3x3s2p1,conv4x2,fc5", 3, 8)), batch, reg);
}

// Images of `size` x `size`: class 0 a horizontal bar, class 1 a vertical
// bar, class 2 a filled square, at random places, with noise.
Dataset bars(int per_class, int size, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> noise(0.0, 0.2);
  std::uniform_int_distribution<int> at(1, size - 4);
  Dataset d;
  d.name = "bars";
  d.classes = 3;
  d.images = true;
  d.shape = {1, size, size};
  d.features.resize(size * size, 3 * per_class);
  for (int i = 0; i < 3 * per_class; ++i) {
    const int k = i % 3, r = at(rng), c = at(rng);
    for (int h = 0; h < size; ++h)
      for (int w = 0; w < size; ++w) {
        const bool on = k == 0 ? (h == r && w >= c && w < c + 3)
                      : k == 1 ? (w == c && h >= r && h < r + 3)
                               : (h >= r && h < r + 2 && w >= c && w < c + 2);
        d.features(h * size + w, i) = on ? 1.0 - noise(rng) : noise(rng);
      }
    d.labels.push_back(k);
  }
  return d;
}

TEST(TrainConv, LearnsBarsAndSquares) {
  const Dataset data = bars(40, 8, 21);
  const Dataset test = bars(30, 8, 22);
  TrainOptions opt;
  opt.arch = parse_architecture("conv6x3,fc16");
  opt.epochs = 40;
  opt.batch_size = 16;
  opt.learning_rate = 0.05;
  opt.seed = 4;
  opt.regularisation.l1 = 1e-4;
  TrainResult r = train_network(data, &test, opt);
  EXPECT_LT(r.epochs.back().loss, 0.5 * r.epochs.front().loss);
  EXPECT_EQ(r.epochs.back().train_accuracy, 100.0);
  EXPECT_GE(r.epochs.back().test_accuracy, 95.0);
  // The network returned computes what training measured: its (double)
  // evaluation through the structured layers gives the same test accuracy.
  EXPECT_NEAR(accuracy(r.network, test).percent(), r.epochs.back().test_accuracy, 1e-9);
  EXPECT_FALSE(r.network.layers[0].is_dense());
  EXPECT_EQ(r.network.input.shape, (std::vector<std::int64_t>{-1, 1, 8, 8}));
}

TEST(TrainConv, L1ShrinksTheWeights) {
  const Dataset data = bars(20, 8, 23);
  TrainOptions opt;
  opt.arch = parse_architecture("conv4x3s2,fc8");
  opt.epochs = 30;
  opt.batch_size = 16;
  opt.learning_rate = 0.05;
  auto conv_l1 = [&](double l1) {
    opt.regularisation.l1 = l1;
    // All weights: a ReLU network may move weight from one layer to the next.
    double sum = 0;
    for (const auto& w : parameters_of(train_network(data, nullptr, opt).network).weights) sum += w.cwiseAbs().sum();
    return sum;
  };
  const double plain = conv_l1(0), some = conv_l1(1e-3), strong = conv_l1(1e-2);
  EXPECT_LT(some, plain);
  EXPECT_LT(strong, 0.5 * plain);
}

TEST(TrainConv, SameSeedSameWeightsWithOneAndTwoThreads) {
  // Large enough for the OpenMP loops of im2col/col2im and the BLAS to split
  // the work (P*B*K > 2^16).
  const Dataset data = bars(60, 12, 24);
  TrainOptions opt;
  opt.arch = parse_architecture("conv8x3,conv8x3s2,fc16");
  opt.epochs = 2;
  opt.batch_size = 128;
  opt.seed = 5;
  opt.regularisation.l1 = 1e-4;
  for (int threads : {1, 2}) {
    opt.threads = threads;
    const Parameters<double> a = parameters_of(train_network(data, nullptr, opt).network);
    const Parameters<double> b = parameters_of(train_network(data, nullptr, opt).network);
    for (std::size_t l = 0; l < a.layers(); ++l) {
      EXPECT_EQ(a.weights[l], b.weights[l]) << threads << " threads, layer " << l;
      EXPECT_EQ(a.biases[l], b.biases[l]) << threads << " threads, layer " << l;
    }
  }
  opt.threads = 0;
}

TEST(TrainConv, RefusesWhatItCannotTrain) {
  TrainOptions opt;
  opt.arch = parse_architecture("conv2x3,fc4");
  opt.epochs = 1;
  // Flat samples (e.g. CSV) have no image shape.
  try {
    train_network(clusters(5, 30), nullptr, opt);
    ADD_FAILURE() << "accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("clusters: convolutions need image data"), std::string::npos) << e.what();
  }
  // The ReLU-stability loss is for dense layers only.
  opt.regularisation.rs = 0.1;
  EXPECT_THROW(train_network(bars(3, 6, 31), nullptr, opt), InputError);
}

}  // namespace
}  // namespace leo
