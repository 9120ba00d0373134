#include "leo/bounds/lp.hpp"

#include <coin/ClpEventHandler.hpp>
#include <coin/ClpSimplex.hpp>
#include <coin/CoinPackedMatrix.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <stdexcept>
#include <tuple>

#include "leo/bounds/backsub.hpp"
#include "leo/bounds/driver.hpp"
#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/util/progress.hpp"
#include "leo/network/structured.hpp"
#include "leo/util/error.hpp"

namespace leo {

double dual_upper_bound(const Network& net, const Box& box, const NetworkBounds& bounds, std::size_t k,
                        const Eigen::VectorXd& a, const std::vector<Eigen::VectorXd>& nu) {
  if (nu.size() != k) throw Error(ExitCode::internal, "internal error: dual_upper_bound: one multiplier vector per earlier layer");
  Eigen::VectorXd up = backsub::sound_upper(net, box, bounds, k, a.transpose(),
                                            [&](std::size_t j, const Eigen::MatrixXd& rho) -> Eigen::MatrixXd {
                                              if (nu[j].size() != rho.cols())
                                                throw Error(ExitCode::internal, "internal error: dual_upper_bound: bad multiplier size");
                                              return nu[j].transpose();
                                            });
  return up[0];
}

ModelSize relaxation_size(const Network& net, const NetworkBounds& bounds, std::size_t k) {
  ModelSize size;
  for (std::size_t j = 0; j < k && j < net.layers.size(); ++j) {
    const AffineLayer& layer = net.layers[j];
    std::vector<std::int64_t> per_segment;  // structured: row length of a middle unit of each output segment
    if (!layer.is_dense()) {
      const StructuredMap& map = *layer.structured;
      for (std::size_t s = 0; s < map.output_segments().size(); ++s) {
        const Eigen::Index mid = map.output_offset(s) + map.output_segments()[s].shape.size() / 2;
        per_segment.push_back(static_cast<std::int64_t>(map.row(mid).size()));
      }
    }
    for (Eigen::Index i = 0; i < layer.outputs(); ++i) {
      const double l = bounds[j].lower[i], u = bounds[j].upper[i];
      if (u <= 0) continue;
      size.rows += 1;
      size.nonzeros += 1 + (layer.is_dense() ? layer.inputs() : per_segment[layer.structured->output_segment_of(i)]);
      if (l < 0) size.rows += 3, size.nonzeros += 6;
    }
  }
  return size;
}

bool ModelLimits::exceeded(const Network& net, const NetworkBounds& bounds, std::size_t k) const {
  bool structured = false;
  for (std::size_t j = 0; j < k && j < net.layers.size(); ++j) structured = structured || !net.layers[j].is_dense();
  if (!structured) return false;
  const ModelSize size = relaxation_size(net, bounds, k);
  return size.rows > rows || size.nonzeros > nonzeros;
}

namespace {

// Stops primal simplex as soon as a primal feasible point reaches an objective
// (Clp's, minimised) below `limit`: the LP can then no longer prove the sign
// the caller asked about. Only a heuristic; soundness never depends on it.
// Also stops either simplex at `stop_at` (wall clock): Clp's own time limit is
// checked too rarely on these dense LPs (a dual solve ran 4 s past it).
class ObjectiveLimit : public ClpEventHandler {
 public:
  double limit = -COIN_DBL_MAX;
  bool hit = false;
  Deadline::clock::time_point stop_at = Deadline::clock::time_point::max();
  bool timed_out = false;
  int event(Event which) override {
    if (which != endOfIteration) return -1;
    if (stop_at != Deadline::clock::time_point::max() && Deadline::clock::now() >= stop_at) {
      timed_out = true;
      return 0;
    }
    if (limit == -COIN_DBL_MAX || model_->algorithm() <= 0) return -1;
    if (model_->numberPrimalInfeasibilities() == 0 && model_->objectiveValue() < limit) {
      hit = true;
      return 0;
    }
    return -1;
  }
  ClpEventHandler* clone() const override { return new ObjectiveLimit(*this); }
};

// Clp settings for these LPs. No scaling: on l1-trained nets (weights from
// 1e-11 to 0.4) Clp's scaled problem was "optimal" while the unscaled point
// was off by 1e-4 in objective (tests/relu_split_itest.cpp); unscaled, the
// objective and the rigorous dual bound agree to 1e-9. Tolerances 1e-9 for
// the same reason (the bound is re-derived rigorously in any case).
void configure(ClpSimplex& model) {
  model.setLogLevel(0);
  model.scaling(0);
  model.setPrimalTolerance(1e-9);
  model.setDualTolerance(1e-9);
}

// The triangle-relaxation LP of the layers before k.
class RelaxationLp {
 public:
  RelaxationLp(const Network& net, const Box& box, const NetworkBounds& bounds, std::size_t k) : net_(net), k_(k) {
    std::vector<double> col_lo, col_hi;
    // Input columns.
    std::vector<int> x_cols;  // columns of x_j (current layer's inputs); -1 = constant 0
    for (Eigen::Index i = 0; i < box.size(); ++i) {
      x_cols.push_back(static_cast<int>(col_lo.size()));
      col_lo.push_back(box.lower[i]);
      col_hi.push_back(box.upper[i]);
    }
    input_cols_ = x_cols;
    CoinPackedMatrix M(false, 0, 0);  // row-ordered
    {
      // Room for every row up front: without it each appendRow reallocates
      // and copies the whole matrix (quadratic: a fifth of the split stage's
      // time on a 784-input net went to those copies).
      CoinBigIndex elements = 0;
      int rows = 0;
      for (std::size_t j = 0; j < k; ++j) {
        rows += 3 * static_cast<int>(net.layers[j].outputs());
        if (net.layers[j].is_dense())
          elements += static_cast<CoinBigIndex>(net.layers[j].outputs()) * (net.layers[j].inputs() + 5);
      }
      bool structured = false;  // then the size estimate (their rows are sparse)
      for (std::size_t j = 0; j < k; ++j) structured = structured || !net.layers[j].is_dense();
      if (structured) elements = static_cast<CoinBigIndex>(relaxation_size(net, bounds, k).nonzeros);
      M.reserve(rows, elements);
    }
    std::vector<double> row_lo, row_hi;
    units_.resize(k);
    for (std::size_t j = 0; j < k; ++j) {
      const AffineLayer& layer = net.layers[j];
      const Bounds& b = bounds[j];
      std::vector<int> next_cols(static_cast<std::size_t>(layer.outputs()), -1);
      units_[j].resize(static_cast<std::size_t>(layer.outputs()));
      for (Eigen::Index i = 0; i < layer.outputs(); ++i) {
        Unit& unit = units_[j][static_cast<std::size_t>(i)];
        const double l = b.lower[i], u = b.upper[i];
        if (u <= 0) continue;  // stably inactive: x = 0, no row
        const int g = static_cast<int>(col_lo.size());
        unit.g = g;
        col_lo.push_back(std::isfinite(l) ? l : -COIN_DBL_MAX);
        col_hi.push_back(std::isfinite(u) ? u : COIN_DBL_MAX);
        // g - W x = b
        std::vector<int> idx{g};
        std::vector<double> val{1.0};
        for (const auto& [c, w] : layer.row(i)) {  // sparse for a convolution
          const int xc = x_cols[static_cast<std::size_t>(c)];
          if (xc >= 0 && w != 0.0) {
            idx.push_back(xc);
            val.push_back(-w);
          }
        }
        unit.row = static_cast<int>(row_lo.size());
        M.appendRow(static_cast<int>(idx.size()), idx.data(), val.data());
        row_lo.push_back(layer.bias[i]);
        row_hi.push_back(layer.bias[i]);
        if (l >= 0) {  // stably active: x = g
          unit.x = g;
          next_cols[static_cast<std::size_t>(i)] = g;
          continue;
        }
        const int x = static_cast<int>(col_lo.size());
        unit.x = x;
        col_lo.push_back(0.0);
        col_hi.push_back(std::isfinite(u) ? u : COIN_DBL_MAX);
        next_cols[static_cast<std::size_t>(i)] = x;
        {  // x - g >= 0
          int ri[2] = {x, g};
          double rv[2] = {1.0, -1.0};
          M.appendRow(2, ri, rv);
          row_lo.push_back(0.0);
          row_hi.push_back(COIN_DBL_MAX);
        }
        if (std::isfinite(l) && std::isfinite(u)) {  // x - s g <= -s l
          const double s = u / (u - l);
          unit.chord = static_cast<int>(row_lo.size());
          unit.slope = s;
          unit.chord_upper = -s * l;
          int ri[2] = {x, g};
          double rv[2] = {1.0, -s};
          M.appendRow(2, ri, rv);
          row_lo.push_back(-COIN_DBL_MAX);
          row_hi.push_back(-s * l);
        }
      }
      x_cols = std::move(next_cols);
    }
    objective_cols_ = x_cols;
    const int ncols = static_cast<int>(col_lo.size());
    M.setDimensions(static_cast<int>(row_lo.size()), ncols);
    std::vector<double> obj(static_cast<std::size_t>(ncols), 0.0);
    configure(model_);
    model_.loadProblem(M, col_lo.data(), col_hi.data(), obj.data(), row_lo.data(), row_hi.data());
    model_.setOptimizationDirection(1.0);
    model_.passInEventHandler(&limit_);  // Clp keeps a clone
    model_.eventHandler()->setSimplex(&model_);
  }

