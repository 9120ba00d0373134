#include "leo/verify/verify.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <cmath>
#include <limits>
#include <numeric>
#include <optional>
#include <random>
#include <stdexcept>

#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/bounds/rounding.hpp"
#include "leo/milp/cbc.hpp"
#include "leo/milp/relu_milp.hpp"
#include "leo/stability/cascade.hpp"
#include "leo/stability/relu_split.hpp"
#include "leo/util/error.hpp"
#include "leo/util/parallel.hpp"
#include "leo/util/progress.hpp"
#include "leo/verify/joint.hpp"

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

// x rounded to a float32 value inside [lo, hi]: the nearest float, moved one
// float step inwards when rounding left the interval (kept as it is when no
// float lies in the interval).
double float_inside(double x, double lo, double hi) {
  float f = static_cast<float>(x);
  if (static_cast<double>(f) < lo) {
    float g = std::nextafter(f, std::numeric_limits<float>::infinity());
    if (static_cast<double>(g) <= hi) f = g;
  } else if (static_cast<double>(f) > hi) {
    float g = std::nextafter(f, -std::numeric_limits<float>::infinity());
    if (static_cast<double>(g) >= lo) f = g;
  }
  return static_cast<double>(f);
}

// One network evaluated in the arithmetic the options ask for.
class Evaluator {
 public:
  Evaluator(const Network& net, ElementType type) : net_(net) {
    if (type == ElementType::float32) f32_.emplace(net);
  }
  MatrixXd operator()(const MatrixXd& X) const { return f32_ ? f32_->evaluate(X) : net_.evaluate(X); }
  bool in_double() const { return !f32_; }
  // Gradients in this arithmetic (see VerifyOptions::gradients_in_arithmetic).
  bool differentiable() const {
    return !f32_ || (f32_->dense() && net_.output_activation == OutputActivation::none);
  }
  MatrixXd gradients(const MatrixXd& X, const MatrixXd& C, MatrixXd* outputs) const {
    return f32_ ? f32_->input_gradients(X, C, outputs) : input_gradients(net_, X, C, outputs);
  }

 private:
  const Network& net_;
  std::optional<Float32Network> f32_;
};

// A progress line on stderr every few seconds while verify works (the
// search and the exact stage): what it is doing, and the time.
class Ticker {
 public:
  explicit Ticker(double period) {
    if (!Progress::global().enabled()) return;
    thread_ = std::thread([this, period] {
      std::unique_lock<std::mutex> lock(mutex_);
      while (!wake_.wait_for(lock, std::chrono::duration<double>(period), [this] { return stop_; }))
        Progress::global().report("verify", "{} ({:.1f}s)", status_, watch_.seconds());
    });
  }
  ~Ticker() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void set(std::string status) {
    std::lock_guard<std::mutex> lock(mutex_);
    status_ = std::move(status);
  }

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::string status_ = "searching";
  Stopwatch watch_;
  std::thread thread_;
};

class Search {
 public:
  Search(const Network& a, const Network& b, const Box& box, const VerifyOptions& options, VerifyResult& result)
      : a_(a, options.arithmetic_a),
        b_(b, options.arithmetic_b),
        box_(box),
        round_(options.arithmetic_a == ElementType::float32 || options.arithmetic_b == ElementType::float32),
        r_(result) {}

  // Signed differences f_A - f_B (outputs x N); records the largest |.|.
  // With a float32 arithmetic, X is first rounded to float32 points of the box.
  MatrixXd consider(MatrixXd X, const char* how) {
    MatrixXd d = difference(X);
    record(found(X, d), how);
    return d;
  }

  // The differences f_A - f_B at X (rounded first, as consider does), without
  // recording them: for tasks on several threads (const, shares nothing).
  MatrixXd difference(MatrixXd& X) const {
    round(X);
    return a_(X) - b_(X);
  }

  // The points as both networks receive them: rounded to float32 values of
  // the box when either computes in float32 (what consider does first).
  void round(MatrixXd& X) const {
    if (round_)
      for (Index j = 0; j < X.cols(); ++j)
        for (Index i = 0; i < X.rows(); ++i) X(i, j) = float_inside(X(i, j), box_.lower[i], box_.upper[i]);
  }
  // Gradients of C^T (f_A - f_B) at X (rounded points) in each network's own
  // arithmetic, and the outputs of both at X from the same forward passes:
  // bit for bit what consider evaluates there.
  bool differentiable() const { return a_.differentiable() && b_.differentiable(); }
  MatrixXd own_gradients(const MatrixXd& X, const MatrixXd& C, MatrixXd& ya, MatrixXd& yb) const {
    return a_.gradients(X, C, &ya) - b_.gradients(X, C, &yb);
  }

