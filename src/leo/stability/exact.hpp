#pragma once
// Exact stability by MILP (CBC), the last stage of the cascade (docs/design.md §2).
//
// Both formulations read and update an Analysis: only units whose status is
// `undecided` are worked on (one-sided evidence, seen_positive or
// seen_negative, is used: that side is not searched again). Big-M values come
// from `bounds` tightened by the verdicts already in the analysis.
//
// Evidence and soundness:
// - Every incumbent CBC finds is a free witness: its input part is clipped to
//   the box and re-evaluated in double with Network::pre_activations; only that
//   re-evaluation sets seen_positive / seen_negative (of ANY hidden unit, not
//   just the one being solved for), and each new fact is appended to
//   analysis.witnesses. A unit seen both ways becomes `unstable` (stage milp).
// - A solver's claim of stability counts only with a margin: for a unit with
//   big-M bounds [L, U],
//       margin = options.margin + options.margin_relative * max(|L|, |U|)
//   (defaults 1e-6 + 1e-6 * max(|L|, |U|)). Per unit, "inactive" needs CBC to
//   prove that no point of the MILP has g >= -margin (cutoff), "active" that
//   none has g <= margin. In the network formulation the ReLU encoding is
//   relaxed by the same margin (milp/relu_milp.hpp), so a proven optimum of 0
//   means max g < -margin for the units of P and min g > margin for those of Q.
//   The margin absorbs CBC/Clp's feasibility tolerances (1e-7, in scaled space)
//   and the integrality tolerance, set tight (1e-9): a "binary" z at 1e-9 lets
//   g exceed its true value by about |L| * 1e-9, far below the relative margin.
//   A unit whose true extreme lies within the margin of 0 stays `undecided`.
// - The margin is NOT enough: Clp's bound errors are not bounded in advance
//   (tests/fixtures/milp/cbc_wrong_infeasible: CBC claimed infeasible below a
//   cutoff of 1e-5 where a point at -2.62e-6 exists). So every claim is then
//   PROVEN by the sound ReLU-split search of stability/relu_split.hpp (node
//   budget options.certify_nodes) before the unit is marked; a claim it cannot
//   prove leaves the unit undecided, one it refutes gives a witness.
//   analysis.certification counts them.
//   A verdict of stable sets the unit's proven bound to 0 on that side (upper
//   = min(upper, 0) for inactive, lower = max(lower, 0) for active).
// - Units stable by the given (sound) bounds alone are marked at once (stage
//   milp), without a margin: the bounds are proofs, not solver claims.
// - Time limit (options.deadline, wall clock): whatever is not settled when it
//   expires stays `undecided` and analysis.timed_out is set. Never a wrong verdict.
// - A CBC failure (numerical trouble) leaves the units concerned undecided.
#include "leo/bounds/bounds.hpp"
#include "leo/bounds/lp.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"
#include "leo/util/deadline.hpp"

namespace leo {

class CertificateRecorder;

struct ExactOptions {
  double margin = 1e-6;            // absolute part of the margin (see above)
  double margin_relative = 1e-6;   // relative part, times max(|L|, |U|) of the unit's bounds
  double integer_tolerance = 1e-9; // CBC's integrality tolerance
  int threads = 1;                 // CBC threads per MILP (exact_network; exact_per_unit: 1)
  int unit_threads = 1;            // exact_per_unit: units solved at once (util/parallel.hpp)
  // exact_network: a MILP round that explores this many nodes without showing
  // a new fact hands the remaining candidates to per-unit solves on the same
  // MILP (the sum objective's LP relaxation is weak: CBC's search stalls where
  // the per-unit objective with its cutoff is tight). -1: never.
  long network_stall_nodes = 200;
  // Node budget of the sound search that must prove each CBC claim of
  // stability (stability/relu_split.hpp); an unproven claim leaves the unit undecided.
  long certify_nodes = 2000;
  Deadline deadline;               // wall clock; default: none
  bool verbose = false;            // CBC's log on stdout
  // Networks with conv layers: a MILP over these limits (its LP relaxation's
  // size, bounds/lp.hpp) is not built; the units that needed it stay
  // undecided and analysis.skipped_models says so. The certifying search
  // uses the same limits for its LPs.
  ModelLimits limits;
  // Records the proof of each claim proven (stability/certify.hpp); none: no cost.
  CertificateRecorder* recorder = nullptr;
};

// LEO 2020: for each undecided hidden unit, in layer order, maximise g (unless
// already seen > 0) and minimise g (unless already seen < 0) over the MILP of
// the layers before it, each with a cutoff at the margin so that CBC stops as
// soon as the sign is settled: a re-evaluated incumbent of the right sign stops
// the search; an exhausted search proves the unit stable. The units of a
// layer are independent tasks (util/parallel.hpp, stability/unit_tasks.hpp):
// each on its own solver, from the evidence known when the layer starts,
// `unit_threads` at a time and shared out among MPI ranks; their results are
// merged in unit order, so the verdicts do not depend on threads or ranks.
void exact_per_unit(const Network& net, const Box& box, const NetworkBounds& bounds, Analysis& analysis,
                    const ExactOptions& options);

// ISA 2021: one MILP over all hidden layers. P = undecided units not seen > 0,
// Q = undecided units not seen < 0; maximise sum_P p + sum_Q q with
// 0 <= p <= z, 0 <= q <= 1 - z, cutoff 0.5. Each incumbent that shows a unit of
// P or Q retires it (the search stops and restarts without it). When CBC proves
// that no solution reaches 0.5, the remaining P are stably inactive and Q stably
// active. A unit an optimal solution claims but whose re-evaluated witness does
// not show (its extreme is within the margin of 0) is settled by a per-unit
// solve on the same MILP, or left undecided. Before each MILP round the LP
// relaxation's point is tried as a witness (cheap), and a round that stalls
// (options.network_stall_nodes) hands the rest to per-unit solves.
void exact_network(const Network& net, const Box& box, const NetworkBounds& bounds, Analysis& analysis,
                   const ExactOptions& options);

// The margin of a unit with bounds [lower, upper] under `options`.
double exact_margin(const ExactOptions& options, double lower, double upper);

}  // namespace leo
