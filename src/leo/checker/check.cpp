#include "leo/checker/check.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cfenv>
#include <chrono>
#include <cmath>
#include <limits>
#include <optional>
#include <vector>

#include "leo/checker/layers.hpp"
#include "leo/checker/rounding.hpp"

namespace leo::cert {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- outward-rounded arithmetic ---------------------------------------------
// Everything below runs under RoundUpward: each + and * rounds towards +inf.

// Upper bound of the exact a * b; 0 when either is 0 (also against an infinity).
inline double mul_up(double a, double b) {
  if (a == 0.0 || b == 0.0) return 0.0;
  const double r = a * b;
  return std::isnan(r) ? kInf : r;
}
inline double upper_of(double x) { return std::isnan(x) ? kInf : x; }
// max that keeps an unknown (NaN) term unknown.
inline double max_up(double a, double b) { return (std::isnan(a) || std::isnan(b)) ? kInf : std::max(a, b); }

// ---- the network, as the checker reads it ---------------------------------------

using RowMajor = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Each hidden layer's map as sparse rows of interval coefficients
// (checker/layers.hpp: a structured layer flattened, AvgPool's 1/d an
// interval), its bias exact.
struct Model {
  std::vector<IntervalRows> w;  // hidden layers only (the output layer needs no bounds)
  std::vector<Eigen::VectorXd> b;
  Eigen::Index inputs = 0;
  std::size_t hidden() const { return w.size(); }
  Eigen::Index width(std::size_t k) const { return w[k].rows; }
};

// Certified bounds of the hidden units.
struct Bounds {
  std::vector<Eigen::VectorXd> lo, hi;
};

Bounds unbounded(const Model& m) {
  Bounds B;
  for (std::size_t k = 0; k < m.hidden(); ++k) {
    B.lo.push_back(Eigen::VectorXd::Constant(m.width(k), -kInf));
    B.hi.push_back(Eigen::VectorXd::Constant(m.width(k), kInf));
  }
  return B;
}

bool settled(const Bounds& B, std::size_t k, Eigen::Index i) { return B.lo[k][i] >= 0.0 || B.hi[k][i] <= 0.0; }

std::string num(double x) { return fmt::format("{:.17g}", x); }

// ---- rule 1: interval propagation ----------------------------------------------

// Input ranges of layer k: the box, or the ReLU of layer k-1's bounds.
void input_ranges(const Box& box, const Bounds& B, std::size_t k, Eigen::VectorXd& xlo, Eigen::VectorXd& xhi) {
  if (k == 0) {
    xlo = box.lower;
    xhi = box.upper;
  } else {
    xlo = B.lo[k - 1].cwiseMax(0.0);
    xhi = B.hi[k - 1].cwiseMax(0.0);
  }
}

void interval_layer(const Model& m, const Box& box, Bounds& B, std::size_t k) {
  Eigen::VectorXd xlo, xhi;
  input_ranges(box, B, k, xlo, xhi);
  const IntervalRows& W = m.w[k];
  for (Eigen::Index i = 0; i < W.rows; ++i) {
    double up = m.b[k][i], down_neg = -m.b[k][i];  // upper bounds of g and of -g
    for (Eigen::Index e = W.begin(i); e < W.end(i); ++e) {
      const auto t = static_cast<std::size_t>(e);
      const Eigen::Index c = W.col[t];
      const double wl = W.lo[t], wh = W.hi[t];
      if (wl == wh) {  // an exact weight
        if (wl > 0) {
          up += mul_up(wl, xhi[c]);
          down_neg += mul_up(-wl, xlo[c]);
        } else if (wl < 0) {
          up += mul_up(wl, xlo[c]);
          down_neg += mul_up(-wl, xhi[c]);
        }
      } else {  // w in [wl, wh]: the largest of the corner products
        up += max_up(max_up(mul_up(wl, xlo[c]), mul_up(wl, xhi[c])), max_up(mul_up(wh, xlo[c]), mul_up(wh, xhi[c])));
        down_neg += max_up(max_up(mul_up(-wl, xlo[c]), mul_up(-wl, xhi[c])),
                           max_up(mul_up(-wh, xlo[c]), mul_up(-wh, xhi[c])));
      }
    }
    B.hi[k][i] = std::min(B.hi[k][i], upper_of(up));
    B.lo[k][i] = std::max(B.lo[k][i], -upper_of(down_neg));
  }
}

// ---- rule 2: the weak-duality (back-substitution) bound -------------------------
//
// For multipliers nu_j (j < k, any numbers) and the objective a over layer k:
//   a.g_k <= sum_{j<=k} nu_j.b_j + max_{x in box} rho_0.x
//            + sum_{j<k} sum_i max_{g in [lo_ji, hi_ji]} (rho_{j+1,i} relu(g) - nu_ji g),
// rho_j = nu_j W_j, nu_k = a. With `given` null, nu_j is CROWN's choice from
// rho (upper chord, adaptive lower slope); the value is an upper bound either way.

double linear_upper(const Model& m, const Box& box, const Bounds& B, std::size_t k, const Eigen::VectorXd& a,
                    const std::vector<SparseVector>* given) {
  double sum = 0.0;
  Eigen::VectorXd nu = a;
  Eigen::VectorXd rho_hi, rho_neg;  // upper bounds of rho and of -rho
  for (std::size_t j = k;; --j) {
    const IntervalRows& W = m.w[j];
    rho_hi = Eigen::VectorXd::Zero(W.cols);
    rho_neg = Eigen::VectorXd::Zero(W.cols);
    for (Eigen::Index i = 0; i < W.rows; ++i) {
      const double n = nu[i];
      if (n == 0.0) continue;
      sum += mul_up(n, m.b[j][i]);
      // n w for w in [wl, wh]: upper end n wh (n > 0) or n wl; of -n w: -n wl or -n wh.
      const double* up = n > 0 ? W.hi.data() : W.lo.data();
      const double* down = n > 0 ? W.lo.data() : W.hi.data();
      const Eigen::Index* col = W.col.data();
      double* hi = rho_hi.data();
      double* neg = rho_neg.data();
      const double mn = -n;
      for (Eigen::Index e = W.begin(i), end = W.end(i); e < end; ++e) {
        hi[col[e]] += n * up[e];
        neg[col[e]] += mn * down[e];
      }
    }
    if (j == 0) {
      for (Eigen::Index c = 0; c < W.cols; ++c) {
        const double rh = rho_hi[c], rl = -rho_neg[c];
        sum += max_up(max_up(mul_up(rh, box.upper[c]), mul_up(rh, box.lower[c])),
                      max_up(mul_up(rl, box.upper[c]), mul_up(rl, box.lower[c])));
      }
      break;
    }
    const Eigen::VectorXd& l = B.lo[j - 1];
    const Eigen::VectorXd& u = B.hi[j - 1];
    Eigen::VectorXd next = Eigen::VectorXd::Zero(W.cols);
    if (given) {
      const SparseVector& s = (*given)[j - 1];
      for (std::size_t q = 0; q < s.index.size(); ++q) next[s.index[q]] = s.value[q];
    } else {
      for (Eigen::Index c = 0; c < W.cols; ++c) {
        const double r = rho_hi[c];
        if (l[c] >= 0) next[c] = r;
        else if (u[c] <= 0) next[c] = 0.0;
        else if (r >= 0) next[c] = std::isfinite(l[c]) && std::isfinite(u[c]) ? r * (u[c] / (u[c] - l[c])) : r;
        else next[c] = u[c] >= -l[c] ? r : 0.0;
      }
    }
    for (Eigen::Index c = 0; c < W.cols; ++c) {
      const double rh = rho_hi[c], n = next[c];
      if (rh == 0.0 && n == 0.0) continue;
      const double d = rh - n;  // >= rho - nu
      auto at = [&](double g) { return g >= 0 ? mul_up(d, g) : mul_up(-n, g); };
      double t = max_up(at(l[c]), at(u[c]));
      if (l[c] < 0 && u[c] > 0) t = max_up(t, 0.0);
      sum += t;
    }
    nu = std::move(next);
  }
  return upper_of(sum);
}

Eigen::VectorXd unit_row(const Model& m, std::size_t k, Eigen::Index i, Side side) {
  Eigen::VectorXd a = Eigen::VectorXd::Zero(m.width(k));
  a[i] = side == Side::upper ? 1.0 : -1.0;
  return a;
}

// CROWN on layer k: both bounds of every unit whose sign is not settled.
void crown_layer(const Model& m, const Box& box, Bounds& B, std::size_t k) {
  for (Eigen::Index i = 0; i < m.width(k); ++i) {
    if (settled(B, k, i)) continue;
    const double up = linear_upper(m, box, B, k, unit_row(m, k, i, Side::upper), nullptr);
    const double down = -linear_upper(m, box, B, k, unit_row(m, k, i, Side::lower), nullptr);
    B.hi[k][i] = std::min(B.hi[k][i], up);
    B.lo[k][i] = std::max(B.lo[k][i], down);
  }
}

// Interval, then CROWN, for the target (k, i) of a ReLU-split claim: its
// bounds (whether its sign is settled or not: the claim is a bound), with
// the other units of layer k left at their interval bounds. A split node
// needs no more of layer k: the units below bound it, not its neighbours.
void crown_target(const Model& m, const Box& box, Bounds& B, std::size_t k, Eigen::Index i) {
  interval_layer(m, box, B, k);
  B.hi[k][i] = std::min(B.hi[k][i], linear_upper(m, box, B, k, unit_row(m, k, i, Side::upper), nullptr));
  B.lo[k][i] = std::max(B.lo[k][i], -linear_upper(m, box, B, k, unit_row(m, k, i, Side::lower), nullptr));
}

// Interval, then CROWN, for layers from..to.
void propagate(const Model& m, const Box& box, Bounds& B, std::size_t from, std::size_t to, bool crown) {
  for (std::size_t k = from; k <= to && k < m.hidden(); ++k) {
    interval_layer(m, box, B, k);
    if (crown) crown_layer(m, box, B, k);
  }
}

bool empty(const Bounds& B, std::size_t upto) {
  for (std::size_t k = 0; k <= upto && k < B.lo.size(); ++k)
    if ((B.lo[k].array() > B.hi[k].array()).any()) return true;
  return false;
}

// ---- the checker ------------------------------------------------------------------

class Checker {
 public:
  Checker(const Model& m, const Certificate& c, CheckSummary& s) : m_(m), c_(c), s_(s), B_(unbounded(m)) {}

