#include "leo/compress/compress.hpp"

#include <fmt/core.h>

#include <optional>
#include <stdexcept>

#include "leo/compress/affine_hull.hpp"

#include "leo/compress/channels.hpp"
#include "leo/util/error.hpp"

namespace leo {

namespace {

// A rewrite whose new weights overflow double (a fold of huge weights) is
// not applied: the network it would give cannot be evaluated or written.
// (Structured layers' weights are only ever copied or selected.)
bool finite(const Network& net) {
  for (const auto& layer : net.layers)
    if ((layer.is_dense() && !layer.weights.allFinite()) || !layer.bias.allFinite()) return false;
  return true;
}

bool apply_to(CompressResult& result, RewriteResult r) {
  if (!r.changed() || !finite(r.state.network)) return false;
  result.state = std::move(r.state);
  for (auto& step : r.steps) result.steps.push_back(std::move(step));
  return true;
}

// The rounds of the header on a network of dense layers. Without
// `hull_rewrites`, the rewrites that need the affine hulls of the layers'
// inputs (constant units, duplicates, dependent active units) are skipped.
CompressResult compress_dense(const Compressible& start, const Box& box, const CompressOptions& options,
                              bool hull_rewrites) {
  CompressResult result;
  result.state = start;
  const double tol = options.rank_tolerance;
  // Every rewrite is a pure function of the state (and the box and
  // tolerance): one that changed nothing on a state changes nothing on it
  // again, so it is not run again until the state has changed (`version`
  // counts the changes). The hulls of the layers' inputs are computed once
  // per state and shared by the rewrites that read them.
  long version = 0;
  auto apply = [&](RewriteResult r) {
    if (!apply_to(result, std::move(r))) return false;
    ++version;
    return true;
  };
  enum Rewrite { constant_units, duplicates, dependent, count };
  long unchanged_at[count] = {-1, -1, -1};
  std::optional<std::vector<AffineHull>> hulls;
  long hulls_version = -1;
  auto hull_rewrite = [&](Rewrite which, auto&& run) {
    if (unchanged_at[which] == version) return false;
    if (hulls_version != version) {
      hulls = hidden_input_hulls(result.state, box, tol);
      hulls_version = version;
    }
    if (apply(run(&*hulls))) return true;
    unchanged_at[which] = version;
    return false;
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
    if (hull_rewrites) {
      changed |= hull_rewrite(constant_units, [&](const std::vector<AffineHull>* h) {
        return fold_constant_units(result.state, box, tol, h);
      });
      if (result.state.status.empty()) break;
      changed |= hull_rewrite(duplicates, [&](const std::vector<AffineHull>* h) {
        return merge_duplicate_units(result.state, box, tol, h);
      });
      if (result.state.status.empty()) break;
      changed |= hull_rewrite(dependent, [&](const std::vector<AffineHull>* h) {
        return fold_dependent_active_units(result.state, box, tol, h);
      });
      if (result.state.status.empty()) break;
    }
    changed |= apply(fold_stable_layers(result.state, options.fold_layers));
  }
  return result;
}

// The dense tail of a structured network: the first layer from which every
// layer is dense.
std::size_t dense_tail_start(const Network& net) {
  std::size_t t = net.layers.size();
  while (t > 0 && net.layers[t - 1].is_dense()) --t;
  return t;
}

CompressResult compress_structured(const Compressible& start, const CompressOptions& options) {
  CompressResult result;
  result.state = start;
  result.rounds = 1;
  if (apply_to(result, collapse_dead_layer(result.state))) return result;
  apply_to(result, remove_inactive_channels(result.state));
  if (!options.deletions_only) apply_to(result, fold_constant_channels(result.state));

  // The dense tail layers[T..] (after Flatten): the rewrites of dense
  // networks, on the tail as a network of its own whose input is hidden
  // layer T-1. Its domain: that layer's units, 0 where stably inactive, free
  // elsewhere (the box [0, 1] stands for "free": the rewrites read the box
  // only through its affine hull, here 0 on inactive units and the whole
  // space elsewhere, a superset of the true hull, so every relation they
  // find holds on the domain).
  Network& net = result.state.network;
  const std::size_t T = dense_tail_start(net);
  if (T == 0 || T + 1 >= net.layers.size()) return result;
  Compressible sub;
  sub.network.layers.assign(net.layers.begin() + static_cast<std::ptrdiff_t>(T), net.layers.end());
  sub.network.output = net.output;
  sub.network.output_activation = net.output_activation;
  sub.status.assign(result.state.status.begin() + static_cast<std::ptrdiff_t>(T), result.state.status.end());
  sub.origin.assign(result.state.origin.begin() + static_cast<std::ptrdiff_t>(T), result.state.origin.end());
  const Eigen::Index n = sub.network.inputs();
  Box sub_box(Eigen::VectorXd::Zero(n), Eigen::VectorXd::Ones(n));
  Eigen::Index free = n;
  for (Eigen::Index i = 0; i < n; ++i)
    if (result.state.status[T - 1][static_cast<std::size_t>(i)] == Status::inactive) sub_box.upper[i] = 0.0, --free;
  // The hull of the tail's input holds one direction per free feature (n x
  // free doubles): past 2^24 doubles (128 MiB) the hull rewrites are skipped.
  constexpr Eigen::Index hull_limit = Eigen::Index{1} << 24;
  CompressResult tail = compress_dense(sub, sub_box, options, n * free <= hull_limit);
  result.rounds += tail.rounds;
  bool dead = false;
  for (auto& step : tail.steps) {
    dead |= step.kind == RewriteKind::dead_layer;
    step.layer += static_cast<int>(T);
    result.steps.push_back(std::move(step));
  }
  if (dead) {
    // The tail is the constant its bias holds: so is the network.
    Network constant = constant_network(net, tail.state.network.layers.back().bias);
    result.state.network = std::move(constant);
    result.state.status.clear();
    result.state.origin.clear();
    return result;
  }
  net.layers.resize(T);
  for (auto& layer : tail.state.network.layers) net.layers.push_back(std::move(layer));
  result.state.status.resize(T);
  result.state.origin.resize(T);
  for (auto& s : tail.state.status) result.state.status.push_back(std::move(s));
  for (auto& o : tail.state.origin) result.state.origin.push_back(std::move(o));
  return result;
}

bool has_structured(const Network& net) {
  for (const auto& layer : net.layers)
    if (!layer.is_dense()) return true;
  return false;
}

}  // namespace

CompressResult compress(const Compressible& start, const Box& box, const CompressOptions& options) {
  start.check();
  CompressResult result = has_structured(start.network) ? compress_structured(start, options)
                                                        : compress_dense(start, box, options, true);
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
