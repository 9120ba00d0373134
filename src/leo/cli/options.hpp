#pragma once
// The option vocabulary every command shares (README "Options"): the same
// name, meaning, range and default wherever an option appears. The values go
// into the option structs of api/options.hpp, whose defaults they show.
//
//   --threads N      0 = every core (default), else 1..1024
//   --seed N         random seed, default 1
//   --time-limit S   wall-clock seconds, 0 = none (default per command)
//   --dtype T        float | double (aliases float32 | float64)
//   -o, --output F   the file written
//   --probes F       unlabelled points of the domain (alias --data)
//   --json           one JSON object on stdout
//
// Numbers are checked as text before CLI11 converts them: NaN, infinities,
// out-of-range values and non-numbers get one short message.
#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

#include "leo/network/network.hpp"

namespace leo::cli {

// A validator for a real number in [lo, hi] (finite, not NaN); `open_low`
// excludes lo itself (e.g. a learning rate > 0).
CLI::Validator real_in(double lo, double hi, bool open_low = false);
// A validator for a whole number in [lo, hi].
CLI::Validator whole_in(long long lo, long long hi);

CLI::Option* add_threads_option(CLI::App& app, int& threads);
CLI::Option* add_seed_option(CLI::App& app, std::uint64_t& seed, const std::string& used_for);
CLI::Option* add_time_limit_option(CLI::App& app, double& seconds, const std::string& help);
// --dtype float|double (float32|float64); empty = the command's default.
CLI::Option* add_dtype_option(CLI::App& app, std::string& dtype, const std::string& help);
CLI::Option* add_tolerance_option(CLI::App& app, double& tolerance, const std::string& help);
// The analysis choices of analyze and compress: --stages, --exact, --baseline.
struct AnalysisChoices {
  std::string stages = "all";
  std::string exact = "per-unit";
  std::string baseline;
};
void add_analysis_options(CLI::App& app, AnalysisChoices& choices);

}  // namespace leo::cli