  // Both networks evaluate in double, without rounding: the caller may pass
  // their outputs at X when it has them (bit for bit what consider computes).
  bool in_double() const { return !round_ && a_.in_double() && b_.in_double(); }

  // The largest |d| of points X (their differences d), the first in column
  // order among equals: what recording them does to the result. Recording
  // the Found of column blocks in column order is recording the whole
  // matrix (a later block replaces the worst only when strictly larger).
  struct Found {
    long points = 0;
    double magnitude = 0;
    Index output = -1;  // -1: no difference (d is empty)
    VectorXd input;
  };
  static Found found(const MatrixXd& X, const MatrixXd& d) {
    Found f;
    f.points = X.cols();
    if (d.size() == 0) return f;
    Index k = 0, j = 0;
    // A NaN difference (an overflow: inf - inf) counts as an infinite one.
    MatrixXd magnitude = d.cwiseAbs().unaryExpr(
        [](double v) { return std::isnan(v) ? std::numeric_limits<double>::infinity() : v; });
    f.magnitude = magnitude.maxCoeff(&k, &j);
    f.output = k;
    f.input = X.col(j);
    return f;
  }
  void record(const Found& f, const char* how) {
    r_.points_evaluated += f.points;
    if (f.output < 0) return;
    if (r_.worst_input.size() == 0 || f.magnitude > r_.max_abs_deviation) {
      r_.max_abs_deviation = f.magnitude;
      r_.worst_output = static_cast<int>(f.output);
      r_.worst_input = f.input;
      r_.found_by = how;
    }
  }

 private:

  Evaluator a_;
  Evaluator b_;
  const Box& box_;
  bool round_;
  VerifyResult& r_;
};

// Gradient starts taken from the random points, per output and direction.
int pool_starts(const VerifyOptions& options) { return std::max(1, options.gradient_starts) / 2 + 1; }

// How promising a point is as a start of the ascent on s * (f_A,k - f_B,k):
// its value there; a NaN difference (an overflow) first.
double start_key(double difference, int s) {
  return std::isnan(difference) ? std::numeric_limits<double>::infinity() : s * difference;
}

// The pool of gradient starts after one more chunk X of random points (d:
// their differences): for every output k and direction s, the `keep` points
// of the pool and X with the largest start_key; the pool holds their union,
// in the order of arrival. So the starts are the best of ALL the random
// points, whatever the chunk size.
void merge_pool(MatrixXd& pool, MatrixXd& pool_diff, const MatrixXd& X, const MatrixXd& d, int keep) {
  const Index old = pool.cols(), total = old + X.cols(), outputs = d.rows();
  if (old == 0 && X.cols() <= keep) {
    pool = X, pool_diff = d;
    return;
  }
  const MatrixXd& old_diff = pool_diff;
  auto column = [&](Index c) { return c < old ? old_diff.col(c) : d.col(c - old); };
  std::vector<char> chosen(static_cast<std::size_t>(total), 0);
  std::vector<Index> order(static_cast<std::size_t>(total));
  const auto top = std::min<Index>(keep, total);
  for (Index k = 0; k < outputs; ++k)
    for (int s : {1, -1}) {
      std::iota(order.begin(), order.end(), 0);
      // Ties go to the earlier point, as in one pass over all the points.
      std::partial_sort(order.begin(), order.begin() + top, order.end(), [&](Index p, Index q) {
        const double kp = start_key(column(p)[k], s), kq = start_key(column(q)[k], s);
        return kp > kq || (kp == kq && p < q);
      });
      for (Index t = 0; t < top; ++t) chosen[static_cast<std::size_t>(order[static_cast<std::size_t>(t)])] = 1;
    }
  const Index count = std::count(chosen.begin(), chosen.end(), 1);
  MatrixXd next(pool.rows() ? pool.rows() : X.rows(), count), next_diff(outputs, count);
  for (Index c = 0, j = 0; c < total; ++c)
    if (chosen[static_cast<std::size_t>(c)]) {
      if (c < old)
        next.col(j) = pool.col(c);
      else
        next.col(j) = X.col(c - old);
      next_diff.col(j++) = column(c);
    }
  pool = std::move(next);
  pool_diff = std::move(next_diff);
}

