#include "leo/compress/rewrites.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <stdexcept>

#include "leo/compress/affine_hull.hpp"
#include "leo/util/error.hpp"

namespace leo {

namespace {

using Index = Eigen::Index;

bool may_vary(Status s) { return s != Status::active && s != Status::inactive; }

// Output of layers[from..] when the input of layers[from] is x (ReLU after
// every layer but the last).
Eigen::VectorXd forward_from(const Network& net, std::size_t from, const Eigen::VectorXd& x) {
  Eigen::VectorXd a = x;
  for (std::size_t l = from; l < net.layers.size(); ++l) {
    const auto& layer = net.layers[l];
    Eigen::VectorXd g = layer.bias;
    if (layer.inputs() > 0) g += layer.multiply(a).col(0);
    if (l + 1 < net.layers.size()) g = g.cwiseMax(0.0);
    a = std::move(g);
  }
  return a;
}

std::vector<int> kept_indices(const std::vector<bool>& remove) {
  std::vector<int> keep;
  for (std::size_t i = 0; i < remove.size(); ++i)
    if (!remove[i]) keep.push_back(static_cast<int>(i));
  return keep;
}

// Deletes the units of hidden layer h marked in `remove` (rows of layer h,
// columns of layer h+1). The caller has already moved whatever those units
// contributed into layer h+1's other columns and bias.
void delete_units(Compressible& s, std::size_t h, const std::vector<bool>& remove) {
  auto keep = kept_indices(remove);
  auto& layer = s.network.layers[h];
  auto& next = s.network.layers[h + 1];
  Eigen::MatrixXd w = layer.weights(keep, Eigen::all);
  Eigen::VectorXd b = layer.bias(keep);
  Eigen::MatrixXd wn = next.weights(Eigen::all, keep);
  layer.weights = std::move(w);
  layer.bias = std::move(b);
  next.weights = std::move(wn);
  std::vector<Status> status;
  std::vector<UnitOrigin> origin;
  for (int i : keep) {
    status.push_back(s.status[h][static_cast<std::size_t>(i)]);
    origin.push_back(s.origin[h][static_cast<std::size_t>(i)]);
  }
  s.status[h] = std::move(status);
  s.origin[h] = std::move(origin);
}

// Replaces the network by the constant f_{>h}(x^h = value) (value may be empty).
void make_constant(Compressible& s, std::size_t h, const Eigen::VectorXd& value) {
  Eigen::VectorXd y = forward_from(s.network, h + 1, value);
  s.network = constant_network(s.network, y);
  s.status.clear();
  s.origin.clear();
}

// After units of hidden layer h were deleted: if none is left, the network is constant.
bool collapse_if_empty(Compressible& s, std::size_t h, std::vector<RewriteStep>& steps) {
  if (s.network.layers[h].outputs() > 0) return false;
  make_constant(s, h, Eigen::VectorXd(0));
  steps.push_back({RewriteKind::dead_layer, static_cast<int>(h), 0,
                   "no unit left in the layer: the network is constant on the domain"});
  return true;
}

std::string unit_list(const std::vector<UnitOrigin>& units) {
  std::string out;
  std::size_t shown = 0;
  for (const auto& u : units) {
    if (shown == 12) {
      out += fmt::format(" ... ({} in all)", units.size());
      break;
    }
    out += fmt::format("{}{}:{}", out.empty() ? "" : " ", u.layer, u.unit);
    ++shown;
  }
  return out;
}

std::vector<int> marked_indices(const std::vector<bool>& mark) {
  std::vector<int> out;
  for (std::size_t i = 0; i < mark.size(); ++i)
    if (mark[i]) out.push_back(static_cast<int>(i));
  return out;
}

std::vector<UnitOrigin> marked_origins(const Compressible& s, std::size_t h, const std::vector<bool>& mark) {
  std::vector<UnitOrigin> out;
  for (std::size_t i = 0; i < mark.size(); ++i)
    if (mark[i]) out.push_back(s.origin[h][i]);
  return out;
}

// The rewrites below but collapse_dead_layer read dense weights: they are
// for networks of dense layers only (compress() gives them the dense tail of
// a structured network, compress/compress.hpp).
void require_dense(const Compressible& s, const char* what) {
  for (const auto& layer : s.network.layers)
    if (!layer.is_dense())
      throw Error(ExitCode::internal, fmt::format("internal error: {}: a structured layer (dense layers only)", what));
}

// The hulls of the hidden layers' inputs as a rewrite walks the layers in
// order (see rewrites.hpp, `hulls`): while the rewrite has changed no layer
// up to h, the hull of layer h+1's input is the one given; after a change,
// it is computed from the changed layers.
class HullWalk {
 public:
  HullWalk(const Box& box, const std::vector<AffineHull>* given, std::size_t hidden, double tolerance)
      : given_(given && given->size() >= hidden ? given : nullptr), tolerance_(tolerance) {
    hull_ = given_ && hidden > 0 ? (*given_)[0] : box_hull(box);
  }
  const AffineHull& operator*() const { return hull_; }
  const AffineHull* operator->() const { return &hull_; }
  // Layer h (of `s`, as the rewrite left it) is done; `changed`: the rewrite
  // changed layer h or h+1 (weights, bias or statuses).
  void next(const Compressible& s, std::size_t h, bool changed) {
    changed_ |= changed;
    if (h + 1 >= s.status.size()) return;  // the input of no hidden layer
    const auto& layer = s.network.layers[h];
    if (given_ && !changed_)
      hull_ = (*given_)[h + 1];
    else
      hull_ = next_hull(hull_, layer.weights, layer.bias, s.status[h], tolerance_);
  }

