#include "leo/stability/certify.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <memory>

#include "leo/util/progress.hpp"

namespace leo {

CertificateRecorder::CertificateRecorder() {
  observer_ = [this](std::size_t k, const Eigen::MatrixXd& A, const std::vector<Eigen::MatrixXd>& nu,
                     const Eigen::VectorXd& bound) {
    if (k + 1 >= before_.size()) return;  // output layer: no verdicts there
    for (Eigen::Index r = 0; r < A.rows(); ++r) {
      // Objective rows of one unit: +e_i (upper) or -e_i (lower).
      Eigen::Index unit = -1;
      int nonzeros = 0;
      for (Eigen::Index i = 0; i < A.cols(); ++i)
        if (A(r, i) != 0.0) ++nonzeros, unit = i;
      if (nonzeros != 1 || std::abs(A(r, unit)) != 1.0 || !std::isfinite(bound[r])) continue;
      const int side = A(r, unit) > 0 ? 0 : 1;
      auto key = std::make_tuple(k, unit, side);
      auto it = seen_.find(key);
      if (it != seen_.end() && it->second.value <= bound[r]) continue;
      Seen s{bound[r], {}};
      for (std::size_t j = 0; j < nu.size(); ++j) s.nu.push_back(cert::sparse(nu[j].row(r).transpose()));
      seen_[key] = std::move(s);
    }
  };
}

void CertificateRecorder::propagate(bool crown) { steps_.push_back(cert::Propagate{crown}); }

void CertificateRecorder::begin_linear(const NetworkBounds& before) {
  before_ = before;
  seen_.clear();
  scope_ = std::make_unique<backsub::ObserverScope>(&observer_);
}

void CertificateRecorder::end_linear(const NetworkBounds& after) {
  scope_.reset();
  cert::Linear step;
  for (std::size_t k = 0; k + 1 < after.size() && k < before_.size(); ++k)
    for (Eigen::Index i = 0; i < after[k].lower.size(); ++i)
      for (int side = 0; side < 2; ++side) {
        const double now = side == 0 ? after[k].upper[i] : after[k].lower[i];
        const double was = side == 0 ? before_[k].upper[i] : before_[k].lower[i];
        if (side == 0 ? !(now < was) : !(now > was)) continue;
        auto it = seen_.find(std::make_tuple(k, i, side));
        if (it == seen_.end()) {
          ++missing_;
          continue;
        }
        cert::LinearClaim c;
        c.layer = static_cast<int>(k);
        c.unit = static_cast<int>(i);
        c.side = side == 0 ? cert::Side::upper : cert::Side::lower;
        // The bound the multipliers give (never tighter than what the stage kept).
        c.bound = side == 0 ? std::max(now, it->second.value) : std::min(now, -it->second.value);
        c.nu = std::move(it->second.nu);
        step.claims.push_back(std::move(c));
      }
  seen_.clear();
  before_.clear();
  if (!step.claims.empty()) steps_.push_back(std::move(step));
}

void CertificateRecorder::input_split(cert::InputSplit tree) {
  if (!tree.nodes.empty()) steps_.push_back(std::move(tree));
}

void CertificateRecorder::relu_split(cert::ReluSplit claim) { steps_.push_back(std::move(claim)); }

cert::Certificate make_certificate(const Network& network, const Analysis& analysis, const CertificateRecorder& recorder) {
  cert::Certificate c;
  c.command = "analyze";
  c.leo_version = LEO_VERSION;
  c.model_digest = cert::digest(network);
  c.box = analysis.domain.box;
  c.domain_digest = cert::digest(c.box);
  c.steps = recorder.steps();
  for (const auto& layer : analysis.layers) {
    std::string v;
    for (const UnitVerdict& u : layer)
      v.push_back(u.status == Status::active ? 'a' : u.status == Status::inactive ? 'i' : u.status == Status::unstable ? 'u' : '?');
    c.verdicts.push_back(std::move(v));
  }
  // One witness of each sign per unstable unit: of those that show it, the one
  // with the largest |g| (re-evaluated here in double), so that the checker's
  // interval evaluation confirms the sign with the widest margin.
  const std::size_t H = analysis.layers.size();
  std::vector<std::vector<std::array<int, 2>>> best(H);
  std::vector<std::vector<std::array<double, 2>>> margin(H);
  for (std::size_t h = 0; h < H; ++h) {
    best[h].assign(analysis.layers[h].size(), {-1, -1});
    margin[h].assign(analysis.layers[h].size(), {-1.0, -1.0});
  }
  const auto n = static_cast<Eigen::Index>(analysis.witnesses.size());
  if (n > 0 && H > 0) {
    Eigen::MatrixXd X(network.inputs(), n);
    for (Eigen::Index w = 0; w < n; ++w) X.col(w) = analysis.witnesses[static_cast<std::size_t>(w)].input;
    const std::vector<Eigen::MatrixXd> pre = network.pre_activations(X);
    // A bound on the rounding error of each pre-activation as computed here:
    // e_k = |W_k| e_{k-1} + gamma(n_k + 1) (|W_k| |x_k| + |b_k|) (ReLU is
    // 1-Lipschitz). A sign is kept as a witness only when |g| exceeds 4 e_k,
    // so that the checker's interval evaluation confirms it; a unit left
    // without a witness of each sign is written undecided ('?', no claim).
    std::vector<Eigen::MatrixXd> err(H);
    {
      Eigen::MatrixXd x = X, e = Eigen::MatrixXd::Zero(X.rows(), n);
      for (std::size_t h = 0; h < H; ++h) {
        const AffineLayer& layer = network.layers[h];
        const double gamma = 1.01 * static_cast<double>(layer.terms_per_output() + 1) * 0x1p-53;
        Eigen::MatrixXd m = layer.multiply(x.cwiseAbs(), Weights::absolute);
        m.colwise() += layer.bias.cwiseAbs();
        err[h] = layer.multiply(e, Weights::absolute) + gamma * m;
        x = pre[h].cwiseMax(0.0);
        e = err[h];
      }
    }
    for (Eigen::Index w = 0; w < n; ++w)
      for (const WitnessUnit& u : analysis.witnesses[static_cast<std::size_t>(w)].units) {
        if (u.layer < 0 || static_cast<std::size_t>(u.layer) >= H) continue;
        const auto h = static_cast<std::size_t>(u.layer);
        if (u.unit < 0 || static_cast<std::size_t>(u.unit) >= analysis.layers[h].size()) continue;
        const auto i = static_cast<std::size_t>(u.unit);
        if (analysis.layers[h][i].status != Status::unstable) continue;
        const double g = pre[h](u.unit, w);
        const double m = u.positive ? g : -g;
        if (!(m > 4.0 * err[h](u.unit, w))) continue;
        const int side = u.positive ? 0 : 1;
        if (m > margin[h][i][side]) margin[h][i][side] = m, best[h][i][side] = static_cast<int>(w);
      }
  }
  for (std::size_t h = 0; h < H; ++h)
    for (std::size_t i = 0; i < best[h].size(); ++i)
      if (c.verdicts[h][i] == 'u' && (best[h][i][0] < 0 || best[h][i][1] < 0)) c.verdicts[h][i] = '?';
  std::vector<cert::WitnessPoint> points(static_cast<std::size_t>(n));
  for (std::size_t h = 0; h < H; ++h)
    for (std::size_t i = 0; i < best[h].size(); ++i)
      for (int side = 0; side < 2; ++side)
        if (best[h][i][side] >= 0)
          points[static_cast<std::size_t>(best[h][i][side])].signs.push_back(
              {static_cast<int>(h), static_cast<int>(i), side == 0});
  for (std::size_t w = 0; w < points.size(); ++w) {
    if (points[w].signs.empty()) continue;
    const Eigen::VectorXd& x = analysis.witnesses[w].input;
    points[w].input.assign(x.data(), x.data() + x.size());
    c.witnesses.push_back(std::move(points[w]));
  }
  if (recorder.missing() > 0)
    Progress::global().report("certificate", "warning: {} tightened bounds have no recorded multipliers", recorder.missing());
  return c;
}

}  // namespace leo