void gradient_search(const Network& a, const Network& b, const Box& box, const MatrixXd& pool,
                     const MatrixXd& pool_diff, const VerifyOptions& options, std::mt19937_64& rng, Search& search) {
  const Index outputs = a.outputs();
  const Index n = box.size();
  const int starts = std::max(1, options.gradient_starts);
  const int from_pool = std::min<int>(pool_starts(options), static_cast<int>(pool.cols()));
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
                        [&](Index p, Index q) { return start_key(pool_diff(k, p), s) > start_key(pool_diff(k, q), s); });
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
  // In double, the forward pass of each step's gradients is also the
  // evaluation of the previous step's points: those are considered then
  // (the same points, in the same order, the same numbers), the last ones after.
  // With gradients_in_arithmetic, the same holds in the networks' own
  // arithmetic: the points are kept rounded as consider rounds them, and the
  // forward passes of the (float32) gradients are their evaluations.
  const bool own = options.gradients_in_arithmetic && !search.in_double() && search.differentiable();
  const bool shared = search.in_double() || own;
  // Every column ascends on its own: the columns go in blocks, the blocks
  // are tasks on options.threads threads. The blocks depend only on the
  // number of columns (at most 8 blocks, of at least 64 columns where there
  // are that many: every product packs the weights once for a block, so
  // narrower blocks cost more in all), and each
  // block keeps, for every evaluation of its points, what recording them
  // would do (Search::Found); those are recorded after, evaluation by
  // evaluation and block by block, i.e. in the order of one pass over all the
  // columns: the result does not depend on the thread count.
  if (columns == 0) return;
  const Index blocks = std::clamp<Index>(columns / 64, 1, 8);
  const Index block = (columns + blocks - 1) / blocks;
  std::vector<std::vector<Search::Found>> trace(static_cast<std::size_t>(blocks));
  run_on_threads(static_cast<std::size_t>(blocks), options.threads, [&](std::size_t t) {
    const Index c0 = static_cast<Index>(t) * block, m = std::min(block, columns - c0);
    MatrixXd Xb = X.middleCols(c0, m);
    const MatrixXd Cb = C.middleCols(c0, m);
    auto& found = trace[t];
    auto evaluate = [&] {
      MatrixXd Y = Xb;
      const MatrixXd d = search.difference(Y);
      found.push_back(Search::found(Y, d));
    };
    if (own) search.round(Xb);
    MatrixXd ya, yb;
    for (int step = 0; step < steps; ++step) {
      double eta = 0.25 * std::pow(0.004, static_cast<double>(step) / std::max(1, steps - 1));
      MatrixXd G = own ? search.own_gradients(Xb, Cb, ya, yb)
                       : MatrixXd(input_gradients(a, Xb, Cb, shared ? &ya : nullptr) -
                                  input_gradients(b, Xb, Cb, shared ? &yb : nullptr));
      if (shared && step > 0) found.push_back(Search::found(Xb, ya - yb));
      for (Index j = 0; j < m; ++j)
        for (Index i = 0; i < n; ++i) {
          double g = G(i, j);
          double stepped = Xb(i, j) + eta * width[i] * (g > 0 ? 1.0 : g < 0 ? -1.0 : 0.0);
          Xb(i, j) = std::clamp(stepped, box.lower[i], box.upper[i]);
        }
      if (own) search.round(Xb);
      if (!shared) evaluate();
    }
    if (shared) evaluate();
  });
  for (std::size_t e = 0; e < trace.front().size(); ++e)
    for (const auto& found : trace) search.record(found[e], "gradient");
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

// Records a point found by the exact stage (re-evaluated in double) in the result.
void record_point(const Network& a, const Network& b, const VectorXd& x, Index k, OutputBound& out,
                  VerifyResult& result, const char* how) {
  const double d = std::abs(a.evaluate(x)[k] - b.evaluate(x)[k]);
  out.found = std::max(out.found, d);
  if (d > result.max_abs_deviation) {
    result.max_abs_deviation = d;
    result.worst_output = static_cast<int>(k);
    result.worst_input = x;
    result.found_by = how;
  }
  ++result.points_evaluated;
}

