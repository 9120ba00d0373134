#pragma once
// Equivalence checking of two networks on a domain: how far apart can
// f_A(x) and f_B(x) be for x in the box?
//
// Search (always): the largest |f_A,k(x) - f_B,k(x)| over
//   - the domain's probe points, the box centre and box corners (all of them
//     up to 10 features, random ones beyond),
//   - fresh uniform random points of the box,
//   - projected gradient ascent on +-(f_A,k - f_B,k) for every output k, from
//     several starts (the best random points and fresh ones), box-projected,
//     signed steps shrinking from 1/4 of the box width.
// Every number reported is a real point of the box evaluated in double.
//
// The search works on any layers (dense or structured: it uses the layers'
// products); the exact stage needs dense layers and refuses structured
// (convolutional) ones with an InputError.
//
// Exact (optional): a proof, for every output k, that
// max_x |f_A,k(x) - f_B,k(x)| <= T over the box, sound in floating point:
//   1. both networks are analysed (stability/cascade.hpp, the cascade of
//      `leo analyze`, its solver claims proven by the ReLU-phase search), each
//      with a share of the time: units proven stable are fixed;
//   2. the two networks become one difference network J (verify/joint.hpp):
//      units of B that are copies of units of A (a compressed model keeps its
//      surviving first-layer rows bit for bit, and every row whose only
//      changes are deleted inactive columns) are one unit of J, so what the
//      two networks share cancels exactly in J's output rows
//      f_A,k - f_B,k - T and f_B,k - f_A,k - T;
//   3. each output row is bounded by sound CROWN (bounds/crown.hpp) on J with
//      the verdicts applied, and where that does not show J_r <= 0, by the
//      ReLU-phase branch and bound (stability/relu_split.hpp: CROWN and a
//      rigorous LP dual bound, outward rounded, per node; the LP points are
//      re-evaluated in double and one beyond T ends the search with that
//      counterexample; each output side gets an equal share of the time
//      left). The bound reported is the search's, plus the
//      rounding error of J's output rows (joint.hpp), plus T.
//   4. outputs neither proven nor refuted in time: CBC (big-M MILP of both
//      networks, milp/relu_milp.hpp) looks for a point beyond T with the
//      time left. Only the points it finds count (re-evaluated in double);
//      its bounds are never reported as proven: on badly scaled models they
//      can be wrong by more than any fixed margin (tests/fixtures/milp).
// A time limit leaves outputs "not proven" (proven = inf), never wrongly proven.
// The proven bound is on the real-valued functions of the two sets of stored
// weights; the deviations found are those functions evaluated in double, with
// their own rounding (~1e-16 of the outputs' magnitude): a found value may
// exceed a proven bound by that much (e.g. a model and its compression that
// only deleted inactive units: proven ~1e-18, found ~1e-15).
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "leo/domain/box.hpp"
#include "leo/network/evaluate_float.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"
#include "leo/util/deadline.hpp"