  void run() {
    for (std::size_t n = 0; n < c_.steps.size(); ++n) {
      where_ = fmt::format("step {} ({})", n, step_name(c_.steps[n]));
      std::visit([&](const auto& step) { apply(step); }, c_.steps[n]);
    }
    verdicts();
  }
  const Bounds& bounds() const { return B_; }

 private:
  const Model& m_;
  const Certificate& c_;
  CheckSummary& s_;
  Bounds B_;
  std::string where_;

  [[noreturn]] void fail(const std::string& what) const { throw CheckFailure(fmt::format("{}: {}", where_, what)); }
  [[noreturn]] void bad(const std::string& what) const {
    throw InputError(fmt::format("certificate: {}: {}", where_, what));
  }

  void unit_in_range(int layer, int unit, std::size_t below_layer, const std::string& field) const {
    if (layer < 0 || static_cast<std::size_t>(layer) >= below_layer || unit < 0 || unit >= m_.width(static_cast<std::size_t>(layer)))
      bad(fmt::format("{} names layer {} unit {}, which the model does not have there", field, layer, unit));
  }

  void multipliers_fit(const std::vector<SparseVector>& nu, std::size_t k, const std::string& field) const {
    if (nu.size() != k) bad(fmt::format("{}: {} multiplier vectors for a unit of layer {} (needs {})", field, nu.size(), k, k));
    for (std::size_t j = 0; j < k; ++j)
      for (std::int64_t i : nu[j].index)
        if (i < 0 || i >= m_.width(j)) bad(fmt::format("{}[{}]: index {} beyond the {} units of layer {}", field, j, i, m_.width(j), j));
  }

  // Tightens the certified side of (k, i) to `bound`, which was proven.
  void tighten(std::size_t k, Eigen::Index i, Side side, double bound) {
    if (side == Side::upper) B_.hi[k][i] = std::min(B_.hi[k][i], bound);
    else B_.lo[k][i] = std::max(B_.lo[k][i], bound);
  }

  void apply(const Propagate& p) {
    propagate(m_, c_.box, B_, 0, m_.hidden() - 1, p.crown);
    ++s_.propagate_steps;
  }

  void apply(const Linear& l) {
    for (std::size_t q = 0; q < l.claims.size(); ++q) {
      const LinearClaim& c = l.claims[q];
      const std::string field = fmt::format("claims[{}]", q);
      unit_in_range(c.layer, c.unit, m_.hidden(), field);
      const auto k = static_cast<std::size_t>(c.layer);
      multipliers_fit(c.nu, k, field + ".nu");
      const double v = linear_upper(m_, c_.box, B_, k, unit_row(m_, k, c.unit, c.side), &c.nu);
      const double recomputed = c.side == Side::upper ? v : -v;
      const bool ok = c.side == Side::upper ? recomputed <= c.bound : recomputed >= c.bound;
      if (!ok)
        fail(fmt::format("{}: layer {} unit {} {} bound: claimed {}, the multipliers give only {}", field, c.layer, c.unit,
                         c.side == Side::upper ? "upper" : "lower", num(c.bound), num(recomputed)));
      tighten(k, c.unit, c.side, c.bound);
      ++s_.linear_claims;
    }
  }

  // ---- input split --------------------------------------------------------------
  struct InputWalk {
    const InputSplit& tree;
    std::size_t pos = 0;
    Bounds envelope;
  };

  void input_node(InputWalk& w, const Box& box, const Bounds& parent) {
    if (w.pos >= w.tree.nodes.size())
      fail(fmt::format("the tree ends at node {} while a split still needs a child: its leaves do not cover the domain", w.pos));
    const std::size_t id = w.pos++;
    const InputNode& n = w.tree.nodes[id];
    Bounds nb = parent;
    propagate(m_, box, nb, 0, m_.hidden() - 1, true);
    ++s_.input_split_nodes;
    if (n.dim < 0) {
      for (std::size_t k = 0; k < m_.hidden(); ++k) {
        w.envelope.hi[k] = w.envelope.hi[k].cwiseMax(nb.hi[k]);
        w.envelope.lo[k] = w.envelope.lo[k].cwiseMin(nb.lo[k]);
      }
      return;
    }
    if (n.dim >= box.size()) bad(fmt::format("nodes[{}] splits feature {} of a model with {} inputs", id, n.dim, box.size()));
    if (!(n.point >= box.lower[n.dim] && n.point <= box.upper[n.dim]))
      fail(fmt::format("nodes[{}] splits feature {} at {}, outside its box [{}, {}]", id, n.dim, num(n.point),
                       num(box.lower[n.dim]), num(box.upper[n.dim])));
    Box low = box, high = box;
    low.upper[n.dim] = n.point;
    high.lower[n.dim] = n.point;
    input_node(w, low, nb);
    input_node(w, high, nb);
  }

