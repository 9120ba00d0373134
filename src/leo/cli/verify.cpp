// `leo verify A B [domain options] [--exact] [--tolerance T] [--time-limit S] [--json]`
// How far apart are two networks on the domain (verify/verify.hpp)? Exit 0
// when every deviation found is within the tolerance (with --exact: proven
// within it for every output), 1 when not, 2 on bad input.
#include <fmt/core.h>

#include <cmath>
#include <iostream>

#include "leo/cli/command.hpp"
#include "leo/cli/domain_options.hpp"
#include "leo/cli/model_io.hpp"
#include "leo/cli/options.hpp"
#include "leo/api/leo.hpp"
#include "leo/util/error.hpp"

namespace leo::cli {
namespace {

struct VerifyArgs {
  std::string a, b;
  DomainOptions domain;
  bool exact = false;
  double tolerance = default_equivalence_tolerance;
  double time_limit = 0;
  int random_points = 10000;
  std::uint64_t seed = api::kDefaultSeed;
  int threads = api::kDefaultThreads;
  bool json = false;
};

Run setup_verify(CLI::App& app) {
  auto args = std::make_shared<VerifyArgs>();
  app.add_option("A", args->a, "First model (ONNX or .nnet)")->required();
  app.add_option("B", args->b, "Second model (ONNX or .nnet)")->required();
  add_domain_options(app, args->domain);
  add_model_size_option(app);
  app.add_flag("--exact", args->exact,
               "Also prove max |f_A,k - f_B,k| <= tolerance for every output k, soundly (the difference network of the "
               "two, bounded by CROWN and a ReLU-phase branch and bound; CBC only searches for counterexamples)");
  add_tolerance_option(app, args->tolerance, "Largest |f_A - f_B| accepted as equal");
  add_time_limit_option(app, args->time_limit, "Wall-clock seconds for the exact stage (0: none)");
  app.add_option("--points", args->random_points, "Random points of the domain to evaluate")
      ->capture_default_str()
      ->check(whole_in(0, 100'000'000));
  add_seed_option(app, args->seed, "random points and gradient starts");
  add_threads_option(app, args->threads)->description(
      fmt::format("Threads of the search (its result is the same for any count) and of --exact's counterexample search (CBC): 0 = every core (default), else 1..{}", api::kMaxThreads));
  app.add_flag("--json", args->json, "Print one JSON object");
  return [args]() {
    Network a = load_model_file(args->a, true);
    Network b = load_model_file(args->b, true);
    if (a.inputs() != b.inputs())
      throw InputError(fmt::format("{}: takes {} inputs but {} takes {}", args->b, b.inputs(), args->a, a.inputs()));
    if (a.outputs() != b.outputs())
      throw InputError(
          fmt::format("{}: has {} outputs but {} has {}", args->b, b.outputs(), args->a, a.outputs()));
    Domain domain = api::make_domain(args->domain, a);
    VerifyOptions options;
    options.tolerance = args->tolerance;
    options.exact = args->exact;
    options.deadline = Deadline(args->time_limit);
    options.random_points = args->random_points;
    options.seed = static_cast<unsigned>(args->seed);
    options.threads = args->threads;
    VerifyResult r = api::verify(a, b, domain.box, domain.probes, options);
    bool ok = r.within_tolerance() && (!args->exact || r.proven_equivalent());
    if (args->json) {
      nlohmann::json j = to_json(r);
      j["a"] = args->a;
      j["b"] = args->b;
      j["domain"] = domain.description;
      j["equivalent"] = ok;
      std::cout << j.dump() << "\n";
    } else {
      std::cout << fmt::format("models:        {} vs {}\n", args->a, args->b);
      std::cout << fmt::format("domain:        {}\n", domain.description);
      std::cout << fmt::format("max |f_A - f_B| found: {:.3g} at output {} ({} search, {} points)\n",
                               r.max_abs_deviation, r.worst_output, r.found_by, r.points_evaluated);
      if (r.exact) {
        for (const auto& o : r.outputs)
          std::cout << fmt::format("  output {}: proven |f_A - f_B| <= {}{}\n", o.output,
                                   std::isfinite(o.proven) ? fmt::format("{:.3g}", o.proven) : "? (not proven)",
                                   o.complete ? "" : " (search incomplete: time limit)");
      } else if (args->exact) {
        std::cout << "exact stage skipped: the search already found a deviation beyond the tolerance\n";
      }
      std::cout << fmt::format("result:        {} (tolerance {:.3g}, {:.2f} s)\n",
                               ok                    ? (args->exact ? "equivalent, proven" : "equivalent as far as searched")
                               : !r.within_tolerance() ? "NOT equivalent"
                                                       : "equivalence not proven",
                               args->tolerance, r.time_seconds);
    }
    std::cout.flush();
    return ok ? 0 : static_cast<int>(ExitCode::not_equivalent);
  };
}

Registration reg{{"verify", "Check that two networks compute the same function on a domain", 40, setup_verify}};

}  // namespace
}  // namespace leo::cli