// CBC as a search for points with |f_A,k - f_B,k| > T on the outputs not yet
// settled: only the incumbents it finds are used (re-evaluated in double);
// its bounds prove nothing (see the header).
void milp_search(const Network& a, const Network& b, const Box& box, const VerifyOptions& options,
                 VerifyResult& result, const std::vector<Index>& outputs, Ticker& ticker) {
  if (outputs.empty() || options.deadline.expired()) return;
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
  for (Index k : outputs) {
    OutputBound& out = result.outputs[static_cast<std::size_t>(k)];
    const int ya = enc_a.back().g[static_cast<std::size_t>(k)], yb = enc_b.back().g[static_cast<std::size_t>(k)];
    for (int s : {1, -1}) {
      if (options.deadline.expired()) return;
      ticker.set(fmt::format("output {}: MILP search for a difference above {:.3g}", k, T));
      std::vector<double> objective(static_cast<std::size_t>(solver.columns()), 0.0);
      objective[static_cast<std::size_t>(ya)] = -s;
      objective[static_cast<std::size_t>(yb)] = s;
      solver.set_objective(objective);
      MilpSettings settings;
      settings.threads = options.threads;
      settings.cutoff = -T;
      settings.seconds = options.deadline.remaining();
      bool refuted = false;
      auto on_incumbent = [&](const std::vector<double>& solution) {
        VectorXd x(box.size());
        for (Index i = 0; i < box.size(); ++i)
          x[i] = std::clamp(solution[static_cast<std::size_t>(inputs[static_cast<std::size_t>(i)])], box.lower[i],
                            box.upper[i]);
        record_point(a, b, x, k, out, result, "milp");
        refuted = s * (a.evaluate(x)[k] - b.evaluate(x)[k]) > T;
        return refuted;  // a real counterexample: stop
      };
      solver.minimize(settings, on_incumbent);
      if (refuted) {
        out.complete = true;
        break;
      }
    }
  }
}

