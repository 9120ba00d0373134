// Training: gradients of every layer and of every regulariser against central
// finite differences, learning a separable set, the effect of ℓ1, determinism.
#include <gtest/gtest.h>

#include <cmath>
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
void expect_gradient_matches(const std::vector<int>& sizes, const Regularisation& reg, std::uint64_t seed,
                             double bias_scale = 0.3) {
  std::mt19937_64 rng(seed);
  Network net = test::random_network(sizes, rng, bias_scale);
  Parameters<double> p = parameters_of(net);
  Batch batch = random_batch(sizes.front(), 9, sizes.back(), rng);
  Parameters<double> grad;
  loss_and_gradient(p, batch.X, batch.labels, reg, &grad);
  ASSERT_EQ(grad.layers(), p.layers());

  const double h = 1e-6;
  auto loss = [&](const Parameters<double>& q) {
    return loss_and_gradient<double>(q, batch.X, batch.labels, reg, nullptr).total();
  };
  int checked = 0;
  for (std::size_t l = 0; l < p.layers(); ++l) {
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

}  // namespace
}  // namespace leo
