#include "leo/train/train.hpp"

#include <fmt/core.h>
#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <memory>
#include <optional>
#include <random>

#include "leo/network/structured.hpp"
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

template <typename To, typename From>
Parameters<To> cast_parameters(const Parameters<From>& p) {
  Parameters<To> q;
  for (const auto& w : p.weights) q.weights.push_back(w.template cast<To>());
  for (const auto& b : p.biases) q.biases.push_back(b.template cast<To>());
  q.conv = p.conv;
  return q;
}

// Arg-max accuracy of float parameters on a data set, in chunks (the
// objective's own forward pass).
std::int64_t correct_float(const Parameters<float>& p, const Eigen::MatrixXf& X, const std::vector<int>& labels,
                           Workspace<float>& work) {
  constexpr Eigen::Index kChunk = 1024;
  std::int64_t correct = 0;
  Eigen::MatrixXf chunk;
  std::vector<int> y;
  for (Eigen::Index start = 0; start < X.cols(); start += kChunk) {
    const Eigen::Index n = std::min(kChunk, X.cols() - start);
    chunk = X.middleCols(start, n);
    y.assign(labels.begin() + start, labels.begin() + start + n);
    correct += loss_and_gradient<float>(p, chunk, y, Regularisation{}, nullptr, work).correct;
  }
  return correct;
}

// A non-negative decimal number at text[pos...]; advances pos.
std::optional<std::int64_t> read_number(const std::string& text, std::size_t& pos) {
  std::int64_t v = 0;
  const char* first = text.data() + pos;
  const char* last = text.data() + text.size();
  if (first == last || *first < '0' || *first > '9') return std::nullopt;
  auto [end, ec] = std::from_chars(first, last, v);
  if (ec != std::errc()) return std::nullopt;
  pos += static_cast<std::size_t>(end - first);
  return v;
}