  // Moves the relaxation to `bounds`, which must lie within the bounds it was
  // built with (units stably inactive then have no row and stay at x = 0):
  // column bounds and chords follow; a unit now stably active gets x = g
  // (chord x <= g), one now stably inactive x = 0 (its row stays: in a
  // branch-and-bound node it is the constraint g <= 0 that cuts the region).
  void set_bounds(const NetworkBounds& bounds) {
    for (std::size_t j = 0; j < k_; ++j)
      for (std::size_t i = 0; i < units_[j].size(); ++i) {
        const Unit& unit = units_[j][i];
        if (unit.g < 0) continue;
        const double l = bounds[j].lower[static_cast<Eigen::Index>(i)];
        const double u = bounds[j].upper[static_cast<Eigen::Index>(i)];
        model_.setColumnBounds(unit.g, std::isfinite(l) ? l : -COIN_DBL_MAX, std::isfinite(u) ? u : COIN_DBL_MAX);
        if (unit.x == unit.g) continue;  // stably active from the start
        model_.setColumnBounds(unit.x, 0.0, u <= 0 ? 0.0 : (std::isfinite(u) ? u : COIN_DBL_MAX));
        if (unit.chord < 0 || !std::isfinite(l) || !std::isfinite(u)) continue;
        // Every chord follows the node's bounds (a previous node's may not hold here):
        // x <= 0 when inactive, x <= g when active, else x <= s (g - l).
        // Only what changed: modifyCoefficient copies Clp's whole matrix
        // (measured: a quarter of the split stage's time on a 784-input net).
        const double s = u <= 0 ? 0.0 : l >= 0 ? 1.0 : u / (u - l);
        const double upper = u <= 0 || l >= 0 ? 0.0 : -s * l;
        Unit& cached = units_[j][i];
        if (s != cached.slope) {
          model_.modifyCoefficient(unit.chord, unit.g, -s);
          cached.slope = s;
        }
        if (upper != cached.chord_upper) {
          model_.setRowUpper(unit.chord, upper);
          cached.chord_upper = upper;
        }
      }
    warm_ = true;
  }

