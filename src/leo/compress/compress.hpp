#pragma once
// Lossless compression: apply the rewrites of docs/design.md §1 (compress/rewrites.hpp)
// until none changes the network.
//
// Order of one round: dead layer (network -> constant), stably inactive units,
// zero outgoing weights, constant units, positively proportional duplicates,
// linearly dependent stably active units, then fully stable layers folded into
// the next. Every step removes a unit or a layer, so the rounds end. A network
// where no rewrite applies is returned unchanged, bit for bit.
#include <vector>

#include "leo/compress/rewrites.hpp"

namespace leo {

struct CompressOptions {
  FoldLayers fold_layers = FoldLayers::automatic;
  double rank_tolerance = default_rank_tolerance;
};

struct CompressResult {
  Compressible state;              // the compressed network, its verdicts and unit origins
  std::vector<RewriteStep> steps;  // every rewrite applied, in order
  int rounds = 0;
  bool changed() const { return !steps.empty(); }
  const Network& network() const { return state.network; }
};

CompressResult compress(const Compressible& start, const Box& box, const CompressOptions& options = {});
CompressResult compress(const Network& net, const Analysis& analysis, const Box& box,
                        const CompressOptions& options = {});

// Parses "auto" | "always" | "never" (throws InputError otherwise).
FoldLayers parse_fold_layers(const std::string& text);
const char* to_string(FoldLayers policy);

}  // namespace leo
