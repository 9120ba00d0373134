#include "leo/verify/verify.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/milp/cbc.hpp"
#include "leo/milp/relu_milp.hpp"
#include "leo/util/error.hpp"
#include "leo/util/progress.hpp"

namespace leo {

namespace {

using Eigen::Index;
using Eigen::MatrixXd;
using Eigen::VectorXd;

MatrixXd uniform_points(const Box& box, Index n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  MatrixXd X(box.size(), n);
  for (Index j = 0; j < n; ++j)
    for (Index i = 0; i < box.size(); ++i) X(i, j) = box.lower[i] + (box.upper[i] - box.lower[i]) * u(rng);
  return X;
}

MatrixXd corner_points(const Box& box, std::mt19937_64& rng) {
  const Index n = box.size();
  if (n <= 10) {
    const Index count = Index{1} << n;
    MatrixXd X(n, count);
    for (Index c = 0; c < count; ++c)
      for (Index i = 0; i < n; ++i) X(i, c) = (c >> i) & 1 ? box.upper[i] : box.lower[i];
    return X;
  }
  std::bernoulli_distribution coin(0.5);
  MatrixXd X(n, 256);
  for (Index c = 0; c < X.cols(); ++c)
    for (Index i = 0; i < n; ++i) X(i, c) = coin(rng) ? box.upper[i] : box.lower[i];
  return X;
}

class Search {
 public:
  Search(const Network& a, const Network& b, VerifyResult& result) : a_(a), b_(b), r_(result) {}

  // Signed differences f_A - f_B (outputs x N); records the largest |.|.
  MatrixXd consider(const MatrixXd& X, const char* how) {
    MatrixXd d = a_.evaluate(X) - b_.evaluate(X);
    r_.points_evaluated += X.cols();
    if (d.size() == 0) return d;
    Index k = 0, j = 0;
    double m = d.cwiseAbs().maxCoeff(&k, &j);
    if (std::isnan(m)) m = std::numeric_limits<double>::infinity();
    if (r_.worst_input.size() == 0 || m > r_.max_abs_deviation) {
      r_.max_abs_deviation = m;
      r_.worst_output = static_cast<int>(k);
      r_.worst_input = X.col(j);
      r_.found_by = how;
    }
    return d;
  }

