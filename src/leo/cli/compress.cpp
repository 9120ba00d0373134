// `leo compress IN -o OUT [domain options] [--time-limit S] [--fold-layers auto|always|never]
//                        [--dtype float|double] [--tolerance T] [--json]`
// Analyses stability over the domain (stability/cascade.hpp), applies the
// lossless rewrites until nothing changes (compress/compress.hpp), checks the
// result against the original (verify/verify.hpp: probes, random points,
// gradient search) and only then writes OUT atomically. A failed check writes
// nothing and exits 3.
#include <fmt/core.h>
#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <iostream>

#include "leo/cli/command.hpp"
#include "leo/cli/domain_options.hpp"
#include "leo/cli/model_io.hpp"
#include "leo/compress/compress.hpp"
#include "leo/stability/analysis_json.hpp"
#include "leo/stability/cascade.hpp"
#include "leo/util/atomic_file.hpp"
#include "leo/util/deadline.hpp"
#include "leo/util/error.hpp"
#include "leo/util/progress.hpp"
#include "leo/verify/verify.hpp"

namespace leo::cli {
namespace {

namespace fs = std::filesystem;

struct CompressArgs {
  std::string in;
  std::string out;
  DomainOptions domain;
  double time_limit = 0;
  std::string fold_layers = "auto";
  std::string dtype;
  double tolerance = default_equivalence_tolerance;
  std::uint64_t seed = 1;
  bool json = false;
};

std::string widths_text(const Network& net) {
  auto w = net.widths();
  if (w.empty()) return "(none)";
  return fmt::format("{}", fmt::join(w, " "));
}

double percent_removed(std::int64_t before, std::int64_t after) {
  return before > 0 ? 100.0 * static_cast<double>(before - after) / static_cast<double>(before) : 0.0;
}

// The weights as they will be stored: rounded to float32 unless double was asked for.
Network as_stored(const Network& net, ElementType type) {
  if (type == ElementType::float64) return net;
  Network out = net;
  for (auto& layer : out.layers) {
    layer.weights = layer.weights.cast<float>().cast<double>();
    layer.bias = layer.bias.cast<float>().cast<double>();
  }
  return out;
}

void check_writable(const fs::path& out, const fs::path& in) {
  check_output_path(out, {in});
  fs::path folder = out.parent_path();
  if (folder.empty()) folder = ".";
  if (::access(folder.c_str(), W_OK) != 0)
    throw InputError(fmt::format("{}: cannot write in folder {}", out.string(), folder.string()));
}

std::string domain_text(const Domain& d) {
  std::string s = d.description;
  if (d.box.size() > 0) {
    double lo = d.box.lower.minCoeff(), hi = d.box.upper.maxCoeff();
    s += fmt::format(" ({} features, bounds within [{}, {}])", d.box.size(), lo, hi);
  }
  return s;
}

Run setup_compress(CLI::App& app) {
  auto args = std::make_shared<CompressArgs>();
  app.add_option("IN", args->in, "The model to compress (ONNX or .nnet)")->required();
  app.add_option("-o,--output", args->out, "Where to write the compressed model (.nnet by extension, else ONNX)")
      ->required();
  add_domain_options(app, args->domain);
  add_model_size_option(app);
  app.add_option("--time-limit", args->time_limit,
                 "Wall-clock seconds for the stability analysis; units not decided by then are kept")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--fold-layers", args->fold_layers,
                 "Fold fully stable layers into the next: auto (when it lowers the parameter count), always, never")
      ->capture_default_str();
  app.add_option("--dtype", args->dtype, "Weights of the written model: float or double (default: as IN)")
      ->check(CLI::IsMember({"float", "double"}));
  app.add_option("--tolerance", args->tolerance,
                 "Largest |f(x) - f'(x)| accepted by the check before writing")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", args->seed, "Random seed (analysis samples and the check)")->capture_default_str();
  app.add_flag("--json", args->json, "Print one JSON object instead of the summary");
  return [args]() {
    Stopwatch watch;
    const fs::path in = args->in, out = args->out;
    FoldLayers fold = parse_fold_layers(args->fold_layers);
    check_writable(out, in);
    Network original = load_model_file(in);
    original.validate(in.string());
    Domain domain = make_domain(args->domain, original);
    ElementType type = args->dtype.empty() ? original.input.type
                       : args->dtype == "double" ? ElementType::float64
                                                 : ElementType::float32;

    AnalyzeOptions analyze_options;
    analyze_options.time_limit = args->time_limit;
    analyze_options.seed = args->seed;
    Analysis analysis = analyze(original, domain, analyze_options);

    Progress::global().report("compress", "applying the rewrites");
    CompressOptions options;
    options.fold_layers = fold;
    CompressResult result = compress(original, analysis, domain.box, options);
    Network written = result.changed() ? as_stored(result.network(), type) : original;

    Progress::global().report("compress", "checking the result against the original");
    VerifyOptions check;
    check.tolerance = args->tolerance;
    check.seed = static_cast<unsigned>(args->seed);
    VerifyResult deviation = verify_equivalence(original, written, domain.box, domain.probes, check);
    if (!deviation.within_tolerance()) {
      std::string where;
      for (Eigen::Index i = 0; i < deviation.worst_input.size() && i < 8; ++i)
        where += fmt::format("{}{:.6g}", i ? ", " : "", deviation.worst_input[i]);
      if (deviation.worst_input.size() > 8) where += ", ...";
      throw Error(ExitCode::check_failed,
                  fmt::format("{}: not written: the compressed network differs from {} by {:.6g} > tolerance {:.3g} "
                              "at output {} (found by {} search at x = [{}])",
                              out.string(), in.string(), deviation.max_abs_deviation, args->tolerance,
                              deviation.worst_output, deviation.found_by, where));
    }

    std::int64_t params_before = original.parameters();
    written.metadata["leo.version"] = LEO_VERSION;
    written.metadata["leo.original_parameters"] =
        std::to_string(original.source_parameters >= 0 ? original.source_parameters : params_before);
    written.metadata["leo.domain"] = domain_text(domain);
    written.metadata["leo.max_abs_deviation"] = fmt::format("{:.6g}", deviation.max_abs_deviation);
    save_model_file(written, out, type, {in});

    const Network& after = written;
    double seconds = watch.seconds();
    if (args->json) {
      nlohmann::json j;
      j["input"] = in.string();
      j["output"] = out.string();
      j["domain"] = domain_text(domain);
      j["units_before"] = original.widths();
      j["units_after"] = after.widths();
      j["hidden_units_before"] = original.hidden_units();
      j["hidden_units_after"] = after.hidden_units();
      j["layers_before"] = original.depth();
      j["layers_after"] = after.depth();
      j["params_before"] = params_before;
      j["params_after"] = after.parameters();
      j["multiply_adds_before"] = original.multiply_adds();
      j["multiply_adds_after"] = after.multiply_adds();
      j["max_abs_deviation"] = deviation.max_abs_deviation;
      j["tolerance"] = args->tolerance;
      j["points_checked"] = deviation.points_evaluated;
      j["dtype"] = type == ElementType::float64 ? "double" : "float";
      j["fold_layers"] = to_string(fold);
      auto& steps = j["rewrites"] = nlohmann::json::array();
      for (const auto& s : result.steps)
        steps.push_back({{"rewrite", to_string(s.kind)}, {"layer", s.layer}, {"units", s.units}, {"detail", s.detail}});
      j["time_seconds"] = seconds;
      j["analysis"] = to_json(analysis);
      std::cout << j.dump() << "\n";
    } else {
      std::int64_t units_removed[7] = {};
      for (const auto& s : result.steps) units_removed[static_cast<int>(s.kind)] += s.units;
      std::cout << fmt::format("model:           {} -> {}\n", in.string(), out.string());
      std::cout << fmt::format("domain:          {}\n", domain_text(domain));
      std::cout << fmt::format("units per layer: {} -> {}\n", widths_text(original), widths_text(after));
      std::cout << fmt::format("hidden units:    {} -> {} ({:.1f}% removed)\n", original.hidden_units(),
                               after.hidden_units(), percent_removed(original.hidden_units(), after.hidden_units()));
      std::cout << fmt::format("layers:          {} -> {}\n", original.depth(), after.depth());
      std::cout << fmt::format("parameters:      {} -> {} ({:.1f}% removed)\n", params_before, after.parameters(),
                               percent_removed(params_before, after.parameters()));
      std::cout << fmt::format("multiply-adds:   {} -> {} ({:.1f}% removed)\n", original.multiply_adds(),
                               after.multiply_adds(),
                               percent_removed(original.multiply_adds(), after.multiply_adds()));
      std::cout << fmt::format(
          "rewrites:        {} inactive, {} dependent active, {} constant, {} duplicate, {} zero-outgoing units "
          "removed; {} layers folded{}\n",
          units_removed[static_cast<int>(RewriteKind::inactive_unit)],
          units_removed[static_cast<int>(RewriteKind::dependent_active)],
          units_removed[static_cast<int>(RewriteKind::constant_unit)],
          units_removed[static_cast<int>(RewriteKind::duplicate_unit)],
          units_removed[static_cast<int>(RewriteKind::zero_outgoing)],
          std::count_if(result.steps.begin(), result.steps.end(),
                        [](const RewriteStep& s) { return s.kind == RewriteKind::layer_fold; }),
          result.state.constant() && result.changed() ? "; the network is constant on the domain" : "");
      std::cout << fmt::format("max deviation:   {:.3g} (tolerance {:.3g}, {} points checked)\n",
                               deviation.max_abs_deviation, args->tolerance, deviation.points_evaluated);
      std::cout << fmt::format("time:            {:.2f} s (analysis {:.2f} s{})\n", seconds, analysis.time_seconds,
                               analysis.timed_out ? ", time limit reached: undecided units kept" : "");
    }
    std::cout.flush();
    return 0;
  };
}

Registration reg{{"compress", "Write a smaller network that computes the same function on the domain", 30,
                  setup_compress}};

}  // namespace
}  // namespace leo::cli
