#include "leo/train/train.hpp"

#include <fmt/core.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "leo/util/error.hpp"

namespace leo {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// User + system CPU time of the process, all threads.
double cpu_time() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         1e-6 * static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

Parameters<float> to_float(const Network& net) {
  Parameters<float> p;
  for (const auto& layer : net.layers) {
    p.weights.push_back(layer.weights.cast<float>());
    p.biases.push_back(layer.bias.cast<float>());
  }
  return p;
}

// Arg-max accuracy of float parameters on a data set, in chunks.
std::int64_t correct_float(const Parameters<float>& p, const Eigen::MatrixXf& X, const std::vector<int>& labels) {
  constexpr Eigen::Index kChunk = 2048;
  std::int64_t correct = 0;
  Eigen::MatrixXf a, g;
  for (Eigen::Index start = 0; start < X.cols(); start += kChunk) {
    const Eigen::Index n = std::min(kChunk, X.cols() - start);
    a = X.middleCols(start, n);
    for (std::size_t l = 0; l < p.layers(); ++l) {
      g.noalias() = p.weights[l] * a;
      g.colwise() += p.biases[l];
      if (l + 1 < p.layers()) g = g.cwiseMax(0.0f);
      a.swap(g);
    }
    for (Eigen::Index j = 0; j < n; ++j) {
      Eigen::Index arg = 0;
      a.col(j).maxCoeff(&arg);
      if (arg == labels[static_cast<std::size_t>(start + j)]) ++correct;
    }
  }
  return correct;
}

// Shuffles 0..n-1 in place (Fisher-Yates with std::mt19937_64: same result
// for the same seed with a given standard library).
void shuffle_indices(std::vector<std::size_t>& idx, std::mt19937_64& rng) {
  for (std::size_t i = idx.size(); i > 1; --i) {
    std::size_t j = static_cast<std::size_t>(rng() % i);
    std::swap(idx[i - 1], idx[j]);
  }
}

}  // namespace

Network kaiming_network(int inputs, const std::vector<int>& hidden, int outputs, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<int> sizes{inputs};
  sizes.insert(sizes.end(), hidden.begin(), hidden.end());
  sizes.push_back(outputs);
  std::vector<AffineLayer> layers;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    if (sizes[l] <= 0 || sizes[l + 1] <= 0)
      throw InputError(fmt::format("layer sizes must be positive (got {} -> {})", sizes[l], sizes[l + 1]));
    AffineLayer layer;
    const double std = std::sqrt(2.0 / sizes[l]);
    layer.weights.resize(sizes[l + 1], sizes[l]);
    // Row-major fill order (unit by unit), as the weights are usually listed.
    for (Eigen::Index i = 0; i < layer.weights.rows(); ++i)
      for (Eigen::Index j = 0; j < layer.weights.cols(); ++j) layer.weights(i, j) = normal(rng) * std;
    layer.bias = Eigen::VectorXd::Zero(sizes[l + 1]);
    layers.push_back(std::move(layer));
  }
  return Network(std::move(layers));
}

Parameters<double> parameters_of(const Network& net) {
  Parameters<double> p;
  for (const auto& layer : net.layers) {
    p.weights.push_back(layer.weights);
    p.biases.push_back(layer.bias);
  }
  return p;
}

