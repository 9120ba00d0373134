#pragma once
// The stability cascade (docs/design.md §2): samples, attack, interval bounds,
// CROWN, alpha-CROWN, branch and bound on the input box (bab, bab.hpp; for few
// inputs), LP tightening, branch and bound on ReLU phases (split,
// relu_split.hpp; a small budget per unit), exact MILP. Each stage only decides units
// that are still undecided, and only with evidence:
// - unstable: a positive and a negative witness (witnesses.hpp);
// - stable: a sound bound on g over the box. Convention for g reaching exactly
//   0: a unit whose proven upper bound is <= 0 is *inactive* (its output is
//   always 0), checked first; otherwise a unit whose proven lower bound is >= 0
//   is *active* (its output always equals g, affine). A unit with g == 0 on the
//   whole box is therefore inactive. Both rewrites are exact for such units.
// A bound that contradicts a witness (a float64 evaluation strictly on the
// other side of 0) is not used for that unit: it stays undecided and a
// warning is printed. Units left undecided (a stage off, a time limit) are
// reported as `undecided` and must be treated as unstable.
#include <cstdint>
#include <set>
#include <string>

#include "leo/bounds/bounds.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/attack.hpp"
#include "leo/stability/bab.hpp"
#include "leo/stability/relu_split.hpp"
#include "leo/stability/samples.hpp"
#include "leo/stability/verdict.hpp"

namespace leo {

enum class ExactMethod { network, per_unit, none };

struct AnalyzeOptions {
  std::set<Stage> stages{std::begin(kCascadeStages), std::end(kCascadeStages)};
  ExactMethod exact = ExactMethod::per_unit;  // measured faster than one network MILP here (bench/)
  double time_limit = 0;    // seconds of wall-clock time; <= 0: none
  std::uint64_t seed = 1;
  int threads = 0;          // OpenMP and OpenBLAS threads; 0: leave their defaults (all cores)
  SampleOptions samples;
  AttackOptions attack;
  BabOptions bab;
  // With a time limit, the bab stage gets at most this share of the time left
  // when it starts (the MILP gets the rest).
  double bab_share = 0.5;
  SplitStageOptions split;
  // With a time limit, the split stage gets at most this share of the time
  // left when it starts.
  double split_share = 0.5;
};

// "samples,attack,ibp" -> stages; "all" -> every stage. Throws InputError.
std::set<Stage> parse_stages(const std::string& list);
// "network" | "per-unit" | "none". Throws InputError.
ExactMethod parse_exact(const std::string& name);
const char* to_string(ExactMethod method);
// The papers' setups: "leo2020" = interval bounds + per-unit MILPs (big-M from
// interval arithmetic only); "isa2021" = samples + interval bounds + one
// network MILP. Throws InputError on another name.
void apply_baseline(AnalyzeOptions& options, const std::string& name);

// Whether this build of leo has the code for a stage (every stage but none).
bool stage_available(Stage stage);

// Runs the cascade on the box (and probe points) of `domain`.
Analysis analyze(const Network& network, const Domain& domain, const AnalyzeOptions& options = {});

// Applies sound bounds to the undecided units (the convention above), and
// tightens every unit's recorded lower/upper. Returns the units decided.
int apply_bounds(Analysis& analysis, const NetworkBounds& bounds, Stage stage);

}  // namespace leo
