#pragma once
// The lossless rewrites of docs/design.md §1, each a pure function
//   (network + what is known about its hidden units) -> (new network, steps taken).
//
// Invariant that makes verdicts reusable across rewrites: every rewrite keeps
// the pre-activation g of every surviving hidden unit the *same function on
// the domain* (in real arithmetic): removing a unit whose output is 0, or
// replacing a unit's output by an affine expression it equals on the domain,
// changes the next layer's weights but not the values it computes; folding a
// fully stable layer l into l+1 gives a layer whose units compute, on the
// domain, exactly what layer l+1's units computed. So a surviving unit keeps
// its verdict and its identity (`origin`), and no rewrite ever needs a new
// analysis. Floating-point rounding of the new weights is measured afterwards
// (verify/), never assumed away.
//
// A rewrite that leaves a hidden layer with no units makes the network a
// constant on the domain; it then returns the constant network (one affine
// layer with zero weights), with no hidden layers.
#include <Eigen/Dense>
#include <string>
#include <vector>

#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"

namespace leo {

// Which unit of the original network a unit is.
struct AffineHull;  // compress/affine_hull.hpp

struct UnitOrigin {
  int layer = 0;  // hidden layer of the original network
  int unit = 0;
  bool operator==(const UnitOrigin&) const = default;
};

// A network plus what is known about its hidden units. status[h][i] is the
// verdict of unit i of hidden layer h (undecided and unstable are treated
// alike: the unit may take both signs).
struct Compressible {
  Network network;
  std::vector<std::vector<Status>> status;
  std::vector<std::vector<UnitOrigin>> origin;

  Compressible() = default;
  // Identity origins; `status` must have one entry per hidden unit.
  Compressible(Network net, std::vector<std::vector<Status>> status);
  // Statuses taken from an analysis of `net`.
  Compressible(Network net, const Analysis& analysis);
  // Throws leo::Error (internal) when status/origin do not match the network's widths.
  void check() const;
  bool constant() const {
    return network.layers.size() == 1 && network.layers[0].is_dense() && network.layers[0].weights.isZero(0.0);
  }
};

enum class RewriteKind {
  inactive_unit,     // rewrite 1
  dependent_active,  // rewrite 2
  layer_fold,        // rewrite 3
  dead_layer,        // rewrite 4
  zero_outgoing,     // rewrite 5: all-zero outgoing weights
  constant_unit,     // rewrite 5: no incoming weights on the domain's hull (g constant)
  duplicate_unit,    // rewrite 5: positively proportional to another unit
  inactive_channel,  // structured layers: whole channels stably inactive (compress/channels.hpp)
  constant_channel,  // structured layers: whole channels constant, folded into the next bias
};
const char* to_string(RewriteKind kind);

struct RewriteStep {
  RewriteKind kind;
  int layer = 0;  // hidden layer (of the network the step was applied to)
  int units = 0;  // units removed (for layer_fold: the width of the folded layer)
  std::string detail;
  int channels = 0;  // inactive_channel / constant_channel: channels removed (units: their positions)
  // What a certificate needs to replay the step (checker/, docs/certificates.md),
  // by index in the layer as it was before the step; filled by the dense rewrites
  // and the channel rewrites (every unit of the channels removed).
  std::vector<int> removed{};          // the units removed (layer_fold, dead_layer: empty, the whole layer)
  std::vector<int> into{};             // duplicate_unit: the unit each removed unit was merged into
  std::vector<double> coefficient{};   // duplicate_unit: c; constant_unit/_channel: the value folded; dependent_active: offset
  std::vector<int> basis{};            // dependent_active: the basis units
  Eigen::MatrixXd alpha{};             // dependent_active: basis x removed, x_k = sum_j alpha(j, k) x_j + offset_k
};

struct RewriteResult {
  Compressible state;
  std::vector<RewriteStep> steps;
  bool changed() const { return !steps.empty(); }
};

// Relative tolerance of the rank decisions (hulls, dependent rows,
// proportional rows, constant units): a row/pivot counts as zero when it is
// at most this fraction of the largest one. 1e-9 keeps the error a rewrite
// may introduce far below float32 rounding of the weights (~6e-8 relative).
inline constexpr double default_rank_tolerance = 1e-9;

enum class FoldLayers { automatic, always, never };

// Rewrites 1, 2, 3, 5 read dense weights: for networks of dense layers only
// (leo::Error internal on a structured layer). compress() applies them to
// the dense tail of a structured network; collapse_dead_layer works on any
// network. Structured layers have their own: compress/channels.hpp.

// Rewrite 1: delete every stably inactive unit (row of W^l, b^l, column of W^{l+1}).
RewriteResult remove_inactive_units(const Compressible& state);

// Rewrite 4: when every unit of some hidden layer is stably inactive, the
// network is the constant f_{>l}(0) on the domain: return the constant network.
RewriteResult collapse_dead_layer(const Compressible& state);

// Rewrite 5a (domain-free): delete units whose outgoing weights are all exactly zero.
RewriteResult remove_zero_outgoing(const Compressible& state);

// The three rewrites that read the affine hulls of the layers' inputs
// (compress/affine_hull.hpp) compute them as they walk the layers. `hulls`,
// when given, must be hidden_input_hulls(state, box, tolerance) (one per
// hidden layer); a rewrite then uses them for the layers before its first
// change instead of computing them again: the result is the same, bit for
// bit, as without (what compress() does to share them between rewrites).

// Rewrite 5b: a unit whose incoming row is zero on the hull of its inputs
// (an all-zero row, or one orthogonal to every direction the inputs take) is
// the constant relu(g(p)); fold it into the next bias and delete it. Units
// with an `unstable` verdict are left alone (a witness shows them varying).
RewriteResult fold_constant_units(const Compressible& state, const Box& box,
                                  double tolerance = default_rank_tolerance,
                                  const std::vector<AffineHull>* hulls = nullptr);

// Rewrite 5c: units k, j of one layer with g_k = c g_j (c > 0) on the hull
// (for raw rows: (w_k, b_k) = c (w_j, b_j)) have x_k = c x_j: add c times
// k's outgoing column to j's and delete k.
RewriteResult merge_duplicate_units(const Compressible& state, const Box& box,
                                    double tolerance = default_rank_tolerance,
                                    const std::vector<AffineHull>* hulls = nullptr);

// Rewrite 2: in each hidden layer, the stably active units whose rows,
// restricted to the hull of the layer's input, are linearly dependent: keep a
// basis chosen by column-pivoted QR (pivot > tolerance * largest pivot),
// express each other active unit as an affine combination of the basis units
// on the domain, fold it into the next layer and delete it.
RewriteResult fold_dependent_active_units(const Compressible& state, const Box& box,
                                          double tolerance = default_rank_tolerance,
                                          const std::vector<AffineHull>* hulls = nullptr);

// Rewrite 3: fold hidden layers whose units are all stably active or inactive
// into the next layer (`automatic`: only when that lowers the parameter count).
RewriteResult fold_stable_layers(const Compressible& state, FoldLayers policy);

// The constant network with the interface of `like` whose output is `value`
// on every input (one affine layer: zero weights, bias = value).
Network constant_network(const Network& like, const Eigen::VectorXd& value);

}  // namespace leo