  // max a.g_k; fills sol. With stop_above finite, gives up as soon as a point
  // of the relaxation with a.g_k > stop_above is found (sol.optimal false).
  // After set_bounds, the previous basis is the start (dual simplex).
  LpSolution maximise(const Eigen::VectorXd& a, double seconds,
                      double stop_above = std::numeric_limits<double>::infinity()) {
    LpSolution sol;
    const AffineLayer& layer = net_.layers[k_];
    // Objective on x_k (not rigorous: only guides Clp).
    const Eigen::RowVectorXd c = layer.transpose_multiply_rows(Eigen::MatrixXd(a.transpose())).row(0);
    const int ncols = model_.numberColumns();
    std::vector<double> obj(static_cast<std::size_t>(ncols), 0.0);
    for (Eigen::Index i = 0; i < c.size(); ++i) {
      const int col = objective_cols_[static_cast<std::size_t>(i)];
      if (col >= 0) obj[static_cast<std::size_t>(col)] -= c[i];  // minimise -a.W x
    }
    for (int j = 0; j < ncols; ++j) model_.setObjectiveCoefficient(j, obj[static_cast<std::size_t>(j)]);
    // Wall clock (the deadline's); CPU seconds alone overrun on a loaded machine.
    const bool limited = seconds > 0 && seconds < 1e9;  // (infinite: none; also keeps the time_point finite)
    model_.setMaximumSeconds(limited ? seconds : -1.0);
    model_.setMaximumWallSeconds(limited ? seconds : -1.0);
    auto* handler = dynamic_cast<ObjectiveLimit*>(model_.eventHandler());
    if (handler) {
      handler->hit = false;
      handler->timed_out = false;
      handler->stop_at = limited ? Deadline::clock::now() + std::chrono::duration_cast<Deadline::clock::duration>(
                                                                    std::chrono::duration<double>(seconds))
                                     : Deadline::clock::time_point::max();
      // a.g = -objective + a.b > stop_above  <=>  objective < a.b - stop_above
      handler->limit = std::isfinite(stop_above) ? a.dot(layer.bias) - stop_above : -COIN_DBL_MAX;
    }
    if (warm_)
      model_.dual();
    else
      model_.primal();
    if (handler && handler->hit) {
      sol.optimal = false;
      sol.stopped = true;
      sol.input = input_point();  // a point of the relaxation on the wrong side: a witness candidate
      return sol;
    }
    if (model_.status() != 0 && model_.status() != 5 && !(handler && handler->timed_out)) {
      if (warm_) model_.primal(); else model_.dual();  // a second chance from the current basis
    }
    sol.optimal = model_.status() == 0;
    sol.objective = -model_.objectiveValue() + a.dot(layer.bias);
    const double* y = model_.dualRowSolution();
    const double* primal = model_.primalColumnSolution();
    sol.nu.resize(k_);
    sol.g.resize(k_);
    sol.x.resize(k_);
    for (std::size_t j = 0; j < k_; ++j) {
      const auto n = static_cast<Eigen::Index>(units_[j].size());
      sol.nu[j] = Eigen::VectorXd::Zero(n);
      sol.g[j] = Eigen::VectorXd::Constant(n, std::numeric_limits<double>::quiet_NaN());
      sol.x[j] = Eigen::VectorXd::Zero(n);
      for (Eigen::Index i = 0; i < n; ++i) {
        const Unit& unit = units_[j][static_cast<std::size_t>(i)];
        if (unit.row >= 0 && y && std::isfinite(y[unit.row])) sol.nu[j][i] = -y[unit.row];
        if (primal && unit.g >= 0) sol.g[j][i] = primal[unit.g];
        if (primal && unit.x >= 0) sol.x[j][i] = primal[unit.x];
      }
    }
    sol.input = input_point();
    return sol;
  }