TrainResult train_network(const Dataset& train, const Dataset* test, const TrainOptions& opt, const Network* initial,
                          const std::function<void(const EpochMetrics&)>& on_epoch) {
  train.validate();
  if (test) test->validate();
  if (opt.batch_size <= 0) throw InputError(fmt::format("--batch must be positive (got {})", opt.batch_size));
  if (opt.steps <= 0 && opt.epochs <= 0) throw InputError("--epochs must be positive");
  if (!(opt.learning_rate > 0)) throw InputError("--lr must be positive");
  set_threads(opt.threads);

  const int classes = std::max(train.classes, test ? test->classes : 0);
  Network net = initial ? *initial
                        : kaiming_network(static_cast<int>(train.inputs()), opt.hidden, std::max(classes, 2), opt.seed);
  net.validate("initial network");
  if (net.inputs() != train.inputs())
    throw InputError(fmt::format("{}: {} features but the network takes {}", train.name, train.inputs(), net.inputs()));
  if (net.outputs() < classes)
    throw InputError(fmt::format("{}: {} classes but the network has {} outputs", train.name, classes, net.outputs()));
  if (test && test->inputs() != train.inputs())
    throw InputError(fmt::format("{}: {} features but the training data has {}", test->name, test->inputs(),
                                 train.inputs()));

  Regularisation reg = opt.regularisation;
  if (reg.rs != 0.0 && reg.box_lo.size() == 0 && train.images) {
    reg.box_lo = Eigen::VectorXd::Zero(train.inputs());
    reg.box_hi = Eigen::VectorXd::Ones(train.inputs());
  }

  const Eigen::MatrixXf X = train.features.cast<float>();
  const Eigen::MatrixXf Xtest = test ? Eigen::MatrixXf(test->features.cast<float>()) : Eigen::MatrixXf();
  const auto n = static_cast<std::size_t>(X.cols());
  const auto batch = static_cast<std::size_t>(opt.batch_size);
  const std::int64_t batches_per_epoch = static_cast<std::int64_t>((n + batch - 1) / batch);
  const std::int64_t total_steps = opt.steps > 0 ? opt.steps : batches_per_epoch * opt.epochs;
  const int epochs = static_cast<int>((total_steps + batches_per_epoch - 1) / batches_per_epoch);

  // Learning-rate milestones in steps: epochs mode rounds them to whole epochs.
  std::vector<std::int64_t> milestone_steps;
  for (double f : opt.milestones) {
    if (opt.steps > 0)
      milestone_steps.push_back(static_cast<std::int64_t>(std::llround(f * static_cast<double>(total_steps))));
    else
      milestone_steps.push_back(std::llround(f * opt.epochs) * batches_per_epoch);
  }
  auto lr_at = [&](std::int64_t step) {
    double lr = opt.learning_rate;
    for (auto m : milestone_steps)
      if (step >= m) lr *= opt.gamma;
    return lr;
  };

  Parameters<float> params = to_float(net);
  Parameters<float> grad = params.zeros_like();
  Parameters<float> m1 = params.zeros_like();  // SGD momentum buffer / Adam first moment
  Parameters<float> m2 = opt.optimizer == OptimizerKind::adam ? params.zeros_like() : Parameters<float>();
  Workspace<float> work;

  std::mt19937_64 rng(opt.seed ^ 0x5DEECE66DULL);
  std::vector<std::size_t> order(n);
  for (std::size_t i = 0; i < n; ++i) order[i] = i;
  Eigen::MatrixXf xb(X.rows(), static_cast<Eigen::Index>(batch));
  std::vector<int> yb;

  TrainResult result;
  const auto start = Clock::now();
  std::int64_t step = 0;
  for (int epoch = 1; epoch <= epochs; ++epoch) {
    const auto t0 = Clock::now();
    const double cpu0 = cpu_time();
    shuffle_indices(order, rng);
    double loss_sum = 0.0, ce_sum = 0.0;
    std::int64_t correct = 0, seen = 0, batches = 0;
    double lr = lr_at(step);
    for (std::size_t first = 0; first < n && step < total_steps; first += batch, ++step) {
      if (opt.deadline.expired()) {
        result.stopped_by_time = true;
        break;
      }
      const std::size_t b = std::min(batch, n - first);
      if (static_cast<std::size_t>(xb.cols()) != b) xb.resize(X.rows(), static_cast<Eigen::Index>(b));
      yb.resize(b);
      for (std::size_t j = 0; j < b; ++j) {
        xb.col(static_cast<Eigen::Index>(j)) = X.col(static_cast<Eigen::Index>(order[first + j]));
        yb[j] = train.labels[order[first + j]];
      }
      const LossTerms terms = loss_and_gradient(params, xb, yb, reg, &grad, work);
      if (!std::isfinite(terms.total()))
        throw Error(ExitCode::bad_input,
                    fmt::format("training diverged at step {} (loss {}); lower --lr", step + 1, terms.total()));
      loss_sum += terms.total() * static_cast<double>(b);
      ce_sum += terms.cross_entropy * static_cast<double>(b);
      correct += terms.correct;
      seen += static_cast<std::int64_t>(b);
      ++batches;

      lr = lr_at(step);
      const auto flr = static_cast<float>(lr);
      if (opt.optimizer == OptimizerKind::sgd) {
        const auto mu = static_cast<float>(opt.momentum);
        auto update = [&](auto& p, auto& v, const auto& g) {
          if (mu != 0.0f) {
            v = mu * v + g;
            p -= flr * v;
          } else {
            p -= flr * g;
          }
        };
        for (std::size_t l = 0; l < params.layers(); ++l) {
          update(params.weights[l], m1.weights[l], grad.weights[l]);
          update(params.biases[l], m1.biases[l], grad.biases[l]);
        }
      } else {
        const double t = static_cast<double>(step + 1);
        const auto b1 = static_cast<float>(opt.beta1), b2 = static_cast<float>(opt.beta2);
        const auto c1 = static_cast<float>(1.0 - std::pow(opt.beta1, t));
        const auto c2 = static_cast<float>(std::sqrt(1.0 - std::pow(opt.beta2, t)));
        const auto eps = static_cast<float>(opt.adam_epsilon);
        auto update = [&](auto& p, auto& m, auto& v, const auto& g) {
          m = b1 * m + (1.0f - b1) * g;
          v = b2 * v + (1.0f - b2) * g.cwiseProduct(g);
          // PyTorch: p -= lr/c1 * m / (sqrt(v)/c2 + eps)
          p.array() -= (flr / c1) * m.array() / (v.array().sqrt() / c2 + eps);
        };
        for (std::size_t l = 0; l < params.layers(); ++l) {
          update(params.weights[l], m1.weights[l], m2.weights[l], grad.weights[l]);
          update(params.biases[l], m1.biases[l], m2.biases[l], grad.biases[l]);
        }
      }
    }
    EpochMetrics m;
    m.epoch = epoch;
    m.steps = step;
    m.learning_rate = lr;
    m.loss = loss_sum / static_cast<double>(std::max<std::int64_t>(seen, 1));
    m.cross_entropy = ce_sum / static_cast<double>(std::max<std::int64_t>(seen, 1));
    m.train_accuracy = 100.0 * static_cast<double>(correct) / static_cast<double>(std::max<std::int64_t>(seen, 1));
    if (test && (opt.test_each_epoch || epoch == epochs || result.stopped_by_time))
      m.test_accuracy = 100.0 * static_cast<double>(correct_float(params, Xtest, test->labels)) /
                        static_cast<double>(Xtest.cols());
    m.seconds = since(t0);
    m.cpu_seconds = cpu_time() - cpu0;
    if (seen > 0 || !result.stopped_by_time) {
      result.epochs.push_back(m);
      if (on_epoch) on_epoch(m);
    }
    if (result.stopped_by_time) break;
  }
  result.steps = step;
  result.planned_steps = total_steps;
  result.seconds = since(start);

  for (std::size_t l = 0; l < params.layers(); ++l) {
    net.layers[l].weights = params.weights[l].cast<double>();
    net.layers[l].bias = params.biases[l].cast<double>();
  }
  net.input = TensorInfo{};
  net.output = TensorInfo{};
  net.set_default_interface();
  net.input.shape = {-1};
  if (train.shape.empty())
    net.input.shape.push_back(train.inputs());
  else
    net.input.shape.insert(net.input.shape.end(), train.shape.begin(), train.shape.end());
  result.network = std::move(net);
  return result;
}

AccuracyResult accuracy(const Network& network, const Dataset& data) {
  data.validate();
  if (network.inputs() != data.inputs())
    throw InputError(
        fmt::format("{}: {} features per sample but the network takes {}", data.name, data.inputs(), network.inputs()));
  if (network.outputs() < data.classes)
    throw InputError(fmt::format("{}: labels go up to {} but the network has {} outputs", data.name,
                                 data.classes - 1, network.outputs()));
  constexpr Eigen::Index kChunk = 2048;
  AccuracyResult r;
  for (Eigen::Index start = 0; start < data.samples(); start += kChunk) {
    const Eigen::Index n = std::min(kChunk, data.samples() - start);
    const Eigen::MatrixXd y = network.evaluate(Eigen::MatrixXd(data.features.middleCols(start, n)));
    for (Eigen::Index j = 0; j < n; ++j) {
      Eigen::Index arg = 0;
      y.col(j).maxCoeff(&arg);
      if (arg == data.labels[static_cast<std::size_t>(start + j)]) ++r.correct;
    }
  }
  r.samples = data.samples();
  return r;
}

}  // namespace leo
