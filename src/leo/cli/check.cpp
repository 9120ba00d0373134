// `leo check MODEL CERTIFICATE [--compressed OUT] [--json]`
// Re-checks a certificate written by `analyze --certificate` or `compress
// --certificate` with the checker of checker/ (no solver, no analysis code):
// exit 0 when every claim holds, 1 at the first claim that does not (named),
// 2 on bad input (a malformed certificate, another version, another model).
#include <fmt/core.h>

#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>

#include "leo/checker/check.hpp"
#include "leo/cli/command.hpp"
#include "leo/cli/model_io.hpp"
#include "leo/cli/options.hpp"

namespace leo::cli {
namespace {

struct CheckArgs {
  std::string model;
  std::string certificate;
  std::string compressed;
  bool json = false;
};

Run setup_check(CLI::App& app) {
  auto args = std::make_shared<CheckArgs>();
  app.add_option("MODEL", args->model, "The model the certificate is of (ONNX or .nnet)")->required();
  app.add_option("CERTIFICATE", args->certificate, "The certificate (from analyze/compress --certificate)")->required();
  app.add_option("--compressed", args->compressed,
                 "For a compress certificate: the model compress wrote, to confirm it is the one certified");
  add_model_size_option(app);
  app.add_flag("--json", args->json, "Print one JSON object instead of the summary");
  return [args]() {
    Network network = load_model_file(args->model, true);
    cert::Certificate c = cert::read_certificate(args->certificate);
    cert::CheckSummary s;
    try {
      std::optional<Network> out;
      if (!args->compressed.empty()) out = load_model_file(args->compressed, true);
      s = cert::check(network, c, out ? &*out : nullptr);
    } catch (const cert::CheckFailure& e) {
      throw cert::CheckFailure(fmt::format("{}: claim does not hold: {}", args->certificate, e.what()));
    } catch (const InputError& e) {
      const std::string what = e.what();
      if (what.rfind("model: ", 0) == 0) throw InputError(fmt::format("{}: {}", args->model, what.substr(7)));
      throw InputError(fmt::format("{}: {}", args->certificate, what));
    }
    if (args->json) {
      std::cout << cert::to_json(c, s).dump() << "\n";
    } else {
      std::cout << fmt::format("certificate: {} ({} certificate, version {}): every claim holds\n", args->certificate,
                               c.command, c.version);
      if (c.box.size() > 0)
        std::cout << fmt::format("domain:      the box of the certificate, {} features, lower bounds in [{:.6g}, {:.6g}], "
                                 "upper bounds in [{:.6g}, {:.6g}] ({})\n",
                                 c.box.size(), c.box.lower.minCoeff(), c.box.lower.maxCoeff(), c.box.upper.minCoeff(),
                                 c.box.upper.maxCoeff(), c.domain_digest);
      std::cout << fmt::format("bounds:      {} propagate steps, {} linear claims, {} input-split trees ({} nodes), "
                               "{} ReLU-split proofs ({} nodes)\n",
                               s.propagate_steps, s.linear_claims, s.input_split_trees, s.input_split_nodes,
                               s.relu_split_claims, s.relu_split_nodes);
      std::cout << fmt::format("verdicts:    {} stable units, {} unstable units ({} witness signs), {} undecided "
                               "(no claim)\n",
                               s.stable_units, s.unstable_units, s.witness_signs, s.undecided_units);
      if (c.compress) {
        std::cout << fmt::format("compress:    {} units removed on proven verdicts, {} by rewrites that hold whatever "
                                 "the sign (zero outgoing, constant, duplicate)\n",
                                 s.compress_fates, s.compress_other);
        if (s.compressed_checked)
          std::cout << fmt::format("compressed:  {} follows from the original: {} rewrites replayed in interval arithmetic, "
                                   "every weight and bias within its enclosure (largest dropped residual {:.3g} of a "
                                   "unit's magnitude)\n",
                                   args->compressed, s.rewrites_replayed, s.max_residual_ratio);
      }
      std::cout << fmt::format("time:        {:.3f} s\n", s.seconds);
    }
    std::cout.flush();
    return 0;
  };
}

Registration reg{{"check", "Re-check a certificate of analyze/compress without the analysis code", 45, setup_check}};

}  // namespace
}  // namespace leo::cli
