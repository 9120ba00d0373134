#pragma once
// LP tightening with Clp on the triangle relaxation, sound in floating point.
//
// For each target layer k (in order) an LP is built over the input box and
// the layers before k, with the best bounds known: one column per input, per
// pre-activation g (within its bounds) and per unstable ReLU output x, the
// equality rows g_j = W_j x_j + b_j (stably inactive units have none, stably
// active ones use x = g), and for unstable units the triangle
// x >= 0, x >= g, x <= u/(u-l) (g - l). For every flagged unit both
// max g and min g are solved (primal simplex, warm-started from the previous
// basis); the tightened bounds of layer k are used when layer k+1's LP is
// built.
//
// Clp's answer is never trusted as a number. The dual values y of the
// equality rows become the multipliers nu = -y of the weak-duality bound of
// backsub.hpp, which is re-evaluated with outward rounding and a rigorous
// error term (it maximises over the exact ReLU graph of each unit, which is
// what the triangle's dual rows would give). Any dual vector gives a valid
// bound, so a solver tolerance, an early stop or a wrong dual can only make
// the bound weaker, never wrong. Results are intersected into `bounds`.
#include <functional>
#include <memory>
#include <vector>

#include "leo/bounds/alpha.hpp"
#include "leo/bounds/bounds.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"
#include "leo/util/deadline.hpp"