 private:
  const std::vector<AffineHull>* given_;
  double tolerance_;
  bool changed_ = false;
  AffineHull hull_;
};

}  // namespace

const char* to_string(RewriteKind kind) {
  switch (kind) {
    case RewriteKind::inactive_unit: return "inactive_unit";
    case RewriteKind::dependent_active: return "dependent_active";
    case RewriteKind::layer_fold: return "layer_fold";
    case RewriteKind::dead_layer: return "dead_layer";
    case RewriteKind::zero_outgoing: return "zero_outgoing";
    case RewriteKind::constant_unit: return "constant_unit";
    case RewriteKind::duplicate_unit: return "duplicate_unit";
    case RewriteKind::inactive_channel: return "inactive_channel";
    case RewriteKind::constant_channel: return "constant_channel";
  }
  return "?";
}

Compressible::Compressible(Network net, std::vector<std::vector<Status>> s)
    : network(std::move(net)), status(std::move(s)) {
  for (std::size_t h = 0; h < status.size(); ++h) {
    origin.emplace_back();
    for (std::size_t i = 0; i < status[h].size(); ++i)
      origin.back().push_back({static_cast<int>(h), static_cast<int>(i)});
  }
  check();
}

Compressible::Compressible(Network net, const Analysis& analysis) {
  std::vector<std::vector<Status>> s;
  for (const auto& layer : analysis.layers) {
    s.emplace_back();
    for (const auto& v : layer) s.back().push_back(v.status);
  }
  *this = Compressible(std::move(net), std::move(s));
}

void Compressible::check() const {
  auto widths = network.widths();
  if (status.size() != widths.size() || origin.size() != widths.size())
    throw Error(ExitCode::internal, fmt::format("internal error: compress: verdicts for {} hidden layers, the network has {}", status.size(),
                                       widths.size()));
  for (std::size_t h = 0; h < widths.size(); ++h)
    if (static_cast<Index>(status[h].size()) != widths[h] || static_cast<Index>(origin[h].size()) != widths[h])
      throw Error(ExitCode::internal, fmt::format("internal error: compress: verdicts for {} units of hidden layer {}, it has {}",
                                         status[h].size(), h, widths[h]));
}

Network constant_network(const Network& like, const Eigen::VectorXd& value) {
  Network net = like;
  AffineLayer layer;
  layer.weights = Eigen::MatrixXd::Zero(value.size(), like.inputs());
  layer.bias = value;
  net.layers = {std::move(layer)};
  return net;
}

RewriteResult remove_inactive_units(const Compressible& state) {
  require_dense(state, "remove_inactive_units");
  RewriteResult r{state, {}};
  auto& s = r.state;
  for (std::size_t h = 0; h < s.status.size(); ++h) {
    std::vector<bool> remove(s.status[h].size());
    int n = 0;
    for (std::size_t i = 0; i < remove.size(); ++i)
      if (s.status[h][i] == Status::inactive) remove[i] = true, ++n;
    if (n == 0) continue;
    r.steps.push_back({RewriteKind::inactive_unit, static_cast<int>(h), n,
                       "stably inactive: " + unit_list(marked_origins(s, h, remove))});
    r.steps.back().removed = marked_indices(remove);
    delete_units(s, h, remove);
    if (collapse_if_empty(s, h, r.steps)) return r;
  }
  return r;
}

RewriteResult collapse_dead_layer(const Compressible& state) {
  RewriteResult r{state, {}};
  auto& s = r.state;
  for (std::size_t h = 0; h < s.status.size(); ++h) {
    const auto& st = s.status[h];
    if (st.empty() || !std::all_of(st.begin(), st.end(), [](Status x) { return x == Status::inactive; })) continue;
    make_constant(s, h, Eigen::VectorXd::Zero(static_cast<Index>(st.size())));
    r.steps.push_back({RewriteKind::dead_layer, static_cast<int>(h), static_cast<int>(st.size()),
                       "every unit stably inactive: the network is constant on the domain"});
    return r;
  }
  return r;
}

RewriteResult remove_zero_outgoing(const Compressible& state) {
  require_dense(state, "remove_zero_outgoing");
  RewriteResult r{state, {}};
  auto& s = r.state;
  for (std::size_t h = 0; h < s.status.size(); ++h) {
    const auto& next = s.network.layers[h + 1].weights;
    std::vector<bool> remove(static_cast<std::size_t>(next.cols()));
    int n = 0;
    for (Index i = 0; i < next.cols(); ++i)
      if (next.col(i).isZero(0.0)) remove[static_cast<std::size_t>(i)] = true, ++n;
    if (n == 0) continue;
    r.steps.push_back({RewriteKind::zero_outgoing, static_cast<int>(h), n,
                       "all outgoing weights zero: " + unit_list(marked_origins(s, h, remove))});
    r.steps.back().removed = marked_indices(remove);
    delete_units(s, h, remove);
    if (collapse_if_empty(s, h, r.steps)) return r;
  }
  return r;
}

RewriteResult fold_constant_units(const Compressible& state, const Box& box, double tolerance,
                                  const std::vector<AffineHull>* hulls) {
  require_dense(state, "fold_constant_units");
  RewriteResult r{state, {}};
  auto& s = r.state;
  HullWalk hull(box, hulls, s.status.size(), tolerance);
  for (std::size_t h = 0; h < s.status.size(); ++h) {
    const std::size_t steps_before = r.steps.size();
    auto& layer = s.network.layers[h];
    auto& next = s.network.layers[h + 1];
    Eigen::VectorXd g = layer.weights * hull->point + layer.bias;
    std::vector<bool> remove(static_cast<std::size_t>(layer.outputs()));
    std::vector<double> values;
    int n = 0;
    for (Index i = 0; i < layer.outputs(); ++i) {
      Status st = s.status[h][static_cast<std::size_t>(i)];
      if (st == Status::unstable) continue;
      double row_norm = layer.weights.row(i).norm();
      bool constant = row_norm == 0.0;
      if (!constant) {
        double restricted = hull->dimension() > 0 ? hull->restrict(layer.weights.row(i)).norm() : 0.0;
        constant = restricted <= tolerance * row_norm;
      }
      if (!constant) continue;
      double value = st == Status::inactive ? 0.0 : std::max(g[i], 0.0);
      if (value != 0.0) next.bias += next.weights.col(i) * value;
      values.push_back(value);
      remove[static_cast<std::size_t>(i)] = true;
      ++n;
    }
    if (n > 0) {
      r.steps.push_back({RewriteKind::constant_unit, static_cast<int>(h), n,
                         "constant on the domain, folded into the next bias: " +
                             unit_list(marked_origins(s, h, remove))});
      r.steps.back().removed = marked_indices(remove);
      r.steps.back().coefficient = std::move(values);
      delete_units(s, h, remove);
      if (collapse_if_empty(s, h, r.steps)) return r;
    }
    hull.next(s, h, r.steps.size() != steps_before);
  }
  return r;
}

RewriteResult merge_duplicate_units(const Compressible& state, const Box& box, double tolerance,
                                  const std::vector<AffineHull>* hulls) {
  require_dense(state, "merge_duplicate_units");
  RewriteResult r{state, {}};
  auto& s = r.state;
  HullWalk hull(box, hulls, s.status.size(), tolerance);
  for (std::size_t h = 0; h < s.status.size(); ++h) {
    const std::size_t steps_before = r.steps.size();
    auto& layer = s.network.layers[h];
    auto& next = s.network.layers[h + 1];
    const Index n = layer.outputs();
    const Index d = hull->dimension();
    // Each unit's affine form on the hull: g = (w D) t + g(p).
    Eigen::MatrixXd forms(n, d + 1);
    if (d > 0) forms.leftCols(d) = hull->restrict(layer.weights);
    forms.col(d) = layer.weights * hull->point + layer.bias;
    Eigen::VectorXd norms = forms.rowwise().norm();
    Eigen::MatrixXd unit_forms = forms;
    for (Index i = 0; i < n; ++i)
      if (norms[i] > 0) unit_forms.row(i) /= norms[i];
    Eigen::MatrixXd cosines = unit_forms * unit_forms.transpose();

    std::vector<bool> remove(static_cast<std::size_t>(n));
    std::vector<UnitOrigin> merged;
    std::vector<int> merged_index, merged_into;
    std::vector<double> factors;
    std::string pairs;
    for (Index k = 1; k < n; ++k) {
      if (norms[k] == 0) continue;
      for (Index j = 0; j < k; ++j) {
        if (remove[static_cast<std::size_t>(j)] || norms[j] == 0) continue;
        if (cosines(k, j) < 1.0 - tolerance) continue;
        double c = forms.row(k).dot(forms.row(j)) / forms.row(j).squaredNorm();
        if (!(c > 0) || (forms.row(k) - c * forms.row(j)).norm() > tolerance * norms[k]) continue;
        // x_k = c x_j on the domain.
        next.weights.col(j) += c * next.weights.col(k);
        auto& sj = s.status[h][static_cast<std::size_t>(j)];
        Status sk = s.status[h][static_cast<std::size_t>(k)];
        if (may_vary(sj) && !may_vary(sk)) sj = sk;
        remove[static_cast<std::size_t>(k)] = true;
        merged.push_back(s.origin[h][static_cast<std::size_t>(k)]);
        merged_index.push_back(static_cast<int>(k));
        merged_into.push_back(static_cast<int>(j));
        factors.push_back(c);
        break;
      }
    }
    if (!merged.empty()) {
      r.steps.push_back({RewriteKind::duplicate_unit, static_cast<int>(h), static_cast<int>(merged.size()),
                         "positively proportional to another unit: " + unit_list(merged)});
      r.steps.back().removed = std::move(merged_index);
      r.steps.back().into = std::move(merged_into);
      r.steps.back().coefficient = std::move(factors);
      delete_units(s, h, remove);
      if (collapse_if_empty(s, h, r.steps)) return r;
    }
    hull.next(s, h, r.steps.size() != steps_before);
  }
  return r;
}

RewriteResult fold_dependent_active_units(const Compressible& state, const Box& box, double tolerance,
                                  const std::vector<AffineHull>* hulls) {
  require_dense(state, "fold_dependent_active_units");
  RewriteResult r{state, {}};
  auto& s = r.state;
  HullWalk hull(box, hulls, s.status.size(), tolerance);
  for (std::size_t h = 0; h < s.status.size(); ++h) {
    const std::size_t steps_before = r.steps.size();
    auto& layer = s.network.layers[h];
    auto& next = s.network.layers[h + 1];
    std::vector<int> active;
    for (std::size_t i = 0; i < s.status[h].size(); ++i)
      if (s.status[h][i] == Status::active) active.push_back(static_cast<int>(i));
    const Index q = static_cast<Index>(active.size());
    const Index d = hull->dimension();
    if (q > 0) {
      // Rows of the active units restricted to the hull, as columns: d x q.
      Eigen::MatrixXd restricted_t(d, q);
      if (d > 0) restricted_t = hull->restrict(layer.weights(active, Eigen::all)).transpose();
      Index rank = 0;
      std::vector<int> basis, dependent;
      Eigen::MatrixXd alpha;  // rank x (q - rank): dependent column m = basis * alpha.col(m)
      if (d > 0) {
        Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(restricted_t);
        qr.setThreshold(tolerance);
        rank = qr.rank();
        if (rank < q) {
          const auto& perm = qr.colsPermutation().indices();
          for (Index m = 0; m < q; ++m)
            (m < rank ? basis : dependent).push_back(active[static_cast<std::size_t>(perm[m])]);
          if (rank > 0) {
            Eigen::MatrixXd R = qr.matrixR().topRows(rank);
            alpha = R.leftCols(rank).triangularView<Eigen::Upper>().solve(R.rightCols(q - rank));
          } else {
            alpha = Eigen::MatrixXd::Zero(0, q);
          }
        }
      } else {
        dependent = active;
        alpha = Eigen::MatrixXd::Zero(0, q);
      }
      if (!dependent.empty()) {
        // x_k = g_k = sum_j alpha_jk g_j + offset_k on the hull, offset_k = g_k(p) - sum_j alpha_jk g_j(p).
        Eigen::VectorXd gp = layer.weights * hull->point + layer.bias;
        Eigen::VectorXd offset = gp(dependent);
        if (!basis.empty()) offset -= alpha.transpose() * gp(basis);
        Eigen::MatrixXd out_dependent = next.weights(Eigen::all, dependent);
        next.bias += out_dependent * offset;
        if (!basis.empty()) next.weights(Eigen::all, basis) += out_dependent * alpha.transpose();
        std::vector<bool> remove(s.status[h].size());
        for (int k : dependent) remove[static_cast<std::size_t>(k)] = true;
        r.steps.push_back({RewriteKind::dependent_active, static_cast<int>(h), static_cast<int>(dependent.size()),
                           fmt::format("{} stably active units span rank {} on the domain; folded: {}", q, rank,
                                       unit_list(marked_origins(s, h, remove)))});
        r.steps.back().removed = dependent;
        r.steps.back().basis = basis;
        r.steps.back().coefficient = std::vector<double>(offset.data(), offset.data() + offset.size());
        r.steps.back().alpha = alpha;
        delete_units(s, h, remove);
        if (collapse_if_empty(s, h, r.steps)) return r;
      }
    }
    hull.next(s, h, r.steps.size() != steps_before);
  }
  return r;
}

RewriteResult fold_stable_layers(const Compressible& state, FoldLayers policy) {
  require_dense(state, "fold_stable_layers");
  RewriteResult r{state, {}};
  auto& s = r.state;
  if (policy == FoldLayers::never) return r;
  std::size_t h = 0;
  while (h < s.status.size()) {
    const auto& st = s.status[h];
    bool stable = std::none_of(st.begin(), st.end(), may_vary);
    if (!stable) {
      ++h;
      continue;
    }
    const auto& layer = s.network.layers[h];
    const auto& next = s.network.layers[h + 1];
    std::vector<int> active;
    for (std::size_t i = 0; i < st.size(); ++i)
      if (st[i] == Status::active) active.push_back(static_cast<int>(i));
    AffineLayer merged;
    Eigen::MatrixXd next_active = next.weights(Eigen::all, active);
    merged.weights = next_active * layer.weights(active, Eigen::all);
    merged.bias = next_active * layer.bias(active) + next.bias;
    std::int64_t before = layer.parameters() + next.parameters();
    if (policy == FoldLayers::automatic && merged.parameters() >= before) {
      ++h;
      continue;
    }
    r.steps.push_back({RewriteKind::layer_fold, static_cast<int>(h), static_cast<int>(st.size()),
                       fmt::format("every unit stable: layer folded into the next ({} -> {} parameters)", before,
                                   merged.parameters())});
    auto& layers = s.network.layers;
    layers[h + 1] = std::move(merged);
    layers.erase(layers.begin() + static_cast<std::ptrdiff_t>(h));
    s.status.erase(s.status.begin() + static_cast<std::ptrdiff_t>(h));
    s.origin.erase(s.origin.begin() + static_cast<std::ptrdiff_t>(h));
    // The merged layer now sits at h; it may itself be fully stable.
  }
  return r;
}

}  // namespace leo