  // The input columns of Clp's current primal point (zeros when it has none).
  Eigen::VectorXd input_point() const {
    Eigen::VectorXd input = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(input_cols_.size()));
    const double* primal = const_cast<ClpSimplex&>(model_).primalColumnSolution();
    for (std::size_t i = 0; i < input_cols_.size() && primal; ++i)
      input[static_cast<Eigen::Index>(i)] = primal[input_cols_[i]];
    return input;
  }

 private:
  struct Unit {
    int g = -1, x = -1;  // columns (x == g: stably active); -1: none (stably inactive)
    int row = -1;        // g - W x = b
    int chord = -1;      // x - s g <= -s l
    double slope = 0.0, chord_upper = 0.0;  // s and -s l as the LP has them now
  };
  const Network& net_;
  std::size_t k_;
  ClpSimplex model_;
  ObjectiveLimit limit_;
  std::vector<std::vector<Unit>> units_;
  std::vector<int> objective_cols_;
  std::vector<int> input_cols_;
  bool warm_ = false;
};

}  // namespace

LpSolution lp_maximise(const Network& net, const Box& box, const NetworkBounds& bounds, std::size_t k,
                       const Eigen::VectorXd& a) {
  RelaxationLp lp(net, box, bounds, k);
  LpSolution sol = lp.maximise(a, 0.0);
  sol.bound = dual_upper_bound(net, box, bounds, k, a, sol.nu);
  return sol;
}