std::string layer_string(const LayerSpec& s) {
  if (!s.conv) return fmt::format("fc{}", s.units);
  std::string t = fmt::format("conv{}x{}", s.units, s.kernel);
  if (s.stride != 1) t += fmt::format("s{}", s.stride);
  if (s.pad != 0) t += fmt::format("p{}", s.pad);
  return t;
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

std::vector<LayerSpec> parse_architecture(const std::string& text) {
  std::vector<LayerSpec> arch;
  if (text.empty() || text == "none") return arch;
  constexpr std::int64_t kMax = std::int64_t{1} << 20;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    auto bad = [&](const std::string& why) {
      return InputError(fmt::format("--arch {}: layer {} '{}' {}; expected conv<C>x<K>[s<S>][p<P>] (e.g. conv16x4s2: "
                                    "16 channels, 4x4 kernel, stride 2) or fc<N> (e.g. fc100), separated by commas",
                                    text, arch.size() + 1, item, why));
    };
    LayerSpec s;
    std::size_t pos = 0;
    if (item.rfind("conv", 0) == 0) {
      s.conv = true;
      pos = 4;
      auto c = read_number(item, pos);
      if (!c || pos >= item.size() || item[pos] != 'x') throw bad("is not a convolution");
      ++pos;
      auto k = read_number(item, pos);
      if (!k) throw bad("has no kernel size");
      s.units = *c;
      s.kernel = *k;
      if (pos < item.size() && item[pos] == 's') {
        ++pos;
        auto v = read_number(item, pos);
        if (!v) throw bad("has no stride after 's'");
        s.stride = *v;
      }
      if (pos < item.size() && item[pos] == 'p') {
        ++pos;
        auto v = read_number(item, pos);
        if (!v) throw bad("has no pad after 'p'");
        s.pad = *v;
      }
    } else {
      if (item.rfind("fc", 0) == 0) pos = 2;
      auto n = read_number(item, pos);
      if (!n) throw bad("is not a layer");
      s.units = *n;
    }
    if (pos != item.size()) throw bad(fmt::format("has '{}' left over", item.substr(pos)));
    if (s.units <= 0 || (s.conv && (s.kernel <= 0 || s.stride <= 0)))
      throw bad("has a size, kernel or stride of 0");
    if (s.units > kMax || s.kernel > kMax || s.stride > kMax || s.pad > kMax) throw bad("is too large");
    if (s.conv && !arch.empty() && !arch.back().conv) throw bad("is a convolution after a dense layer");
    arch.push_back(s);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return arch;
}

std::string architecture_string(const std::vector<LayerSpec>& arch) {
  std::string t;
  for (const auto& s : arch) {
    if (!t.empty()) t.push_back(',');
    t.append(layer_string(s));
  }
  return t;
}

Shape3 image_shape(const std::vector<std::int64_t>& shape, const std::string& what) {
  if (shape.size() == 3) return {shape[0], shape[1], shape[2]};
  if (shape.size() == 2) return {1, shape[0], shape[1]};
  std::string dims;
  for (auto d : shape) {
    if (!dims.empty()) dims.push_back(',');
    dims.append(std::to_string(d));
  }
  throw InputError(fmt::format("{}: convolutions need image data (samples of shape C x H x W or H x W); its samples "
                               "have shape [{}]",
                               what, dims));
}

Network kaiming_network(const Shape3& input, const std::vector<LayerSpec>& arch, int outputs, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  auto fill = [&](Eigen::MatrixXd& w, Eigen::Index rows, Eigen::Index cols) {
    const double std = std::sqrt(2.0 / static_cast<double>(cols));
    w.resize(rows, cols);
    for (Eigen::Index i = 0; i < rows; ++i)
      for (Eigen::Index j = 0; j < cols; ++j) w(i, j) = normal(rng) * std;
  };
  if (outputs <= 0) throw InputError(fmt::format("layer sizes must be positive (got {} outputs)", outputs));
  std::vector<AffineLayer> layers;
  Shape3 shape = input;
  Eigen::Index features = input.size();
  for (std::size_t l = 0; l < arch.size(); ++l) {
    const LayerSpec& s = arch[l];
    const std::string context = fmt::format("--arch layer {} ({})", l + 1, layer_string(s));
    AffineLayer layer;
    if (s.conv) {
      if (layers.size() != l) throw InputError(fmt::format("{}: a convolution after a dense layer", context));
      if (s.kernel > shape.height + 2 * s.pad || s.kernel > shape.width + 2 * s.pad)
        throw InputError(fmt::format("{}: the kernel {}x{} is bigger than its padded input {}x{} (input {}x{}x{}, pad {})",
                                     context, s.kernel, s.kernel, shape.height + 2 * s.pad, shape.width + 2 * s.pad,
                                     shape.channels, shape.height, shape.width, s.pad));
      Window2d w;
      w.kernel_h = w.kernel_w = s.kernel;
      w.stride_h = w.stride_w = s.stride;
      w.pad_top = w.pad_left = w.pad_bottom = w.pad_right = s.pad;
      Eigen::MatrixXd weights;
      fill(weights, s.units, shape.channels * s.kernel * s.kernel);
      Conv2d conv(shape, s.units, w, 1, std::move(weights), Eigen::VectorXd(), context);
      const Shape3 out = conv.output();
      layer.structured = std::make_shared<const StructuredMap>(
          std::vector<StructuredMap::Segment>{{shape}}, std::vector<StructuredMap::Segment>{{out}},
          std::vector<StructuredMap::Block>{StructuredMap::Block{0, 0, {std::move(conv)}, {}}}, context);
      shape = out;
      features = out.size();
    } else {
      fill(layer.weights, s.units, features);
      features = s.units;
    }
    layer.bias = Eigen::VectorXd::Zero(features);
    layers.push_back(std::move(layer));
  }
  AffineLayer last;
  fill(last.weights, outputs, features);
  last.bias = Eigen::VectorXd::Zero(outputs);
  layers.push_back(std::move(last));
  return Network(std::move(layers));
}

Parameters<double> parameters_of(const Network& net) {
  Parameters<double> p;
  bool any_conv = false;
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    const AffineLayer& layer = net.layers[l];
    if (layer.is_dense()) {
      p.weights.push_back(layer.weights);
      p.biases.push_back(layer.bias);
      p.conv.emplace_back();
      continue;
    }
    auto refuse = [&](const char* why) {
      return InputError(fmt::format("layer {}: {}: training supports convolutional layers of one Conv2d (group 1) only",
                                    l + 1, why));
    };
    const StructuredMap& map = *layer.structured;
    if (map.input_segments().size() != 1 || map.output_segments().size() != 1 || map.blocks().size() != 1 ||
        map.blocks()[0].ops.size() != 1)
      throw refuse("a layer of several operators or segments");
    const Conv2d* conv = std::get_if<Conv2d>(&map.blocks()[0].ops[0]);
    if (!conv) throw refuse("not a convolution");
    if (conv->group() != 1) throw refuse("a grouped convolution");
    if (!conv->bias().isZero()) throw refuse("a convolution with a bias of its own");
    const Eigen::Index P = conv->output().positions(), O = conv->output().channels;
    Eigen::VectorXd bias(O);
    for (Eigen::Index o = 0; o < O; ++o) {
      bias[o] = layer.bias[o * P];
      if ((layer.bias.segment(o * P, P).array() != bias[o]).any())
        throw refuse("the bias differs between positions of a channel");
    }
    p.weights.push_back(conv->weights());
    p.biases.push_back(bias);
    p.conv.emplace_back(ConvGeometry{conv->input(), O, conv->window()});
    any_conv = true;
  }
  if (!any_conv) p.conv.clear();
  return p;
}

