#include "leo/stability/evidence.hpp"

#include <algorithm>
#include <cmath>

#include "leo/network/structured.hpp"
#include "leo/util/progress.hpp"

namespace leo {

Analysis make_analysis(const Network& network, const Domain& domain) {
  Analysis a;
  a.domain = domain;
  for (Eigen::Index w : network.widths()) a.layers.emplace_back(static_cast<std::size_t>(w));
  for (std::size_t h = 0; h < network.hidden_layers(); ++h) {
    LayerLayout layout;
    if (const auto& map = network.layers[h].structured)
      for (std::size_t s = 0; s < map->output_segments().size(); ++s)
        layout.segments.push_back(
            {map->output_offset(s), map->output_segments()[s].shape, map->output_segments()[s].carry});
    a.layouts.push_back(std::move(layout));
  }
  return a;
}

bool skip_over_size_limit(const Network& net, const NetworkBounds& bounds, std::size_t layer,
                          const ModelLimits& limits, Analysis& a, Stage stage, std::string_view subject,
                          std::string_view consequence, std::size_t recorded_layer) {
  if (!limits.exceeded(net, bounds, layer)) return false;
  const ModelSize size = relaxation_size(net, bounds, layer);
  Progress::global().report(to_string(stage), "{} would have {} rows and {} nonzeros (limits {} and {}); {}", subject,
                            size.rows, size.nonzeros, limits.rows, limits.nonzeros, consequence);
  a.skipped_models.push_back({stage, recorded_layer, size.rows, size.nonzeros, limits.rows, limits.nonzeros});
  return true;
}

int undecided_units(const Analysis& a) {
  int n = 0;
  for (const auto& layer : a.layers)
    for (const auto& v : layer)
      if (v.status == Status::undecided) ++n;
  return n;
}

bool mark_stable(Analysis& a, std::size_t h, std::size_t i, bool inactive, double bound, Stage stage) {
  UnitVerdict& v = a.layers[h][i];
  if (v.status != Status::undecided) return false;
  if (inactive ? !(bound <= 0.0) : !(bound >= 0.0)) return false;
  if (inactive ? v.seen_positive : v.seen_negative) {
    Progress::global().report(to_string(stage),
                              "warning: layer {} unit {}: bound {} {} 0 contradicts a {} witness; left undecided", h,
                              i, bound, inactive ? "<=" : ">=", inactive ? "positive" : "negative");
    return false;
  }
  if (inactive) {
    v.status = Status::inactive;
    v.upper = std::min(v.upper, bound);
  } else {
    v.status = Status::active;
    v.lower = std::max(v.lower, bound);
  }
  v.stage = stage;
  Progress::global().count_decided(1);
  return true;
}

int apply_bounds(Analysis& a, const NetworkBounds& bounds, Stage stage) {
  int decided = 0;
  for (std::size_t h = 0; h < a.layers.size() && h < bounds.size(); ++h) {
    auto& layer = a.layers[h];
    const Bounds& b = bounds[h];
    for (std::size_t i = 0; i < layer.size(); ++i) {
      UnitVerdict& v = layer[i];
      auto k = static_cast<Eigen::Index>(i);
      if (k < b.lower.size()) v.lower = std::max(v.lower, b.lower[k]);
      if (k < b.upper.size()) v.upper = std::min(v.upper, b.upper[k]);
      if (v.status != Status::undecided) continue;
      if (v.upper <= 0)
        decided += mark_stable(a, h, i, true, v.upper, stage);
      else if (v.lower >= 0)
        decided += mark_stable(a, h, i, false, v.lower, stage);
    }
  }
  return decided;
}

NetworkBounds tightened_bounds(const NetworkBounds& bounds, const Analysis& analysis) {
  NetworkBounds out = bounds;
  for (std::size_t l = 0; l < analysis.layers.size() && l < out.size(); ++l) {
    Bounds& b = out[l];
    const auto& verdicts = analysis.layers[l];
    if (static_cast<Eigen::Index>(verdicts.size()) != b.lower.size()) continue;
    for (std::size_t i = 0; i < verdicts.size(); ++i) {
      const UnitVerdict& v = verdicts[i];
      double lo = std::max(b.lower[i], v.lower), hi = std::min(b.upper[i], v.upper);
      if (v.status == Status::active) lo = std::max(lo, 0.0);
      if (v.status == Status::inactive) hi = std::min(hi, 0.0);
      if (lo > hi) continue;  // inconsistent evidence: keep the given bounds
      b.lower[i] = lo;
      b.upper[i] = hi;
    }
  }
  return out;
}

Harvest harvest(const Network& network, const Eigen::Ref<const Eigen::MatrixXd>& X,
                const std::vector<Eigen::MatrixXd>& pre, Analysis& a, Stage stage) {
  Harvest result;
  const std::size_t H = a.layers.size();
  const std::size_t scanned = std::min(H, pre.size());  // pre may stop at a lower layer
  // Quick exit when nothing is needed.
  bool any = false;
  for (std::size_t h = 0; h < H && !any; ++h)
    for (const auto& v : a.layers[h])
      if (v.status == Status::undecided && !(v.seen_positive && v.seen_negative)) {
        any = true;
        break;
      }
  if (!any) return result;

  for (Eigen::Index b = 0; b < X.cols(); ++b) {
    // Does this column show a sign some undecided unit lacks?
    bool useful = false;
    for (std::size_t h = 0; h < scanned && !useful; ++h) {
      const auto& layer = a.layers[h];
      for (std::size_t i = 0; i < layer.size(); ++i) {
        const UnitVerdict& v = layer[i];
        if (v.status != Status::undecided) continue;
        double g = pre[h](static_cast<Eigen::Index>(i), b);
        if ((g > 0 && !v.seen_positive) || (g < 0 && !v.seen_negative)) {
          useful = true;
          break;
        }
      }
    }
    if (!useful) continue;
    Eigen::VectorXd x = X.col(b);
    if (!a.domain.box.contains(x)) continue;
    // Re-evaluate this input on its own, in float64.
    std::vector<Eigen::MatrixXd> single = network.pre_activations(Eigen::MatrixXd(x));
    Witness w;
    for (std::size_t h = 0; h < H; ++h) {
      auto& layer = a.layers[h];
      for (std::size_t i = 0; i < layer.size(); ++i) {
        UnitVerdict& v = layer[i];
        if (v.status != Status::undecided) continue;
        double g = single[h](static_cast<Eigen::Index>(i), 0);
        bool pos = g > 0 && !v.seen_positive;
        bool neg = g < 0 && !v.seen_negative;
        if (!pos && !neg) continue;
        if (pos) v.seen_positive = true;
        if (neg) v.seen_negative = true;
        w.units.push_back({static_cast<int>(h), static_cast<int>(i), pos});
        if (v.seen_positive && v.seen_negative) {
          v.status = Status::unstable;
          v.stage = stage;
          ++result.unstable;
          Progress::global().count_decided(1);
        }
      }
    }
    if (!w.units.empty()) {
      result.facts += static_cast<int>(w.units.size());
      w.input = std::move(x);
      a.witnesses.push_back(std::move(w));
    }
  }
  return result;
}

Harvest harvest(const Network& network, const Eigen::MatrixXd& X, Analysis& a, Stage stage) {
  return harvest(network, X, network.pre_activations(X), a, stage);
}

int harvest_witnesses(const Network& network, const Eigen::Ref<const Eigen::MatrixXd>& X,
                      const std::vector<Eigen::MatrixXd>& pre, Analysis& a, Stage stage) {
  return harvest(network, X, pre, a, stage).unstable;
}

int harvest_witnesses(const Network& network, const Eigen::MatrixXd& X, Analysis& a, Stage stage) {
  return harvest(network, X, a, stage).unstable;
}

}  // namespace leo
