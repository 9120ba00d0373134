#include "leo/bounds/beta.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "leo/bounds/backsub.hpp"
#include "leo/util/error.hpp"

namespace leo {
namespace {

enum class Kind : unsigned char { unstable, active, inactive };

// The relaxation of one layer j < k in the node.
struct Layer {
  std::vector<Kind> kind;
  Eigen::ArrayXd chord;      // s = u/(u-l) (unstable)
  Eigen::ArrayXd intercept;  // -s l (unstable)
  Eigen::ArrayXd lower, upper;
};

Layer relax(const Bounds& b) {
  const Eigen::Index n = b.lower.size();
  Layer r{std::vector<Kind>(static_cast<std::size_t>(n), Kind::inactive), Eigen::ArrayXd::Zero(n),
          Eigen::ArrayXd::Zero(n), b.lower.array(), b.upper.array()};
  for (Eigen::Index i = 0; i < n; ++i) {
    const double l = b.lower[i], u = b.upper[i];
    if (l >= 0) {
      r.kind[static_cast<std::size_t>(i)] = Kind::active;
    } else if (u > 0) {
      r.kind[static_cast<std::size_t>(i)] = Kind::unstable;
      r.chord[i] = u / (u - l);
      r.intercept[i] = -r.chord[i] * l;
    }
  }
  return r;
}

// nu_j for the row P = rho_{j+1} and the parameters; the constant terms of the
// stable units' beta (-beta l, beta u) and of the chords are added to *c when given.
Eigen::MatrixXd choose(const Layer& r, const Eigen::MatrixXd& P, const Eigen::VectorXd& alpha,
                       const Eigen::VectorXd& beta, double* c) {
  Eigen::MatrixXd nu(1, P.cols());
  for (Eigen::Index i = 0; i < P.cols(); ++i) {
    const double p = P(0, i);
    switch (r.kind[static_cast<std::size_t>(i)]) {
      case Kind::unstable:
        if (p >= 0) {
          nu(0, i) = r.chord[i] * p;
          if (c) *c += p * r.intercept[i];
        } else {
          nu(0, i) = alpha[i] * p;
        }
        break;
      case Kind::active:
        nu(0, i) = p + beta[i];
        if (c) *c -= beta[i] * r.lower[i];
        break;
      case Kind::inactive:
        nu(0, i) = -beta[i];
        if (c) *c += beta[i] * r.upper[i];
        break;
    }
  }
  return nu;
}

struct Adam {
  Eigen::VectorXd m, v;
  explicit Adam(Eigen::Index n) : m(Eigen::VectorXd::Zero(n)), v(Eigen::VectorXd::Zero(n)) {}
  static constexpr double b1 = 0.9, b2 = 0.999, eps = 1e-8;
  // The bias corrections 1 - b1^t and 1 - b2^t of step t (t >= 1).
  struct Step {
    double c1, c2;
    explicit Step(double t) : c1(1 - std::pow(b1, t)), c2(1 - std::pow(b2, t)) {}
  };
  // One projected step (x >= 0, and x <= 1 when `unit`) against gradient g.
  void step(Eigen::Index i, double g, const Step& t, double rate, bool unit, double& x) {
    m[i] = b1 * m[i] + (1 - b1) * g;
    v[i] = b2 * v[i] + (1 - b2) * g * g;
    const double mhat = m[i] / t.c1, vhat = v[i] / t.c2;
    x = std::max(0.0, x - rate * mhat / (std::sqrt(vhat) + eps));
    if (unit) x = std::min(x, 1.0);
  }
};

// BetaResult::split_off / split_on for layer 0 with relaxation r: P the
// coefficients of relu(g_0) (rho_1), nu the multipliers chosen from them,
// rho0 = nu W_0 the input's coefficients, `bound` the parent's bound. For unit
// i the child's multiplier is P (g >= 0; beta 0) or 0 (g <= 0), so its bound
// moves by (new - old) b_0i, minus the chord's intercept term of a positive P,
// plus the change of max_box rho0.x along row i of W_0.
void split_children(const AffineLayer& layer, const Box& box, const Layer& r, const Eigen::VectorXd& P,
                    const Eigen::VectorXd& nu, const Eigen::VectorXd& rho0, double bound, Eigen::VectorXd& off,
                    Eigen::VectorXd& on) {
  const Eigen::Index n = P.size();
  off = Eigen::VectorXd::Constant(n, std::numeric_limits<double>::quiet_NaN());
  on = off;
  auto box_term = [&](Eigen::Index f, double c) { return c > 0 ? c * box.upper[f] : c * box.lower[f]; };
  for (Eigen::Index i = 0; i < n; ++i) {
    if (r.kind[static_cast<std::size_t>(i)] != Kind::unstable) continue;
    const double p = P[i];
    const double intercept = p >= 0 ? p * r.intercept[i] : 0.0;
    double child[2];  // off, on
    const double target[2] = {0.0, p};
    for (int c = 0; c < 2; ++c) {
      const double delta = target[c] - nu[i];
      double value = bound - intercept + delta * layer.bias[i];
      if (delta != 0.0 && layer.is_dense()) {
        for (Eigen::Index f = 0; f < rho0.size(); ++f) {
          const double w = layer.weights(i, f);
          if (w != 0.0) value += box_term(f, rho0[f] + delta * w) - box_term(f, rho0[f]);
        }
      } else if (delta != 0.0) {
        for (const auto& [f, w] : layer.row(i)) value += box_term(f, rho0[f] + delta * w) - box_term(f, rho0[f]);
      }
      child[c] = value;
    }
    off[i] = child[0];
    on[i] = child[1];
  }
}

}  // namespace

BetaResult beta_maximise(const Network& net, const Box& box, const NetworkBounds& bounds, std::size_t k,
                         const Eigen::VectorXd& a, const BetaState* warm, const BetaOptions& options,
                         const Deadline& deadline) {
  if (k >= net.layers.size() || a.size() != net.layers[k].outputs() || bounds.size() < k)
    throw Error(ExitCode::internal, "internal error: beta_maximise: objective or bounds do not match the network");
  std::vector<Layer> layers;
  BetaState st;
  bool finite = true;
  for (std::size_t j = 0; j < k; ++j) {
    layers.push_back(relax(bounds[j]));
    const Eigen::Index n = bounds[j].lower.size();
    finite = finite && bounds[j].lower.allFinite() && bounds[j].upper.allFinite();
    Eigen::VectorXd al(n);
    for (Eigen::Index i = 0; i < n; ++i) al[i] = bounds[j].upper[i] >= -bounds[j].lower[i] ? 1.0 : 0.0;
    Eigen::VectorXd be = Eigen::VectorXd::Zero(n);
    if (warm && j < warm->alpha.size() && warm->alpha[j].size() == n) al = warm->alpha[j];
    if (warm && j < warm->beta.size() && warm->beta[j].size() == n) be = warm->beta[j];
    st.alpha.push_back(std::move(al));
    st.beta.push_back(std::move(be));
  }
  BetaResult out;
  out.state = st;
  const Eigen::MatrixXd A = a.transpose();
  const int iterations = finite ? options.iterations : 0;
  std::vector<Adam> adam_a, adam_b;
  for (std::size_t j = 0; j < k; ++j) {
    adam_a.emplace_back(bounds[j].lower.size());
    adam_b.emplace_back(bounds[j].lower.size());
  }
  std::vector<Eigen::MatrixXd> R(k + 1);
  double best = std::numeric_limits<double>::infinity();
  for (int it = 0; it <= iterations; ++it) {
    // Forward: the bound for the current parameters.
    double c = a.dot(net.layers[k].bias);
    R[k] = net.layers[k].transpose_multiply_rows(A);
    for (std::size_t jj = k; jj-- > 0;) {
      Eigen::MatrixXd nu = choose(layers[jj], R[jj + 1], st.alpha[jj], st.beta[jj], &c);
      c += (nu * net.layers[jj].bias)(0, 0);
      R[jj] = net.layers[jj].transpose_multiply_rows(nu);
    }
    for (Eigen::Index i = 0; i < R[0].cols(); ++i)
      c += R[0](0, i) > 0 ? R[0](0, i) * box.upper[i] : R[0](0, i) * box.lower[i];
    ++out.iterations;
    if (c < best) {
      best = c;
      out.state = st;
    }
    if (it == iterations || k == 0 || c < options.stop_below || !std::isfinite(c) || deadline.expired()) break;
    // Backward: gradient of c with respect to alpha and beta, and one Adam step.
    Eigen::MatrixXd G(1, R[0].cols());  // dc/dR[0]
    for (Eigen::Index i = 0; i < G.cols(); ++i) G(0, i) = R[0](0, i) > 0 ? box.upper[i] : box.lower[i];
    const Adam::Step t(it + 1);
    for (std::size_t j = 0; j < k; ++j) {
      const Layer& rx = layers[j];
      Eigen::MatrixXd Gnu = net.layers[j].multiply_rows(G);  // dc/dnu_j
      Gnu.row(0) += net.layers[j].bias.transpose();
      const Eigen::MatrixXd& P = R[j + 1];
      Eigen::MatrixXd next(1, P.cols());  // dc/dR[j+1]
      for (Eigen::Index i = 0; i < P.cols(); ++i) {
        const double p = P(0, i), gn = Gnu(0, i);
        switch (rx.kind[static_cast<std::size_t>(i)]) {
          case Kind::unstable:
            if (p >= 0) {
              next(0, i) = gn * rx.chord[i] + rx.intercept[i];
            } else {
              next(0, i) = gn * st.alpha[j][i];
              adam_a[j].step(i, gn * p, t, options.alpha_rate, true, st.alpha[j][i]);
            }
            break;
          case Kind::active:
            next(0, i) = gn;
            adam_b[j].step(i, gn - rx.lower[i], t, options.beta_rate, false, st.beta[j][i]);
            break;
          case Kind::inactive:
            next(0, i) = 0.0;
            adam_b[j].step(i, rx.upper[i] - gn, t, options.beta_rate, false, st.beta[j][i]);
            break;
        }
      }
      G = std::move(next);
    }
  }
  // The sound bound of the best parameters: weak duality with outward rounding.
  out.nu.assign(k, Eigen::VectorXd());
  Eigen::MatrixXd rho0, P0;
  const Eigen::VectorXd v = backsub::sound_upper(net, box, bounds, k, A, [&](std::size_t j, const Eigen::MatrixXd& rho) {
    Eigen::MatrixXd nu = choose(layers[j], rho, out.state.alpha[j], out.state.beta[j], nullptr);
    out.nu[j] = nu.row(0).transpose();
    if (j == 0) {
      rho0 = net.layers[0].transpose_multiply_rows(nu);
      P0 = rho;
    }
    return nu;
  });
  out.bound = std::isnan(v[0]) ? std::numeric_limits<double>::infinity() : v[0];
  if (k == 0) rho0 = net.layers[0].transpose_multiply_rows(A);
  if (k >= 1 && std::isfinite(out.bound) && P0.cols() == bounds[0].lower.size())
    split_children(net.layers[0], box, layers[0], P0.row(0).transpose(), out.nu[0], rho0.row(0).transpose(),
                   out.bound, out.split_off, out.split_on);
  out.input = box.lower;
  for (Eigen::Index i = 0; i < rho0.cols(); ++i)
    if (rho0(0, i) > 0) out.input[i] = box.upper[i];
  return out;
}

}  // namespace leo