// The exact stage: see the header.
void exact_stage(const Network& a, const Network& b, const Box& box, const VerifyOptions& options,
                 VerifyResult& result, Ticker& ticker) {
  Stopwatch watch;
  const double T = options.tolerance;
  result.exact = true;
  result.proven_bound = 0;
  for (Index k = 0; k < a.outputs(); ++k) result.outputs.push_back(OutputBound{static_cast<int>(k)});

  // 1. Sound verdicts on both networks (the cascade of analyze, its proofs
  // included), each with a share of the time.
  Analysis verdicts[2];
  const Network* nets[2] = {&a, &b};
  const double each = options.analysis_share / 2 * options.deadline.remaining();  // inf without a limit
  for (int i = 0; i < 2; ++i) {
    ticker.set(fmt::format("stability analysis of network {}", i ? "B" : "A"));
    AnalyzeOptions ao;
    ao.seed = options.seed;
    if (!options.deadline.unlimited()) ao.time_limit = std::max(1e-3, std::min(each, options.deadline.remaining()));
    Domain domain;
    domain.box = box;
    domain.probes = MatrixXd(box.size(), 0);
    domain.description = "verify";
    verdicts[i] = analyze(*nets[i], domain, ao);
  }

  // 2. The difference network, its sound bounds with the verdicts applied.
  ticker.set("bounds of the difference network");
  JointNetwork joint = joint_difference(a, b, verdicts[0], verdicts[1], box, T);
  Progress::global().report("verify",
                            "difference network: {} hidden units ({} of A, {} of B: {} shared, {} near copies)",
                            joint.net.hidden_units(), joint.units_a, joint.units_b, joint.units_shared,
                            joint.units_near);
  const Box& jbox = joint.box;
  NetworkBounds bounds = interval_bounds(joint.net, jbox);
  apply_verdicts(joint, bounds);
  if (joint.net.depth() > 1) interval_tighten(joint.net, jbox, bounds, 1);
  crown_bounds(joint.net, jbox, bounds, options.deadline);
  const bool usable = shifts_hold(joint, bounds);
  const std::size_t last = joint.net.depth() - 1;

  // 3. Each output and side: J_r <= 0 by CROWN, else by the ReLU-phase search.
  std::vector<Index> unsettled;
  int proven_outputs = 0;
  for (Index k = 0; k < a.outputs(); ++k) {
    OutputBound& out = result.outputs[static_cast<std::size_t>(k)];
    double proven = 0;
    bool settled = true, refuted = false;
    for (int side = 0; side < 2 && usable; ++side) {
      const Index r = 2 * k + side;
      double envelope = bounds[last].upper[r];
      if (!(envelope <= 0.0)) {
        if (options.deadline.expired()) {
          settled = false;
          proven = std::numeric_limits<double>::infinity();
          break;
        }
        ticker.set(fmt::format("output {}: proving {} <= {:.3g} ({} of {} outputs proven)", k,
                               side ? "f_B - f_A" : "f_A - f_B", T, proven_outputs, a.outputs()));
        SplitOptions so;
        so.max_nodes = options.split_nodes;
        // An equal share of the time left for each side still to prove, so
        // that one hard output does not leave the others unexamined.
        const double sides_left = static_cast<double>(2 * (a.outputs() - k) - side);
        so.deadline = options.deadline.unlimited() ? options.deadline
                                                   : Deadline(options.deadline.remaining() / sides_left);
        auto check = [&](const VectorXd& input) {
          const VectorXd x = input.head(box.size());  // the carriers' inputs are not A's or B's
          record_point(a, b, x, k, out, result, "split");
          const double d = a.evaluate(x)[k] - b.evaluate(x)[k];
          return (side ? -d : d) > T;
        };
        SplitResult sr = prove_sign(joint.net, jbox, bounds, last, r, true, so, check);
        out.nodes += sr.nodes;
        if (sr.status == SplitResult::Status::refuted) {
          refuted = true;
          proven = std::numeric_limits<double>::infinity();
          break;
        }
        if (sr.status != SplitResult::Status::proven) {
          settled = false;
          proven = std::numeric_limits<double>::infinity();
          break;
        }
        envelope = sr.bound;
      }
      // |f_side| - T <= J_r + error <= envelope + error.
      const double bound = rounding::add_up(rounding::add_up(envelope, output_error(joint, bounds, r)), T);
      proven = std::max(proven, std::max(bound, 0.0));
    }
    if (!usable) settled = false, proven = std::numeric_limits<double>::infinity();
    out.proven = proven;
    out.complete = settled || refuted;
    if (!settled && !refuted) unsettled.push_back(k);
    if (std::isfinite(proven) && proven <= T) ++proven_outputs;
    result.proven_bound = std::max(result.proven_bound, proven);
    Progress::global().report("verify", "output {}: {} ({:.2f}s)", k,
                              refuted             ? "a difference above the tolerance found"
                              : std::isfinite(proven) ? fmt::format("|f_A - f_B| <= {:.3g} proven", proven)
                                                      : std::string("not proven"),
                              watch.seconds());
  }
  // 4. What is not settled: CBC looks for a counterexample with the time left.
  milp_search(a, b, box, options, result, unsettled, ticker);
}

}  // namespace

MatrixXd input_gradients(const Network& net, const MatrixXd& X, const MatrixXd& C, MatrixXd* outputs) {
  std::vector<MatrixXd> pre = net.pre_activations(X);
  if (outputs) {
    // net.evaluate(X): its logits are computed by the same operations as pre.back().
    *outputs = pre.back();
    net.apply_output_activation(*outputs);
  }
  MatrixXd delta = C;
  for (std::size_t l = net.depth(); l-- > 0;) {
    MatrixXd g = net.layers[l].transpose_multiply(delta);
    if (l == 0) return g;
    delta = g.cwiseProduct((pre[l - 1].array() > 0.0).cast<double>().matrix());
  }
  return MatrixXd::Zero(X.rows(), X.cols());
}

