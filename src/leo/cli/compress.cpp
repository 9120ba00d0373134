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
#include "leo/compress/stored.hpp"
#include "leo/network/evaluate_float.hpp"
#include "leo/verify/check.hpp"
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

    Progress::global().report("compress", "applying the rewrites, checking the model as written");
    CompressOptions options;
    options.fold_layers = fold;
    VerifyOptions check_options;
    check_options.tolerance = args->tolerance;
    check_options.seed = static_cast<unsigned>(args->seed);
    CheckedCompression checked;
    try {
      checked = compress_checked(original, analysis, domain.box, domain.probes, type, options, check_options);
    } catch (const NotStorable& e) {
      throw Error(ExitCode::check_failed,
                  fmt::format("{}: not written: {}{}", out.string(), e.what(),
                              type == ElementType::float32 ? " (--dtype double may hold it)" : ""));
    }
    const CompressResult& result = checked.compression;
    const WrittenModelCheck& check = checked.check;
    if (!checked.passed()) {
      const VerifyResult& deviation = check.worst();
      std::string where;
      for (Eigen::Index i = 0; i < deviation.worst_input.size() && i < 8; ++i)
        where += fmt::format("{}{:.6g}", i ? ", " : "", deviation.worst_input[i]);
      if (deviation.worst_input.size() > 8) where += ", ...";
      throw Error(ExitCode::check_failed,
                  fmt::format("{}: not written: the {} model differs from {} by {:.6g} > tolerance {:.3g} "
                              "({} arithmetic; {} in double) at output {} (found by {} search at x = [{}])",
                              out.string(), arithmetic_name(type), in.string(), deviation.max_abs_deviation,
                              args->tolerance,
                              &deviation == &check.in_double
                                  ? "double"
                                  : fmt::format("{} vs {}", arithmetic_name(check.original_arithmetic),
                                                arithmetic_name(check.written_arithmetic)),
                              fmt::format("{:.3g}", check.in_double.max_abs_deviation), deviation.worst_output,
                              deviation.found_by, where) +
                      (type == ElementType::float32 ? "; --dtype double stores the weights unrounded" : ""));
    }
    Network written = check.written;
    const double max_deviation = check.worst().max_abs_deviation;

    std::int64_t params_before = original.parameters();
    written.metadata["leo.version"] = LEO_VERSION;
    written.metadata["leo.original_parameters"] =
        std::to_string(original.source_parameters >= 0 ? original.source_parameters : params_before);
    written.metadata["leo.domain"] = domain_text(domain);
    written.metadata["leo.max_abs_deviation"] = fmt::format("{:.6g}", max_deviation);
    written.metadata["leo.max_abs_deviation_double"] = fmt::format("{:.6g}", check.in_double.max_abs_deviation);
    written.metadata["leo.max_abs_deviation_stored"] = fmt::format("{:.6g}", check.as_deployed.max_abs_deviation);
    written.metadata["leo.check_arithmetic"] = fmt::format("{} vs {}", arithmetic_name(check.original_arithmetic),
                                                            arithmetic_name(check.written_arithmetic));
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
      j["max_abs_deviation"] = max_deviation;
      j["max_abs_deviation_double"] = check.in_double.max_abs_deviation;
      j["max_abs_deviation_stored"] = check.as_deployed.max_abs_deviation;
      j["check"] = to_json(check);
      j["check"]["candidate"] = checked.candidate;
      auto& tried = j["check"]["tried"] = nlohmann::json::array();
      for (const auto& t : checked.tried)
        tried.push_back({{"candidate", t.candidate},
                         {"max_abs_deviation_double", t.max_abs_deviation_double},
                         {"max_abs_deviation_stored", t.max_abs_deviation_stored},
                         {"passed", t.passed}});
      j["tolerance"] = args->tolerance;
      j["points_checked"] = check.points_checked();
      auto& kept = j["kept_units"] = nlohmann::json::array();
      for (const auto& layer : result.kept_units())
        kept.push_back({{"original_layer", layer.original_layer}, {"units", layer.units}});
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
      std::cout << fmt::format("max deviation:   {:.3g} in {} vs {} arithmetic, {:.3g} in double (tolerance {:.3g}, "
                               "{} points checked)\n",
                               check.as_deployed.max_abs_deviation, arithmetic_name(check.original_arithmetic),
                               arithmetic_name(check.written_arithmetic), check.in_double.max_abs_deviation,
                               args->tolerance, check.points_checked());
      if (checked.candidate != "rewrites")
        std::cout << fmt::format("fallback:        the rewritten model failed the check in {} arithmetic ({:.3g}); "
                                 "wrote the {} model\n",
                                 arithmetic_name(type), checked.tried.front().max_abs_deviation_stored,
                                 checked.candidate);
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
