#include "leo/bounds/alpha.hpp"

#include <cmath>
#include <stdexcept>

#include "leo/bounds/backsub.hpp"
#include "leo/bounds/driver.hpp"
#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/util/progress.hpp"
#include "leo/util/error.hpp"

namespace leo {

std::vector<std::vector<bool>> all_units(const Network& net) {
  std::vector<std::vector<bool>> t;
  for (const auto& layer : net.layers) t.emplace_back(static_cast<std::size_t>(layer.outputs()), true);
  return t;
}

namespace {

// Relaxation data of one earlier layer j (units of g_j).
struct Relax {
  Eigen::ArrayXd upper_slope;  // s = u/(u-l) unstable, 1 active, 0 inactive
  Eigen::ArrayXd intercept;    // -s l for unstable, else 0
  Eigen::Array<bool, Eigen::Dynamic, 1> unstable, active;
};

Relax relax_of(const Bounds& b) {
  const Eigen::Index n = b.lower.size();
  Relax r{Eigen::ArrayXd::Zero(n), Eigen::ArrayXd::Zero(n), Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(n, false),
          Eigen::Array<bool, Eigen::Dynamic, 1>::Constant(n, false)};
  for (Eigen::Index i = 0; i < n; ++i) {
    const double l = b.lower[i], u = b.upper[i];
    if (l >= 0) {
      r.active[i] = true;
      r.upper_slope[i] = 1.0;
    } else if (u > 0) {
      r.unstable[i] = true;
      if (std::isfinite(l) && std::isfinite(u)) {
        r.upper_slope[i] = u / (u - l);
        r.intercept[i] = -r.upper_slope[i] * l;
      } else {
        r.upper_slope[i] = 1.0;
        r.intercept[i] = std::numeric_limits<double>::infinity();
      }
    }
  }
  return r;
}

// Optimises the slopes for objective rows A on layer k and returns sound upper bounds.
Eigen::VectorXd optimise(const Network& net, const Box& box, const NetworkBounds& bounds, std::size_t k,
                         const Eigen::MatrixXd& A, const AlphaOptions& options, const Deadline& deadline,
                         bool hidden) {
  const Eigen::Index r = A.rows();
  const Eigen::Index m = r / 2;
  std::vector<Relax> relax;
  std::vector<Eigen::MatrixXd> alpha, best_alpha, adam_m, adam_v;
  for (std::size_t j = 0; j < k; ++j) {
    relax.push_back(relax_of(bounds[j]));
    alpha.push_back(backsub::adaptive_alpha(bounds[j], r));
    adam_m.push_back(Eigen::MatrixXd::Zero(r, bounds[j].lower.size()));
    adam_v.push_back(Eigen::MatrixXd::Zero(r, bounds[j].lower.size()));
  }
  best_alpha = alpha;
  Eigen::VectorXd best = Eigen::VectorXd::Constant(r, std::numeric_limits<double>::infinity());
  const Eigen::ArrayXd hi = box.upper.array(), lo = box.lower.array();
  std::vector<Eigen::MatrixXd> R(k + 1);  // R[j]: coefficient of x_j
  std::vector<Eigen::MatrixXd> S(k);      // slopes used for layer j
  const double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  for (int it = 0; it <= options.iterations; ++it) {
    // Forward: the CROWN bound for the current slopes.
    Eigen::VectorXd c = A * net.layers[k].bias;
    R[k] = net.layers[k].transpose_multiply_rows(A);
    for (std::size_t jj = k; jj-- > 0;) {
      const Relax& rx = relax[jj];
      const Eigen::MatrixXd& P = R[jj + 1];
      S[jj].resize(r, P.cols());
      for (Eigen::Index i = 0; i < P.cols(); ++i)
        for (Eigen::Index q = 0; q < r; ++q) {
          const double p = P(q, i);
          S[jj](q, i) = rx.unstable[i] ? (p >= 0 ? rx.upper_slope[i] : alpha[jj](q, i)) : rx.upper_slope[i];
        }
      Eigen::MatrixXd nu = P.cwiseProduct(S[jj]);
      c += P.cwiseMax(0.0) * rx.intercept.matrix() + nu * net.layers[jj].bias;
      R[jj] = net.layers[jj].transpose_multiply_rows(nu);
    }
    c += R[0].cwiseMax(0.0) * box.upper + R[0].cwiseMin(0.0) * box.lower;
    for (Eigen::Index q = 0; q < r; ++q)
      if (c[q] < best[q]) {
        best[q] = c[q];
        for (std::size_t j = 0; j < k; ++j) best_alpha[j].row(q) = alpha[j].row(q);
      }
    if (it == options.iterations || k == 0 || deadline.expired()) break;
    if (hidden && options.stop_when_settled) {
      bool settled = true;
      for (Eigen::Index q = 0; q < m && settled; ++q) settled = best[q] < 0 || best[m + q] < 0;
      if (settled) break;
    }
    // Backward: gradient of c with respect to the slopes.
    Eigen::MatrixXd G(r, R[0].cols());  // dB/dR[0]
    for (Eigen::Index i = 0; i < G.cols(); ++i)
      for (Eigen::Index q = 0; q < r; ++q) G(q, i) = R[0](q, i) > 0 ? hi[i] : lo[i];
    const double t = it + 1;
    const double c1 = 1 - std::pow(beta1, t), c2 = 1 - std::pow(beta2, t);  // Adam's bias corrections
    for (std::size_t j = 0; j < k; ++j) {
      const Relax& rx = relax[j];
      Eigen::MatrixXd Gnu = net.layers[j].multiply_rows(G);
      Gnu.rowwise() += net.layers[j].bias.transpose();
      const Eigen::MatrixXd& P = R[j + 1];
      for (Eigen::Index i = 0; i < P.cols(); ++i) {
        if (!rx.unstable[i]) continue;
        for (Eigen::Index q = 0; q < r; ++q) {
          if (P(q, i) >= 0) continue;
          const double g = Gnu(q, i) * P(q, i);
          double& mm = adam_m[j](q, i);
          double& vv = adam_v[j](q, i);
          mm = beta1 * mm + (1 - beta1) * g;
          vv = beta2 * vv + (1 - beta2) * g * g;
          const double mhat = mm / c1, vhat = vv / c2;
          double& a = alpha[j](q, i);
          a = std::clamp(a - options.learning_rate * mhat / (std::sqrt(vhat) + eps), 0.0, 1.0);
        }
      }
      if (j + 1 < k) {
        G = Gnu.cwiseProduct(S[j]);
        for (Eigen::Index i = 0; i < P.cols(); ++i)
          if (rx.unstable[i])
            for (Eigen::Index q = 0; q < r; ++q)
              if (P(q, i) >= 0) G(q, i) += rx.intercept[i];
      }
    }
  }
  return backsub::sound_upper(net, box, bounds, k, A, [&](std::size_t j, const Eigen::MatrixXd& rho) {
    return backsub::crown_nu(bounds[j], rho, &best_alpha[j]);
  });
}

}  // namespace

void alpha_bounds(const Network& net, const Box& box, NetworkBounds& bounds,
                  const std::vector<std::vector<bool>>& targets, const AlphaOptions& options,
                  const Deadline& deadline) {
  if (bounds.empty()) {
    bounds = interval_bounds(net, box);
    crown_bounds(net, box, bounds, deadline);
  }
  if (bounds.size() != net.layers.size()) throw Error(ExitCode::internal, "internal error: alpha_bounds: bounds do not match the network");
  Stopwatch watch;
  BatchLoop loop;
  loop.batch_rows = options.batch_rows;
  loop.selection.targets = &targets;
  loop.all_layers = true;  // slopes and moments of every earlier layer
  const BatchLoopResult r = bound_in_batches(
      net, bounds, loop, deadline,
      [&](std::size_t k, const Eigen::MatrixXd& A) {
        return optimise(net, box, bounds, k, A, options, deadline, k + 1 < net.layers.size());
      },
      [&](std::size_t k, std::size_t units) {
        Progress::global().report("alpha", "layer {}: {} units optimised ({:.2f}s)", k, units, watch.seconds());
      });
  const Eigen::Index tightened = r.tightened, optimised = r.bounded;
  if (r.stopped) {
    Progress::global().report("alpha", "deadline reached at layer {}; {} units tightened ({:.2f}s)", r.stopped_at,
                              tightened, watch.seconds());
    return;
  }
  auto c = count_stable(bounds);
  Progress::global().report("alpha", "{} of {} units tightened; {} stably active, {} stably inactive, {} unstable ({:.2f}s)",
                            tightened, optimised, c.active, c.inactive, c.unstable, watch.seconds());
}

}  // namespace leo