  void apply(const InputSplit& t) {
    InputWalk w{t, 0, unbounded(m_)};
    for (std::size_t k = 0; k < m_.hidden(); ++k) {  // the empty envelope: max of nothing
      w.envelope.hi[k].setConstant(-kInf);
      w.envelope.lo[k].setConstant(kInf);
    }
    input_node(w, c_.box, B_);
    if (w.pos != t.nodes.size()) bad(fmt::format("{} nodes after the end of the tree", t.nodes.size() - w.pos));
    for (std::size_t k = 0; k < m_.hidden(); ++k) {
      B_.hi[k] = B_.hi[k].cwiseMin(w.envelope.hi[k]);
      B_.lo[k] = B_.lo[k].cwiseMax(w.envelope.lo[k]);
    }
    ++s_.input_split_trees;
  }

  // ---- ReLU-phase split -------------------------------------------------------------
  struct PhaseWalk {
    const ReluSplit& claim;
    std::size_t k;
    Eigen::VectorXd a;
    double target;  // every leaf must give max a.g <= target
    std::size_t pos = 0;
  };

  void skip(PhaseWalk& w) {  // a subtree whose region is empty: consumed, nothing to prove
    if (w.pos >= w.claim.nodes.size())
      fail(fmt::format("the tree ends at node {} while a split still needs a child: its leaves do not cover the domain", w.pos));
    const PhaseNode& n = w.claim.nodes[w.pos++];
    if (n.layer >= 0) {
      skip(w);
      skip(w);
    }
  }

  void phase_node(PhaseWalk& w, Bounds nb, std::size_t changed_from) {
    if (w.pos >= w.claim.nodes.size())
      fail(fmt::format("the tree ends at node {} while a split still needs a child: its leaves do not cover the domain", w.pos));
    const std::size_t id = w.pos;
    const PhaseNode& n = w.claim.nodes[id];
    ++s_.relu_split_nodes;
    // The layers between the split and the target in full (they bound the
    // target), the target alone at its layer (crown_target).
    if (!empty(nb, w.k)) {
      if (w.k > 0) propagate(m_, c_.box, nb, changed_from, w.k - 1, true);
      if (!empty(nb, w.k)) crown_target(m_, c_.box, nb, w.k, w.claim.unit);
    }
    if (empty(nb, w.k)) {  // no input of the box has these phases
      skip(w);
      return;
    }
    ++w.pos;
    if (n.layer < 0) {
      double v = w.claim.side == Side::upper ? nb.hi[w.k][w.claim.unit] : -nb.lo[w.k][w.claim.unit];
      if (!n.nu.empty()) {
        multipliers_fit(n.nu, w.k, fmt::format("nodes[{}].nu", id));
        v = std::min(v, linear_upper(m_, c_.box, nb, w.k, w.a, &n.nu));
      }
      // Before failing: the target's neighbours may show the leaf's region
      // empty (CROWN on all of layer k; rare, and costly on every node).
      if (!(v <= w.target) && !empty_by_neighbours(nb, w.k))
        fail(fmt::format("layer {} unit {} {} bound {}: leaf nodes[{}] gives only {}", w.claim.layer, w.claim.unit,
                         w.claim.side == Side::upper ? "upper" : "lower", num(w.claim.bound), id,
                         num(w.claim.side == Side::upper ? v : -v)));
      return;
    }
    unit_in_range(n.layer, n.unit, w.k, fmt::format("nodes[{}]", id));
    const auto j = static_cast<std::size_t>(n.layer);
    Bounds off = nb, on = std::move(nb);
    off.hi[j][n.unit] = std::min(off.hi[j][n.unit], 0.0);
    on.lo[j][n.unit] = std::max(on.lo[j][n.unit], 0.0);
    phase_node(w, std::move(off), j + 1);
    phase_node(w, std::move(on), j + 1);
  }

  bool empty_by_neighbours(Bounds nb, std::size_t k) const {
    crown_layer(m_, c_.box, nb, k);
    return empty(nb, k);
  }

  void apply(const ReluSplit& r) {
    unit_in_range(r.layer, r.unit, m_.hidden(), "the claim");
    const auto k = static_cast<std::size_t>(r.layer);
    PhaseWalk w{r, k, unit_row(m_, k, r.unit, r.side), r.side == Side::upper ? r.bound : -r.bound};
    phase_node(w, B_, 0);
    if (w.pos != r.nodes.size()) bad(fmt::format("{} nodes after the end of the tree", r.nodes.size() - w.pos));
    tighten(k, r.unit, r.side, r.bound);
    ++s_.relu_split_claims;
  }

