#pragma once
// Symbolic back-substitution (CROWN / DeepPoly linear bounds), sound in
// floating point.
//
// Layer by layer, for every unit still unstable (and every output unit), the
// upper and lower bounds of g_k are obtained by back-substituting through the
// earlier layers with the ReLU relaxations given by their current bounds:
// upper chord u/(u-l) (g - l) where the coefficient is positive, lower line
// alpha g (alpha = 1 if u >= -l else 0) where it is negative, identity for
// stably active and 0 for stably inactive units. The numbers are then
// re-derived soundly by backsub::sound_upper (see backsub.hpp: the CROWN
// slopes only choose the multipliers; the bound is a rigorous weak-duality
// bound with outward rounding). New bounds are intersected into `bounds`
// (never loosened), so later layers use the tightened earlier ones.
#include "leo/bounds/bounds.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"
#include "leo/util/deadline.hpp"

namespace leo {

struct CrownOptions {
  // Hidden units already stable are skipped (their bounds do not change any
  // relaxation); output units are always bounded.
  bool only_unstable = true;
  // Objective rows per batch (2 per unit: upper and lower).
  Eigen::Index batch_rows = 1024;
  // Bound layers first_layer..last_layer only (the others are left as they
  // are). A caller whose bounds changed only from layer j on (e.g. a ReLU
  // split there) starts at j + 1: the bounds of layers <= j depend only on
  // the layers before them, so re-bounding them cannot tighten anything.
  std::size_t first_layer = 0;
  std::size_t last_layer = static_cast<std::size_t>(-1);
  // Progress line on stderr when done (off for the many small calls of the
  // input-splitting stage).
  bool report = true;
};

// `bounds` must hold one Bounds per layer (e.g. from interval_bounds); an
// empty `bounds` is first filled by interval_bounds.
void crown_bounds(const Network& net, const Box& box, NetworkBounds& bounds, const Deadline& deadline = {});
void crown_bounds(const Network& net, const Box& box, NetworkBounds& bounds, const CrownOptions& options,
                  const Deadline& deadline = {});

// Units of layer k to bound: the unstable ones (or all) for hidden layers,
// all for the output layer.
std::vector<Eigen::Index> units_to_bound(const Network& net, const NetworkBounds& bounds, std::size_t k,
                                         bool only_unstable);

}  // namespace leo
