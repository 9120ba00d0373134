#include "leo/verify/joint.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "leo/bounds/backsub.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/bounds/rounding.hpp"
#include "leo/util/error.hpp"

namespace leo {

namespace {

using Eigen::Index;
constexpr double inf = std::numeric_limits<double>::infinity();

// s = fl(a + b) and the exact error e = (a + b) - s (Knuth's two-sum; exact
// in round-to-nearest without overflow). A non-finite sum gets e = inf.
double two_sum(double a, double b, double& e) {
  double s = a + b;
  if (!std::isfinite(s)) {
    e = inf;
    return s;
  }
  double bb = s - a;
  e = (a - (s - bb)) + (b - bb);
  return s;
}

struct Verdict {
  Status status = Status::undecided;
  double lower = -inf, upper = inf;
};

Verdict verdict_of(const Analysis& analysis, std::size_t layer, Index unit) {
  Verdict v;
  if (layer >= analysis.layers.size() || unit >= static_cast<Index>(analysis.layers[layer].size())) return v;
  const UnitVerdict& u = analysis.layers[layer][static_cast<std::size_t>(unit)];
  v.status = u.status;
  v.lower = u.lower;
  v.upper = u.upper;
  return v;
}

bool stable(Status s) { return s == Status::active || s == Status::inactive; }

// One J hidden layer under construction.
struct Layer {
  std::vector<Eigen::VectorXd> rows;
  std::vector<double> bias;
  std::vector<char> shift;
  std::vector<Verdict> verdict;
  Index add(Eigen::VectorXd row, double b, bool is_shift, Verdict v) {
    rows.push_back(std::move(row));
    bias.push_back(b);
    shift.push_back(is_shift);
    verdict.push_back(v);
    return static_cast<Index>(rows.size()) - 1;
  }
};

// Per network: where its current units sit in J's current layer input, and,
// once shifted, the offset its outputs get back (and that offset's rounding error).
struct Track {
  const Network* net;
  const Analysis* analysis;
  std::vector<Index> src;
  // Per unit: the J units (e+, e-) carrying its difference from the A unit it
  // stands for (-1: none; the unit is that J unit exactly).
  std::vector<std::pair<Index, Index>> extra;
  Eigen::VectorXd offset, offset_error;
};

// Places `w` (one row of a network over its units) on J's columns: unit q at
// src[q], plus +-w on its carriers. Every target column is distinct.
void place(Eigen::VectorXd& row, const Eigen::Ref<const Eigen::RowVectorXd>& w, const Track& tr) {
  for (Index q = 0; q < w.size(); ++q) {
    const auto u = static_cast<std::size_t>(q);
    row[tr.src[u]] = w[q];
    if (u < tr.extra.size() && tr.extra[u].first >= 0) {
      row[tr.extra[u].first] = w[q];
      row[tr.extra[u].second] = -w[q];
    }
  }
}

// Upper bound of |a - b| (exact reals a, b given as doubles).
double diff_up(double a, double b) {
  const double d = std::abs(a - b);
  return rounding::up(d + d * 0x1p-52);
}


// The unused A unit (among the first a_count of the layer) that B's (row,
// bias) may stand for after a fold: folds (constant units, duplicates,
// dependent stably active units) change a row only on the columns of units
// that are stable in the previous layer, and the bias; so the candidate must
// agree exactly on every other column (units that vary, or carriers), and
// among those the one nearest in the rest is taken. -1: none.
Index nearest_a_unit(const Layer& layer, Index a_count, const std::vector<char>& used, const Eigen::VectorXd& row,
                     double bias, const std::vector<char>& stable_prev) {
  Index best = -1;
  double best_distance = inf;
  for (Index c = 0; c < a_count; ++c) {
    if (used[static_cast<std::size_t>(c)]) continue;
    const Eigen::VectorXd& ra = layer.rows[static_cast<std::size_t>(c)];
    double distance = 0;
    bool agree = true;
    for (Index col = 0; col < row.size() && agree; ++col) {
      const double wa = col < ra.size() ? ra[col] : 0.0;
      if (wa == row[col]) continue;
      if (!stable_prev[static_cast<std::size_t>(col)]) agree = false;
      distance += (row[col] - wa) * (row[col] - wa);
    }
    const double cb = layer.bias[static_cast<std::size_t>(c)];
    distance += (bias - cb) * (bias - cb);
    if (agree && distance < best_distance) best_distance = distance, best = c;
  }
  return best;
}

// The scale of a unit: sum |w| max|x| + |b| (its pre-activation's reach).
template <typename Magnitude>
double unit_scale(const Eigen::VectorXd& row, double bias, const Magnitude& magnitude) {
  double s = std::abs(bias);
  for (Index c = 0; c < row.size(); ++c)
    if (row[c] != 0) s += std::abs(row[c]) * magnitude(c);
  return s;
}

// A sound upper bound of |(row_b - row_a) . x + (bias_b - bias_a)| over J's
// box, x the output of the J layers built so far: CROWN back-substitution
// (bounds/backsub.hpp, outward rounded) on those layers plus the difference
// row, with `ibp` (sound bounds of those layers) for the relaxations, plus
// the rounding error of forming the difference row.
double crown_difference(const std::vector<AffineLayer>& layers, const std::vector<Bounds>& ibp, const Box& box,
                        const Eigen::VectorXd& row_a, double bias_a, const Eigen::VectorXd& row_b, double bias_b) {
  const Index width = layers.back().outputs();
  AffineLayer diff{Eigen::MatrixXd::Zero(2, width), Eigen::VectorXd::Zero(2)};
  rounding::UpperSum error;
  for (Index c = 0; c < width; ++c) {
    const double wa = c < row_a.size() ? row_a[c] : 0.0, wb = c < row_b.size() ? row_b[c] : 0.0;
    double e = 0;
    const double d = two_sum(wb, -wa, e);
    diff.weights(0, c) = d;
    diff.weights(1, c) = -d;
    if (e != 0) error.add(rounding::mul_up(std::abs(e), std::max(0.0, ibp.back().upper[c])));
  }
  double e = 0;
  diff.bias[0] = two_sum(bias_b, -bias_a, e);
  diff.bias[1] = -diff.bias[0];
  error.add(std::abs(e));
  std::vector<AffineLayer> all = layers;
  all.push_back(std::move(diff));
  Network net(std::move(all));
  NetworkBounds bounds(ibp.begin(), ibp.end());
  bounds.push_back(Bounds{Eigen::VectorXd::Constant(2, -inf), Eigen::VectorXd::Constant(2, inf)});
  const Eigen::VectorXd up = backsub::sound_upper(
      net, box, bounds, layers.size(), Eigen::MatrixXd::Identity(2, 2),
      [&](std::size_t j, const Eigen::MatrixXd& rho) { return backsub::crown_nu(bounds[j], rho); });
  return rounding::add_up(std::max({up[0], up[1], 0.0}), error.value());
}

}  // namespace

JointNetwork joint_difference(const Network& a, const Network& b, const Analysis& analysis_a,
                              const Analysis& analysis_b, const Box& box, double tolerance) {
  if (a.layers.empty() || b.layers.empty() || a.inputs() != b.inputs() || a.outputs() != b.outputs())
    throw Error(ExitCode::internal, "internal error: joint_difference: the networks do not match");
  for (const Network* net : {&a, &b})
    for (const auto& layer : net->layers)
      if (!layer.is_dense())
        throw InputError("the difference network: convolutional layers are not supported by verify --exact yet");
  const Index n = a.inputs(), K = a.outputs();
  const std::size_t D = std::max(a.depth(), b.depth());
  JointNetwork joint;
  joint.inputs = n;
  joint.box = box;
  Track ta{&a, &analysis_a, {}, {}, {}, {}}, tb{&b, &analysis_b, {}, {}, {}, {}};
  for (Track* t : {&ta, &tb}) {
    t->src.resize(static_cast<std::size_t>(n));
    for (Index i = 0; i < n; ++i) t->src[static_cast<std::size_t>(i)] = i;
  }
  std::vector<char> zero_prev(static_cast<std::size_t>(n), 0);  // J inputs proven 0 (none for the box)
  std::vector<char> stable_prev(static_cast<std::size_t>(n), 0);  // J inputs proven stable (none: inputs vary)
  Index width_prev = n;
  std::vector<AffineLayer> layers;
  std::vector<Bounds> ibp;  // sound bounds of J's hidden layers built so far (verdicts applied)
  // max |x_c| of J's current layer input (relu'd bounds, or the box).
  auto magnitude = [&](Index c) {
    if (layers.empty()) return std::max(std::abs(joint.box.lower[c]), std::abs(joint.box.upper[c]));
    return std::max(0.0, ibp.back().upper[c]);
  };

  for (std::size_t t = 0; t + 1 < D; ++t) {
    Layer layer;
    const bool a_hidden = t + 1 < a.depth();
    Index a_count = 0;
    std::vector<char> used;  // A units of this J layer already standing for a B unit
    // Carriers (e+, e-) in [0, delta] for a B unit that differs from an A unit
    // by at most delta: two new J inputs, copied through layers 0..t-1, and
    // two units of the layer being built. Returns their indices in it.
    auto add_carriers = [&](double delta) {
      std::pair<Index, Index> at;
      for (int sign = 0; sign < 2; ++sign) {
        const Index col = joint.box.lower.size();
        joint.box.lower.conservativeResize(col + 1);
        joint.box.upper.conservativeResize(col + 1);
        joint.box.lower[col] = 0.0;
        joint.box.upper[col] = delta;
        Index prev = col;  // the carrier's index in the previous J layer (the input first)
        for (std::size_t l = 0; l < layers.size(); ++l) {
          AffineLayer& L = layers[l];
          const Index rows = L.outputs(), cols = L.inputs();
          L.weights.conservativeResize(rows + 1, cols + 1);
          L.weights.col(cols).setZero();
          L.weights.row(rows).setZero();
          L.weights(rows, prev) = 1.0;
          L.bias.conservativeResize(rows + 1);
          L.bias[rows] = 0.0;
          ibp[l].lower.conservativeResize(rows + 1);
          ibp[l].upper.conservativeResize(rows + 1);
          ibp[l].lower[rows] = 0.0;  // g = e exactly: 1 * e + 0
          ibp[l].upper[rows] = delta;
          joint.shift[l].push_back(0);
          joint.status[l].push_back(Status::active);
          joint.verdict_lower[l].push_back(-inf);
          joint.verdict_upper[l].push_back(inf);
          prev = rows;
        }
        zero_prev.push_back(0);
        stable_prev.push_back(0);
        ++width_prev;
        Eigen::VectorXd row = Eigen::VectorXd::Zero(width_prev);
        row[prev] = 1.0;
        Verdict v;
        v.status = Status::active;
        (sign == 0 ? at.first : at.second) = layer.add(std::move(row), 0.0, false, v);
      }
      ++joint.units_near;
      return at;
    };
    for (Track* tr : {&ta, &tb}) {
      const Network& N = *tr->net;
      const bool is_b = tr == &tb;
      std::vector<Index> next;
      std::vector<std::pair<Index, Index>> next_extra;
      if (t + 1 < N.depth()) {
        const AffineLayer& L = N.layers[t];
        for (Index i = 0; i < L.outputs(); ++i) {
          Eigen::VectorXd row = Eigen::VectorXd::Zero(width_prev);
          place(row, L.weights.row(i), *tr);
          Verdict v = verdict_of(*tr->analysis, t, i);
          Index at = -1;
          std::pair<Index, Index> extra{-1, -1};
          if (is_b && a_hidden) {
            // An A unit with the same row and bias (but on units proven 0).
            for (Index c = 0; c < a_count && at < 0; ++c) {
              if (used[static_cast<std::size_t>(c)] || layer.bias[static_cast<std::size_t>(c)] != L.bias[i]) continue;
              const Eigen::VectorXd& ra = layer.rows[static_cast<std::size_t>(c)];
              bool same = true;
              for (Index col = 0; col < width_prev && same; ++col)
                same = (col < ra.size() ? ra[col] : 0.0) == row[col] || zero_prev[static_cast<std::size_t>(col)];
              if (same) at = c;
            }
            if (at >= 0) {
              ++joint.units_shared;
            } else {
              // Else the A unit nearest to it: |g_B - g_A| <= delta on the box,
              // with delta tiny against the unit's scale.
              double best = inf;
              Index best_c = -1;
              for (Index c = 0; c < a_count; ++c) {
                if (used[static_cast<std::size_t>(c)]) continue;
                const Eigen::VectorXd& ra = layer.rows[static_cast<std::size_t>(c)];
                rounding::UpperSum delta, scale;
                for (Index col = 0; col < width_prev; ++col) {
                  const double wa = col < ra.size() ? ra[col] : 0.0;
                  const double m = magnitude(col);
                  if (wa != row[col] && m > 0) delta.add(rounding::mul_up(diff_up(row[col], wa), m));
                  if (wa != 0 && m > 0) scale.add(std::abs(wa) * m);
                }
                delta.add(diff_up(L.bias[i], layer.bias[static_cast<std::size_t>(c)]));
                scale.add(std::abs(layer.bias[static_cast<std::size_t>(c)]));
                const double d = delta.value();
                if (d < best && d <= 1e-6 * scale.value()) best = d, best_c = c;
              }
              if (best_c < 0 && !layers.empty()) {
                // Rows that differ more (a fold moved weights between stably
                // active units): bound g_B - g_A by back-substitution through
                // J's earlier layers, where the fold's relation cancels.
                best_c = nearest_a_unit(layer, a_count, used, row, L.bias[i], stable_prev);
                if (best_c >= 0) {
                  const double d = crown_difference(layers, ibp, joint.box, layer.rows[static_cast<std::size_t>(best_c)],
                                                    layer.bias[static_cast<std::size_t>(best_c)], row, L.bias[i]);
                  if (d <= 1e-6 * unit_scale(layer.rows[static_cast<std::size_t>(best_c)],
                                             layer.bias[static_cast<std::size_t>(best_c)], magnitude))
                    best = d;
                  else
                    best_c = -1;
                }
              }
              if (best_c >= 0 && std::isfinite(best)) {
                at = best_c;
                extra = add_carriers(best);
              }
            }
          }
          if (at >= 0 && at < a_count) {
            used[static_cast<std::size_t>(at)] = 1;
            if (extra.first < 0) {
              Verdict& j = layer.verdict[static_cast<std::size_t>(at)];
              if (!stable(j.status) && stable(v.status)) j.status = v.status;
              j.lower = std::max(j.lower, v.lower);
              j.upper = std::min(j.upper, v.upper);
            }
          } else {
            at = layer.add(std::move(row), L.bias[i], false, v);
          }
          next.push_back(at);
          next_extra.push_back(extra);
          (is_b ? joint.units_b : joint.units_a) += 1;
        }
      } else if (t + 1 == N.depth()) {
        // N's output layer, shifted to stay positive: p = g - s, g >= lower > s.
        const AffineLayer& L = N.layers[t];
        const Eigen::VectorXd lower = interval_bounds(N, box).back().lower;
        tr->offset.resize(K);
        tr->offset_error.resize(K);
        for (Index k = 0; k < K; ++k) {
          Eigen::VectorXd row = Eigen::VectorXd::Zero(width_prev);
          place(row, L.weights.row(k), *tr);
          const double s = rounding::down(lower[k] - (1.0 + 1e-3 * std::abs(lower[k])));
          const double beta = L.bias[k] - s;  // J's bias; g_J = W x + beta
          double e = 0;
          tr->offset[k] = two_sum(L.bias[k], -beta, e);  // f = g_J + (b - beta)
          tr->offset_error[k] = std::abs(e);
          next.push_back(layer.add(std::move(row), beta, true, Verdict{}));
          next_extra.emplace_back(-1, -1);
        }
      } else {
        // Copy the shifted outputs on.
        for (Index k = 0; k < K; ++k) {
          Eigen::VectorXd row = Eigen::VectorXd::Zero(width_prev);
          row[tr->src[static_cast<std::size_t>(k)]] = 1.0;
          next.push_back(layer.add(std::move(row), 0.0, true, Verdict{}));
          next_extra.emplace_back(-1, -1);
        }
      }
      if (!is_b) {
        a_count = static_cast<Index>(layer.rows.size());
        used.assign(static_cast<std::size_t>(a_count), 0);
      }
      tr->src = std::move(next);
      tr->extra = std::move(next_extra);
    }
    const Index width = static_cast<Index>(layer.rows.size());
    AffineLayer out{Eigen::MatrixXd::Zero(width, width_prev), Eigen::VectorXd(width)};
    std::vector<Status> status;
    std::vector<double> lo, hi;
    std::vector<char> zero(static_cast<std::size_t>(width), 0), stable_units(static_cast<std::size_t>(width), 0);
    for (Index i = 0; i < width; ++i) {
      const auto u = static_cast<std::size_t>(i);
      out.weights.row(i).head(layer.rows[u].size()) = layer.rows[u].transpose();
      out.bias[i] = layer.bias[u];
      status.push_back(layer.verdict[u].status);
      lo.push_back(layer.verdict[u].lower);
      hi.push_back(layer.verdict[u].upper);
      zero[u] = layer.verdict[u].status == Status::inactive;
      stable_units[u] = stable(layer.verdict[u].status) && !layer.shift[u];
    }
    // Sound bounds of the new layer, the verdicts applied.
    Bounds bounds = layers.empty() ? affine_interval(out, joint.box.lower, joint.box.upper)
                                   : affine_interval(out, ibp.back().lower.cwiseMax(0.0),
                                                     ibp.back().upper.cwiseMax(0.0));
    for (Index i = 0; i < width; ++i) {
      const auto u = static_cast<std::size_t>(i);
      double l = std::max(bounds.lower[i], lo[u]), h = std::min(bounds.upper[i], hi[u]);
      if (status[u] == Status::active) l = std::max(l, 0.0);
      if (status[u] == Status::inactive) h = std::min(h, 0.0);
      if (l <= h) bounds.lower[i] = l, bounds.upper[i] = h;
    }
    layers.push_back(std::move(out));
    ibp.push_back(std::move(bounds));
    joint.shift.push_back(std::move(layer.shift));
    joint.status.push_back(std::move(status));
    joint.verdict_lower.push_back(std::move(lo));
    joint.verdict_upper.push_back(std::move(hi));
    zero_prev = std::move(zero);
    stable_prev = std::move(stable_units);
    width_prev = width;
  }

  // Output rows: 2k = A - B - T, 2k + 1 = B - A - T.
  AffineLayer out{Eigen::MatrixXd::Zero(2 * K, width_prev), Eigen::VectorXd::Zero(2 * K)};
  joint.row_error = Eigen::MatrixXd::Zero(2 * K, width_prev);
  joint.bias_error = Eigen::VectorXd::Zero(2 * K);
  for (Index k = 0; k < K; ++k) {
    // Each network's output k over J's last layer: coefficients and bias (with its error).
    Eigen::VectorXd coef[2];
    double bias[2], bias_err[2];
    int which = 0;
    for (Track* tr : {&ta, &tb}) {
      const Network& N = *tr->net;
      coef[which] = Eigen::VectorXd::Zero(width_prev);
      if (N.depth() == D) {
        const AffineLayer& L = N.layers.back();
        place(coef[which], L.weights.row(k), *tr);
        bias[which] = L.bias[k];
        bias_err[which] = 0;
      } else {
        coef[which][tr->src[static_cast<std::size_t>(k)]] = 1.0;
        bias[which] = tr->offset[k];
        bias_err[which] = tr->offset_error[k];
      }
      ++which;
    }
    for (int side = 0; side < 2; ++side) {
      const Index r = 2 * k + side;
      const Eigen::VectorXd& plus = coef[side];
      const Eigen::VectorXd& minus = coef[1 - side];
      for (Index c = 0; c < width_prev; ++c) {
        double e = 0;
        out.weights(r, c) = two_sum(plus[c], -minus[c], e);
        joint.row_error(r, c) = std::abs(e);
      }
      double e1 = 0, e2 = 0;
      const double d = two_sum(bias[side], -bias[1 - side], e1);
      out.bias[r] = two_sum(d, -tolerance, e2);
      joint.bias_error[r] = rounding::add_up(rounding::add_up(std::abs(e1), std::abs(e2)),
                                             rounding::add_up(bias_err[0], bias_err[1]));
    }
  }
  layers.push_back(std::move(out));
  joint.net = Network(std::move(layers));
  return joint;
}

void apply_verdicts(const JointNetwork& joint, NetworkBounds& bounds) {
  for (std::size_t t = 0; t < joint.status.size() && t < bounds.size(); ++t) {
    Bounds& b = bounds[t];
    for (std::size_t i = 0; i < joint.status[t].size(); ++i) {
      const auto u = static_cast<Index>(i);
      double lo = std::max(b.lower[u], joint.verdict_lower[t][i]);
      double hi = std::min(b.upper[u], joint.verdict_upper[t][i]);
      if (joint.status[t][i] == Status::active) lo = std::max(lo, 0.0);
      if (joint.status[t][i] == Status::inactive) hi = std::min(hi, 0.0);
      if (lo > hi) continue;  // inconsistent evidence: keep the given bounds
      b.lower[u] = lo;
      b.upper[u] = hi;
    }
  }
}

bool shifts_hold(const JointNetwork& joint, const NetworkBounds& bounds) {
  for (std::size_t t = 0; t < joint.shift.size(); ++t)
    for (std::size_t i = 0; i < joint.shift[t].size(); ++i)
      if (joint.shift[t][i] && !(bounds[t].lower[static_cast<Index>(i)] >= 0.0)) return false;
  return true;
}

double output_error(const JointNetwork& joint, const NetworkBounds& bounds, Index r) {
  rounding::UpperSum sum;
  const Index columns = joint.row_error.cols();
  const bool from_input = joint.net.depth() == 1;
  for (Index c = 0; c < columns; ++c) {
    const double e = joint.row_error(r, c);
    if (e == 0.0) continue;
    double m = 0;
    if (from_input) {
      m = std::max(std::abs(joint.box.lower[c]), std::abs(joint.box.upper[c]));
    } else {
      m = std::max(0.0, bounds[bounds.size() - 2].upper[c]);
    }
    if (m == 0.0) continue;
    sum.add(rounding::sanitize_upper(rounding::mul_up(e, m)));
  }
  sum.add(joint.bias_error[r]);
  return sum.value();
}

}  // namespace leo
