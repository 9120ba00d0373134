#pragma once
// Rewrites of structured (convolutional) layers that keep them structured:
// whole channels are removed, never single positions (docs/cnn-plan.md §5).
// Pure functions (network + verdicts) -> (new network, steps), like
// compress/rewrites.hpp, with the same invariant: every surviving hidden
// unit's pre-activation is the same function on the domain (in real
// arithmetic), so it keeps its verdict and its origin; floating-point effects
// of the result are measured by the check before writing (verify/check.hpp).
//
// The channels of hidden layer h (the output of layers[h], the input of
// layers[h+1]) when either layer is structured: the segments of the
// structured side (layers[h]'s output segments, else layers[h+1]'s input
// segments; when both are structured their shapes must agree, else nothing
// of that hidden layer is removed), each cut into its channels (all
// positions of one channel). A dense layer on either side gives up the
// matching rows (layers[h]) or columns (layers[h+1], the columns
// channel_features names: the dense layer after Flatten).
//
// When a channel may be removed (the rule for segments, carries and Adds):
//   - it is not in a carry segment (carry units are never removed);
//   - every block of layers[h] that writes its segment (every summand of a
//     residual Add) can drop that output channel: its operators end, after
//     per-channel ones (AvgPool2d, ChannelAffine, which drop the channel
//     too), in a Conv2d of group 1 (select_output_channels). An identity
//     block (a skip connection added into the segment), a grouped or
//     depthwise Conv2d or a Permute cannot: the channel stays;
//   - every block of layers[h+1] that reads its segment can drop that input
//     channel: its operators start, after per-channel ones, with a Conv2d of
//     group 1 (select_input_channels). A carry (identity) block reading it,
//     i.e. a later layer that needs the value, a grouped Conv2d or a Permute
//     cannot: the channel stays;
//   - a segment keeps at least one channel (a map has no empty segments).
#include <cstdint>
#include <vector>

#include "leo/compress/rewrites.hpp"

namespace leo {

// True when hidden layer h has a structured layer on either side.
bool structured_hidden_layer(const Network& net, std::size_t h);

// Every channel whose units are all stably inactive, where the rule above
// allows it, is deleted: its rows/operator channels in layers[h], its
// columns/input channels in layers[h+1]. Its units are 0 on the domain, so
// layers[h+1] computes the same function of the remaining units.
RewriteResult remove_inactive_channels(const Compressible& state);

// A channel whose every unit has a pre-activation constant on the domain is
// the constant relu(g) there: its contribution to layers[h+1] is added to
// layers[h+1]'s bias and the channel is deleted (same rule as above).
// Constant means: no nonzero weight of layers[h] (through all its
// operators, tested exactly with the |W| product) reaches an input that
// varies. Inputs that do not vary: stably inactive units of hidden layer
// h-1 (0) and units of it whose own pre-activation is constant (relu(g)),
// found layer by layer from the first; the model's inputs all count as
// varying. So a zero kernel row (g = bias) is constant, and so is a channel
// whose kernel reads only positions or channels that are stably inactive or
// constant. g is computed in double (exactly the bias for a zero kernel);
// the check before writing measures the rounding. A channel with an
// `unstable` verdict is left alone. Into a structured layers[h+1] only when
// the contribution is the same at every position of each of its output
// channels (no padding reaches it), so that its bias stays one per channel.
RewriteResult fold_constant_channels(const Compressible& state);

// Units of structured hidden layers (not carries) that are stable but kept:
// the analysis proved them active or inactive, yet their channel is not
// removable as a whole (stable at only some positions, stably active, or
// kept by the rule above).
struct StableKept {
  std::int64_t units = 0;     // stable units kept
  std::int64_t channels = 0;  // channels holding at least one of them
};
StableKept stable_units_kept(const Compressible& state);

}  // namespace leo