  // ---- verdicts and witnesses ----------------------------------------------------------
  void verdicts() {
    where_ = "verdicts";
    if (c_.verdicts.size() != m_.hidden())
      bad(fmt::format("{} layers of verdicts for a model with {} hidden layers", c_.verdicts.size(), m_.hidden()));
    for (std::size_t k = 0; k < m_.hidden(); ++k)
      if (static_cast<Eigen::Index>(c_.verdicts[k].size()) != m_.width(k))
        bad(fmt::format("layer {}: {} verdicts for {} units", k, c_.verdicts[k].size(), m_.width(k)));
    // Signs shown by the witnesses, re-evaluated.
    std::vector<std::vector<std::array<bool, 2>>> seen(m_.hidden());
    for (std::size_t k = 0; k < m_.hidden(); ++k) seen[k].assign(static_cast<std::size_t>(m_.width(k)), {false, false});
    for (std::size_t q = 0; q < c_.witnesses.size(); ++q) {
      where_ = fmt::format("witnesses[{}]", q);
      const WitnessPoint& p = c_.witnesses[q];
      if (static_cast<Eigen::Index>(p.input.size()) != m_.inputs)
        bad(fmt::format("an input of {} features for a model with {}", p.input.size(), m_.inputs));
      Box point(Eigen::Map<const Eigen::VectorXd>(p.input.data(), m_.inputs),
                Eigen::Map<const Eigen::VectorXd>(p.input.data(), m_.inputs));
      for (Eigen::Index f = 0; f < m_.inputs; ++f)
        if (!(p.input[f] >= c_.box.lower[f] && p.input[f] <= c_.box.upper[f]))
          fail(fmt::format("input feature {} = {} lies outside the domain [{}, {}]", f, num(p.input[f]),
                           num(c_.box.lower[f]), num(c_.box.upper[f])));
      // Interval arithmetic at one point, up to the deepest layer a sign names.
      std::size_t deepest = 0;
      for (const WitnessSign& s : p.signs)
        if (s.layer >= 0 && static_cast<std::size_t>(s.layer) < m_.hidden()) deepest = std::max(deepest, static_cast<std::size_t>(s.layer));
      Bounds g = unbounded(m_);
      propagate(m_, point, g, 0, deepest, false);
      for (std::size_t t = 0; t < p.signs.size(); ++t) {
        const WitnessSign& s = p.signs[t];
        unit_in_range(s.layer, s.unit, m_.hidden(), fmt::format("signs[{}]", t));
        const auto k = static_cast<std::size_t>(s.layer);
        const bool ok = s.positive ? g.lo[k][s.unit] > 0.0 : g.hi[k][s.unit] < 0.0;
        if (!ok)
          fail(fmt::format("signs[{}]: layer {} unit {} claimed g {} 0 at this input; recomputed g in [{}, {}]", t, s.layer,
                           s.unit, s.positive ? ">" : "<", num(g.lo[k][s.unit]), num(g.hi[k][s.unit])));
        seen[k][static_cast<std::size_t>(s.unit)][s.positive ? 0 : 1] = true;
        ++s_.witness_signs;
      }
    }
    where_ = "verdicts";
    for (std::size_t k = 0; k < m_.hidden(); ++k)
      for (Eigen::Index i = 0; i < m_.width(k); ++i) {
        const char v = c_.verdicts[k][static_cast<std::size_t>(i)];
        if (v == 'i') {
          if (!(B_.hi[k][i] <= 0.0))
            fail(fmt::format("layer {} unit {}: called stably inactive, but its certified upper bound is {}", k, i, num(B_.hi[k][i])));
          ++s_.stable_units;
        } else if (v == 'a') {
          if (!(B_.lo[k][i] >= 0.0))
            fail(fmt::format("layer {} unit {}: called stably active, but its certified lower bound is {}", k, i, num(B_.lo[k][i])));
          ++s_.stable_units;
        } else if (v == 'u') {
          const auto& sn = seen[k][static_cast<std::size_t>(i)];
          if (!sn[0] || !sn[1])
            fail(fmt::format("layer {} unit {}: called unstable, but no witness shows g {} 0", k, i, sn[0] ? "<" : ">"));
          ++s_.unstable_units;
        } else {
          ++s_.undecided_units;
        }
      }
  }
};

// ---- compress: the replay of the rewrites ---------------------------------------
//
// The checker rebuilds the compressed network from the original, rewrite by
// rewrite, in interval arithmetic: every weight and bias is an enclosure
// [lo, hi] of every value the compressor's double arithmetic can have given
// it (the exact result of the operation on values inside the enclosures,
// widened by gamma_n * sum |terms|, the rounding error of any double
// evaluation order of an n-term sum; docs/certificates.md). A rewrite is
// replayed only when the facts it rests on are proven: certified signs, or
// an identity (constant, duplicate, dependent units) whose residual over the
// domain the checker bounds itself (CROWN on the original network with the
// certified bounds) and which may change a next-layer pre-activation by at
// most kResidual of its magnitude.

constexpr double kUnitRoundoff = 0x1p-53;
constexpr double kResidual = 0x1p-24;  // float32's unit roundoff: no more than storing the row in float32 would change

struct Iv {
  double lo = 0, hi = 0;
};
inline double mag(Iv a) { return std::max(std::abs(a.lo), std::abs(a.hi)); }
// Enclosure of the exact a * b (upward rounding: lo as -(upper of -a*b)).
inline Iv mul(Iv a, Iv b) {
  const double hi = max_up(max_up(mul_up(a.lo, b.lo), mul_up(a.lo, b.hi)), max_up(mul_up(a.hi, b.lo), mul_up(a.hi, b.hi)));
  const double neg = max_up(max_up(mul_up(-a.lo, b.lo), mul_up(-a.lo, b.hi)), max_up(mul_up(-a.hi, b.lo), mul_up(-a.hi, b.hi)));
  return {-neg, hi};
}
// An n-term sum as the compressor computes it in double, in any order.
struct Sum {
  double hi = 0, neg = 0, magnitude = 0;
  long n = 0;
  void add(Iv t) {
    hi += t.hi;
    neg += -t.lo;
    magnitude += mag(t);
    ++n;
  }
  Iv result() const {
    if (n <= 1) return {-neg, hi};  // a copy: no rounding
    const double g = mul_up(mul_up(static_cast<double>(n), kUnitRoundoff), 1.01);  // gamma_n for n * u < 0.01
    const double w = mul_up(g, magnitude);
    return {-upper_of(neg + w), upper_of(hi + w)};
  }
};

// A layer of the replay: dense intervals (dense layers, which the unit
// rewrites change entry by entry), or the sparse rows of a structured layer
// (checker/layers.hpp), which only channel removals change (rows and columns
// deleted, the bias changed).
struct ILayer {
  RowMajor lo, hi;                     // dense weights (0 x 0 when `sparse` holds them)
  std::optional<IntervalRows> sparse;  // a structured layer's weights
  Eigen::VectorXd blo, bhi;
  Eigen::Index rows() const { return sparse ? sparse->rows : lo.rows(); }
  Eigen::Index cols() const { return sparse ? sparse->cols : lo.cols(); }
  Iv w(Eigen::Index r, Eigen::Index c) const { return {lo(r, c), hi(r, c)}; }  // dense only
  void set(Eigen::Index r, Eigen::Index c, Iv v) { lo(r, c) = v.lo, hi(r, c) = v.hi; }
  Iv b(Eigen::Index r) const { return {blo[r], bhi[r]}; }
  void set_b(Eigen::Index r, Iv v) { blo[r] = v.lo, bhi[r] = v.hi; }
  // f(column, weight) for the entries of row r (dense: every column).
  template <class F>
  void for_row(Eigen::Index r, F&& f) const {
    if (sparse) {
      for (Eigen::Index e = sparse->begin(r); e < sparse->end(r); ++e) {
        const auto t = static_cast<std::size_t>(e);
        f(sparse->col[t], Iv{sparse->lo[t], sparse->hi[t]});
      }
    } else {
      for (Eigen::Index c = 0; c < lo.cols(); ++c) f(c, Iv{lo(r, c), hi(r, c)});
    }
  }
};

// The rows `keep` (ascending) of a sparse layer.
IntervalRows keep_rows(const IntervalRows& a, const std::vector<Eigen::Index>& keep) {
  IntervalRows o;
  o.cols = a.cols;
  for (Eigen::Index r : keep) {
    for (Eigen::Index e = a.begin(r); e < a.end(r); ++e) {
      const auto t = static_cast<std::size_t>(e);
      o.col.push_back(a.col[t]), o.lo.push_back(a.lo[t]), o.hi.push_back(a.hi[t]);
    }
    o.start.push_back(static_cast<Eigen::Index>(o.col.size()));
    ++o.rows;
  }
  return o;
}
// The columns `keep` (ascending) of a sparse layer, renumbered.
IntervalRows keep_cols(const IntervalRows& a, const std::vector<Eigen::Index>& keep) {
  std::vector<Eigen::Index> to(static_cast<std::size_t>(a.cols), -1);
  for (std::size_t i = 0; i < keep.size(); ++i) to[static_cast<std::size_t>(keep[i])] = static_cast<Eigen::Index>(i);
  IntervalRows o;
  o.cols = static_cast<Eigen::Index>(keep.size());
  for (Eigen::Index r = 0; r < a.rows; ++r) {
    for (Eigen::Index e = a.begin(r); e < a.end(r); ++e) {
      const auto t = static_cast<std::size_t>(e);
      const Eigen::Index c = to[static_cast<std::size_t>(a.col[t])];
      if (c >= 0) o.col.push_back(c), o.lo.push_back(a.lo[t]), o.hi.push_back(a.hi[t]);
    }
    o.start.push_back(static_cast<Eigen::Index>(o.col.size()));
    ++o.rows;
  }
  return o;
}
// A dense layer of the replay as sparse rows (every entry), for the comparison.
IntervalRows as_rows(const ILayer& l) {
  if (l.sparse) return *l.sparse;
  IntervalRows o;
  o.rows = l.rows();
  o.cols = l.cols();
  for (Eigen::Index r = 0; r < l.rows(); ++r) {
    for (Eigen::Index c = 0; c < l.cols(); ++c) o.col.push_back(c), o.lo.push_back(l.lo(r, c)), o.hi.push_back(l.hi(r, c));
    o.start.push_back(static_cast<Eigen::Index>(o.col.size()));
  }
  return o;
}

struct Origin {
  std::size_t layer;
  Eigen::Index unit;
};

class Replay {
 public:
  Replay(const Network& net, const Model& m, const Certificate& c, const Bounds& B, CheckSummary& s)
      : m_(m), c_(c), B_(B), s_(s) {
    for (std::size_t k = 0; k < net.layers.size(); ++k) {
      const AffineLayer& l = net.layers[k];
      ILayer il;
      if (l.is_dense()) {
        il.lo = l.weights;
        il.hi = l.weights;
      } else {
        il.sparse = k < m.hidden() ? m.w[k] : interval_rows(l, fmt::format("model: layer {}", k));
      }
      il.blo = l.bias;
      il.bhi = l.bias;
      L_.push_back(std::move(il));
    }
    for (std::size_t k = 0; k < m.hidden(); ++k) {
      origin_.emplace_back();
      for (Eigen::Index i = 0; i < m.width(k); ++i) origin_.back().push_back({k, i});
    }
  }

