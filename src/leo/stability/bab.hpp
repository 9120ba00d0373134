#pragma once
// Stage "bab" of the cascade: branch and bound on the INPUT box, for networks
// with few inputs (ACAS Xu has 5). Runs after the bound stages and before the
// MILP.
//
// One search tree is shared by every undecided unit. A node is a sub-box; its
// bounds start from its parent's (valid on any sub-box), are re-propagated by
// interval arithmetic and tightened by CROWN on the sub-box (bounds/crown.hpp,
// sound in floating point). A unit is *open* in a node when it is still
// undecided and the node's bounds do not settle its sign. In each node with
// open units, the centre and, for each open unit, the two corners that
// maximise / minimise the unit's linearisation at the centre (the Jacobian's
// signs) are evaluated: the signs they show are witnesses (re-evaluated in
// float64, evidence.hpp). A node still with open units is bisected at the
// midpoint of one feature (largest sum over open units of
// |dg/dx_j| * width_j / (upper - lower)); the two halves share the midpoint,
// so the leaves always cover the box exactly.
//
// A unit open in more than max_unit_nodes nodes is given up (no longer
// counted as open). When the budget (nodes, deadline) runs out, the unprocessed nodes become
// leaves with their parent's bounds. The bound of every unit over the whole
// box is then the envelope (max of uppers, min of lowers) over the leaves: it
// is sound because the leaves cover the box and each leaf's bounds are sound
// on it. Those envelopes are intersected into the cascade's bounds (so the
// MILP's big-M values get tighter too) and decide, as any bound does
// (apply_bounds), the units whose envelope has a sign: inactive when every
// leaf proves g <= 0, active when every leaf proves g >= 0.
#include <random>

#include "leo/bounds/bounds.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"
#include "leo/util/deadline.hpp"

namespace leo::cert {
struct InputSplit;
}

namespace leo {

struct BabOptions {
  // The stage is skipped for networks with more inputs (splitting a box of
  // hundreds of features does not narrow the bounds; the MILP does better).
  Eigen::Index max_inputs = 16;
  long max_nodes = 200000;
  // A unit still open after this many nodes is given up (left to the MILP,
  // with the bounds of the envelope); -1: never. On ACAS Xu 1_1 / prop_1 one
  // unit whose maximum is nearly 0 was open in 18,000 of 37,000 nodes (9 s of
  // CPU for the whole tree), yet CBC's per-unit MILP needed 300 s of CPU for
  // it even with the tree's bounds; on random nets with 8-10 inputs a few
  // units kept a 200,000-node tree going (20 s) that CBC then settled in 1-3 s.
  long max_unit_nodes = 20000;
  // Wall-clock seconds for this stage (<= 0: none); the cascade's deadline
  // applies as well.
  double seconds = 0;
  // Open units whose linearised extremes are tried per node (witness search).
  int attack_units = 32;
  // When set, the tree of bisections is recorded here (certificates,
  // stability/certify.hpp): preorder, every node explored or left.
  cert::InputSplit* tree = nullptr;
};

struct BabStats {
  long nodes = 0;        // nodes bounded
  long leaves = 0;       // nodes where every unit was settled
  long frontier = 0;     // nodes left when the budget ran out
  bool complete = false; // the tree was explored to the end
};

// Works on the undecided units of `analysis`; `bounds` (one Bounds per layer,
// sound on the whole box) is tightened in place. Returns the units decided
// (stable by the envelope bounds, or unstable by witnesses).
int bab_stage(const Network& network, NetworkBounds& bounds, Analysis& analysis, const BabOptions& options = {},
              const Deadline& deadline = {}, BabStats* stats = nullptr);

}  // namespace leo
