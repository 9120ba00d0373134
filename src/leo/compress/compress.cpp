#include "leo/compress/compress.hpp"

#include <fmt/core.h>

#include <stdexcept>

#include "leo/util/error.hpp"

namespace leo {

CompressResult compress(const Compressible& start, const Box& box, const CompressOptions& options) {
  start.check();
  CompressResult result;
  result.state = start;
  const double tol = options.rank_tolerance;
  auto apply = [&](RewriteResult r) {
    if (!r.changed()) return false;
    // A rewrite whose new weights overflow double (a fold of huge weights) is
    // not applied: the network it would give cannot be evaluated or written.
    for (const auto& layer : r.state.network.layers)
      if (!layer.weights.allFinite() || !layer.bias.allFinite()) return false;
    result.state = std::move(r.state);
    for (auto& step : r.steps) result.steps.push_back(std::move(step));
    return true;
  };
  bool changed = true;
  while (changed && !result.state.status.empty()) {
    ++result.rounds;
    changed = false;
    if (apply(collapse_dead_layer(result.state))) break;
    changed |= apply(remove_inactive_units(result.state));
    if (result.state.status.empty()) break;
    changed |= apply(remove_zero_outgoing(result.state));
    if (result.state.status.empty()) break;
    if (options.deletions_only) continue;
    changed |= apply(fold_constant_units(result.state, box, tol));
    if (result.state.status.empty()) break;
    changed |= apply(merge_duplicate_units(result.state, box, tol));
    if (result.state.status.empty()) break;
    changed |= apply(fold_dependent_active_units(result.state, box, tol));
    if (result.state.status.empty()) break;
    changed |= apply(fold_stable_layers(result.state, options.fold_layers));
  }
  result.state.check();
  return result;
}

CompressResult compress(const Network& net, const Analysis& analysis, const Box& box,
                        const CompressOptions& options) {
  return compress(Compressible(net, analysis), box, options);
}

std::vector<KeptLayer> kept_units(const Compressible& state) {
  state.check();
  std::vector<KeptLayer> map;
  for (std::size_t h = 0; h < state.origin.size(); ++h) {
    KeptLayer layer;
    const auto& origins = state.origin[h];
    if (!origins.empty()) layer.original_layer = origins.front().layer;
    for (const auto& o : origins) {
      if (o.layer != layer.original_layer || (!layer.units.empty() && o.unit <= layer.units.back()))
        throw Error(ExitCode::internal, fmt::format("internal error: compress: hidden layer {} mixes or reorders original units", h));
      layer.units.push_back(o.unit);
    }
    if (!map.empty() && layer.original_layer <= map.back().original_layer)
      throw Error(ExitCode::internal, fmt::format("internal error: compress: hidden layer {} does not follow the original's order", h));
    map.push_back(std::move(layer));
  }
  return map;
}

std::vector<KeptLayer> CompressResult::kept_units() const { return leo::kept_units(state); }

FoldLayers parse_fold_layers(const std::string& text) {
  if (text == "auto") return FoldLayers::automatic;
  if (text == "always") return FoldLayers::always;
  if (text == "never") return FoldLayers::never;
  throw InputError(fmt::format("--fold-layers: expected auto, always or never, got '{}'", text));
}

const char* to_string(FoldLayers policy) {
  switch (policy) {
    case FoldLayers::automatic: return "auto";
    case FoldLayers::always: return "always";
    case FoldLayers::never: return "never";
  }
  return "?";
}

}  // namespace leo
