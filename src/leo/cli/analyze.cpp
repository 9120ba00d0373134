// `leo analyze MODEL [domain options] [--stages ...] [--exact ...] [--baseline ...]
//                    [--time-limit S] [--seed N] [--threads N] [--json]`
// Decides, with proof, which ReLU units are stably active, stably inactive or
// unstable over the input domain (stability/cascade.hpp). A table on stdout,
// or one JSON object with --json (stability/analysis_json.hpp); progress on
// stderr.
#include <fmt/core.h>

#include <filesystem>
#include <iostream>

#include "leo/cli/command.hpp"
#include "leo/cli/domain_options.hpp"
#include "leo/cli/model_io.hpp"
#include "leo/stability/analysis_json.hpp"
#include "leo/stability/analysis_table.hpp"
#include "leo/stability/cascade.hpp"
#include "leo/util/error.hpp"


namespace leo::cli {
namespace {

struct AnalyzeArgs {
  std::string model;
  DomainOptions domain;
  std::string stages = "all";
  std::string exact = "per-unit";
  std::string baseline;
  double time_limit = 0;
  std::uint64_t seed = 1;
  int threads = 0;
  bool json = false;
};

Run setup_analyze(CLI::App& app) {
  auto args = std::make_shared<AnalyzeArgs>();
  app.add_option("MODEL", args->model, "The model (ONNX or .nnet)")->required();
  add_domain_options(app, args->domain);
  add_model_size_option(app);
  app.add_option("--stages", args->stages, stages_help())
      ->capture_default_str();
  app.add_option("--exact", args->exact, "Exact stage: network (one MILP, ISA 2021), per-unit (LEO 2020) or none")
      ->capture_default_str();
  app.add_option("--baseline", args->baseline,
                 "Run as a paper did: leo2020 (interval bounds + per-unit MILPs) or isa2021 (samples + interval "
                 "bounds + network MILP); overrides --stages and --exact");
  app.add_option("--time-limit", args->time_limit,
                 "Wall-clock seconds; units not decided by then are reported undecided (treated as unstable)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--seed", args->seed, "Random seed (samples, attack)")->capture_default_str();
  app.add_option("--threads", args->threads, "Threads (0: all cores)")->check(CLI::NonNegativeNumber);
  app.add_flag("--json", args->json, "Print one JSON object instead of the table");
  return [args]() {
    AnalyzeOptions options;
    options.stages = parse_stages(args->stages);
    options.exact = parse_exact(args->exact);
    if (!args->baseline.empty()) apply_baseline(options, args->baseline);
    options.time_limit = args->time_limit;
    options.seed = args->seed;
    options.threads = args->threads;
    Network network = load_model_file(args->model);
    Domain domain = make_domain(args->domain, network);
    Analysis analysis = analyze(network, domain, options);
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