  void run() {
    const auto& rw = c_.compress->rewrites;
    for (std::size_t n = 0; n < rw.size(); ++n) {
      where_ = fmt::format("compress: rewrites[{}] ({}, layer {})", n, rw[n].kind, rw[n].layer);
      apply(rw[n]);
      ++s_.rewrites_replayed;
    }
  }

  // Every weight and bias of `out` must lie in the replayed enclosure, rounded
  // to the stored type (round to nearest is monotone: rn(lo) <= rn(x) <= rn(hi)).
  //
  // A structured layer of `out` is read as the checker reads any model
  // (checker/layers.hpp): its coefficients are intervals [ol, oh] (a
  // Conv2d's weights exact, composite operators enclosed), and [ol, oh] must
  // lie inside the replayed enclosure rounded to the stored type: to nearest
  // for a stored number (as for a dense weight), outward for a composite
  // coefficient of float32 operators (not itself a float32 number, e.g. a
  // conv weight times AvgPool's 1/d). An entry missing on one side is 0.
  void compare(const Network& out) {
    where_ = "compress: the compressed model";
    if (out.layers.size() != L_.size())
      fail(fmt::format("it has {} layers; the replayed rewrites give {}", out.layers.size(), L_.size()));
    const bool f32 = out.input.type == ElementType::float32 || out.output.type == ElementType::float32;
    std::vector<IntervalRows> got, want;
    for (std::size_t k = 0; k < L_.size(); ++k) {
      const AffineLayer& o = out.layers[k];
      const ILayer& r = L_[k];
      if (o.outputs() != r.rows() || o.inputs() != r.cols() || o.bias.size() != r.rows())
        fail(fmt::format("layer {} is {}x{}; the replayed rewrites give {}x{}", k, o.outputs(), o.inputs(), r.rows(), r.cols()));
      got.push_back(interval_rows(o, fmt::format("the compressed model: layer {}", k)));
      want.push_back(as_rows(r));
    }
    const int old = std::fegetround();
    std::fesetround(FE_TONEAREST);
    auto nearest = [&](double x) { return f32 ? static_cast<double>(static_cast<float>(x)) : x; };
    auto down = [&](double x) {
      double y = nearest(x);
      if (y > x) y = f32 ? static_cast<double>(std::nextafter(static_cast<float>(y), -std::numeric_limits<float>::infinity())) : x;
      return y;
    };
    auto up = [&](double x) {
      double y = nearest(x);
      if (y < x) y = f32 ? static_cast<double>(std::nextafter(static_cast<float>(y), std::numeric_limits<float>::infinity())) : x;
      return y;
    };
    auto within = [&](Iv v, Iv r) {
      if (v.lo == v.hi) return nearest(r.lo) <= v.lo && v.hi <= nearest(r.hi);  // rn is monotone
      return down(r.lo) <= v.lo && v.hi <= up(r.hi);
    };
    const char* note = f32 ? " (before rounding to float32)" : "";
    std::string problem;
    for (std::size_t k = 0; k < L_.size() && problem.empty(); ++k) {
      const AffineLayer& o = out.layers[k];
      const ILayer& r = L_[k];
      const IntervalRows &g = got[k], &w = want[k];
      for (Eigen::Index i = 0; i < r.rows() && problem.empty(); ++i) {
        if (!within({o.bias[i], o.bias[i]}, r.b(i)))
          problem = fmt::format("layer {} bias {} is {}; the replayed rewrites give [{}, {}]{}", k, i, num(o.bias[i]),
                                num(r.blo[i]), num(r.bhi[i]), note);
        // Merge the two rows by column.
        Eigen::Index p = g.begin(i), q = w.begin(i);
        while (problem.empty() && (p < g.end(i) || q < w.end(i))) {
          const Eigen::Index cp = p < g.end(i) ? g.col[static_cast<std::size_t>(p)] : r.cols();
          const Eigen::Index cq = q < w.end(i) ? w.col[static_cast<std::size_t>(q)] : r.cols();
          const Eigen::Index c = std::min(cp, cq);
          const Iv gv = cp == c ? Iv{g.lo[static_cast<std::size_t>(p)], g.hi[static_cast<std::size_t>(p)]} : Iv{0.0, 0.0};
          const Iv wv = cq == c ? Iv{w.lo[static_cast<std::size_t>(q)], w.hi[static_cast<std::size_t>(q)]} : Iv{0.0, 0.0};
          if (!within(gv, wv))
            problem = gv.lo == gv.hi ? fmt::format("layer {} weight ({}, {}) is {}; the replayed rewrites give [{}, {}]{}", k, i,
                                                   c, num(gv.lo), num(wv.lo), num(wv.hi), note)
                                     : fmt::format("layer {} weight ({}, {}) is in [{}, {}]; the replayed rewrites give [{}, {}]{}",
                                                   k, i, c, num(gv.lo), num(gv.hi), num(wv.lo), num(wv.hi), note);
          if (cp == c) ++p;
          if (cq == c) ++q;
        }
      }
    }
    std::fesetround(old);
    if (!problem.empty()) fail(problem);
  }

 private:
  const Model& m_;
  const Certificate& c_;
  const Bounds& B_;
  CheckSummary& s_;
  std::vector<ILayer> L_;                   // every layer, the output layer included
  std::vector<std::vector<Origin>> origin_;  // per hidden layer: the original unit each unit is
  std::string where_;

  [[noreturn]] void fail(const std::string& what) const { throw CheckFailure(fmt::format("{}: {}", where_, what)); }

  char verdict(Origin o) const { return c_.verdicts[o.layer][static_cast<std::size_t>(o.unit)]; }
  std::string name(std::size_t h, Eigen::Index i) const {
    const Origin o = origin_[h][static_cast<std::size_t>(i)];
    return fmt::format("unit {} (original layer {} unit {})", i, o.layer, o.unit);
  }

