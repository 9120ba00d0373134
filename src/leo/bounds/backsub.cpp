#include "leo/bounds/backsub.hpp"

#include <cmath>
#include <limits>
#include <stdexcept>

#include "leo/bounds/rounding.hpp"
#include "leo/util/error.hpp"

namespace leo::backsub {

namespace {

using rounding::down;
using rounding::up;

// Upper bound of the exact product a * b; 0 when either is 0 (also for infinities).
double mul_up(double a, double b) {
  if (a == 0.0 || b == 0.0) return 0.0;
  return rounding::sanitize_upper(up(a * b));
}

// max that keeps a NaN (std::max may drop it, which would lose an unknown term).
double max_nan(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<double>::quiet_NaN();
  return std::max(a, b);
}

// max over g in [l, u] of (rho relu(g) - nu g), rho <= rho_hi, as an upper bound.
double relu_term(double rho_hi, double nu, double l, double u) {
  double d = up(rho_hi - nu);  // >= rho - nu
  auto at = [&](double g) { return g >= 0 ? mul_up(d, g) : mul_up(-nu, g); };
  double m = max_nan(at(l), at(u));
  if (l < 0 && u > 0) m = max_nan(m, 0.0);
  return m;
}

thread_local const Observer* observer = nullptr;

}  // namespace

ObserverScope::ObserverScope(const Observer* o) : previous_(observer) { observer = o; }
ObserverScope::~ObserverScope() { observer = previous_; }

Eigen::VectorXd sound_upper(const Network& net, const Box& box, const NetworkBounds& bounds, std::size_t k,
                            const Eigen::MatrixXd& A, const Chooser& choose) {
  if (k >= net.layers.size() || A.cols() != net.layers[k].outputs())
    throw Error(ExitCode::internal, "internal error: backsub: objective does not match the layer");
  const Eigen::Index r = A.rows();
  std::vector<rounding::UpperSum> sums(static_cast<std::size_t>(r));
  Eigen::MatrixXd nu = A;  // nu_k
  std::vector<Eigen::MatrixXd> used;  // nu_j for j < k, kept for an observer only
  if (observer) used.resize(k);
  for (std::size_t step = 0;; ++step) {
    const std::size_t j = k - step;  // nu holds nu_j
    const AffineLayer& layer = net.layers[j];
    for (Eigen::Index row = 0; row < r; ++row)
      for (Eigen::Index i = 0; i < nu.cols(); ++i)
        if (nu(row, i) != 0.0) sums[row].add_product(nu(row, i), layer.bias[i]);
    // rho_j = nu_j W_j and its error bound.
    // (The layer's products: a convolution is never expanded, network/network.hpp.)
    Eigen::MatrixXd rho = layer.transpose_multiply_rows(nu);
    Eigen::ArrayXXd err =
        rounding::error(layer.terms_per_input(), layer.transpose_multiply_rows(nu.cwiseAbs(), Weights::absolute).array());
    if (j == 0) {
      for (Eigen::Index row = 0; row < r; ++row)
        for (Eigen::Index i = 0; i < rho.cols(); ++i) {
          double lo = down(rho(row, i) - err(row, i)), hi = up(rho(row, i) + err(row, i));
          double t = max_nan(max_nan(mul_up(hi, box.upper[i]), mul_up(lo, box.upper[i])),
                             max_nan(mul_up(hi, box.lower[i]), mul_up(lo, box.lower[i])));
          sums[row].add(t);
        }
      break;
    }
    const Bounds& b = bounds[j - 1];
    Eigen::MatrixXd next = choose(j - 1, rho);
    if (next.rows() != r || next.cols() != rho.cols()) throw Error(ExitCode::internal, "internal error: backsub: chooser returned a bad shape");
    if (observer) used[j - 1] = next;
    for (Eigen::Index row = 0; row < r; ++row)
      for (Eigen::Index i = 0; i < rho.cols(); ++i) {
        double hi = up(rho(row, i) + err(row, i));
        sums[row].add(relu_term(hi, next(row, i), b.lower[i], b.upper[i]));
      }
    nu = std::move(next);
  }
  Eigen::VectorXd out(r);
  for (Eigen::Index row = 0; row < r; ++row) out[row] = sums[row].value();
  if (observer) (*observer)(k, A, used, out);
  return out;
}

Eigen::MatrixXd adaptive_alpha(const Bounds& b, Eigen::Index rows) {
  Eigen::MatrixXd a(rows, b.lower.size());
  for (Eigen::Index i = 0; i < b.lower.size(); ++i) a.col(i).setConstant(b.upper[i] >= -b.lower[i] ? 1.0 : 0.0);
  return a;
}

Eigen::MatrixXd crown_nu(const Bounds& b, const Eigen::MatrixXd& rho, const Eigen::MatrixXd* alpha) {
  Eigen::MatrixXd nu(rho.rows(), rho.cols());
  for (Eigen::Index i = 0; i < rho.cols(); ++i) {
    const double l = b.lower[i], u = b.upper[i];
    if (l >= 0) {
      nu.col(i) = rho.col(i);
    } else if (u <= 0) {
      nu.col(i).setZero();
    } else {
      const double s = std::isfinite(l) && std::isfinite(u) ? u / (u - l) : 1.0;
      const double ada = u >= -l ? 1.0 : 0.0;
      for (Eigen::Index row = 0; row < rho.rows(); ++row) {
        double p = rho(row, i);
        nu(row, i) = p >= 0 ? p * s : p * (alpha ? (*alpha)(row, i) : ada);
      }
    }
  }
  return nu;
}

Eigen::MatrixXd objective_rows(Eigen::Index n, const std::vector<Eigen::Index>& units) {
  const Eigen::Index m = static_cast<Eigen::Index>(units.size());
  Eigen::MatrixXd A = Eigen::MatrixXd::Zero(2 * m, n);
  for (Eigen::Index q = 0; q < m; ++q) {
    A(q, units[q]) = 1.0;
    A(m + q, units[q]) = -1.0;
  }
  return A;
}

}  // namespace leo::backsub
