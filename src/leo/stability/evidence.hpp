#pragma once
// The evidence rules of the stability analysis, in one place: every stage
// decides units only through these functions (docs/design.md §2).
//
// - Unstable, from witnesses. A witness shows sign "positive" for unit i of
//   hidden layer h when g_i^h(x) > 0 and "negative" when g_i^h(x) < 0, both
//   strictly, as computed by a fresh float64 evaluation of that one input x of
//   the domain's box (Network::pre_activations). A value of exactly 0 shows
//   nothing. An undecided unit with a positive and a negative witness becomes
//   unstable.
// - Stable, from a proven bound on g over the box. Convention for g reaching
//   exactly 0: a unit whose proven upper bound is <= 0 is *inactive* (its
//   output is always 0), checked first; otherwise a unit whose proven lower
//   bound is >= 0 is *active* (its output always equals g). Both rewrites are
//   exact for a unit with g == 0 on the whole box.
// - A contradiction (a bound that says g <= 0 for a unit a witness showed
//   > 0, or g >= 0 for one shown < 0) can only come from a bug or a broken
//   solver: the unit is left undecided and a warning is printed. Never a
//   verdict on contradicting evidence.
// Only undecided units change; a decided unit keeps its status and stage.
// Every decision is counted in the progress lines (util/progress.hpp).
#include <Eigen/Dense>
#include <cstddef>
#include <string_view>

#include "leo/bounds/bounds.hpp"
#include "leo/bounds/lp.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"

namespace leo {

// An Analysis with one undecided verdict per hidden unit of `network`.
Analysis make_analysis(const Network& network, const Domain& domain);

// True when unit (h, i) is undecided and still lacks a witness of sign `positive`.
inline bool needs_witness(const Analysis& a, std::size_t h, Eigen::Index i, bool positive) {
  const UnitVerdict& v = a.layers[h][static_cast<std::size_t>(i)];
  return v.status == Status::undecided && !(positive ? v.seen_positive : v.seen_negative);
}

// The size limit of the exact models (bounds/lp.hpp ModelLimits), checked,
// reported and recorded in one place: when the model of layers [0, layer) is
// over `limits`, prints "<subject> would have R rows and N nonzeros (limits ..);
// <consequence>" as a progress line of `stage`, records the skip in the
// analysis (verdict.hpp SkippedModel, at `recorded_layer`) and returns true;
// the caller then does not build the model and its units stay undecided.
bool skip_over_size_limit(const Network& net, const NetworkBounds& bounds, std::size_t layer,
                          const ModelLimits& limits, Analysis& a, Stage stage, std::string_view subject,
                          std::string_view consequence, std::size_t recorded_layer);

// Number of units still undecided.
int undecided_units(const Analysis& a);

// Marks unit (h, i) stably inactive (inactive = true; `bound` >= max g, must
// be <= 0) or stably active (`bound` <= min g, must be >= 0), decided by
// `stage`, and records the bound. Returns true when the unit was undecided
// and is now decided; false when it was already decided, the bound does not
// have the sign, or a witness contradicts it (warning, left undecided).
bool mark_stable(Analysis& a, std::size_t h, std::size_t i, bool inactive, double bound, Stage stage);

// Applies sound bounds (one Bounds per layer, at least the hidden ones) to
// the analysis: every unit's recorded lower/upper is tightened, and each
// undecided unit whose bounds have a sign is marked stable (mark_stable).
// Returns the units decided.
int apply_bounds(Analysis& a, const NetworkBounds& bounds, Stage stage);

// `bounds` tightened by what `analysis` knows: each unit's recorded bounds,
// stably active units clamped to lower >= 0, stably inactive to upper <= 0
// (for the big-M values of a MILP, or the root of a search). Layers beyond the
// hidden ones are copied as they are.
NetworkBounds tightened_bounds(const NetworkBounds& bounds, const Analysis& analysis);

struct Harvest {
  int facts = 0;     // new (unit, sign) facts recorded
  int unstable = 0;  // units that became unstable
};

// Scans the columns of X (inputs; `pre` their pre-activations, as from
// network.pre_activations(X), possibly only the first layers) for signs that
// undecided units still lack. Each useful column inside the domain's box is
// re-evaluated on its own in float64; the signs it confirms are recorded as
// one Witness in `a.witnesses`, the seen_* flags set, and a unit seen both
// ways becomes unstable, decided by `stage`. Columns outside the box are
// skipped.
Harvest harvest(const Network& network, const Eigen::Ref<const Eigen::MatrixXd>& X,
                const std::vector<Eigen::MatrixXd>& pre, Analysis& a, Stage stage);
Harvest harvest(const Network& network, const Eigen::MatrixXd& X, Analysis& a, Stage stage);

// The same; returns the number of units that became unstable.
int harvest_witnesses(const Network& network, const Eigen::Ref<const Eigen::MatrixXd>& X,
                      const std::vector<Eigen::MatrixXd>& pre, Analysis& a, Stage stage);
int harvest_witnesses(const Network& network, const Eigen::MatrixXd& X, Analysis& a, Stage stage);

}  // namespace leo