namespace leo {

// The size of the triangle-relaxation LP (or big-M MILP) of layers [0, k):
// per unit not stably inactive, its row g = W x + b (nonzeros: the row's
// length, estimated for a structured layer by a unit in the middle of its
// output segment) and, per unstable unit, two or three short rows.
struct ModelSize {
  std::int64_t rows = 0;
  std::int64_t nonzeros = 0;
};
ModelSize relaxation_size(const Network& net, const NetworkBounds& bounds, std::size_t k);

// Caps on the exact models (LP, the ReLU-split search's LP, MILP) of
// networks with convolutional layers (docs/cnn.md): a model of layers
// [0, k) that holds a structured layer and is bigger than this is not built;
// the units that needed it stay undecided (never a crash, never a verdict).
// Fully connected networks have no cap (as before convolutions came).
struct ModelLimits {
  std::int64_t rows = 100000;
  std::int64_t nonzeros = 2000000;
  // True when the model of layers [0, k) must not be built.
  bool exceeded(const Network& net, const NetworkBounds& bounds, std::size_t k) const;
};

struct LpOptions {
  // For hidden units, only the sign matters: each side's LP is abandoned as
  // soon as the relaxation shows a point on the wrong side of 0 (the unit's
  // bound is then not tightened), and once one side is proven (upper <= 0 or
  // lower >= 0) the other is not solved. Off: every flagged unit gets its
  // exact LP bounds (tighter relaxations for later layers, much slower).
  bool stop_at_sign = true;
  // Clp time limit per LP, seconds (0: none; the deadline always applies).
  double seconds_per_lp = 0.0;
  ModelLimits limits{};
  // Units whose bounds matter beyond their sign: full[l][i] flags unit i of
  // hidden layer l, whose triangle relaxation feeds every later layer. A
  // flagged unit that is unstable gets both sides solved to optimality even
  // with stop_at_sign (its sign question is answered on the way). null: none.
  // Per layer, the sign-only units come first, then the flagged ones by
  // decreasing triangle area (-l u / (u - l)), so a budget goes where it pays.
  const std::vector<std::vector<bool>>* full = nullptr;
  // Wall seconds for the flagged units' full LPs over the whole call (<= 0:
  // no own limit); when spent, the flagged units fall back to the sign
  // question (undecided ones) or are skipped.
  double full_seconds = 0.0;
  // Layerwise re-tightening: before the LPs of layer k >= 1, when LPs of this
  // call tightened a layer before k, the units of layer k are re-bounded by
  // alpha-CROWN from those tightened bounds (sound, intersected): a unit it
  // settles needs no LP, and every unit's LP column bounds shrink.
  bool realpha = false;
  // Giving up where the LPs do not pay (0: never). Both rules only skip LPs,
  // so they cost tightness, never soundness; each is per layer.
  //  - sign questions: after this many units in a row whose LPs settled
  //    neither sign, the layer's remaining sign questions are skipped (a
  //    later exact stage whose root bound is this LP, such as the ReLU-split
  //    search, asks them again with more power);
  int sign_streak = 0;
  //  - full LPs: after the first `full_probe` units of a layer, the layer's
  //    remaining full LPs are skipped when those units' LP bounds narrowed
  //    their intervals (u - l) by less than `full_min_gain` on average
  //    (relative): alpha-CROWN is then already at the LP's optimum there.
  int full_probe = 0;
  double full_min_gain = 0.01;
  //  - sign questions out of reach (0: never): once full LPs of this call
  //    measured how much the LP narrows a unit beyond the bounds it starts
  //    from (the mean relative narrowing over every full LP so far, at least
  //    1e-4), a sign question is skipped when settling it would need the
  //    unit's interval narrowed by more than sign_reach times that:
  //    min(u, -l) / (u - l) > sign_reach * mean.
  double sign_reach = 0.0;
  AlphaOptions alpha{};
  // Called with Clp's primal input point of each LP solved (or abandoned at a
  // point on the wrong side of 0), clipped to the box: a witness candidate
  // that the caller must re-evaluate (never evidence by itself). Its argument
  // is the layer of the LP's target.
  std::function<void(std::size_t layer, const Eigen::VectorXd& input)> on_point{};
};

// targets[l][i]: tighten unit i of layer l (hidden units already stable are
// skipped). `bounds` must hold one Bounds per layer (empty: filled by
// interval_bounds and crown_bounds first).
void lp_bounds(const Network& net, const Box& box, NetworkBounds& bounds,
               const std::vector<std::vector<bool>>& targets, const LpOptions& options = {},
               const Deadline& deadline = {});

// The sound upper bound of a.g_k given multipliers nu[j] (row vectors over
// the units of g_j, j < k) for the constraints g_j = W_j x_j + b_j: the
// weak-duality bound of backsub.hpp. Valid for ANY nu.
double dual_upper_bound(const Network& net, const Box& box, const NetworkBounds& bounds, std::size_t k,
                        const Eigen::VectorXd& a, const std::vector<Eigen::VectorXd>& nu);

// One LP solve: max a.g_k over the triangle relaxation of layers < k.
struct LpSolution {
  bool optimal = false;
  bool stopped = false;             // given up early (the side cannot be settled); nu is empty
  double objective = 0.0;           // Clp's primal objective value (max a.g_k), not rigorous
  std::vector<Eigen::VectorXd> nu;  // multipliers from the duals, one per layer j < k
  double bound = 0.0;               // dual_upper_bound(nu): rigorous
  // Clp's primal point (not rigorous: a guide for branching, or a witness
  // candidate to re-evaluate): the input, and per layer j < k the
  // pre-activations g_j (NaN where the LP has no column) and the ReLU outputs
  // x_{j+1} as the relaxation has them (0 for units without a column).
  Eigen::VectorXd input;
  std::vector<Eigen::VectorXd> g, x;
};
LpSolution lp_maximise(const Network& net, const Box& box, const NetworkBounds& bounds, std::size_t k,
                       const Eigen::VectorXd& a);

// The same LP kept across many solves whose bounds shrink inside `root`
// (branch and bound on ReLU phases, stability/relu_split.hpp): each solve
// moves the column bounds and chords to the node's bounds and restarts from
// the previous basis (dual simplex). Units stably inactive in `root` have no
// row; every other unit keeps its row g = W x + b, so a node's split g <= 0
// is a real constraint. The bound is rigorous as in lp_maximise.
class SplitLp {
 public:
  // The LP is built only when `limits` allow it (else available() is false
  // and maximise must not be called).
  SplitLp(const Network& net, const Box& box, const NetworkBounds& root, std::size_t k,
          const ModelLimits& limits = {});
  bool available() const;
  ~SplitLp();
  SplitLp(const SplitLp&) = delete;
  SplitLp& operator=(const SplitLp&) = delete;
  // `bounds` within root's, for layers < k at least. seconds <= 0: no limit.
  LpSolution maximise(const NetworkBounds& bounds, const Eigen::VectorXd& a, double seconds = 0);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace leo