  std::size_t layer_of(const Rewrite& r) const {
    if (r.layer < 0 || static_cast<std::size_t>(r.layer) >= origin_.size())
      fail(fmt::format("the network has {} hidden layers at this point", origin_.size()));
    return static_cast<std::size_t>(r.layer);
  }
  void in_layer(std::size_t h, int unit, const char* field) const {
    if (unit < 0 || static_cast<std::size_t>(unit) >= origin_[h].size())
      fail(fmt::format("{} {}: layer {} has {} units at this point", field, unit, h, origin_[h].size()));
  }
  std::vector<bool> removal(std::size_t h, const std::vector<int>& units) const {
    if (units.empty()) fail("it removes no unit");
    std::vector<bool> mark(origin_[h].size(), false);
    for (int u : units) {
      in_layer(h, u, "unit");
      if (mark[static_cast<std::size_t>(u)]) fail(fmt::format("unit {} is listed twice", u));
      mark[static_cast<std::size_t>(u)] = true;
    }
    return mark;
  }

  // Upper bound of x = relu(g) of hidden unit (h, i) over the domain.
  double x_max(std::size_t h, Eigen::Index i) const {
    const Origin o = origin_[h][static_cast<std::size_t>(i)];
    return std::max(B_.hi[o.layer][o.unit], 0.0);
  }

  // Bound on |a.g + d| over the domain, a over the original layer `layer`.
  double residual(std::size_t layer, const Eigen::VectorXd& a, double d) const {
    const double up = upper_of(linear_upper(m_, c_.box, B_, layer, a, nullptr) + d);
    const double down = upper_of(linear_upper(m_, c_.box, B_, layer, -a, nullptr) + (-d));
    return std::max({up, down, 0.0});
  }

  // The dropped residuals of a rewrite of hidden layer h: dropped[r] bounds
  // how much the next layer's pre-activation r changes on the domain. Each
  // must be at most kResidual of that pre-activation's magnitude.
  void accept_residuals(std::size_t h, const Eigen::VectorXd& dropped) {
    const ILayer& next = L_[h + 1];
    for (Eigen::Index r = 0; r < next.rows(); ++r) {
      if (dropped[r] == 0.0) continue;
      double scale = mag(next.b(r));
      next.for_row(r, [&](Eigen::Index c, Iv w) { scale += mul_up(mag(w), x_max(h, c)); });
      if (!std::isfinite(dropped[r]) || !std::isfinite(scale) || !(dropped[r] <= mul_up(kResidual, scale)))
        fail(fmt::format("the identities it rests on hold on the domain only up to a change of {} in unit {} of the "
                         "next layer, more than 2^-24 of its magnitude {}",
                         num(dropped[r]), r, num(scale)));
      s_.max_residual_ratio = std::max(s_.max_residual_ratio, dropped[r] / scale);
    }
  }

  // Deletes the marked units of hidden layer h (rows of layer h, columns of layer h+1).
  void delete_units(std::size_t h, const std::vector<bool>& mark) {
    std::vector<Eigen::Index> keep;
    for (std::size_t i = 0; i < mark.size(); ++i)
      if (!mark[i]) keep.push_back(static_cast<Eigen::Index>(i));
    ILayer& l = L_[h];
    ILayer& n = L_[h + 1];
    if (l.sparse) {
      l.sparse = keep_rows(*l.sparse, keep);
    } else {
      RowMajor lo = l.lo(keep, Eigen::all), hi = l.hi(keep, Eigen::all);
      l.lo = std::move(lo), l.hi = std::move(hi);
    }
    Eigen::VectorXd blo = l.blo(keep), bhi = l.bhi(keep);
    l.blo = std::move(blo), l.bhi = std::move(bhi);
    if (n.sparse) {
      n.sparse = keep_cols(*n.sparse, keep);
    } else {
      RowMajor nlo = n.lo(Eigen::all, keep), nhi = n.hi(Eigen::all, keep);
      n.lo = std::move(nlo), n.hi = std::move(nhi);
    }
    std::vector<Origin> o;
    for (Eigen::Index i : keep) o.push_back(origin_[h][static_cast<std::size_t>(i)]);
    origin_[h] = std::move(o);
  }

  // The network is the constant it computes with hidden layer h's output x (intervals).
  void make_constant(std::size_t h, std::vector<Iv> x) {
    for (std::size_t k = h + 1; k < L_.size(); ++k) {
      const ILayer& l = L_[k];
      std::vector<Iv> g(static_cast<std::size_t>(l.rows()));
      for (Eigen::Index r = 0; r < l.rows(); ++r) {
        Sum s;
        s.add(l.b(r));
        l.for_row(r, [&](Eigen::Index c, Iv w) { s.add(mul(w, x[static_cast<std::size_t>(c)])); });
        g[static_cast<std::size_t>(r)] = s.result();
        Iv& v = g[static_cast<std::size_t>(r)];
        if (k + 1 < L_.size()) v = {std::max(v.lo, 0.0), std::max(v.hi, 0.0)};
      }
      x = std::move(g);
    }
    ILayer constant;
    const Eigen::Index outputs = static_cast<Eigen::Index>(x.size());
    constant.lo = RowMajor::Zero(outputs, m_.inputs);
    constant.hi = RowMajor::Zero(outputs, m_.inputs);
    constant.blo.resize(outputs);
    constant.bhi.resize(outputs);
    for (Eigen::Index r = 0; r < outputs; ++r) constant.set_b(r, x[static_cast<std::size_t>(r)]);
    L_ = {std::move(constant)};
    origin_.clear();
  }

  // Bounds on |relu(g) - v| over the domain for unit u of hidden layer h
  // folded as the constant v: from its certified bounds and CROWN.
  double constant_residual(std::size_t h, int u, double v) const {
    if (!(v >= 0.0)) fail(fmt::format("{} is folded as the constant {}, but a ReLU output is never negative", name(h, u), num(v)));
    const Origin o = origin_[h][static_cast<std::size_t>(u)];
    Eigen::VectorXd a = Eigen::VectorXd::Zero(m_.width(o.layer));
    a[o.unit] = 1.0;
    const double gl = std::max(B_.lo[o.layer][o.unit], -linear_upper(m_, c_.box, B_, o.layer, -a, nullptr));
    const double gh = std::min(B_.hi[o.layer][o.unit], linear_upper(m_, c_.box, B_, o.layer, a, nullptr));
    // |relu(g) - v| for g in [gl, gh]: largest at an end.
    return std::max({upper_of(std::max(gh, 0.0) - v), upper_of(v - std::max(gl, 0.0)), 0.0});
  }

