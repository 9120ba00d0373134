// `leo compress IN -o OUT [domain options] [analysis options] [--time-limit S]
//                        [--fold-layers auto|always|never] [--dtype float|double] [--tolerance T] [--json]`
// A thin layer over api::compress_model (analysis, rewrites, check) and
// api::save_model: prints the summary (or --json) and writes OUT atomically.
// A failed check writes nothing and exits 3.
#include <fmt/core.h>
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "leo/util/cluster.hpp"
#include "leo/api/leo.hpp"
#include "leo/cli/command.hpp"
#include "leo/cli/domain_options.hpp"
#include "leo/cli/model_io.hpp"
#include "leo/cli/options.hpp"
#include "leo/compress/certificate.hpp"
#include "leo/cli/outputs.hpp"
#include "leo/network/evaluate_float.hpp"
#include "leo/stability/certify.hpp"
#include "leo/util/error.hpp"

namespace leo::cli {
namespace {

namespace fs = std::filesystem;

struct CompressArgs {
  std::string in;
  std::string out;
  DomainOptions domain;
  AnalysisChoices analysis;
  double time_limit = api::kDefaultTimeLimit;
  int threads = api::kDefaultThreads;
  std::string fold_layers = "auto";
  std::string dtype;
  double tolerance = default_equivalence_tolerance;
  std::uint64_t seed = api::kDefaultSeed;
  bool json = false;
  std::string certificate;
};

// Units of the model per hidden layer; values carried for a skip connection are not units.
std::string widths_text(const Network& net) {
  auto w = net.model_widths();
  if (w.empty()) return "(none)";
  return fmt::format("{}", fmt::join(w, " "));
}

double percent_removed(std::int64_t before, std::int64_t after) {
  return before > 0 ? 100.0 * static_cast<double>(before - after) / static_cast<double>(before) : 0.0;
}

void print_summary(const api::CompressModelResult& r, const std::string& in, const std::string& out) {
  const Network& original = r.original;
  const Network& after = r.compressed;
  std::int64_t removed[4] = {};  // inactive, dependent active, constant, duplicate + zero-outgoing below
  std::int64_t zero_outgoing = 0, folded = 0;
  for (const auto& c : r.removed()) {
    switch (c.kind) {
      case RewriteKind::inactive_unit: removed[0] = c.units; break;
      case RewriteKind::dependent_active: removed[1] = c.units; break;
      case RewriteKind::constant_unit: removed[2] = c.units; break;
      case RewriteKind::duplicate_unit: removed[3] = c.units; break;
      case RewriteKind::zero_outgoing: zero_outgoing = c.units; break;
      case RewriteKind::layer_fold: folded = c.units; break;
      case RewriteKind::dead_layer: break;
      case RewriteKind::inactive_channel: break;
      case RewriteKind::constant_channel: break;
    }
  }
  int channels[2] = {};  // inactive, constant channels removed
  for (const auto& s : r.rewrite.steps)
    if (s.kind == RewriteKind::inactive_channel || s.kind == RewriteKind::constant_channel)
      channels[s.kind == RewriteKind::constant_channel] += s.channels;
  bool structured = false;
  for (const auto& layer : original.layers) structured |= !layer.is_dense();
  const api::AnalysisCounts counts = api::count_units(r.analysis);
  std::cout << fmt::format("model:           {} -> {}\n", in, out);
  std::cout << fmt::format("domain:          {}\n", api::domain_text(r.domain));
  std::cout << fmt::format("units per layer: {} -> {}\n", widths_text(original), widths_text(after));
  std::cout << fmt::format("hidden units:    {} -> {} ({:.1f}% removed){}\n", original.model_units(),
                           after.model_units(), percent_removed(original.model_units(), after.model_units()),
                           original.carried_units() > 0
                               ? fmt::format("; and {} -> {} carried for skip connections, not model units",
                                             original.carried_units(), after.carried_units())
                               : std::string());
  std::cout << fmt::format("analysis:        {} stably active, {} stably inactive, {} unstable, {} undecided\n",
                           counts.active, counts.inactive, counts.unstable, counts.undecided);
  std::cout << fmt::format("layers:          {} -> {}\n", original.depth(), after.depth());
  std::cout << fmt::format("parameters:      {} -> {} ({:.1f}% removed)\n", original.parameters(),
                           after.parameters(), percent_removed(original.parameters(), after.parameters()));
  std::cout << fmt::format("multiply-adds:   {} -> {} ({:.1f}% removed)\n", original.multiply_adds(),
                           after.multiply_adds(), percent_removed(original.multiply_adds(), after.multiply_adds()));
  std::cout << fmt::format(
      "rewrites:        {} inactive, {} dependent active, {} constant, {} duplicate, {} zero-outgoing units "
      "removed; {} layers folded{}\n",
      removed[0], removed[1], removed[2], removed[3], zero_outgoing, folded,
      r.rewrite.state.constant() && r.changed() ? "; the network is constant on the domain" : "");
  if (structured) {
    const StableKept kept = r.rewrite.stable_kept();
    std::cout << fmt::format("channels:        {} inactive, {} constant channels removed; {} stable units kept in {} "
                             "channels (stable at only some positions, or not removable)\n",
                             channels[0], channels[1], kept.units, kept.channels);
  }
  const WrittenModelCheck& check = r.stored_check;
  std::cout << fmt::format("max deviation:   {:.3g} in {} vs {} arithmetic, {:.3g} in double (tolerance {:.3g}, "
                           "{} points checked)\n",
                           check.as_deployed.max_abs_deviation, arithmetic_name(check.original_arithmetic),
                           arithmetic_name(check.written_arithmetic), check.in_double.max_abs_deviation, r.tolerance,
                           check.points_checked());
  if (r.candidate != "rewrites" && !r.tried.empty())
    std::cout << fmt::format("fallback:        the rewritten model failed the check in {} arithmetic ({:.3g}); "
                             "wrote the {} model\n",
                             arithmetic_name(r.dtype), r.tried.front().max_abs_deviation_stored, r.candidate);
  std::cout << fmt::format("time:            {:.2f} s (analysis {:.2f} s{})\n", r.time_seconds,
                           r.analysis.time_seconds,
                           r.analysis.timed_out
                               ? fmt::format(", time limit reached: {} undecided units kept", counts.undecided)
                               : std::string());
}

Run setup_compress(CLI::App& app) {
  auto args = std::make_shared<CompressArgs>();
  app.add_option("IN", args->in, "The model to compress (ONNX or .nnet)")->required();
  app.add_option("-o,--output", args->out, "Where to write the compressed model (.nnet by extension, else ONNX)")
      ->required();
  add_domain_options(app, args->domain);
  add_analysis_options(app, args->analysis);
  add_model_size_option(app);
  add_time_limit_option(app, args->time_limit,
                        "Wall-clock seconds for the stability analysis (0: none); units not decided by then are "
                        "kept");
  add_threads_option(app, args->threads);
  app.add_option("--fold-layers", args->fold_layers,
                 "Fold fully stable layers into the next: auto (when it lowers the parameter count), always, never")
      ->capture_default_str();
  add_dtype_option(app, args->dtype, "Weights of the written model: float or double (default: as IN)");
  add_tolerance_option(app, args->tolerance, "Largest |f(x) - f'(x)| accepted by the check before writing");
  add_seed_option(app, args->seed, "analysis samples and the check");
  app.add_flag("--json", args->json, "Print one JSON object instead of the summary");
  app.add_option("--certificate", args->certificate,
                 "Also write a certificate of the verdicts and of each rewrite's facts to FILE (docs/certificates.md; "
                 "re-check with leo check IN FILE --compressed OUT)");
  return [args]() {
    const fs::path in = args->in, out = args->out;
    CertificateRecorder recorder;
    api::CompressModelOptions options;
    options.rewrite.fold_layers = parse_fold_layers(args->fold_layers);
    api::set_analysis_choices(options.analysis, args->analysis.stages, args->analysis.exact, args->analysis.baseline);
    options.analysis.time_limit = args->time_limit;
    options.analysis.threads = args->threads;
    options.analysis.seed = args->seed;
    options.tolerance = args->tolerance;
    if (!args->dtype.empty()) options.dtype = api::parse_dtype(args->dtype);
    if (!args->certificate.empty()) options.analysis.certificate = &recorder;

    Outputs outputs;
    outputs.read_model(in);
    outputs.read(args->domain.files());
    outputs.add(out);
    if (!args->certificate.empty()) outputs.add(args->certificate, "--certificate");

    Network original = load_model_file(in, true);
    Domain domain = api::make_domain(args->domain, original);
    api::CompressModelResult result;
    try {
      result = api::compress_model(original, domain, options);
    } catch (const Error& e) {
      if (e.code() == ExitCode::check_failed) {
        std::string message = e.what();
        if (auto at = message.find("from the original"); at != std::string::npos)
          message.replace(at, 17, "from " + in.string());
        throw Error(e.code(), fmt::format("{}: {}", out.string(), message));
      }
      throw;
    }
    api::SaveOptions save;
    save.dtype = result.dtype;
    save.inputs = outputs.inputs();
    if (!args->certificate.empty() && cluster::primary()) {  // written first: no model without its certificate
      cert::Certificate c = make_certificate(original, result.analysis, recorder);
      c.command = "compress";
      c.compress = compress_claims(result.analysis, result.rewrite, result.compressed);
      cert::write_certificate(c, args->certificate);
    }
    if (cluster::primary()) api::save_model(result.compressed, out, save);  // mpirun: rank 0 writes

    if (args->json)
      std::cout << api::to_json(result, in.string(), out.string()).dump() << "\n";
    else
      print_summary(result, in.string(), out.string());
    std::cout.flush();
    return 0;
  };
}

Registration reg{{"compress", "Write a smaller network that computes the same function on the domain", 30,
                  setup_compress}};

}  // namespace
}  // namespace leo::cli
