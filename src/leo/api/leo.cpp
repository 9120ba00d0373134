#include "leo/api/leo.hpp"

#include <fmt/core.h>
#include <fmt/format.h>
#include <stdlib.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>
#include <thread>

#include "leo/domain/box_file.hpp"
#include "leo/domain/probes.hpp"
#include "leo/domain/vnnlib.hpp"
#include "leo/io/nnet.hpp"
#include "leo/compress/stored.hpp"
#include "leo/network/evaluate_float.hpp"
#include "leo/util/progress.hpp"
#include "leo/util/threads.hpp"

namespace leo::api {
namespace fs = std::filesystem;

// --- options -----------------------------------------------------------------

std::vector<fs::path> DomainOptions::files() const {
  std::vector<fs::path> out;
  for (const auto& f : {box_file, vnnlib, probes})
    if (!f.empty()) out.push_back(f);
  return out;
}

void set_analysis_choices(AnalyzeOptions& options, const std::string& stages, const std::string& exact,
                          const std::string& baseline) {
  options.stages = parse_stages(stages.empty() ? "all" : stages);
  options.exact = parse_exact(exact.empty() ? "per-unit" : exact);
  if (!baseline.empty()) apply_baseline(options, baseline);
}

AnalyzeOptions default_analyze_options() {
  AnalyzeOptions options;
  options.seed = kDefaultSeed;
  options.threads = kDefaultThreads;
  options.time_limit = kDefaultTimeLimit;
  return options;
}

ElementType parse_dtype(const std::string& text, const std::string& what) {
  if (text == "float" || text == "float32") return ElementType::float32;
  if (text == "double" || text == "float64") return ElementType::float64;
  throw InputError(fmt::format("{}: '{}' is not an element type (float, double, float32 or float64)", what, text));
}

const char* dtype_name(ElementType type) { return type == ElementType::float64 ? "double" : "float"; }

// --- models ------------------------------------------------------------------
namespace {

// A private folder under the system's temporary folder, removed with its
// content when the object goes away. Used to hand bytes to the file readers
// and writers of io/.
class ScratchFolder {
 public:
  ScratchFolder() {
    std::string pattern = (fs::temp_directory_path() / "leo-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr)
      throw Error(ExitCode::internal, fmt::format("cannot create a temporary folder in {}",
                                                  fs::temp_directory_path().string()));
    path_ = pattern;
  }
  ~ScratchFolder() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  ScratchFolder(const ScratchFolder&) = delete;
  ScratchFolder& operator=(const ScratchFolder&) = delete;
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string replace_all(std::string text, const std::string& from, const std::string& to) {
  if (from.empty()) return text;
  for (std::size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size()))
    text.replace(at, from.size(), to);
  return text;
}

// .nnet files are text; ONNX files are protobuf (binary from the first bytes).
bool looks_like_text(const std::string& bytes) {
  const std::size_t n = std::min<std::size_t>(bytes.size(), 4096);
  if (n == 0) return false;
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(bytes[i]);
    if (c < 0x20 && c != '\n' && c != '\r' && c != '\t') return false;
    if (c == 0x7f) return false;
  }
  return true;
}

}  // namespace

Network load_model(const fs::path& path, const LoadOptions& options) {
  ModelReadOptions read;
  read.max_bytes = options.max_bytes;
  Network net = read_model(path, read);
  if (options.validate) net.validate(path.string());
  return net;
}

Network load_model_bytes(const std::string& bytes, const std::string& name, const LoadOptions& options) {
  if (bytes.size() > options.max_bytes)
    throw InputError(fmt::format("{}: the model has {} bytes, more than the limit of {}", name, bytes.size(),
                                 options.max_bytes));
  if (bytes.empty()) throw InputError(fmt::format("{}: empty model (no bytes)", name));
  const bool nnet = looks_like_text(bytes);
  Network net;
  if (nnet) {
    net = parse_nnet(bytes, name);
  } else {
    ScratchFolder scratch;
    const fs::path file = scratch.path() / "model.onnx";
    {
      std::ofstream out(file, std::ios::binary | std::ios::trunc);
      out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      out.close();
      if (!out) throw Error(ExitCode::internal, fmt::format("{}: cannot stage the model's bytes in {}", name,
                                                            scratch.path().string()));
    }
    ModelReadOptions read;
    read.max_bytes = options.max_bytes;
    try {
      net = read_model(file, read);
    } catch (const Error& e) {
      std::string message = replace_all(e.what(), file.string(), name);
      if (e.code() == ExitCode::bad_input) throw InputError(message);
      throw Error(e.code(), message);
    }
  }
  if (options.validate) net.validate(name);
  return net;
}

void save_model(const Network& network, const fs::path& path, const SaveOptions& options) {
  ModelWriteOptions write;
  write.type = options.dtype.value_or(network.input.type);
  write.inputs = options.inputs;
  write_model(network, path, write);
}

std::string save_model_bytes(const Network& network, const SaveOptions& options, ModelFormat format) {
  const ElementType type = options.dtype.value_or(network.input.type);
  if (format == ModelFormat::nnet) {
    std::ostringstream out;
    write_nnet(network, out, type);
    return out.str();
  }
  ScratchFolder scratch;
  const fs::path file = scratch.path() / "model.onnx";
  ModelWriteOptions write;
  write.type = type;
  write_model(network, file, write);
  std::ifstream in(file, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) throw Error(ExitCode::internal, "cannot read back the serialised model");
  return bytes;
}

// --- domains -----------------------------------------------------------------

Domain make_domain(const DomainOptions& options, const Network& network) {
  const Eigen::Index n = network.inputs();
  const bool vectors = !options.lower.empty() || !options.upper.empty();
  const int sources = !options.box.empty() + vectors + !options.box_file.empty() + !options.vnnlib.empty();
  if (sources > 1)
    throw InputError("domain: give at most one of a box (LO,HI), lower/upper bounds, a box file and a VNN-LIB file");
  Domain d;
  if (!options.box.empty()) {
    d.box = parse_box_spec(options.box, n, "--box");
    d.description = fmt::format("box [{}]^{}", options.box, n);
    d.box.validate(n, "--box");
  } else if (vectors) {
    if (options.lower.size() != options.upper.size())
      throw InputError(fmt::format("domain: {} lower bounds but {} upper bounds", options.lower.size(),
                                   options.upper.size()));
    if (options.lower.size() == 1) {
      d.box = Box::uniform(n, options.lower[0], options.upper[0]);
      d.description = fmt::format("box [{},{}]^{}", options.lower[0], options.upper[0], n);
    } else {
      if (static_cast<Eigen::Index>(options.lower.size()) != n)
        throw InputError(fmt::format("domain: {} bounds given but the model has {} inputs", options.lower.size(), n));
      d.box = Box(Eigen::Map<const Eigen::VectorXd>(options.lower.data(), n),
                  Eigen::Map<const Eigen::VectorXd>(options.upper.data(), n));
      d.description = fmt::format("box of {} per-feature bounds", n);
    }
    d.box.validate(n, "domain");
  } else if (!options.box_file.empty()) {
    d.box = read_box_file(options.box_file);
    d.description = fmt::format("box file {}", options.box_file.string());
    d.box.validate(n, options.box_file.string());
  } else if (!options.vnnlib.empty()) {
    d.box = read_vnnlib_box(options.vnnlib);
    d.description = fmt::format("input box of {}", options.vnnlib.string());
    d.box.validate(n, options.vnnlib.string());
  } else {
    std::string description;
    auto box = default_box(network, &description);
    if (!box)
      throw InputError(fmt::format("the model has no default input domain ({} inputs, not an image net, no "
                                   "nnet.input_min/max metadata): give one with --box LO,HI, --box-file FILE or "
                                   "--vnnlib FILE",
                                   n));
    d.box = std::move(*box);
    d.description = description;
  }
  for (Eigen::Index i = 0; i < d.box.size(); ++i)
    if (!std::isfinite(d.box.lower[i]) || !std::isfinite(d.box.upper[i]))
      throw InputError(fmt::format("domain: feature {} has an infinite bound [{}, {}]: leo needs a bounded box", i,
                                   d.box.lower[i], d.box.upper[i]));
  std::vector<Eigen::MatrixXd> parts;
  if (!options.probes.empty()) {
    parts.push_back(read_probe_points(options.probes, d.box));
    d.description += fmt::format(", {} probe points from {}", parts.back().cols(), options.probes.string());
  }
  if (options.probe_points.rows() > 0) {
    if (options.probe_points.cols() != n)
      throw InputError(fmt::format("probe points: {} features per point but the model has {} inputs",
                                   options.probe_points.cols(), n));
    Eigen::MatrixXd columns = options.probe_points.transpose();
    check_points_in_box(columns, d.box, "probe points");
    parts.push_back(std::move(columns));
    d.description += fmt::format(", {} probe points", parts.back().cols());
  }
  Eigen::Index total = 0;
  for (const auto& p : parts) total += p.cols();
  d.probes.resize(n, total);
  Eigen::Index at = 0;
  for (const auto& p : parts) {
    d.probes.middleCols(at, p.cols()) = p;
    at += p.cols();
  }
  return d;
}

// --- analysis ----------------------------------------------------------------

AnalysisCounts count_units(const Analysis& analysis) {
  AnalysisCounts c;
  for (std::size_t h = 0; h < analysis.layers.size(); ++h)
    for (std::size_t i = 0; i < analysis.layers[h].size(); ++i) {
      if (analysis.is_carry(h, static_cast<Eigen::Index>(i))) continue;  // not a unit of the model
      const UnitVerdict& unit = analysis.layers[h][i];
      ++c.units;
      switch (unit.status) {
        case Status::active: ++c.active; break;
        case Status::inactive: ++c.inactive; break;
        case Status::unstable: ++c.unstable; break;
        default: ++c.undecided; break;
      }
    }
  return c;
}

// --- compression -------------------------------------------------------------
namespace {

std::string json_array(const Eigen::VectorXd& v) {
  nlohmann::json j = std::vector<double>(v.data(), v.data() + v.size());
  return j.dump();
}

}  // namespace

std::string domain_text(const Domain& d) {
  std::string s = d.description;
  if (d.box.size() > 0) {
    double lo = d.box.lower.minCoeff(), hi = d.box.upper.maxCoeff();
    s += fmt::format(" ({} features, bounds within [{}, {}])", d.box.size(), lo, hi);
  }
  return s;
}

std::vector<RewriteCount> CompressModelResult::removed() const {
  std::vector<RewriteCount> counts;
  auto slot = [&](RewriteKind kind) -> RewriteCount& {
    for (auto& c : counts)
      if (c.kind == kind) return c;
    counts.push_back({kind, 0, 0});
    return counts.back();
  };
  for (auto kind : {RewriteKind::inactive_unit, RewriteKind::dependent_active, RewriteKind::constant_unit,
                    RewriteKind::duplicate_unit, RewriteKind::zero_outgoing, RewriteKind::layer_fold,
                    RewriteKind::dead_layer, RewriteKind::inactive_channel, RewriteKind::constant_channel})
    slot(kind);
  for (const auto& s : rewrite.steps) {
    auto& c = slot(s.kind);
    c.units += (s.kind == RewriteKind::layer_fold || s.kind == RewriteKind::dead_layer) ? 1 : s.units;
    ++c.steps;
  }
  return counts;
}

CompressModelResult compress_model(const Network& network, const Domain& domain,
                                   const CompressModelOptions& options) {
  const auto start = std::chrono::steady_clock::now();
  network.validate("model");
  if (!(options.tolerance >= 0) || !std::isfinite(options.tolerance))
    throw InputError(fmt::format("--tolerance: {} is not a finite number >= 0", options.tolerance));
  CompressModelResult r;
  r.original = network;
  r.domain = domain;
  r.tolerance = options.tolerance;
  r.fold_layers = options.rewrite.fold_layers;
  r.dtype = options.dtype.value_or(network.input.type);

  r.analysis = analyze(network, domain, options.analysis);

  Progress::global().report("compress", "applying the rewrites, checking the model as written");
  VerifyOptions check;
  check.tolerance = options.tolerance;
  check.random_points = options.check_points;
  check.seed = static_cast<unsigned>(options.analysis.seed);
  // The check's search on the analysis' threads (0: every core); its result does not depend on them.
  check.threads = options.analysis.threads > 0 ? effective_threads(options.analysis.threads) : hardware_threads();
  CheckedCompression checked;
  try {
    checked = compress_checked(network, r.analysis, domain.box, domain.probes, r.dtype, options.rewrite, check);
  } catch (const NotStorable& e) {
    throw Error(ExitCode::check_failed,
                fmt::format("not written: {}{}", e.what(),
                            r.dtype == ElementType::float32 ? " (--dtype double may hold it)" : ""));
  }
  r.rewrite = std::move(checked.compression);
  r.stored_check = std::move(checked.check);
  r.candidate = std::move(checked.candidate);
  r.tried = std::move(checked.tried);
  r.check = r.stored_check.worst();
  if (!r.stored_check.passed()) {
    const VerifyResult& deviation = r.check;
    const WrittenModelCheck& c = r.stored_check;
    std::string where;
    for (Eigen::Index i = 0; i < deviation.worst_input.size() && i < 8; ++i)
      where += fmt::format("{}{:.6g}", i ? ", " : "", deviation.worst_input[i]);
    if (deviation.worst_input.size() > 8) where += ", ...";
    throw Error(ExitCode::check_failed,
                fmt::format("not written: the {} model differs from the original by {:.6g} > tolerance {:.3g} "
                            "({} arithmetic; {:.3g} in double) at output {} (found by {} search at x = [{}])",
                            arithmetic_name(r.dtype), deviation.max_abs_deviation, options.tolerance,
                            &deviation == &c.in_double || c.one_search()
                                ? std::string("double")
                                : fmt::format("{} vs {}", arithmetic_name(c.original_arithmetic),
                                              arithmetic_name(c.written_arithmetic)),
                            c.in_double.max_abs_deviation, deviation.worst_output, deviation.found_by, where) +
                    (r.dtype == ElementType::float32 ? "; --dtype double stores the weights unrounded" : ""));
  }
  r.compressed = r.stored_check.written;

  const std::int64_t params_before = network.parameters();
  auto& meta = r.compressed.metadata;
  meta["leo.version"] = LEO_VERSION;
  meta["leo.original_parameters"] =
      std::to_string(network.source_parameters >= 0 ? network.source_parameters : params_before);
  meta["leo.domain"] = domain_text(domain);
  meta["leo.domain.lower"] = json_array(domain.box.lower);
  meta["leo.domain.upper"] = json_array(domain.box.upper);
  meta["leo.max_abs_deviation"] = fmt::format("{:.6g}", r.check.max_abs_deviation);
  meta["leo.max_abs_deviation_double"] = fmt::format("{:.6g}", r.stored_check.in_double.max_abs_deviation);
  meta["leo.max_abs_deviation_stored"] = fmt::format("{:.6g}", r.stored_check.as_deployed.max_abs_deviation);
  meta["leo.check_arithmetic"] = fmt::format("{} vs {}", arithmetic_name(r.stored_check.original_arithmetic),
                                             arithmetic_name(r.stored_check.written_arithmetic));
  {
    nlohmann::json kept = nlohmann::json::array();
    for (const auto& layer : r.rewrite.kept_units())
      kept.push_back({{"original_layer", layer.original_layer}, {"units", layer.units}});
    meta["leo.kept_units"] = kept.dump();
  }
  r.time_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return r;
}

nlohmann::json to_json(const CompressModelResult& r, const std::string& input_name, const std::string& output_name) {
  const Network& before = r.original;
  const Network& after = r.compressed;
  const AnalysisCounts counts = count_units(r.analysis);
  nlohmann::json j;
  j["input"] = input_name;
  j["output"] = output_name;
  j["domain"] = domain_text(r.domain);
  j["domain_lower"] = std::vector<double>(r.domain.box.lower.data(), r.domain.box.lower.data() + r.domain.box.size());
  j["domain_upper"] = std::vector<double>(r.domain.box.upper.data(), r.domain.box.upper.data() + r.domain.box.size());
  // Units of the model; values carried for a skip connection apart (never removed).
  j["units_before"] = before.model_widths();
  j["units_after"] = after.model_widths();
  j["hidden_units_before"] = before.model_units();
  j["hidden_units_after"] = after.model_units();
  if (before.carried_units() > 0 || after.carried_units() > 0) {
    j["carried_units_before"] = before.carried_units();
    j["carried_units_after"] = after.carried_units();
  }
  j["undecided_units"] = counts.undecided;
  j["layers_before"] = before.depth();
  j["layers_after"] = after.depth();
  j["parameters_before"] = before.parameters();
  j["parameters_after"] = after.parameters();
  j["multiply_adds_before"] = before.multiply_adds();
  j["multiply_adds_after"] = after.multiply_adds();
  j["max_abs_deviation"] = r.check.max_abs_deviation;
  j["max_abs_deviation_double"] = r.stored_check.in_double.max_abs_deviation;
  j["max_abs_deviation_stored"] = r.stored_check.as_deployed.max_abs_deviation;
  j["check"] = leo::to_json(r.stored_check);
  j["check"]["candidate"] = r.candidate;
  auto& tried = j["check"]["tried"] = nlohmann::json::array();
  for (const auto& t : r.tried)
    tried.push_back({{"candidate", t.candidate},
                     {"max_abs_deviation_double", t.max_abs_deviation_double},
                     {"max_abs_deviation_stored", t.max_abs_deviation_stored},
                     {"passed", t.passed}});
  j["tolerance"] = r.tolerance;
  j["points_checked"] = r.stored_check.points_checked();
  auto& kept = j["kept_units"] = nlohmann::json::array();
  for (const auto& layer : r.rewrite.kept_units())
    kept.push_back({{"original_layer", layer.original_layer}, {"units", layer.units}});
  j["dtype"] = dtype_name(r.dtype);
  j["fold_layers"] = to_string(r.fold_layers);
  auto& steps = j["rewrites"] = nlohmann::json::array();
  for (const auto& s : r.rewrite.steps)
    steps.push_back({{"rewrite", to_string(s.kind)}, {"layer", s.layer}, {"units", s.units}, {"detail", s.detail}});
  auto& removed = j["removed"] = nlohmann::json::object();
  for (const auto& c : r.removed()) removed[to_string(c.kind)] = c.units;
  // Structured layers: channels removed, and stable units that stay (stable
  // at only some positions of their channel, or kept by the channel rule).
  int channels_removed = 0;
  for (const auto& s : r.rewrite.steps) channels_removed += s.channels;
  const StableKept kept_stable = r.rewrite.stable_kept();
  j["channels_removed"] = channels_removed;
  j["stable_units_kept"] = kept_stable.units;
  j["stable_units_kept_channels"] = kept_stable.channels;
  j["time_seconds"] = r.time_seconds;
  j["analysis"] = leo::to_json(r.analysis);
  return j;
}

// --- equivalence -------------------------------------------------------------

VerifyResult verify(const Network& a, const Network& b, const Box& box, const Eigen::MatrixXd& probes,
                    VerifyOptions options) {
  if (options.threads == 0) options.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  if (!(options.tolerance >= 0) || !std::isfinite(options.tolerance))
    throw InputError(fmt::format("--tolerance: {} is not a finite number >= 0", options.tolerance));
  return verify_equivalence(a, b, box, probes, options);
}

}  // namespace leo::api