  // inactive_channel, constant_channel: whole channels of a structured hidden
  // layer h, recorded as the units of all their positions. Replayed as unit
  // deletions on the layers' sparse rows (rows of layers[h], columns of
  // layers[h+1]); constants fold into layers[h+1]'s bias, each bias one sum
  // over every removed unit. Whether the result is still the structured
  // model written is for compare(): it reads OUT's layers the same way.
  void apply_channels(const Rewrite& r, std::size_t h) {
    const auto mark = removal(h, r.units);
    ILayer& next = L_[h + 1];
    if (r.kind == "inactive_channel") {
      for (int u : r.units)
        if (verdict(origin_[h][static_cast<std::size_t>(u)]) != 'i')
          fail(fmt::format("{} is deleted with its channel as stably inactive, but is not proven so", name(h, u)));
      delete_units(h, mark);
      return;
    }
    std::vector<double> value(origin_[h].size(), 0.0), rho(origin_[h].size(), 0.0);
    for (std::size_t q = 0; q < r.units.size(); ++q) {
      const auto u = static_cast<std::size_t>(r.units[q]);
      value[u] = r.coefficient[q];
      rho[u] = constant_residual(h, r.units[q], r.coefficient[q]);
    }
    Eigen::VectorXd dropped = Eigen::VectorXd::Zero(next.rows());
    for (Eigen::Index p = 0; p < next.rows(); ++p) {
      Sum s;
      s.add(next.b(p));
      next.for_row(p, [&](Eigen::Index c, Iv w) {
        const auto u = static_cast<std::size_t>(c);
        if (!mark[u]) return;
        s.add(mul(w, {value[u], value[u]}));
        dropped[p] += mul_up(mag(w), rho[u]);
      });
      next.set_b(p, s.result());
    }
    accept_residuals(h, dropped);
    delete_units(h, mark);
  }

  void apply(const Rewrite& r) {
    const std::size_t h = layer_of(r);
    if (r.kind == "inactive_channel" || r.kind == "constant_channel") return apply_channels(r, h);
    if (r.kind != "dead_layer" && (L_[h].sparse || L_[h + 1].sparse))
      fail("a rewrite of single units next to a structured layer, which the checker cannot re-derive");
    ILayer& next = L_[h + 1];
    if (r.kind == "inactive_unit") {
      const auto mark = removal(h, r.units);
      for (int u : r.units)
        if (verdict(origin_[h][static_cast<std::size_t>(u)]) != 'i')
          fail(fmt::format("{} is deleted as stably inactive, but is not proven so", name(h, u)));
      delete_units(h, mark);
    } else if (r.kind == "zero_outgoing") {
      const auto mark = removal(h, r.units);
      Eigen::VectorXd dropped = Eigen::VectorXd::Zero(next.rows());
      for (int u : r.units)
        for (Eigen::Index q = 0; q < next.rows(); ++q) {
          const Iv w = next.w(q, u);
          if (!(w.lo <= 0.0 && w.hi >= 0.0))
            fail(fmt::format("{} is deleted as having no outgoing weights, but its weight to unit {} of the next layer "
                             "is in [{}, {}]", name(h, u), q, num(w.lo), num(w.hi)));
          dropped[q] += mul_up(mag(w), x_max(h, u));
        }
      accept_residuals(h, dropped);
      delete_units(h, mark);
    } else if (r.kind == "constant_unit") {
      const auto mark = removal(h, r.units);
      Eigen::VectorXd dropped = Eigen::VectorXd::Zero(next.rows());
      for (std::size_t q = 0; q < r.units.size(); ++q) {
        const int u = r.units[q];
        const double v = r.coefficient[q];
        const double rho = constant_residual(h, u, v);
        for (Eigen::Index k = 0; k < next.rows(); ++k) {
          Sum s;
          s.add(next.b(k));
          s.add(mul(next.w(k, u), {v, v}));
          next.set_b(k, s.result());
          dropped[k] += mul_up(mag(next.w(k, u)), rho);
        }
      }
      accept_residuals(h, dropped);
      delete_units(h, mark);
    } else if (r.kind == "duplicate_unit") {
      const auto mark = removal(h, r.units);
      Eigen::VectorXd dropped = Eigen::VectorXd::Zero(next.rows());
      for (std::size_t q = 0; q < r.units.size(); ++q) {
        const int k = r.units[q], j = r.into[q];
        const double c = r.coefficient[q];
        in_layer(h, j, "into");
        if (mark[static_cast<std::size_t>(j)]) fail(fmt::format("unit {} is merged into unit {}, which it also removes", k, j));
        if (!(c > 0.0)) fail(fmt::format("{} is merged with factor {}, which is not positive", name(h, k), num(c)));
        const Origin ok = origin_[h][static_cast<std::size_t>(k)], oj = origin_[h][static_cast<std::size_t>(j)];
        Eigen::VectorXd a = Eigen::VectorXd::Zero(m_.width(ok.layer));
        a[ok.unit] = 1.0;
        a[oj.unit] -= c;
        // |relu(g_k) - c relu(g_j)| = |relu(g_k) - relu(c g_j)| <= |g_k - c g_j| (c > 0).
        const double rho = residual(ok.layer, a, 0.0);
        for (Eigen::Index p = 0; p < next.rows(); ++p) {
          dropped[p] += mul_up(mag(next.w(p, k)), rho);
          Sum s;
          s.add(next.w(p, j));
          s.add(mul(next.w(p, k), {c, c}));
          next.set(p, j, s.result());
        }
      }
      accept_residuals(h, dropped);
      delete_units(h, mark);
    } else if (r.kind == "dependent_active") {
      const auto mark = removal(h, r.units);
      for (int u : r.units)
        if (verdict(origin_[h][static_cast<std::size_t>(u)]) != 'a')
          fail(fmt::format("{} is folded as stably active, but is not proven so", name(h, u)));
      for (int b : r.basis) {
        in_layer(h, b, "basis unit");
        if (mark[static_cast<std::size_t>(b)]) fail(fmt::format("basis unit {} is also removed", b));
        if (verdict(origin_[h][static_cast<std::size_t>(b)]) != 'a')
          fail(fmt::format("basis {} is not proven stably active", name(h, b)));
      }
      Eigen::VectorXd dropped = Eigen::VectorXd::Zero(next.rows());
      std::vector<double> rho(r.units.size());
      for (std::size_t q = 0; q < r.units.size(); ++q) {
        const Origin ok = origin_[h][static_cast<std::size_t>(r.units[q])];
        Eigen::VectorXd a = Eigen::VectorXd::Zero(m_.width(ok.layer));
        a[ok.unit] = 1.0;
        for (std::size_t j = 0; j < r.basis.size(); ++j)
          a[origin_[h][static_cast<std::size_t>(r.basis[j])].unit] -= r.alpha[q][j];
        // x = g for active units: x_k - sum_j alpha x_j - offset = a.g - offset.
        rho[q] = residual(ok.layer, a, -r.coefficient[q]);
      }
      for (Eigen::Index p = 0; p < next.rows(); ++p) {
        Sum bias;
        bias.add(next.b(p));
        for (std::size_t q = 0; q < r.units.size(); ++q) {
          const Iv w = next.w(p, r.units[q]);
          bias.add(mul(w, {r.coefficient[q], r.coefficient[q]}));
          dropped[p] += mul_up(mag(w), rho[q]);
        }
        next.set_b(p, bias.result());
        for (std::size_t j = 0; j < r.basis.size(); ++j) {
          Sum s;
          s.add(next.w(p, r.basis[j]));
          for (std::size_t q = 0; q < r.units.size(); ++q) s.add(mul(next.w(p, r.units[q]), {r.alpha[q][j], r.alpha[q][j]}));
          next.set(p, r.basis[j], s.result());
        }
      }
      accept_residuals(h, dropped);
      delete_units(h, mark);
    } else if (r.kind == "layer_fold") {
      std::vector<Eigen::Index> active;
      for (std::size_t i = 0; i < origin_[h].size(); ++i) {
        const char v = verdict(origin_[h][i]);
        if (v == 'a') active.push_back(static_cast<Eigen::Index>(i));
        else if (v != 'i') fail(fmt::format("the layer is folded as stable, but {} is not proven stable", name(h, static_cast<Eigen::Index>(i))));
      }
      const ILayer& l = L_[h];
      ILayer merged;
      merged.lo.resize(next.rows(), l.cols());
      merged.hi.resize(next.rows(), l.cols());
      merged.blo.resize(next.rows());
      merged.bhi.resize(next.rows());
      for (Eigen::Index p = 0; p < next.rows(); ++p) {
        Sum bias;
        bias.add(next.b(p));
        for (Eigen::Index a : active) bias.add(mul(next.w(p, a), l.b(a)));
        merged.set_b(p, bias.result());
        for (Eigen::Index c = 0; c < l.cols(); ++c) {
          Sum s;
          for (Eigen::Index a : active) s.add(mul(next.w(p, a), l.w(a, c)));
          if (active.empty()) s.add({0.0, 0.0});
          merged.set(p, c, s.result());
        }
      }
      L_[h + 1] = std::move(merged);
      L_.erase(L_.begin() + static_cast<std::ptrdiff_t>(h));
      origin_.erase(origin_.begin() + static_cast<std::ptrdiff_t>(h));
    } else if (r.kind == "dead_layer") {
      for (std::size_t i = 0; i < origin_[h].size(); ++i)
        if (verdict(origin_[h][i]) != 'i')
          fail(fmt::format("the network is made constant, but {} is not proven stably inactive", name(h, static_cast<Eigen::Index>(i))));
      make_constant(h, std::vector<Iv>(origin_[h].size(), Iv{0.0, 0.0}));
    } else {
      fail("a rewrite the checker cannot re-derive");
    }
  }
};

Model read_model(const Network& network) {
  Model m;
  if (network.layers.empty()) throw InputError("model: no layers");
  m.inputs = network.layers[0].inputs();
  for (std::size_t k = 0; k < network.layers.size(); ++k) {
    const AffineLayer& l = network.layers[k];
    if (l.bias.size() != l.outputs() || (k > 0 && l.inputs() != network.layers[k - 1].outputs()))
      throw InputError(fmt::format("model: layer {}: its sizes do not chain with the layer before", k));
    if ((l.is_dense() && !l.weights.allFinite()) || !l.bias.allFinite())
      throw InputError(fmt::format("model: layer {}: a weight or bias is not finite", k));
    if (k + 1 < network.layers.size()) {
      m.w.push_back(interval_rows(l, fmt::format("model: layer {}", k)));
      m.b.push_back(l.bias);
    }
  }
  return m;
}

void check_header(const Network& network, const Certificate& cert) {
  const std::string md = digest(network);
  if (cert.model_digest != md)
    throw InputError(fmt::format("certificate: it is of another model (model_digest {}, this model's is {})",
                                 cert.model_digest, md));
  const std::string dd = digest(cert.box);
  if (cert.domain_digest != dd)
    throw InputError(fmt::format("certificate: the domain does not match its digest (domain_digest {}, recomputed {})",
                                 cert.domain_digest, dd));
  if (cert.box.size() != network.inputs())
    throw InputError(fmt::format("certificate: a domain of {} features for a model with {} inputs", cert.box.size(),
                                 network.inputs()));
}

}  // namespace

