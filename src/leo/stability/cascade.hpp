#pragma once
// The stability cascade (docs/design.md §2). The stages and their order are those
// of the stage table (stages.hpp): ibp (interval bounds), samples and attack
// (witnesses of instability), crown and alpha (linear bounds), bab (branch and
// bound on the input box, for few inputs; bab.hpp), lp (LP tightening), split
// (branch and bound on ReLU phases, a small budget per unit; relu_split.hpp),
// milp (the exact stage; exact.hpp). Each stage only decides units that are
// still undecided, and only through the evidence rules of evidence.hpp: a
// positive and a negative witness make a unit unstable; a sound bound with a
// sign makes it stable; a bound that contradicts a witness leaves it
// undecided with a warning. Units left undecided (a stage off, a time limit)
// are reported as `undecided` and must be treated as unstable.
//
// Time: with a time limit every stage stops when it expires (a unit whose
// work was not finished stays undecided), the stages after it are skipped,
// and analysis.timed_out is set. Progress: a line on stderr when each stage
// starts and ends, and at least every 5 s while it runs (util/progress.hpp).
#include <cstdint>
#include <set>
#include <string>

#include "leo/bounds/bounds.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/attack.hpp"
#include "leo/stability/bab.hpp"
#include "leo/stability/evidence.hpp"
#include "leo/stability/relu_split.hpp"
#include "leo/stability/samples.hpp"
#include "leo/stability/stages.hpp"
#include "leo/stability/verdict.hpp"

namespace leo {

class CertificateRecorder;

enum class ExactMethod { network, per_unit, none };

struct AnalyzeOptions {
  std::set<Stage> stages{std::begin(kCascadeStages), std::end(kCascadeStages)};
  ExactMethod exact = ExactMethod::per_unit;  // measured faster than one network MILP here (bench/)
  double time_limit = 0;    // seconds of wall-clock time for the whole analysis; <= 0: none
  std::uint64_t seed = 1;
  // OpenMP and OpenBLAS threads, units searched at once by the per-unit stages
  // (split, milp per unit: the verdicts do not depend on it), CBC threads of
  // the network MILP; capped at the cores; 0: all cores (network MILP: 1).
  int threads = 0;
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
  // When set, the evidence of every verdict is recorded for a certificate
  // (stability/certify.hpp; make_certificate builds it after the run).
  CertificateRecorder* certificate = nullptr;
};

// "samples,attack,ibp" -> stages; "all" -> every stage; "none" -> no stage
// (names: the stage table, stages.hpp). Throws InputError.
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

}  // namespace leo
