#pragma once
// The weights of a network as a model file will store them.
//
// Rewrites compute new weights in double (folds multiply and add weights);
// the written model holds them in its element type. stored_network rounds
// them to that type (round to nearest, as the writers do), so that what is
// checked (verify/check.hpp) is bit for bit what is written. Structured
// layers: every operator weight (Conv2d kernels, ChannelAffine scales) and
// the layer's bias are rounded, pooling and permutations have none
// (network/evaluate_float.hpp, round_to_float). A weight or bias
// that is infinite or NaN in the stored type (an overflowing fold, or a
// double beyond float32's range) is never written: stored_network refuses it.
#include <string>

#include "leo/network/network.hpp"
#include "leo/util/error.hpp"

namespace leo {

// Thrown by stored_network: exit code check_failed (3). The message says
// which layer and value, without a file name (the caller adds it).
class NotStorable : public Error {
 public:
  explicit NotStorable(const std::string& message) : Error(ExitCode::check_failed, message) {}
};

// `net` with every weight and bias rounded to `type` (float32: cast to float
// and back; float64: unchanged). Throws NotStorable when a value is NaN or
// infinite in `type`.
Network stored_network(const Network& net, ElementType type);

}  // namespace leo
