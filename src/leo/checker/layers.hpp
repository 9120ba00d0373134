#pragma once
// The linear map of a layer as the checker reads it: sparse rows whose every
// coefficient is an interval [lo, hi] holding the exact real coefficient of
// the model's map (docs/certificates.md, "Structured layers").
//
// A dense layer gives its nonzero weights, lo == hi. A structured layer
// (network/structured.hpp: convolutions, average pooling, per-channel affine
// maps, permutations, skip connections carried as identity blocks) is
// flattened here, by the checker's own loops over the operators' parameters
// (never the network's products): each operator becomes sparse rows (a
// Conv2d's weights copied exactly, AvgPool2d's 1/d as the tightest interval
// of two doubles around it, a ChannelAffine's scale, a Permute's 1), the
// operators of a block are composed and the blocks writing one output
// segment summed, both in interval arithmetic rounded outward. So the
// exact map of the layer is one of the matrices the intervals allow, and
// every rule of the checker that holds for every matrix in them holds for
// the model. The layer's bias is a dense vector already (AffineLayer::bias).
//
// Invariant: for every row r and column c, the model's exact coefficient
// W(r, c) lies in [lo, hi] of the entry (r, c), and is exactly 0 where the
// row has no entry for c. Entries of a row are in ascending column order.
#include <Eigen/Dense>
#include <string>
#include <vector>

#include "leo/network/network.hpp"

namespace leo::cert {

struct IntervalRows {
  Eigen::Index rows = 0, cols = 0;
  std::vector<Eigen::Index> start{0};  // rows + 1: row r holds entries start[r] .. start[r+1]-1
  std::vector<Eigen::Index> col;
  std::vector<double> lo, hi;

  Eigen::Index begin(Eigen::Index r) const { return start[static_cast<std::size_t>(r)]; }
  Eigen::Index end(Eigen::Index r) const { return start[static_cast<std::size_t>(r) + 1]; }
  std::size_t entries() const { return col.size(); }
};

// The rows of layer's linear map. Sets the FPU to round upward while it
// computes (and restores the mode). Throws InputError (prefixed with
// `context`) for a map whose sizes do not chain (a model the reader would
// not build) or a non-finite coefficient.
IntervalRows interval_rows(const AffineLayer& layer, const std::string& context);

}  // namespace leo::cert