CheckSummary check(const Network& network, const Certificate& cert, const Network* compressed) {
  const auto start = std::chrono::steady_clock::now();
  const Model m = read_model(network);
  check_header(network, cert);
  if (compressed && !cert.compress) throw InputError("certificate: --compressed needs a compress certificate");
  if (compressed) {
    const std::string d = digest(*compressed);
    if (cert.compress->output_digest != d)
      throw CheckFailure(fmt::format("compress: the compressed model is not the one this certificate was written for "
                                     "(output_digest {}, this model's is {})", cert.compress->output_digest, d));
  }
  CheckSummary summary;
  {
    RoundUpward mode;
    if (m.hidden() > 0) {
      Checker checker(m, cert, summary);
      checker.run();
      if (cert.compress) {
        const CompressClaims& cc = *cert.compress;
        if (cc.fates.size() != m.hidden())
          throw InputError(fmt::format("certificate: compress.fates has {} layers for {} hidden layers", cc.fates.size(), m.hidden()));
        for (std::size_t k = 0; k < m.hidden(); ++k) {
          if (static_cast<Eigen::Index>(cc.fates[k].size()) != m.width(k))
            throw InputError(fmt::format("certificate: compress.fates[{}]: {} fates for {} units", k, cc.fates[k].size(), m.width(k)));
          for (Eigen::Index i = 0; i < m.width(k); ++i) {
            const char f = cc.fates[k][static_cast<std::size_t>(i)];
            const double lo = checker.bounds().lo[k][i], hi = checker.bounds().hi[k][i];
            if (f == 'i' && !(hi <= 0.0))
              throw CheckFailure(fmt::format("compress: layer {} unit {} was deleted as stably inactive, but its certified "
                                             "upper bound is {} (not proven <= 0)", k, i, num(hi)));
            if (f == 'f' && !(hi <= 0.0 || lo >= 0.0))
              throw CheckFailure(fmt::format("compress: layer {} unit {} was folded as stable, but its certified bounds "
                                             "[{}, {}] have no sign", k, i, num(lo), num(hi)));
            if (f == 'i' || f == 'f') ++summary.compress_fates;
            if (f == 'o') ++summary.compress_other;
          }
        }
        if (compressed) {
          Replay replay(network, m, cert, checker.bounds(), summary);
          replay.run();
          replay.compare(*compressed);
          summary.compressed_checked = true;
        }
      }
    } else if (!cert.verdicts.empty()) {
      throw InputError("certificate: verdicts for a model without hidden layers");
    } else if (compressed) {
      Replay replay(network, m, cert, Bounds{}, summary);
      replay.run();
      replay.compare(*compressed);
      summary.compressed_checked = true;
    }
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

nlohmann::json to_json(const Certificate& c, const CheckSummary& s) {
  nlohmann::json j;
  j["valid"] = true;
  j["command"] = c.command;
  j["version"] = c.version;
  j["claims"] = {{"propagate", s.propagate_steps},
                 {"linear", s.linear_claims},
                 {"input_split_trees", s.input_split_trees},
                 {"input_split_nodes", s.input_split_nodes},
                 {"relu_split", s.relu_split_claims},
                 {"relu_split_nodes", s.relu_split_nodes},
                 {"stable_units", s.stable_units},
                 {"unstable_units", s.unstable_units},
                 {"witness_signs", s.witness_signs},
                 {"undecided_units", s.undecided_units}};
  if (c.compress)
    j["compress"] = {{"removed_on_proven_verdicts", s.compress_fates},
                     {"removed_by_other_rewrites", s.compress_other},
                     {"rewrites_replayed", s.rewrites_replayed},
                     {"max_residual_ratio", s.max_residual_ratio},
                     {"compressed_model_checked", s.compressed_checked}};
  j["domain"] = {{"features", c.box.size()},
                 {"lower", std::vector<double>(c.box.lower.data(), c.box.lower.data() + c.box.size())},
                 {"upper", std::vector<double>(c.box.upper.data(), c.box.upper.data() + c.box.size())},
                 {"digest", c.domain_digest}};
  j["seconds"] = s.seconds;
  return j;
}

}  // namespace leo::cert