double difference_bound(const Network& a, const Network& b, const Analysis& analysis_a, const Box& box) {
  const double none = std::numeric_limits<double>::infinity();
  if (a.inputs() != b.inputs() || a.outputs() != b.outputs() || box.size() != a.inputs()) return none;
  for (const Network* net : {&a, &b})
    for (const auto& layer : net->layers)
      if (!layer.is_dense()) return none;
  // T = 0: J's rows are f_A - f_B and f_B - f_A themselves.
  JointNetwork joint;
  try {
    joint = joint_difference(a, b, analysis_a, Analysis{}, box, 0.0);
  } catch (const std::invalid_argument&) {
    return none;  // verdicts that do not fit A: no proof (the search decides)
  }
  const Box& jbox = joint.box;
  NetworkBounds bounds = interval_bounds(joint.net, jbox);
  apply_verdicts(joint, bounds);
  if (joint.net.depth() > 1) interval_tighten(joint.net, jbox, bounds, 1);
  crown_bounds(joint.net, jbox, bounds);
  if (!shifts_hold(joint, bounds)) return none;
  const std::size_t last = joint.net.depth() - 1;
  double proven = 0;
  for (Index r = 0; r < joint.net.outputs(); ++r) {
    // |f_side| <= J_r + error <= upper + error (J_r stands for the side exactly).
    const double bound = rounding::add_up(bounds[last].upper[r], output_error(joint, bounds, r));
    if (!std::isfinite(bound)) return none;
    proven = std::max(proven, bound);
  }
  return proven;
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
  Ticker ticker(options.progress_seconds);
  std::mt19937_64 rng(options.seed);
  Search search(a, b, box, options, result);

  if (probes.cols() > 0) {
    if (probes.rows() != a.inputs()) throw InputError("probe points do not match the networks' inputs");
    search.consider(probes, "probe");
  }
  search.consider(box.center(), "probe");
  search.consider(corner_points(box, rng), "corner");
  // Random points, in chunks; the best of them for each output and direction
  // are kept as the pool of gradient starts (merge_pool). A chunk's
  // activations take widest x chunk doubles per layer: the chunk keeps that
  // near 2^21 doubles (16 MiB), so that the matrices of one chunk are reused
  // heap memory rather than fresh pages mapped, faulted in and cleared by the
  // kernel for every product (glibc maps blocks above its threshold, at most
  // 32 MiB, afresh): on CNNs that was a third of the check's time.
  Index widest = std::max(a.inputs(), b.inputs());
  for (const Network* net : {&a, &b})
    for (const auto& layer : net->layers) widest = std::max(widest, layer.outputs());
  const int chunk = static_cast<int>(std::clamp<Index>((Index{1} << 21) / std::max<Index>(widest, 1), 16, 4096));
  // The chunks are drawn one after another from the generator, evaluated
  // `threads` at a time (Search::difference), and recorded and merged into
  // the pool in their order: the same points and results for any thread count.
  MatrixXd pool, pool_diff;
  const int wave = std::max(1, options.threads);
  for (int done = 0; done < options.random_points;) {
    std::vector<MatrixXd> X, d;
    for (int w = 0; w < wave && done < options.random_points; ++w) {
      const int n = std::min(chunk, options.random_points - done);
      X.push_back(uniform_points(box, n, rng));
      done += n;
    }
    d.resize(X.size());
    run_on_threads(X.size(), options.threads, [&](std::size_t i) { d[i] = search.difference(X[i]); });
    for (std::size_t i = 0; i < X.size(); ++i) {
      search.record(Search::found(X[i], d[i]), "random");
      merge_pool(pool, pool_diff, X[i], d[i], pool_starts(options));
    }
    ticker.set(fmt::format("search: {} points, max |f_A - f_B| = {:.3g}", result.points_evaluated,
                           result.max_abs_deviation));
  }
  if (pool.cols() == 0) {
    pool = box.center();
    pool_diff = search.consider(pool, "probe");
  }
  ticker.set("search: gradient ascent on |f_A - f_B|");
  if (options.gradient_steps > 0 && options.gradient_starts > 0)
    gradient_search(a, b, box, pool, pool_diff, options, rng, search);
  Progress::global().report("verify", "search: max |f_A - f_B| = {:.3g} over {} points", result.max_abs_deviation,
                            result.points_evaluated);

  const bool in_double =
      options.arithmetic_a == ElementType::float64 && options.arithmetic_b == ElementType::float64;
  if (options.exact && !in_double)
    throw Error(ExitCode::internal, "internal error: verify_equivalence: the exact stage compares the networks in double");
  if (options.exact && result.max_abs_deviation <= options.tolerance) {
    // The difference network and the MILP read dense weights.
    for (const Network* net : {&a, &b})
      for (const auto& layer : net->layers)
        if (!layer.is_dense())
          throw InputError(
              "verify --exact: convolutional layers are not supported by the exact stage yet (the search without "
              "--exact supports them)");
    exact_stage(a, b, box, options, result, ticker);
  }
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
                      {"complete", o.complete},
                      {"nodes", o.nodes}});
  }
  j["time_seconds"] = r.time_seconds;
  return j;
}

}  // namespace leo
