#pragma once
// The stages of the stability cascade, in ONE table: name, one-line summary,
// and the order the cascade runs them (cascade.cpp walks this table). Parsing
// (--stages), the --stages help text, the JSON and the summary table all
// derive from it; a new stage is one row here plus its body in cascade.cpp.
#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace leo {

enum class Stage { none, samples, attack, ibp, crown, alpha, lp, bab, split, milp };

struct StageInfo {
  Stage stage;
  const char* name;     // as in --stages, the JSON and the table
  const char* summary;  // one line, for --help
};

// Every stage, in the order the cascade runs them. Interval bounds first:
// nearly free, and every unit they settle is one target less for the
// searches; witnesses (samples, attack) before the costlier bounds; the
// exact stage last.
inline constexpr StageInfo kStages[] = {
    {Stage::ibp, "ibp", "interval bounds"},
    {Stage::samples, "samples", "witnesses of instability: box centre, corners, random points, probes"},
    {Stage::attack, "attack", "witnesses of instability: gradient search on each undecided unit"},
    {Stage::crown, "crown", "linear bounds (CROWN)"},
    {Stage::alpha, "alpha", "optimised linear bounds (alpha-CROWN)"},
    {Stage::bab, "bab", "branch and bound on the input box, bounded by CROWN (models with at most 16 inputs)"},
    {Stage::lp, "lp", "LP bounds on the triangle relaxation (Clp), re-derived from the duals"},
    {Stage::split, "split", "branch and bound on ReLU phases, a few dozen nodes per unit (CROWN + LP)"},
    {Stage::milp, "milp", "exact MILP (CBC, --exact), each claim of stability proven by the ReLU-phase search"},
};

// The stages alone, in run order.
inline constexpr auto kCascadeStages = [] {
  std::array<Stage, std::size(kStages)> out{};
  for (std::size_t k = 0; k < out.size(); ++k) out[k] = kStages[k].stage;
  return out;
}();

// The table's name of a stage ("none" for Stage::none).
const char* to_string(Stage stage);
// The stage of a name, if the table has it.
std::optional<Stage> stage_from_name(std::string_view name);
// "ibp, samples, ..., milp": every stage, in run order.
std::string stage_names();
// The help text of --stages: every stage with its summary, in run order.
std::string stages_help();

}  // namespace leo
