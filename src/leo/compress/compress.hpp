#pragma once
// Lossless compression: apply the rewrites of docs/design.md §1 (compress/rewrites.hpp)
// until none changes the network.
//
// Networks with structured (convolutional) layers: one round of the dead
// layer, inactive channels and constant channels (compress/channels.hpp: whole
// channels, never single positions; layers stay convolutional, none is
// folded into another), then the rounds below on the dense tail (the dense
// layers after the last structured one, after Flatten), whose input is the
// last structured hidden layer (see compress.cpp for its domain). Dense
// layers before a structured one are left as they are.
//
// Order of one round: dead layer (network -> constant), stably inactive units,
// zero outgoing weights, constant units, positively proportional duplicates,
// linearly dependent stably active units, then fully stable layers folded into
// the next. Every step removes a unit or a layer, so the rounds end. A network
// where no rewrite applies is returned unchanged, bit for bit. A rewrite whose
// new weights are not finite in double (an overflowing fold) is skipped, so
// the result's weights are always finite; whether they are finite in float32
// is the writer's check (compress/stored.hpp).
#include <vector>

#include "leo/compress/channels.hpp"
#include "leo/compress/rewrites.hpp"

namespace leo {

struct CompressOptions {
  FoldLayers fold_layers = FoldLayers::automatic;
  double rank_tolerance = default_rank_tolerance;
  // Only the rewrites that compute no new weight: stably inactive units,
  // units with zero outgoing weights, and a dead layer (the network is then
  // the constant). Every surviving weight keeps its stored value, so the
  // result computes, in any arithmetic, the sums of the original without
  // some zero terms. The fallback of compress_checked (verify/check.hpp)
  // when the full rewrites do not survive the stored precision.
  bool deletions_only = false;
};

// The kept-unit map: which unit of the original network each hidden unit of
// the compressed network is.
//
// For hidden layer h of the compressed network, `original_layer` is the
// hidden layer of the original it comes from and units[i] the original index
// of its unit i. The map is injective and increasing within a layer (rewrites
// delete units, they never reorder or create them), and original_layer
// increases with h. What "is" means, rewrite by rewrite (the invariant of
// rewrites.hpp): the kept unit's pre-activation is the SAME function on the
// domain, in real arithmetic, as the original unit's; its weights may differ.
//   - deleted units (stably inactive, zero outgoing, constant) are absent;
//   - a merged duplicate k = c j (c > 0): j is kept (absorbing c times k's
//     outgoing weights), k is absent;
//   - linearly dependent stably active units: the basis is kept (absorbing
//     the others' outgoing weights), the others are absent;
//   - a folded layer (every unit stable, folded into the next): the folded
//     layer is absent; the merged layer's units are those of the original
//     layer that followed it (their pre-activations are unchanged on the
//     domain), so original_layer skips the folded layer;
//   - a constant network (a dead layer): no hidden layers, an empty map.
// The output layer is not in the map: its units are always the original
// outputs, in order.
struct KeptLayer {
  int original_layer = 0;
  std::vector<int> units;
  bool operator==(const KeptLayer&) const = default;
};

struct CompressResult {
  Compressible state;              // the compressed network, its verdicts and unit origins
  std::vector<RewriteStep> steps;  // every rewrite applied, in order
  int rounds = 0;
  bool changed() const { return !steps.empty(); }
  const Network& network() const { return state.network; }
  // The kept-unit map (see KeptLayer), from state.origin.
  std::vector<KeptLayer> kept_units() const;
  // Stable units of structured hidden layers that stay (compress/channels.hpp).
  StableKept stable_kept() const { return stable_units_kept(state); }
};

// The kept-unit map of a Compressible: one KeptLayer per hidden layer.
// Throws leo::Error (internal) when a layer's origins are not one original layer
// in increasing unit order (a broken invariant).
std::vector<KeptLayer> kept_units(const Compressible& state);

CompressResult compress(const Compressible& start, const Box& box, const CompressOptions& options = {});
CompressResult compress(const Network& net, const Analysis& analysis, const Box& box,
                        const CompressOptions& options = {});

// Parses "auto" | "always" | "never" (throws InputError otherwise).
FoldLayers parse_fold_layers(const std::string& text);
const char* to_string(FoldLayers policy);

}  // namespace leo