struct SplitLp::Impl {
  Impl(const Network& net, const Box& box, const NetworkBounds& root, std::size_t k, const ModelLimits& limits)
      : net(net), box(box), k(k) {
    if (!limits.exceeded(net, root, k)) lp = std::make_unique<RelaxationLp>(net, box, root, k);
  }
  const Network& net;
  const Box& box;
  std::size_t k;
  std::unique_ptr<RelaxationLp> lp;
};

SplitLp::SplitLp(const Network& net, const Box& box, const NetworkBounds& root, std::size_t k,
                 const ModelLimits& limits)
    : impl_(std::make_unique<Impl>(net, box, root, k, limits)) {}
SplitLp::~SplitLp() = default;
bool SplitLp::available() const { return impl_->lp != nullptr; }

LpSolution SplitLp::maximise(const NetworkBounds& bounds, const Eigen::VectorXd& a, double seconds) {
  if (!impl_->lp) throw Error(ExitCode::internal, "internal error: SplitLp: the LP is over the size limits");
  impl_->lp->set_bounds(bounds);
  LpSolution sol = impl_->lp->maximise(a, seconds);
  sol.bound = dual_upper_bound(impl_->net, impl_->box, bounds, impl_->k, a, sol.nu);
  return sol;
}

namespace {

// The triangle's area factor -l u / (u - l) of an unstable unit (its chord's
// height at 0): how much the relaxation of this unit loosens later layers.
double triangle_area(const Bounds& b, Eigen::Index i) {
  const double l = b.lower[i], u = b.upper[i];
  if (!(l < 0 && u > 0)) return 0.0;
  if (!std::isfinite(l) || !std::isfinite(u)) return std::numeric_limits<double>::infinity();
  return -l * u / (u - l);
}

bool flagged(const std::vector<std::vector<bool>>* flags, std::size_t k, Eigen::Index i) {
  return flags && k < flags->size() && i < static_cast<Eigen::Index>((*flags)[k].size()) &&
         (*flags)[k][static_cast<std::size_t>(i)];
}

}  // namespace

