#pragma once
// Interval bound propagation (IBP), sound in floating point.
//
// For each layer, g = W x + b with x in [lo, hi] (the input box, then the ReLU
// of the previous layer's bounds):
//   upper = W+ hi + W- lo + b,  lower = W+ lo + W- hi + b   (W+ = max(W,0), W- = min(W,0))
// computed in round-to-nearest (Eigen/BLAS, any order) and widened by the
// rigorous error term of bounds/rounding.hpp for a sum of 2n+1 products with
// magnitude W+|hi| - W-|lo| + |b| (resp. |lo|, |hi|), then rounded outward
// with nextafter. The result encloses the real-valued g(x) of the double
// weights for every x in the box.
#include "leo/bounds/bounds.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"

namespace leo {

// Bounds on g = W x + b for x in [lo, hi] (a single affine layer).
Bounds affine_interval(const AffineLayer& layer, const Eigen::VectorXd& lo, const Eigen::VectorXd& hi);

// One Bounds per layer of net (hidden and output). Throws leo::Error (internal)
// when the box does not match the network's inputs.
NetworkBounds interval_bounds(const Network& net, const Box& box);

// Re-propagates intervals from layer `from` on, intersecting with the bounds
// already there (never loosens). Layers before `from` are used as they are.
void interval_tighten(const Network& net, const Box& box, NetworkBounds& bounds, std::size_t from);

// Intersects `tighter` into `bounds` (elementwise max of lowers, min of uppers).
// Returns the number of units whose bound changed.
Eigen::Index intersect_into(Bounds& bounds, const Bounds& tighter);

// Counts stable units (lower >= 0 or upper <= 0) in hidden layers.
struct StableCount {
  Eigen::Index active = 0;
  Eigen::Index inactive = 0;
  Eigen::Index unstable = 0;
};
StableCount count_stable(const NetworkBounds& bounds);

}  // namespace leo
