#include "leo/compress/compress.hpp"

#include <fmt/core.h>

#include "leo/util/error.hpp"

namespace leo {

CompressResult compress(const Compressible& start, const Box& box, const CompressOptions& options) {
  start.check();
  CompressResult result;
  result.state = start;
  const double tol = options.rank_tolerance;
  auto apply = [&](RewriteResult r) {
    if (!r.changed()) return false;
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