void lp_bounds(const Network& net, const Box& box, NetworkBounds& bounds,
               const std::vector<std::vector<bool>>& targets, const LpOptions& options, const Deadline& deadline) {
  if (bounds.empty()) {
    bounds = interval_bounds(net, box);
    crown_bounds(net, box, bounds, deadline);
  }
  if (bounds.size() != net.layers.size()) throw Error(ExitCode::internal, "internal error: lp_bounds: bounds do not match the network");
  Stopwatch watch;
  const Deadline full_budget(options.full_seconds);
  Eigen::Index tightened = 0, solved = 0, full_solved = 0, realpha_tightened = 0;
  bool earlier_tightened = false;  // an LP of this call tightened a layer before the current one
  // The full LPs' relative narrowing over the call (LpOptions::sign_reach).
  double call_gain = 0.0;
  int call_full = 0;
  Eigen::Index out_of_reach = 0;
  for (std::size_t k = 0; k < net.layers.size(); ++k) {
    const bool hidden = k + 1 < net.layers.size();
    // The layer's units: sign-only ones first (in order), then the flagged
    // ones by decreasing triangle area.
    auto pick = [&] {
      std::vector<Eigen::Index> sign, full;
      if (k < targets.size())
        for (Eigen::Index i : select_units(net, bounds, k, UnitSelection{&targets, true}))
          if (!(hidden && flagged(options.full, k, i))) sign.push_back(i);
      if (hidden && options.full)
        for (Eigen::Index i : select_units(net, bounds, k, UnitSelection{options.full, true})) full.push_back(i);
      std::stable_sort(full.begin(), full.end(), [&](Eigen::Index x, Eigen::Index y) {
        return triangle_area(bounds[k], x) > triangle_area(bounds[k], y);
      });
      return std::make_pair(sign, full);
    };
    auto [sign_units, full_units] = pick();
    if (sign_units.empty() && full_units.empty()) continue;
    if (deadline.expired()) break;
    if (options.limits.exceeded(net, bounds, k)) {
      const ModelSize size = relaxation_size(net, bounds, k);
      Progress::global().report("lp", "layer {}: skipped, the LP would have {} rows and {} nonzeros (limits {} and {}); "
                                "its {} units stay as they are", k, size.rows, size.nonzeros, options.limits.rows,
                                options.limits.nonzeros, sign_units.size() + full_units.size());
      continue;
    }
    if (options.realpha && k > 0 && earlier_tightened) {
      // Re-bound this layer from the tightened layers before it (alpha-CROWN
      // reads only layers < k). Sound bounds, intersected.
      std::vector<std::vector<bool>> layer_targets(net.layers.size());
      layer_targets[k].assign(static_cast<std::size_t>(net.layers[k].outputs()), false);
      for (Eigen::Index i : sign_units) layer_targets[k][static_cast<std::size_t>(i)] = true;
      for (Eigen::Index i : full_units) layer_targets[k][static_cast<std::size_t>(i)] = true;
      const Bounds was = bounds[k];
      AlphaOptions alpha = options.alpha;
      alpha.stop_when_settled = full_units.empty();
      alpha_bounds(net, box, bounds, layer_targets, alpha, deadline);
      for (Eigen::Index i = 0; i < was.lower.size(); ++i)
        realpha_tightened += bounds[k].lower[i] > was.lower[i] || bounds[k].upper[i] < was.upper[i];
      std::tie(sign_units, full_units) = pick();  // some may be stable now
      if (sign_units.empty() && full_units.empty()) continue;
    }
    RelaxationLp lp(net, box, bounds, k);
    Bounds& b = bounds[k];
    const Eigen::Index n = net.layers[k].outputs();
    const std::size_t sign_count = sign_units.size();
    std::vector<Eigen::Index> units = std::move(sign_units);
    units.insert(units.end(), full_units.begin(), full_units.end());
    // The give-up rules (LpOptions::sign_streak, full_probe).
    int streak = 0, probed = 0;
    double gain = 0.0;
    bool sign_given_up = false, full_given_up = false;
    Eigen::Index skipped_sign = 0;
    for (std::size_t q = 0; q < units.size(); ++q) {
      const Eigen::Index i = units[q];
      Progress::global().heartbeat();
      const bool undecided = flagged(&targets, k, i);
      // Full: both sides to optimality (a flagged unit while the budget lasts).
      const bool full = q >= sign_count && !full_budget.expired() && !full_given_up;
      if (q >= sign_count && !full && !undecided) continue;
      const bool sign = hidden && options.stop_at_sign && !full;
      if (sign && sign_given_up) {
        ++skipped_sign;
        continue;
      }
      if (sign && hidden && options.sign_reach > 0 && call_full > 0 && b.lower[i] < 0 && b.upper[i] > 0) {
        const double needed = std::min(b.upper[i], -b.lower[i]) / (b.upper[i] - b.lower[i]);
        if (needed > options.sign_reach * std::max(call_gain / call_full, 1e-4)) {
          ++out_of_reach;
          continue;
        }
      }
      const double width_before = b.upper[i] - b.lower[i];
      bool changed = false;
      for (int side = 0; side < 2; ++side) {
        if (deadline.expired()) break;
        if (hidden && sign && (b.lower[i] >= 0 || b.upper[i] <= 0)) break;
        Eigen::VectorXd a = Eigen::VectorXd::Zero(n);
        a[i] = side == 0 ? 1.0 : -1.0;
        double seconds = deadline.remaining();
        if (options.seconds_per_lp > 0) seconds = std::min(seconds, options.seconds_per_lp);
        if (full) seconds = std::min(seconds, full_budget.remaining());
        LpSolution sol = lp.maximise(a, std::isfinite(seconds) ? seconds : 0.0,
                                     sign ? 0.0 : std::numeric_limits<double>::infinity());
        ++solved;
        full_solved += full;
        if (options.on_point && sol.input.size() == box.size())
          options.on_point(k, sol.input.cwiseMax(box.lower).cwiseMin(box.upper));
        if (sol.stopped) continue;  // the LP cannot settle this side
        const double bound = dual_upper_bound(net, box, bounds, k, a, sol.nu);
        if (side == 0 && bound < b.upper[i]) b.upper[i] = bound, changed = true;
        if (side == 1 && -bound > b.lower[i]) b.lower[i] = -bound, changed = true;
      }
      tightened += changed;
      earlier_tightened = earlier_tightened || (changed && hidden);
      if (deadline.expired()) break;
      if (!hidden) continue;
      if (sign && options.sign_streak > 0) {
        streak = b.upper[i] <= 0 || b.lower[i] >= 0 ? 0 : streak + 1;
        sign_given_up = sign_given_up || streak >= options.sign_streak;
      }
      if (full && std::isfinite(width_before) && width_before > 0) {
        call_gain += (width_before - (b.upper[i] - b.lower[i])) / width_before;
        ++call_full;
      }
      if (full && options.full_probe > 0 && !full_given_up) {
        const double width = b.upper[i] - b.lower[i];
        if (std::isfinite(width_before) && width_before > 0) gain += (width_before - width) / width_before;
        if (++probed == options.full_probe) {
          full_given_up = gain / probed < options.full_min_gain;
          if (full_given_up)
            Progress::global().report("lp", "layer {}: full LPs given up, the first {} narrowed their units by {:.2g}% on "
                                      "average", k, probed, 100 * gain / probed);
        }
      }
    }
    if (skipped_sign > 0)
      Progress::global().report("lp", "layer {}: {} sign questions skipped after {} in a row settled nothing", k,
                                skipped_sign, options.sign_streak);
    Progress::global().report("lp", "layer {}: {} units ({} for their bounds), {} LPs, {} tightened so far ({:.2f}s)", k,
                              units.size(), full_units.size(), solved, tightened, watch.seconds());
    if (deadline.expired()) {
      Progress::global().report("lp", "deadline reached at layer {}", k);
      break;
    }
  }
  if (out_of_reach > 0)
    Progress::global().report("lp", "{} sign questions skipped as out of the LP's reach (the full LPs narrowed their "
                              "units by {:.2g}% on average)", out_of_reach, 100 * call_gain / std::max(call_full, 1));
  auto c = count_stable(bounds);
  Progress::global().report("lp", "{} units tightened by {} LPs ({} for bounds beyond the sign), {} by alpha-CROWN "
                            "between layers; {} stably active, {} stably inactive, {} unstable ({:.2f}s)",
                            tightened, solved, full_solved, realpha_tightened, c.active, c.inactive, c.unstable,
                            watch.seconds());
}

}  // namespace leo