namespace leo {

// Default for `leo verify --tolerance` and `leo compress --tolerance`: the
// largest |f_A,k - f_B,k| accepted as "the same function". Writing a
// compressed model in float32 rounds the new (folded) weights to ~6e-8
// relative; for the reference models that costs up to ~1e-5 on the outputs.
inline constexpr double default_equivalence_tolerance = 1e-4;

struct VerifyOptions {
  double tolerance = default_equivalence_tolerance;
  int random_points = 10000;
  int gradient_starts = 8;   // per output and direction
  int gradient_steps = 60;
  bool exact = false;
  Deadline deadline;         // for the exact stage (the search is short)
  // Threads of the search (its random chunks and gradient blocks run as
  // tasks, util/parallel.hpp; its points and results are the same for any
  // count) and of CBC (exact stage).
  int threads = 1;
  long split_nodes = 200000;        // exact: node budget of the ReLU-phase search, per output and side
  double analysis_share = 0.3;      // exact: share of the time left for the stability analyses (with a limit)
  double progress_seconds = 5;      // a progress line at least this often (when progress is on)
  unsigned seed = 1;
  // The arithmetic each network is evaluated in by the search
  // (network/evaluate_float.hpp). float32: the model as a float32 runtime
  // computes it; the search's points are then rounded to float32 values of
  // the box (towards its inside), so that the point reported is exactly the
  // input both networks saw. The gradient steps follow the double gradients.
  // The exact stage is about the real-valued functions: it needs both double.
  ElementType arithmetic_a = ElementType::float64;
  ElementType arithmetic_b = ElementType::float64;
  // With a float32 arithmetic: the gradient steps follow each network's
  // gradient in its own arithmetic (float32 products, half the cost) instead
  // of the double gradients, and the forward passes of those gradients are
  // the evaluations of the points. For the check of a model whose double
  // deviation is proven ~0 on the whole box (check.hpp): the double gradient
  // of f_A - f_B is then only rounding noise, while the float32 one is the
  // gradient of what that search measures. Dense networks without an output
  // activation only (others keep the double gradients).
  bool gradients_in_arithmetic = false;
};

struct OutputBound {
  int output = 0;
  double found = 0;                                    // largest |f_A,k - f_B,k| found at a point
  double proven = std::numeric_limits<double>::infinity();  // proven upper bound on it (inf: none)
  bool complete = false;                               // proven or refuted (not stopped by the time limit)
  long nodes = 0;                                      // ReLU-phase search nodes spent on it
};

struct VerifyResult {
  double max_abs_deviation = 0;  // largest |f_A,k(x) - f_B,k(x)| found, over all k and points
  int worst_output = 0;
  Eigen::VectorXd worst_input;   // the point where it was found
  std::string found_by;          // "probe", "corner", "random", "gradient", "milp"
  long points_evaluated = 0;
  bool exact = false;                 // the MILP stage ran
  std::vector<OutputBound> outputs;   // per output (exact stage)
  double proven_bound = std::numeric_limits<double>::infinity();  // max over outputs of `proven`
  double tolerance = 0;
  double time_seconds = 0;

  bool within_tolerance() const { return max_abs_deviation <= tolerance; }
  // With exact: every output proven within the tolerance.
  bool proven_equivalent() const { return exact && proven_bound <= tolerance; }
};

// Throws InputError when the two networks do not have the same numbers of
// inputs and outputs, or the box does not match.
VerifyResult verify_equivalence(const Network& a, const Network& b, const Box& box, const Eigen::MatrixXd& probes,
                                const VerifyOptions& options = {});

// A sound upper bound of max over outputs k and x in the box of
// |f_A,k(x) - f_B,k(x)| (the real-valued functions of the two sets of
// weights), without any search: CROWN (bounds/crown.hpp) on the difference
// network of A and B (joint.hpp) with `analysis_a`'s verdicts of A's units
// applied (they must be sound on the box: those of the cascade are; B's units
// get none). What A and B share, i.e. B's units that are A's rows bit for
// bit but for the columns of units proven stably inactive (what deletions
// leave), cancels exactly, so for a compression that only deleted units the
// bound is the rounding error of J's output rows (~1e-13 or less). Returns
// +inf when the bound proves nothing (a shift unit not proven active, a
// structured layer, a non-finite bound). Cost: one CROWN pass over J (about
// A's hidden units plus B's that are not shared).
double difference_bound(const Network& a, const Network& b, const Analysis& analysis_a, const Box& box);

// Gradient of sum_k C(k, j) * f_k(x_j) with respect to x_j, for each column j
// (X: inputs x N, C: outputs x N). ReLU'(0) = 0. `outputs`, when given, receives
// net.evaluate(X), from the same forward pass (bit for bit what evaluate gives).
Eigen::MatrixXd input_gradients(const Network& net, const Eigen::MatrixXd& X, const Eigen::MatrixXd& C,
                                Eigen::MatrixXd* outputs = nullptr);

nlohmann::json to_json(const VerifyResult& result);

}  // namespace leo
