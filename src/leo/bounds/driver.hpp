#pragma once
// The loop that every batched bound method shares (CROWN, alpha-CROWN), and
// the unit selection that the targeted ones share (alpha-CROWN, LP).
//
// Invariant: bounds are only ever intersected with new sound bounds (never
// loosened), layer by layer in order, so a later layer's relaxations use the
// tightened earlier ones. When the deadline expires the loop stops between
// two batches; what was tightened so far stays (sound), the rest is untouched.
#include <cstddef>
#include <functional>
#include <vector>

#include "leo/bounds/bounds.hpp"
#include "leo/network/network.hpp"
#include "leo/util/deadline.hpp"

namespace leo {

// Which units a bound method works on: targets[l][i] flags unit i of layer l
// (one vector per layer; a shorter or empty one flags nothing); null: every
// unit. Hidden units already stable in `bounds` are skipped unless
// `only_unstable` is false; output units are always worked on when flagged.
struct UnitSelection {
  const std::vector<std::vector<bool>>* targets = nullptr;
  bool only_unstable = true;
};

// The units of layer k to bound under `selection`, in increasing order.
std::vector<Eigen::Index> select_units(const Network& net, const NetworkBounds& bounds, std::size_t k,
                                       const UnitSelection& selection);

// Sound upper bounds of A g_k over the box (one per row of A), for the rows
// A = backsub::objective_rows(...) of a batch: rows q < m bound +g, rows
// m + q bound -g of batch unit q.
using BatchBound = std::function<Eigen::VectorXd(std::size_t k, const Eigen::MatrixXd& A)>;

struct BatchLoop {
  Eigen::Index batch_rows = 1024;  // objective rows per batch (2 per unit)
  // Memory. A batch of r objective rows on layer k holds r x (a few widths)
  // doubles: back-substitution's multipliers and coefficients for one layer
  // at a time, alpha-CROWN's slopes and moments for every earlier layer
  // (all_layers). Batches are cut (never below one unit) so that
  // r * batch_doubles(net, k, all_layers) <= memory_doubles: on a conv layer
  // of 8k units over 8k inputs, 1024 rows would take half a GiB per matrix.
  Eigen::Index memory_doubles = Eigen::Index{1} << 25;  // 256 MiB
  bool all_layers = false;
  std::size_t first_layer = 0;                            // bound layers first_layer..last_layer only
  std::size_t last_layer = static_cast<std::size_t>(-1);
  UnitSelection selection;
};

struct BatchLoopResult {
  Eigen::Index bounded = 0;    // units whose bounds were computed
  Eigen::Index tightened = 0;  // units whose bounds got tighter
  bool stopped = false;        // the deadline stopped the loop
  std::size_t stopped_at = 0;  // the layer it stopped at
};

// Doubles one objective row of layer k costs (see BatchLoop::memory_doubles):
// 8 x the widest layer input or output up to k, plus, with all_layers, 8 x
// the sum of their widths.
Eigen::Index batch_doubles(const Network& net, std::size_t k, bool all_layers);
// The objective rows per batch on layer k: batch_rows cut to the memory
// budget, even, at least 2 (one unit).
Eigen::Index rows_per_batch(const Network& net, std::size_t k, const BatchLoop& loop);

// For each layer first_layer <= k <= last_layer in order: select the units, and in batches
// of batch_rows / 2 units compute `bound` and intersect it into bounds[k].
// Calls on_layer(k, units of layer k) after each layer with units, if given.
BatchLoopResult bound_in_batches(const Network& net, NetworkBounds& bounds, const BatchLoop& loop,
                                 const Deadline& deadline, const BatchBound& bound,
                                 const std::function<void(std::size_t, std::size_t)>& on_layer = {});

}  // namespace leo