 private:
  const Network& a_;
  const Network& b_;
  VerifyResult& r_;
};

void gradient_search(const Network& a, const Network& b, const Box& box, const MatrixXd& pool,
                     const MatrixXd& pool_diff, const VerifyOptions& options, std::mt19937_64& rng, Search& search) {
  const Index outputs = a.outputs();
  const Index n = box.size();
  const int starts = std::max(1, options.gradient_starts);
  const int from_pool = std::min<int>(starts / 2 + 1, static_cast<int>(pool.cols()));
  // Columns: (output k, direction s, start).
  const Index columns = outputs * 2 * starts;
  MatrixXd X(n, columns), C = MatrixXd::Zero(outputs, columns);
  MatrixXd fresh = uniform_points(box, columns, rng);
  Index c = 0;
  std::vector<Index> order(static_cast<std::size_t>(pool.cols()));
  for (Index k = 0; k < outputs; ++k)
    for (int s : {1, -1}) {
      std::iota(order.begin(), order.end(), 0);
      std::partial_sort(order.begin(), order.begin() + from_pool, order.end(),
                        [&](Index p, Index q) { return s * pool_diff(k, p) > s * pool_diff(k, q); });
      for (int t = 0; t < starts; ++t, ++c) {
        if (t < from_pool)
          X.col(c) = pool.col(order[static_cast<std::size_t>(t)]);
        else
          X.col(c) = fresh.col(c);
        C(k, c) = s;
      }
    }
  const VectorXd width = box.upper - box.lower;
  const int steps = std::max(1, options.gradient_steps);
  for (int step = 0; step < steps; ++step) {
    double eta = 0.25 * std::pow(0.004, static_cast<double>(step) / std::max(1, steps - 1));
    MatrixXd G = input_gradients(a, X, C) - input_gradients(b, X, C);
    for (Index j = 0; j < columns; ++j)
      for (Index i = 0; i < n; ++i) {
        double g = G(i, j);
        double stepped = X(i, j) + eta * width[i] * (g > 0 ? 1.0 : g < 0 ? -1.0 : 0.0);
        X(i, j) = std::clamp(stepped, box.lower[i], box.upper[i]);
      }
    search.consider(X, "gradient");
  }
}

// Units of B that compute exactly what a unit of A computes (same bias, same
// weights on inputs that are themselves identical) take the same values in
// every real execution: tie their columns (g, x and binary z). Without this
// the relaxations of the two copies are independent and CBC must branch on
// both; with it, identical first layers (what compression leaves) cost nothing.
void link_identical_units(MilpModel& model, const Network& a, const Network& b, const std::vector<LayerEncoding>& ea,
                          const std::vector<LayerEncoding>& eb) {
  // same[j] = the unit of A's previous layer identical to B's unit j (-1: none).
  std::vector<Index> same(static_cast<std::size_t>(b.inputs()));
  std::iota(same.begin(), same.end(), 0);
  const std::size_t hidden = std::min(a.depth(), b.depth()) - 1;
  for (std::size_t l = 0; l < hidden; ++l) {
    const auto& la = a.layers[l];
    const auto& lb = b.layers[l];
    // A's row of unit i expressed over B's previous units must use only A
    // inputs that have a B twin; precompute which A inputs are covered.
    std::vector<char> covered(static_cast<std::size_t>(la.inputs()), 0);
    for (Index p : same)
      if (p >= 0) covered[static_cast<std::size_t>(p)] = 1;
    std::vector<Index> next(static_cast<std::size_t>(lb.outputs()), -1);
    for (Index j = 0; j < lb.outputs(); ++j) {
      for (Index i = 0; i < la.outputs(); ++i) {
        if (la.bias[i] != lb.bias[j]) continue;
        bool equal = true;
        for (Index q = 0; q < lb.inputs() && equal; ++q) {
          Index p = same[static_cast<std::size_t>(q)];
          if (p < 0) equal = lb.weights(j, q) == 0.0;
          else equal = lb.weights(j, q) == la.weights(i, p);
        }
        for (Index p = 0; p < la.inputs() && equal; ++p)
          if (!covered[static_cast<std::size_t>(p)]) equal = la.weights(i, p) == 0.0;
        if (!equal) continue;
        next[static_cast<std::size_t>(j)] = i;
        auto tie = [&](int ca, int cb) {
          if (ca >= 0 && cb >= 0 && ca != cb) model.add_row({ca, cb}, {1.0, -1.0}, 0.0, 0.0);
        };
        const auto ui = static_cast<std::size_t>(i), uj = static_cast<std::size_t>(j);
        tie(ea[l].g[ui], eb[l].g[uj]);
        tie(ea[l].x[ui], eb[l].x[uj]);
        tie(ea[l].z[ui], eb[l].z[uj]);
        break;
      }
    }
    same = std::move(next);
  }
}

// The exact stage: see the header.
void exact_stage(const Network& a, const Network& b, const Box& box, const VerifyOptions& options,
                 VerifyResult& result) {
  Progress::global().report("verify", "bounds for the MILP");
  NetworkBounds bounds_a = interval_bounds(a, box), bounds_b = interval_bounds(b, box);
  crown_bounds(a, box, bounds_a, options.deadline);
  crown_bounds(b, box, bounds_b, options.deadline);

  MilpModel model;
  std::vector<int> inputs = add_input_columns(model, box);
  auto enc_a = encode_relu_network(model, a, bounds_a, inputs, a.depth());
  auto enc_b = encode_relu_network(model, b, bounds_b, inputs, b.depth());
  link_identical_units(model, a, b, enc_a, enc_b);
  MilpSolver solver(model);
  const double T = options.tolerance;
  result.exact = true;
  result.proven_bound = 0;
  for (Index k = 0; k < a.outputs(); ++k) {
    OutputBound out;
    out.output = static_cast<int>(k);
    const int ya = enc_a.back().g[static_cast<std::size_t>(k)], yb = enc_b.back().g[static_cast<std::size_t>(k)];
    // Output bounds alone may already prove it.
    double interval_gap = std::max(bounds_a.back().upper[k] - bounds_b.back().lower[k],
                                   bounds_b.back().upper[k] - bounds_a.back().lower[k]);
    double proven = 0;
    bool complete = true;
    // CBC's answer is trusted only with a margin (as the exact stability stage,
    // stability/exact.hpp): it searches for a difference above T - margin, and
    // every bound it proves is widened by the margin.
    const double scale = std::max({std::abs(bounds_a.back().lower[k]), std::abs(bounds_a.back().upper[k]),
                                   std::abs(bounds_b.back().lower[k]), std::abs(bounds_b.back().upper[k])});
    const double margin = options.margin + options.margin_relative * scale;
    const double target = std::max(0.0, T - margin);
    // A proven "difference <= v" becomes <= v + margin (exactly T when v is the target).
    auto widened = [&](double v) { return target > 0 && v <= target ? T : v + margin; };
    if (interval_gap <= T) {
      proven = interval_gap;
    } else {
      for (int s : {1, -1}) {
        // minimise -s (y_A - y_B): a solution below the cutoff -T has s (y_A - y_B) > T.
        std::vector<double> objective(static_cast<std::size_t>(solver.columns()), 0.0);
        objective[static_cast<std::size_t>(ya)] = -s;
        objective[static_cast<std::size_t>(yb)] = s;
        solver.set_objective(objective);
        MilpSettings settings;
        settings.threads = options.threads;
        settings.cutoff = -target;
        settings.seconds = options.deadline.remaining();
        if (options.deadline.expired()) {
          complete = false;
          proven = std::numeric_limits<double>::infinity();
          break;
        }
        auto on_incumbent = [&](const std::vector<double>& solution) {
          VectorXd x(box.size());
          for (Index i = 0; i < box.size(); ++i)
            x[i] = std::clamp(solution[static_cast<std::size_t>(inputs[static_cast<std::size_t>(i)])], box.lower[i],
                              box.upper[i]);
          double d = s * (a.evaluate(x)[k] - b.evaluate(x)[k]);
          out.found = std::max(out.found, std::abs(d));
          if (std::abs(d) > result.max_abs_deviation) {
            result.max_abs_deviation = std::abs(d);
            result.worst_output = static_cast<int>(k);
            result.worst_input = x;
            result.found_by = "milp";
          }
          ++result.points_evaluated;
          return d > T;  // a real counterexample: stop
        };
        MilpResult m = solver.minimize(settings, on_incumbent);
        double side = std::numeric_limits<double>::infinity();
        switch (m.status) {
          case MilpResult::Status::infeasible: side = widened(target); break;
          case MilpResult::Status::optimal: side = widened(std::max(target, -m.bound)); break;
          case MilpResult::Status::time_limit:
            side = std::isfinite(m.bound) ? widened(std::max(target, -m.bound)) : side;
            complete = false;
            break;
          default: complete = false; break;
        }
        proven = std::max(proven, side);
      }
    }
    out.proven = proven;
    out.complete = complete;
    result.proven_bound = std::max(result.proven_bound, proven);
    Progress::global().report("verify", "output {}: |f_A - f_B| <= {:.3g} proven{}", k, proven,
                              complete ? "" : " (search incomplete)");
    result.outputs.push_back(out);
  }
}

}  // namespace

MatrixXd input_gradients(const Network& net, const MatrixXd& X, const MatrixXd& C) {
  std::vector<MatrixXd> pre = net.pre_activations(X);
  MatrixXd delta = C;
  for (std::size_t l = net.depth(); l-- > 0;) {
    MatrixXd g = net.layers[l].weights.transpose() * delta;
    if (l == 0) return g;
    delta = g.cwiseProduct((pre[l - 1].array() > 0.0).cast<double>().matrix());
  }
  return MatrixXd::Zero(X.rows(), X.cols());
}

VerifyResult verify_equivalence(const Network& a, const Network& b, const Box& box, const MatrixXd& probes,
                                const VerifyOptions& options) {
  Stopwatch watch;
  if (a.inputs() != b.inputs())
    throw InputError(fmt::format("the networks take different inputs ({} and {} features)", a.inputs(), b.inputs()));
  if (a.outputs() != b.outputs())
    throw InputError(fmt::format("the networks have different outputs ({} and {})", a.outputs(), b.outputs()));
  box.validate(a.inputs());
  VerifyResult result;
  result.tolerance = options.tolerance;
  std::mt19937_64 rng(options.seed);
  Search search(a, b, result);

  if (probes.cols() > 0) {
    if (probes.rows() != a.inputs()) throw InputError("probe points do not match the networks' inputs");
    search.consider(probes, "probe");
  }
  search.consider(box.center(), "probe");
  search.consider(corner_points(box, rng), "corner");
  // Random points, in chunks; the first chunk is kept as the pool of gradient starts.
  MatrixXd pool, pool_diff;
  for (int done = 0; done < options.random_points;) {
    int n = std::min(4096, options.random_points - done);
    MatrixXd X = uniform_points(box, n, rng);
    MatrixXd d = search.consider(X, "random");
    if (pool.cols() == 0) pool = X, pool_diff = d;
    done += n;
  }
  if (pool.cols() == 0) {
    pool = box.center();
    pool_diff = a.evaluate(pool) - b.evaluate(pool);
  }
  if (options.gradient_steps > 0 && options.gradient_starts > 0)
    gradient_search(a, b, box, pool, pool_diff, options, rng, search);
  Progress::global().report("verify", "search: max |f_A - f_B| = {:.3g} over {} points", result.max_abs_deviation,
                            result.points_evaluated);

  if (options.exact && result.max_abs_deviation <= options.tolerance) exact_stage(a, b, box, options, result);
  result.time_seconds = watch.seconds();
  return result;
}

nlohmann::json to_json(const VerifyResult& r) {
  nlohmann::json j;
  j["max_abs_deviation"] = r.max_abs_deviation;
  j["worst_output"] = r.worst_output;
  j["worst_input"] = std::vector<double>(r.worst_input.data(), r.worst_input.data() + r.worst_input.size());
  j["found_by"] = r.found_by;
  j["points_evaluated"] = r.points_evaluated;
  j["tolerance"] = r.tolerance;
  j["within_tolerance"] = r.within_tolerance();
  j["exact"] = r.exact;
  if (r.exact) {
    j["proven_bound"] = std::isfinite(r.proven_bound) ? nlohmann::json(r.proven_bound) : nlohmann::json(nullptr);
    j["proven_equivalent"] = r.proven_equivalent();
    auto& outs = j["outputs"] = nlohmann::json::array();
    for (const auto& o : r.outputs)
      outs.push_back({{"output", o.output},
                      {"found", o.found},
                      {"proven", std::isfinite(o.proven) ? nlohmann::json(o.proven) : nlohmann::json(nullptr)},
                      {"complete", o.complete}});
  }
  j["time_seconds"] = r.time_seconds;
  return j;
}

}  // namespace leo
