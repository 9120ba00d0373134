// `leo analyze MODEL [domain options] [--stages ...] [--exact ...] [--baseline ...]
//                    [--time-limit S] [--seed N] [--threads N] [--json]`
// Decides, with proof, which ReLU units are stably active, stably inactive or
// unstable over the input domain (api::analyze, stability/cascade.hpp). A
// table on stdout, or one JSON object with --json (stability/analysis_json.hpp);
// progress on stderr.
#include <fmt/core.h>

#include <filesystem>
#include <iostream>

#include "leo/api/leo.hpp"
#include "leo/cli/command.hpp"
#include "leo/cli/domain_options.hpp"
#include "leo/cli/model_io.hpp"
#include "leo/cli/options.hpp"
#include "leo/cli/outputs.hpp"
#include "leo/stability/analysis_table.hpp"
#include "leo/stability/certify.hpp"
#include "leo/util/atomic_file.hpp"
#include "leo/util/cluster.hpp"

namespace leo::cli {
namespace {

struct AnalyzeArgs {
  std::string model;
  DomainOptions domain;
  AnalysisChoices analysis;
  double time_limit = api::kDefaultTimeLimit;
  std::uint64_t seed = api::kDefaultSeed;
  int threads = api::kDefaultThreads;
  bool json = false;
  std::string certificate;
};

Run setup_analyze(CLI::App& app) {
  auto args = std::make_shared<AnalyzeArgs>();
  app.add_option("MODEL", args->model, "The model (ONNX or .nnet)")->required();
  add_domain_options(app, args->domain);
  add_model_size_option(app);
  add_analysis_options(app, args->analysis);
  add_time_limit_option(app, args->time_limit,
                        "Wall-clock seconds (0: none); units not decided by then are reported undecided (treated "
                        "as unstable)");
  add_seed_option(app, args->seed, "samples, attack");
  add_threads_option(app, args->threads);
  app.add_flag("--json", args->json, "Print one JSON object instead of the table");
  app.add_option("--certificate", args->certificate,
                 "Also write a certificate of every verdict to FILE (docs/certificates.md; re-check with leo check)");
  return [args]() {
    if (!args->certificate.empty()) check_output_path(args->certificate, {args->model});
    CertificateRecorder recorder;
    AnalyzeOptions options = api::default_analyze_options();
    api::set_analysis_choices(options, args->analysis.stages, args->analysis.exact, args->analysis.baseline);
    options.time_limit = args->time_limit;
    options.seed = args->seed;
    options.threads = args->threads;
    if (!args->certificate.empty()) options.certificate = &recorder;
    Network network = load_model_file(args->model, false);
    Domain domain = api::make_domain(args->domain, network);
    Analysis analysis = api::analyze(network, domain, options);
    if (!args->certificate.empty() && cluster::primary()) {  // mpirun: rank 0 writes
      cert::write_certificate(make_certificate(network, analysis, recorder), args->certificate);
    }
    if (args->json)
      std::cout << to_json(analysis).dump() << "\n";
    else
      std::cout << fmt::format("model: {}\n", args->model) << format_table(analysis);
    std::cout.flush();
    return 0;
  };
}

Registration reg{{"analyze", "Decide which ReLU units are stable over an input domain", 20, setup_analyze}};

}  // namespace
}  // namespace leo::cli
