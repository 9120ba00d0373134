#include "leo/cli/options.hpp"

#include <fmt/core.h>

#include <charconv>
#include <cmath>
#include <cstdlib>

#include "leo/api/options.hpp"
#include "leo/stability/stages.hpp"

namespace leo::cli {
namespace {

std::string number_text(double v) { return fmt::format("{}", v); }

}  // namespace

CLI::Validator real_in(double lo, double hi, bool open_low) {
  const std::string range = std::isinf(hi) ? fmt::format("{} {}", open_low ? ">" : ">=", number_text(lo))
                                           : fmt::format("in {}{}, {}]", open_low ? "(" : "[", number_text(lo),
                                                         number_text(hi));
  return CLI::Validator(
      [lo, hi, open_low, range](std::string& text) -> std::string {
        char* end = nullptr;
        const double v = std::strtod(text.c_str(), &end);
        if (text.empty() || end != text.c_str() + text.size())
          return fmt::format("'{}' is not a number (expected a number {})", text, range);
        if (std::isnan(v) || std::isinf(v) || v < lo || v > hi || (open_low && v == lo))
          return fmt::format("{} is out of range (expected a number {})", text, range);
        return {};
      },
      "");
}

CLI::Validator whole_in(long long lo, long long hi) {
  const std::string range = fmt::format("from {} to {}", lo, hi);
  return CLI::Validator(
      [lo, hi, range](std::string& text) -> std::string {
        long long v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || end != text.data() + text.size() || ec == std::errc::invalid_argument)
          return fmt::format("'{}' is not a whole number (expected {})", text, range);
        if (ec == std::errc::result_out_of_range || v < lo || v > hi)
          return fmt::format("{} is out of range (expected a whole number {})", text, range);
        return {};
      },
      "");
}

CLI::Option* add_threads_option(CLI::App& app, int& threads) {
  threads = api::kDefaultThreads;
  return app
      .add_option("--threads", threads,
                  fmt::format("Threads: 0 = every core (default), else 1..{}", api::kMaxThreads))
      ->check(whole_in(0, api::kMaxThreads));
}

CLI::Option* add_seed_option(CLI::App& app, std::uint64_t& seed, const std::string& used_for) {
  seed = api::kDefaultSeed;
  return app.add_option("--seed", seed, fmt::format("Random seed ({})", used_for))
      ->capture_default_str()
      ->check(whole_in(0, std::numeric_limits<long long>::max()));
}

CLI::Option* add_time_limit_option(CLI::App& app, double& seconds, const std::string& help) {
  return app.add_option("--time-limit", seconds, help)->capture_default_str()->check(real_in(0, 1e9));
}

CLI::Option* add_dtype_option(CLI::App& app, std::string& dtype, const std::string& help) {
  return app.add_option("--dtype", dtype, help)
      ->type_name("float|double")
      ->check(CLI::IsMember({"float", "double", "float32", "float64"}));
}

CLI::Option* add_tolerance_option(CLI::App& app, double& tolerance, const std::string& help) {
  return app.add_option("--tolerance", tolerance, help)
      ->capture_default_str()
      ->check(real_in(0, std::numeric_limits<double>::infinity()));
}

void add_analysis_options(CLI::App& app, AnalysisChoices& choices) {
  app.add_option("--stages", choices.stages, stages_help())
      ->capture_default_str()
      ->group("Analysis");
  app.add_option("--exact", choices.exact,
                 "Exact stage: per-unit (one MILP per unit, LEO 2020), network (one MILP, ISA 2021) or none")
      ->capture_default_str()
      ->group("Analysis");
  app.add_option("--baseline", choices.baseline,
                 "Run as a paper did: leo2020 (interval bounds + per-unit MILPs) or isa2021 (samples + interval "
                 "bounds + network MILP); overrides --stages and --exact")
      ->group("Analysis");
}

}  // namespace leo::cli
