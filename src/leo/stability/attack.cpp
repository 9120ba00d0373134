#include "leo/stability/attack.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <functional>

#include "leo/bounds/backsub.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/stability/evidence.hpp"
#include "leo/util/progress.hpp"

namespace leo {
namespace {

struct Target {
  std::size_t layer;
  Eigen::Index unit;
  double sign;  // +1: drive g above zero, -1: below
};

// The best bounds known to the analysis: interval bounds intersected with the
// verdicts' recorded bounds and their statuses.
NetworkBounds known_bounds(const Network& network, const Analysis& analysis) {
  NetworkBounds bounds = interval_bounds(network, analysis.domain.box);
  for (std::size_t h = 0; h < analysis.layers.size() && h < bounds.size(); ++h)
    for (std::size_t i = 0; i < analysis.layers[h].size(); ++i) {
      const UnitVerdict& v = analysis.layers[h][i];
      auto k = static_cast<Eigen::Index>(i);
      double& l = bounds[h].lower[k];
      double& u = bounds[h].upper[k];
      l = std::max(l, v.lower);
      u = std::min(u, v.upper);
      if (v.status == Status::active) l = std::max(l, 0.0);
      if (v.status == Status::inactive) u = std::min(u, 0.0);
    }
  return bounds;
}

// For each target, the box corner that maximises CROWN's linear upper bound of
// sign * g (back-substitution through the ReLU relaxations of `bounds`): the
// relaxation's guess of where the target's extreme lies. Exact for layer-0
// targets (g is affine in x there). One column per target.
Eigen::MatrixXd relaxation_corners(const Network& network, const Box& box, const NetworkBounds& bounds,
                                   const std::vector<Target>& targets) {
  const Eigen::Index n = box.size();
  Eigen::MatrixXd corners(n, static_cast<Eigen::Index>(targets.size()));
  for (std::size_t first = 0; first < targets.size();) {
    std::size_t end = first;
    while (end < targets.size() && targets[end].layer == targets[first].layer) ++end;
    const std::size_t k = targets[first].layer;
    const auto rows = static_cast<Eigen::Index>(end - first);
    // Rows in chunks: rows x (widest layer) doubles each (a conv layer has thousands of targets).
    Eigen::Index widest = 1;
    for (std::size_t j = 0; j <= k; ++j)
      widest = std::max({widest, network.layers[j].inputs(), network.layers[j].outputs()});
    const Eigen::Index chunk = std::max<Eigen::Index>(1, (Eigen::Index{1} << 23) / widest);
    for (Eigen::Index r0 = 0; r0 < rows; r0 += chunk) {
      const Eigen::Index count = std::min(chunk, rows - r0);
      Eigen::MatrixXd rho = Eigen::MatrixXd::Zero(count, network.layers[k].outputs());
      for (Eigen::Index r = 0; r < count; ++r) rho(r, targets[first + r0 + r].unit) = targets[first + r0 + r].sign;
      rho = network.layers[k].transpose_multiply_rows(rho);  // coefficients of x_k
      for (std::size_t j = k; j-- > 0;) rho = network.layers[j].transpose_multiply_rows(backsub::crown_nu(bounds[j], rho));
      for (Eigen::Index r = 0; r < count; ++r)
        for (Eigen::Index i = 0; i < n; ++i)
          corners(i, static_cast<Eigen::Index>(first) + r0 + r) = rho(r, i) > 0 ? box.upper[i] : box.lower[i];
    }
    first = end;
  }
  return corners;
}

// Where each start of a target begins: fills x (one column).
using StartPoint = std::function<void(std::size_t target, int start, Eigen::Ref<Eigen::VectorXd> x)>;

// One round: `starts` columns per target, `steps` projected sign-gradient
// steps each (step sizes from first_step down to options.last_step).
int attack_round(const Network& network, Analysis& analysis, const std::vector<Target>& targets, int starts,
                 int steps, double first_step, const AttackOptions& options, const Deadline& deadline,
                 const StartPoint& start_point) {
  const Box& box = analysis.domain.box;
  const Eigen::Index n = box.size();
  const Eigen::VectorXd width = box.upper - box.lower;
  const std::int64_t columns = static_cast<std::int64_t>(targets.size()) * starts;
  const int batch = std::max(1, options.batch);
  int decided = 0;
  for (std::int64_t first = 0; first < columns; first += batch) {
    if (deadline.expired()) break;
    const std::int64_t B = std::min<std::int64_t>(batch, columns - first);
    std::vector<const Target*> col_target(static_cast<std::size_t>(B));
    std::vector<bool> live(static_cast<std::size_t>(B), true);
    Eigen::MatrixXd X(n, B);
    std::size_t top = 0;
    bool any_live = false;
    for (std::int64_t c = 0; c < B; ++c) {
      std::int64_t k = first + c;
      const auto t_index = static_cast<std::size_t>(k / starts);
      const Target& t = targets[t_index];
      col_target[static_cast<std::size_t>(c)] = &t;
      live[static_cast<std::size_t>(c)] = needs_witness(analysis, t.layer, t.unit, t.sign > 0);
      any_live = any_live || live[static_cast<std::size_t>(c)];
      top = std::max(top, t.layer);
      if (live[static_cast<std::size_t>(c)]) start_point(t_index, static_cast<int>(k % starts), X.col(c));
      else X.col(c) = box.center();
    }
    if (!any_live) continue;

    std::vector<Eigen::MatrixXd> pre(top + 1);
    Eigen::Index B_live = B;  // columns in X: the live ones after each compaction
    for (int step = 0; step < steps; ++step) {
      if (deadline.expired()) break;
      Progress::global().heartbeat();
      // Forward through the layers up to the highest target layer.
      for (std::size_t h = 0; h <= top; ++h) {
        const AffineLayer& layer = network.layers[h];
        if (h == 0)
          pre[h] = layer.multiply(X);
        else
          pre[h] = layer.multiply(pre[h - 1].cwiseMax(0.0));
        pre[h].colwise() += layer.bias;
      }
      decided += harvest_witnesses(network, X, pre, analysis, Stage::attack);
      Eigen::Index alive = 0;
      for (Eigen::Index c = 0; c < B_live; ++c) {
        auto cc = static_cast<std::size_t>(c);
        if (live[cc]) {
          const Target& t = *col_target[cc];
          live[cc] = needs_witness(analysis, t.layer, t.unit, t.sign > 0);
        }
        if (live[cc]) ++alive;
      }
      if (alive == 0 || step + 1 == steps) break;
      // Drop the columns whose target is settled once they are a quarter of
      // the batch: every product below is over the live columns only.
      if (4 * (B_live - alive) >= B_live) {
        Eigen::Index to = 0;
        top = 0;
        for (Eigen::Index c = 0; c < B_live; ++c) {
          auto cc = static_cast<std::size_t>(c);
          if (!live[cc]) continue;
          if (to != c) {
            X.col(to) = X.col(c);
            for (auto& p : pre) p.col(to) = p.col(c);
          }
          col_target[static_cast<std::size_t>(to)] = col_target[cc];
          live[static_cast<std::size_t>(to)] = true;
          top = std::max(top, col_target[cc]->layer);
          ++to;
        }
        B_live = alive;
        X.conservativeResize(Eigen::NoChange, B_live);
        pre.resize(top + 1);
        for (auto& p : pre) p.conservativeResize(Eigen::NoChange, B_live);
      }

      // Backward: the gradient of sign * g_target w.r.t. the input, per column.
      Eigen::MatrixXd delta = Eigen::MatrixXd::Zero(network.layers[top].outputs(), B_live);
      for (std::size_t h = top + 1; h-- > 0;) {
        if (h < top) {
          Eigen::MatrixXd back = network.layers[h + 1].transpose_multiply(delta);
          delta = back.cwiseProduct((pre[h].array() > 0.0).cast<double>().matrix());
        }
        for (Eigen::Index c = 0; c < B_live; ++c) {
          auto cc = static_cast<std::size_t>(c);
          if (live[cc] && col_target[cc]->layer == h) delta(col_target[cc]->unit, c) += col_target[cc]->sign;
        }
      }
      Eigen::MatrixXd grad = network.layers[0].transpose_multiply(delta);
      double frac = steps > 1 ? static_cast<double>(step) / (steps - 1) : 0.0;
      double size = first_step * std::pow(options.last_step / first_step, frac);
      for (Eigen::Index c = 0; c < B_live; ++c) {
        if (!live[static_cast<std::size_t>(c)]) continue;
        for (Eigen::Index i = 0; i < n; ++i) {
          double gi = grad(i, c);
          if (gi == 0.0) continue;
          double v = X(i, c) + (gi > 0 ? size : -size) * width[i];
          X(i, c) = std::clamp(v, box.lower[i], box.upper[i]);
        }
      }
    }
  }
  return decided;
}

std::vector<Target> lacking(const Analysis& analysis) {
  std::vector<Target> targets;
  for (std::size_t h = 0; h < analysis.layers.size(); ++h)
    for (Eigen::Index i = 0; i < static_cast<Eigen::Index>(analysis.layers[h].size()); ++i)
      for (double sign : {1.0, -1.0})
        if (needs_witness(analysis, h, i, sign > 0)) targets.push_back({h, i, sign});
  return targets;
}

}  // namespace

int attack_stage(const Network& network, Analysis& analysis, std::mt19937_64& rng, const AttackOptions& options,
                 const Deadline& deadline) {
  const Box& box = analysis.domain.box;
  const Eigen::Index n = box.size();
  const Eigen::VectorXd width = box.upper - box.lower;
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  auto random_point = [&](Eigen::Ref<Eigen::VectorXd> x) {
    for (Eigen::Index i = 0; i < n; ++i) x[i] = std::min(box.upper[i], box.lower[i] + width[i] * uniform(rng));
  };

  // Round 1: the box centre, the relaxation's corner, then random points.
  std::vector<Target> targets = lacking(analysis);
  const int starts = std::max(1, options.starts);
  const int steps = std::max(1, options.steps);
  // Targets are in layer order (relaxation_corners relies on it).
  const NetworkBounds known = known_bounds(network, analysis);
  const Eigen::MatrixXd guided =
      starts > 1 && !targets.empty() ? relaxation_corners(network, box, known, targets) : Eigen::MatrixXd();
  int decided = attack_round(network, analysis, targets, starts, steps, options.first_step, options, deadline,
                             [&](std::size_t t, int s, Eigen::Ref<Eigen::VectorXd> x) {
                               if (s == 0) x = box.center();
                               else if (s == 1) x = guided.col(static_cast<Eigen::Index>(t));
                               else random_point(x);
                             });

  // Round 2, for the units of deeper layers still lacking a sign (typically
  // never active on any point so far): activation-guided starts (the
  // witnesses that showed the sign wanted of the predecessors that push the
  // target hardest that way), then uniform random restarts; smaller first
  // steps, more of them.
  if (options.deep_starts <= 0 || deadline.expired()) return decided;
  // At most half of what is left of a limited stage: the bound stages after
  // decide the units this round cannot.
  const Deadline half(deadline.unlimited() ? 0.0 : 0.5 * deadline.remaining());
  const Deadline& deep_deadline = deadline.unlimited() ? deadline : half;
  targets.clear();
  for (const Target& t : lacking(analysis))
    if (t.layer > 0) targets.push_back(t);
  if (targets.empty()) return decided;
  // The first witness of each (unit, sign).
  std::vector<std::vector<std::array<int, 2>>> first_witness(analysis.layers.size());
  for (std::size_t h = 0; h < analysis.layers.size(); ++h) first_witness[h].assign(analysis.layers[h].size(), {-1, -1});
  for (std::size_t w = 0; w < analysis.witnesses.size(); ++w)
    for (const WitnessUnit& u : analysis.witnesses[w].units) {
      if (u.layer < 0 || static_cast<std::size_t>(u.layer) >= first_witness.size()) continue;
      auto& slot = first_witness[static_cast<std::size_t>(u.layer)];
      if (u.unit < 0 || static_cast<std::size_t>(u.unit) >= slot.size()) continue;
      int& f = slot[static_cast<std::size_t>(u.unit)][u.positive ? 0 : 1];
      if (f < 0) f = static_cast<int>(w);
    }
  const int deep = options.deep_starts;
  const int guides = std::max(0, std::min(deep, options.deep_guided));
  // Per target, up to `guides` witness indices.
  std::vector<std::vector<int>> starts_of(targets.size());
  for (std::size_t t = 0; t < targets.size(); ++t) {
    const Target& target = targets[t];
    const std::size_t p = target.layer - 1;  // predecessor layer
    const AffineLayer& layer = network.layers[target.layer];
    // Push of predecessor j towards the wanted sign: sign * w_uj * (its largest output).
    std::vector<std::pair<double, Eigen::Index>> push;
    for (const auto& [j, w] : layer.row(target.unit)) {
      const double up = known[p].upper[j];
      if (!(up > 0)) continue;  // never active: no push
      const double pj = target.sign * w * up;
      if (pj > 0) push.emplace_back(pj, j);
    }
    std::sort(push.begin(), push.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
    for (const auto& [pj, j] : push) {
      if (static_cast<int>(starts_of[t].size()) >= guides) break;
      const int w = first_witness[p][static_cast<std::size_t>(j)][0];
      if (w >= 0) starts_of[t].push_back(w);
    }
  }
  decided += attack_round(network, analysis, targets, deep, std::max(1, options.deep_steps), options.deep_first_step,
                          options, deep_deadline, [&](std::size_t t, int s, Eigen::Ref<Eigen::VectorXd> x) {
                            const auto& from = starts_of[t];
                            if (s < static_cast<int>(from.size()))
                              x = analysis.witnesses[static_cast<std::size_t>(from[static_cast<std::size_t>(s)])].input;
                            else
                              random_point(x);
                          });
  return decided;
}

}  // namespace leo