void set_parameters(Network& net, const Parameters<double>& p) {
  for (std::size_t l = 0; l < p.layers(); ++l) {
    AffineLayer& layer = net.layers[l];
    if (!p.is_conv(l)) {
      layer.weights = p.weights[l];
      layer.bias = p.biases[l];
      continue;
    }
    const ConvGeometry& g = *p.conv[l];
    const std::string context = fmt::format("trained layer {}", l + 1);
    Conv2d conv(g.input, g.out_channels, g.window, 1, p.weights[l], Eigen::VectorXd(), context);
    const Shape3 out = conv.output();
    layer.structured = std::make_shared<const StructuredMap>(
        std::vector<StructuredMap::Segment>{{g.input}}, std::vector<StructuredMap::Segment>{{out}},
        std::vector<StructuredMap::Block>{StructuredMap::Block{0, 0, {std::move(conv)}, {}}}, context);
    layer.weights.resize(0, 0);
    layer.bias.resize(out.size());
    for (Eigen::Index o = 0; o < out.channels; ++o) layer.bias.segment(o * out.positions(), out.positions()).setConstant(p.biases[l][o]);
  }
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
  const bool conv_arch = std::any_of(opt.arch.begin(), opt.arch.end(), [](const LayerSpec& s) { return s.conv; });
  if (conv_arch && opt.regularisation.rs != 0.0)
    throw InputError("--rs: the ReLU-stability loss is not supported on convolutional layers yet");
  Network net = initial            ? *initial
                : opt.arch.empty() ? kaiming_network(static_cast<int>(train.inputs()), opt.hidden, std::max(classes, 2), opt.seed)
                                   : kaiming_network(conv_arch ? image_shape(train.shape, train.name)
                                                               : Shape3{train.inputs(), 1, 1},
                                                     opt.arch, std::max(classes, 2), opt.seed);
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

  Parameters<float> params = cast_parameters<float>(parameters_of(net));
  Parameters<float> grad = params.zeros_like();
  Parameters<float> m1 = params.zeros_like();  // SGD momentum buffer / Adam first moment
  Parameters<float> m2 = opt.optimizer == OptimizerKind::adam ? params.zeros_like() : Parameters<float>();
  Workspace<float> work, test_work;

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
      m.test_accuracy = 100.0 * static_cast<double>(correct_float(params, Xtest, test->labels, test_work)) /
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

  set_parameters(net, cast_parameters<double>(params));
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
