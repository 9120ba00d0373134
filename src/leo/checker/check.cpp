#include "leo/checker/check.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cfenv>
#include <chrono>
#include <cmath>
#include <limits>
#include <vector>

namespace leo::cert {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- outward-rounded arithmetic ---------------------------------------------
// Everything below runs under RoundUpward: each + and * rounds towards +inf.

class RoundUpward {
 public:
  RoundUpward() : old_(std::fegetround()) {
    if (std::fesetround(FE_UPWARD) != 0) throw Error(ExitCode::internal, "internal error: cannot set the rounding mode");
  }
  ~RoundUpward() { std::fesetround(old_); }
  RoundUpward(const RoundUpward&) = delete;
  RoundUpward& operator=(const RoundUpward&) = delete;

 private:
  int old_;
};

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

struct Model {
  std::vector<RowMajor> w;  // hidden layers only (the output layer needs no bounds)
  std::vector<Eigen::VectorXd> b;
  Eigen::Index inputs = 0;
  std::size_t hidden() const { return w.size(); }
  Eigen::Index width(std::size_t k) const { return w[k].rows(); }
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
  const RowMajor& W = m.w[k];
  for (Eigen::Index i = 0; i < W.rows(); ++i) {
    double up = m.b[k][i], down_neg = -m.b[k][i];  // upper bounds of g and of -g
    for (Eigen::Index c = 0; c < W.cols(); ++c) {
      const double w = W(i, c);
      if (w > 0) {
        up += mul_up(w, xhi[c]);
        down_neg += mul_up(-w, xlo[c]);
      } else if (w < 0) {
        up += mul_up(w, xlo[c]);
        down_neg += mul_up(-w, xhi[c]);
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
    const RowMajor& W = m.w[j];
    rho_hi = Eigen::VectorXd::Zero(W.cols());
    rho_neg = Eigen::VectorXd::Zero(W.cols());
    for (Eigen::Index i = 0; i < W.rows(); ++i) {
      const double n = nu[i];
      if (n == 0.0) continue;
      sum += mul_up(n, m.b[j][i]);
      const double* row = W.row(i).data();
      double* hi = rho_hi.data();
      double* neg = rho_neg.data();
      const double mn = -n;
      for (Eigen::Index c = 0; c < W.cols(); ++c) {
        hi[c] += n * row[c];
        neg[c] += mn * row[c];
      }
    }
    if (j == 0) {
      for (Eigen::Index c = 0; c < W.cols(); ++c) {
        const double rh = rho_hi[c], rl = -rho_neg[c];
        sum += max_up(max_up(mul_up(rh, box.upper[c]), mul_up(rh, box.lower[c])),
                      max_up(mul_up(rl, box.upper[c]), mul_up(rl, box.lower[c])));
      }
      break;
    }
    const Eigen::VectorXd& l = B.lo[j - 1];
    const Eigen::VectorXd& u = B.hi[j - 1];
    Eigen::VectorXd next = Eigen::VectorXd::Zero(W.cols());
    if (given) {
      const SparseVector& s = (*given)[j - 1];
      for (std::size_t q = 0; q < s.index.size(); ++q) next[s.index[q]] = s.value[q];
    } else {
      for (Eigen::Index c = 0; c < W.cols(); ++c) {
        const double r = rho_hi[c];
        if (l[c] >= 0) next[c] = r;
        else if (u[c] <= 0) next[c] = 0.0;
        else if (r >= 0) next[c] = std::isfinite(l[c]) && std::isfinite(u[c]) ? r * (u[c] / (u[c] - l[c])) : r;
        else next[c] = u[c] >= -l[c] ? r : 0.0;
      }
    }
    for (Eigen::Index c = 0; c < W.cols(); ++c) {
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
    if (!empty(nb, w.k)) propagate(m_, c_.box, nb, changed_from, w.k, true);
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
      if (!(v <= w.target))
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
      Bounds g = unbounded(m_);
      propagate(m_, point, g, 0, m_.hidden() - 1, false);  // interval arithmetic at one point
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

Model read_model(const Network& network) {
  Model m;
  if (network.layers.empty()) throw InputError("model: no layers");
  m.inputs = network.layers[0].inputs();
  for (std::size_t k = 0; k < network.layers.size(); ++k) {
    const AffineLayer& l = network.layers[k];
    // Only dense affine layers: the checker refuses what it does not know.
    if (!l.is_dense())
      throw InputError(fmt::format("model: layer {}: a structured layer (convolution, pooling, ...): the checker "
                                   "supports dense affine layers only", k));
    if (l.bias.size() != l.outputs() || (k > 0 && l.inputs() != network.layers[k - 1].outputs()))
      throw InputError(fmt::format("model: layer {}: not a dense affine layer the checker supports", k));
    if (!l.weights.allFinite() || !l.bias.allFinite())
      throw InputError(fmt::format("model: layer {}: a weight or bias is not finite", k));
    if (k + 1 < network.layers.size()) {
      m.w.emplace_back(l.weights);
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

CheckSummary check(const Network& network, const Certificate& cert) {
  const auto start = std::chrono::steady_clock::now();
  const Model m = read_model(network);
  check_header(network, cert);
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
      }
    } else if (!cert.verdicts.empty()) {
      throw InputError("certificate: verdicts for a model without hidden layers");
    }
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return summary;
}

void check_compressed(const Network& network, const Certificate& cert, const Network& compressed,
                      CheckSummary& summary) {
  if (!cert.compress) throw InputError("certificate: --compressed needs a compress certificate");
  const CompressClaims& cc = *cert.compress;
  const std::string d = digest(compressed);
  if (cc.output_digest != d)
    throw CheckFailure(fmt::format("compress: the compressed model is not the one this certificate was written for "
                                   "(output_digest {}, this model's is {})", cc.output_digest, d));
  summary.compressed_checked = true;
  if (!cc.deletions_only) return;
  // Rebuild: delete the units whose fate is inactive or other, exactly.
  const std::size_t H = network.hidden_layers();
  std::vector<std::vector<Eigen::Index>> kept(H);
  for (std::size_t k = 0; k < H; ++k)
    for (Eigen::Index i = 0; i < network.layers[k].outputs(); ++i)
      if (cc.fates[k][static_cast<std::size_t>(i)] == 'k') kept[k].push_back(i);
      else if (cc.fates[k][static_cast<std::size_t>(i)] == 'f')
        throw CheckFailure(fmt::format("compress: layer {} unit {} is folded, but the certificate says the model only deletes units", k, i));
  // A unit of fate "other" must have zero outgoing weights to the kept units of the next layer.
  for (std::size_t k = 0; k < H; ++k)
    for (Eigen::Index i = 0; i < network.layers[k].outputs(); ++i) {
      if (cc.fates[k][static_cast<std::size_t>(i)] != 'o') continue;
      const AffineLayer& next = network.layers[k + 1];
      auto rows = k + 1 < H ? kept[k + 1] : std::vector<Eigen::Index>{};
      if (k + 1 >= H)
        for (Eigen::Index r = 0; r < next.outputs(); ++r) rows.push_back(r);
      for (Eigen::Index r : rows)
        if (next.weights(r, i) != 0.0)
          throw CheckFailure(fmt::format("compress: layer {} unit {} was deleted as having no outgoing weights, but its "
                                         "weight to unit {} of the next layer is {}", k, i, r, num(next.weights(r, i))));
    }
  if (compressed.layers.size() != network.layers.size())
    throw CheckFailure(fmt::format("compress: the compressed model has {} layers; deleting the certified units leaves {}",
                                   compressed.layers.size(), network.layers.size()));
  const bool f32 = compressed.input.type == ElementType::float32 || compressed.output.type == ElementType::float32;
  auto stored = [&](double x) { return f32 ? static_cast<double>(static_cast<float>(x)) : x; };
  for (std::size_t k = 0; k < network.layers.size(); ++k) {
    std::vector<Eigen::Index> rows, cols;
    if (k < H) rows = kept[k];
    else for (Eigen::Index r = 0; r < network.layers[k].outputs(); ++r) rows.push_back(r);
    if (k == 0) for (Eigen::Index c = 0; c < network.layers[0].inputs(); ++c) cols.push_back(c);
    else cols = kept[k - 1];
    const AffineLayer& a = network.layers[k];
    const AffineLayer& b = compressed.layers[k];
    if (b.outputs() != static_cast<Eigen::Index>(rows.size()) || b.inputs() != static_cast<Eigen::Index>(cols.size()))
      throw CheckFailure(fmt::format("compress: layer {} of the compressed model is {}x{}; the certified deletions give {}x{}",
                                     k, b.outputs(), b.inputs(), rows.size(), cols.size()));
    for (std::size_t r = 0; r < rows.size(); ++r) {
      if (stored(a.bias[rows[r]]) != b.bias[static_cast<Eigen::Index>(r)])
        throw CheckFailure(fmt::format("compress: layer {} bias {} is {}; the original's is {}", k, r,
                                       num(b.bias[static_cast<Eigen::Index>(r)]), num(a.bias[rows[r]])));
      for (std::size_t c = 0; c < cols.size(); ++c)
        if (stored(a.weights(rows[r], cols[c])) != b.weights(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c)))
          throw CheckFailure(fmt::format("compress: layer {} weight ({}, {}) is {}; the original's is {}", k, r, c,
                                         num(b.weights(static_cast<Eigen::Index>(r), static_cast<Eigen::Index>(c))),
                                         num(a.weights(rows[r], cols[c]))));
    }
  }
  summary.compressed_rederived = true;
}

}  // namespace leo::cert
