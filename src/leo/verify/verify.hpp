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
// Exact (optional): both networks are encoded as big-M MILPs over the SAME
// input columns (milp/relu_milp.hpp, big-M from sound CROWN bounds); for every
// output k CBC is asked for a point with f_A,k - f_B,k > T - m and one with
// f_B,k - f_A,k > T - m (cutoff T - m, so that it stops at the first such
// point and prunes every node whose relaxation proves the difference
// <= T - m), where m = margin + margin_relative * max |output bounds| is the
// margin that absorbs CBC's tolerances (feasibility 1e-7, integrality 1e-9 x
// big-M), as in the exact stability stage. When both searches end without
// one, max_x |f_A,k - f_B,k| <= T is proven for output k; every bound CBC
// proves is reported widened by m. Each incumbent is re-evaluated in double; only that value is
// reported as found. A time limit leaves outputs unproven, never wrongly proven.
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"
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
  int threads = 1;           // CBC threads
  double margin = 1e-6;           // exact: absolute part of the margin on CBC's bounds
  double margin_relative = 1e-6;  // exact: relative part, times max |output bounds|
  unsigned seed = 1;
};

struct OutputBound {
  int output = 0;
  double found = 0;                                    // largest |f_A,k - f_B,k| found at a point
  double proven = std::numeric_limits<double>::infinity();  // proven upper bound on it (inf: none)
  bool complete = false;                               // both MILP searches finished
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

// Gradient of sum_k C(k, j) * f_k(x_j) with respect to x_j, for each column j
// (X: inputs x N, C: outputs x N). ReLU'(0) = 0.
Eigen::MatrixXd input_gradients(const Network& net, const Eigen::MatrixXd& X, const Eigen::MatrixXd& C);

nlohmann::json to_json(const VerifyResult& result);

}  // namespace leo
