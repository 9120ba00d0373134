#pragma once
// Optimised lower slopes (alpha-CROWN), sound in floating point.
//
// For each flagged unit (upper and lower bound separately) the CROWN bound is
// a function of the lower-relaxation slopes alpha in [0,1] of every unstable
// unit of every earlier layer; alpha starts at CROWN's adaptive choice and is
// improved by projected Adam on the (sub)gradient of the bound, computed by a
// hand-written backward pass. The best slopes seen (by the floating-point
// value of the bound) are then turned into a rigorous bound by
// backsub::sound_upper (weak duality with outward rounding, see backsub.hpp),
// so the optimiser's arithmetic never matters for soundness. Layers are
// processed in order and the tightened bounds of a layer are used for the
// relaxations of the later ones. Results are intersected into `bounds`.
#include <vector>

#include "leo/bounds/bounds.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"
#include "leo/util/deadline.hpp"

namespace leo {

struct AlphaOptions {
  int iterations = 20;
  double learning_rate = 0.1;
  // Objective rows per batch (2 per unit: upper and lower).
  Eigen::Index batch_rows = 1024;
  // Stop a batch early when every unit in it has a settled sign (hidden layers).
  bool stop_when_settled = true;
};

// targets[l][i]: optimise unit i of layer l (one vector per layer, hidden and
// output; a shorter or empty vector flags nothing). Hidden units that are
// already stable are skipped. `bounds` must hold one Bounds per layer (an
// empty one is filled by interval_bounds and crown_bounds first).
void alpha_bounds(const Network& net, const Box& box, NetworkBounds& bounds,
                  const std::vector<std::vector<bool>>& targets, const AlphaOptions& options = {},
                  const Deadline& deadline = {});

// All units of every layer flagged.
std::vector<std::vector<bool>> all_units(const Network& net);

}  // namespace leo
