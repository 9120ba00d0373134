#include "leo/stability/relu_split.hpp"

#include <algorithm>
#include <memory>
#include <cmath>
#include <stdexcept>
#include <vector>

#include "leo/bounds/beta.hpp"
#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/bounds/lp.hpp"
#include "leo/checker/certificate.hpp"
#include "leo/stability/certify.hpp"
#include "leo/stability/evidence.hpp"
#include "leo/stability/sync.hpp"
#include "leo/stability/unit_tasks.hpp"
#include "leo/util/cluster.hpp"
#include "leo/util/parallel.hpp"
#include "leo/util/progress.hpp"
#include "leo/util/error.hpp"

namespace leo {
namespace {

struct Split {
  std::size_t layer;
  Eigen::Index unit;
  bool active;  // g >= 0 (true) or g <= 0 (false)
};

bool empty(const NetworkBounds& b, std::size_t upto) {
  for (std::size_t j = 0; j <= upto && j < b.size(); ++j)
    if ((b[j].lower.array() > b[j].upper.array()).any()) return true;
  return false;
}

struct Choice {
  std::size_t layer = 0;
  Eigen::Index unit = -1;
};

// The unit to split: among units unstable in b (layers < k), the largest
// rho * (x - max(g, 0)) at the LP point, where rho is the unit's coefficient in
// the objective back-substituted with the LP's multipliers (a W_k for layer
// k - 1, nu_{j+1} W_{j+1} before): the objective the relaxation gains by x
// lying above the ReLU graph. Where the point lies on every graph, the largest
// rho+ times the chord's intercept -u l / (u - l) (BaBSR); then the widest unit
// of the earliest layer.
Choice choose_split(const Network& net, const NetworkBounds& b, std::size_t k, const Eigen::VectorXd& a,
                    const LpSolution& sol) {
  Choice by_gap, by_intercept, by_width;
  double best_gap = 0.0, best_intercept = 0.0, best_width = -1.0;
  for (std::size_t j = 0; j < k; ++j) {
    const Eigen::VectorXd& nu_next = j + 1 == k ? a : (j + 1 < sol.nu.size() ? sol.nu[j + 1] : a);
    Eigen::VectorXd rho;
    if (nu_next.size() == net.layers[j + 1].outputs())
      rho = net.layers[j + 1].transpose_multiply(nu_next).col(0);
    else
      rho = Eigen::VectorXd::Zero(net.layers[j + 1].inputs());
    for (Eigen::Index i = 0; i < b[j].lower.size(); ++i) {
      const double l = b[j].lower[i], u = b[j].upper[i];
      if (!(l < 0 && u > 0)) continue;
      const double r = std::abs(rho[i]);
      if (j < sol.g.size() && i < sol.g[j].size() && std::isfinite(sol.g[j][i])) {
        const double gap = r * std::max(0.0, sol.x[j][i] - std::max(sol.g[j][i], 0.0));
        if (gap > best_gap) best_gap = gap, by_gap = {j, i};
      }
      const double intercept = std::max(rho[i], 0.0) * (-u * l / (u - l));
      if (intercept > best_intercept) best_intercept = intercept, by_intercept = {j, i};
      const double width = std::min(-l, u);
      if (by_width.unit < 0 || (j == by_width.layer && width > best_width)) best_width = width, by_width = {j, i};
    }
  }
  if (by_gap.unit >= 0) return by_gap;
  if (by_intercept.unit >= 0) return by_intercept;
  return by_width;
}

// For a target in layer 1, where every split is on layer 0: the unit whose
// split leaves the least bound to remove, by beta's exact child estimates
// (BetaResult::split_off / split_on, the node's parameters): the sum over the
// two children of max(estimate, 0), a child estimated <= 0 being a leaf.
// Measured on mnistfc 256x2 prop_1_0.05, units 72, 45 and 29 of layer 1 (8
// beta iterations per node): 1173, 4367 and 7543 nodes, where BaBSR's
// intercept score (choose_split) took 1357, 14997 and more than 17408 (the
// worse child's estimate alone: 1709 and 19861 for units 72 and 45;
// bench/results/residue.md, "hard").
// Ties: the lower worse child. None (unit -1) when no estimate is available.
Choice choose_first_layer_split(const NetworkBounds& b, const Eigen::VectorXd& off, const Eigen::VectorXd& on) {
  Choice best;
  double best_left = std::numeric_limits<double>::infinity(), best_worse = best_left;
  for (Eigen::Index i = 0; i < off.size() && i < b[0].lower.size(); ++i) {
    if (!(b[0].lower[i] < 0 && b[0].upper[i] > 0) || !std::isfinite(off[i]) || !std::isfinite(on[i])) continue;
    const double left = std::max(off[i], 0.0) + std::max(on[i], 0.0), worse = std::max(off[i], on[i]);
    if (left < best_left || (left == best_left && worse < best_worse)) {
      best_left = left;
      best_worse = worse;
      best = {0, i};
    }
  }
  return best;
}

// A node of the recorded tree (SplitOptions::tree): a split (layer, unit) with
// its children's ids, or a leaf with optional LP multipliers.
struct Recorded {
  int layer = -1, unit = -1;
  int off = -1, on = -1;
  std::vector<cert::SparseVector> nu;
};

std::vector<cert::PhaseNode> preorder(std::vector<Recorded>& nodes) {
  std::vector<cert::PhaseNode> out;
  std::vector<int> stack{0};
  while (!stack.empty()) {
    Recorded& r = nodes[static_cast<std::size_t>(stack.back())];
    stack.pop_back();
    out.push_back({r.layer, r.unit, std::move(r.nu)});
    if (r.layer >= 0) {
      stack.push_back(r.on);
      stack.push_back(r.off);
    }
  }
  return out;
}

}  // namespace

SplitResult prove_sign(const Network& net, const Box& box, const NetworkBounds& bounds, std::size_t layer,
                       Eigen::Index unit, bool nonpositive, const SplitOptions& options,
                       const SplitPointCheck& check) {
  if (layer >= net.layers.size() || unit < 0 || unit >= net.layers[layer].outputs())
    throw Error(ExitCode::internal, "internal error: prove_sign: no such unit");
  if (bounds.size() != net.layers.size()) throw Error(ExitCode::internal, "internal error: prove_sign: bounds do not match the network");
  SplitResult result;
  // max a.g over the node: a = e_unit (prove g <= 0) or -e_unit (prove g >= 0).
  Eigen::VectorXd a = Eigen::VectorXd::Zero(net.layers[layer].outputs());
  a[unit] = nonpositive ? 1.0 : -1.0;
  auto side_bound = [&](const NetworkBounds& b) { return nonpositive ? b[layer].upper[unit] : -b[layer].lower[unit]; };
  double envelope = -std::numeric_limits<double>::infinity();  // max over proven leaves of max a.g

  CrownOptions crown;
  // With beta-CROWN at the nodes, CROWN re-tightens only the layers before the
  // target (their bounds are the node's relaxation); the target itself is
  // bounded by beta, whose first iterate is CROWN's bound of the target alone
  // (not of every unit of its layer).
  crown.last_layer = options.beta_iterations > 0 && layer > 0 ? layer - 1 : layer;
  crown.report = false;
  crown.batch_rows = 256;  // the deadline is checked between batches: keep them short on wide nets
  std::unique_ptr<SplitLp> lp;  // built at the first node that needs it, warm-started after
  struct Node {
    std::vector<Split> splits;
    int id = 0;  // in `recorded`
    std::shared_ptr<const BetaState> warm;  // the parent's optimised parameters
    // The parent's bounds, sound over the parent's region (which contains
    // this node's); null at the root (then `bounds`).
    std::shared_ptr<const NetworkBounds> parent;
  };
  std::vector<Node> stack(1);
  std::vector<Recorded> recorded(1);
  while (!stack.empty()) {
    if (result.nodes >= options.max_nodes || options.deadline.expired()) return result;  // unknown
    Progress::global().heartbeat();
    std::vector<Split> splits = std::move(stack.back().splits);
    const int id = stack.back().id;
    const std::shared_ptr<const BetaState> warm = std::move(stack.back().warm);
    const std::shared_ptr<const NetworkBounds> parent = std::move(stack.back().parent);
    stack.pop_back();
    ++result.nodes;

    // The node's bounds: the parent's (sound on the parent's region, hence
    // on this one) with the node's split clamped in. Only the layers after
    // the split's can tighten: the bounds of a layer depend on the layers
    // before it alone, and those did not change since the parent's bounds.
    NetworkBounds b = parent ? *parent : bounds;
    if (!splits.empty()) {
      const Split& s = splits.back();
      if (s.active)
        b[s.layer].lower[s.unit] = std::max(b[s.layer].lower[s.unit], 0.0);
      else
        b[s.layer].upper[s.unit] = std::min(b[s.layer].upper[s.unit], 0.0);
      if (empty(b, layer)) continue;  // no input of the box has these phases
      interval_tighten(net, box, b, s.layer + 1);
      if (empty(b, layer)) continue;
      crown.first_layer = s.layer + 1;
    } else {
      if (empty(b, layer)) continue;
      crown.first_layer = 0;
    }
    crown_bounds(net, box, b, crown, options.deadline);
    if (options.deadline.expired()) return result;  // unknown: bounds cut short prove nothing more
    if (empty(b, layer)) continue;
    double bound = side_bound(b);
    if (bound <= 0.0) {
      envelope = std::max(envelope, bound);
      continue;
    }
    auto leaf_multipliers = [&](const std::vector<Eigen::VectorXd>& nus) {
      if (!options.tree || nus.size() != layer) return;
      auto& into = recorded[static_cast<std::size_t>(id)].nu;
      into.clear();
      for (const Eigen::VectorXd& nu : nus) into.push_back(cert::sparse(nu));
    };
    auto refutes = [&](const Eigen::VectorXd& input) {
      if (!check || input.size() != box.size()) return false;
      Eigen::VectorXd x = input.cwiseMax(box.lower).cwiseMin(box.upper);
      return x.allFinite() && check(x);
    };
    LpSolution sol;  // the multipliers that guide the branching (beta's or the LP's)
    sol.bound = std::numeric_limits<double>::infinity();
    std::shared_ptr<const BetaState> state = warm;
    Choice guided;  // by beta's child estimates (first-layer splits of a layer-1 target)
    if (options.beta_iterations > 0) {
      BetaOptions bo;
      bo.iterations = splits.empty() ? 2 * options.beta_iterations : options.beta_iterations;
      bo.stop_below = -1e-9;
      BetaResult br = beta_maximise(net, box, b, layer, a, warm.get(), bo, options.deadline);
      ++result.betas;
      state = std::make_shared<const BetaState>(std::move(br.state));
      if (br.bound < bound) {
        bound = br.bound;
        if (bound <= 0.0) leaf_multipliers(br.nu);
      }
      if (bound <= 0.0) {
        envelope = std::max(envelope, bound);
        continue;
      }
      if (refutes(br.input)) {
        result.status = SplitResult::Status::refuted;
        return result;
      }
      sol.nu = std::move(br.nu);
      if (layer == 1) guided = choose_first_layer_split(b, br.split_off, br.split_on);
    }
    Choice choice = guided.unit >= 0 ? guided : choose_split(net, b, layer, a, sol);
    // The LP where asked, and wherever no unit is left to split (every phase
    // fixed: the LP is then exact, which keeps the search complete).
    if (options.lp || choice.unit < 0) {
      // Built on the search's root bounds, which contain every node's: built
      // on this node's, the units stably inactive here would have no row in
      // the LP of a later node where they are active (its bound, though sound,
      // then misses them and proves little).
      if (!lp) lp = std::make_unique<SplitLp>(net, box, bounds, layer, options.limits);
      if (lp->available()) {
        LpSolution s = lp->maximise(b, a, options.deadline.remaining());
        ++result.lps;
        if (std::isfinite(s.bound) && s.bound < bound) {
          bound = s.bound;
          if (bound <= 0.0) leaf_multipliers(s.nu);
        }
        if (s.nu.size() == layer) sol = std::move(s);
      }
      if (bound <= 0.0) {
        envelope = std::max(envelope, bound);
        continue;
      }
      if (refutes(sol.input)) {
        result.status = SplitResult::Status::refuted;
        return result;
      }
      if (guided.unit < 0) choice = choose_split(net, b, layer, a, sol);
    }
    if (choice.unit < 0) return result;  // every phase fixed and still no proof: a numerical gap, unknown
    bool active_first = true;
    if (choice.layer < sol.g.size() && std::isfinite(sol.g[choice.layer][choice.unit]))
      active_first = sol.g[choice.layer][choice.unit] >= 0;
    int child_id[2] = {0, 0};  // g <= 0, g >= 0
    if (options.tree) {
      child_id[0] = static_cast<int>(recorded.size());
      child_id[1] = child_id[0] + 1;
      Recorded& r = recorded[static_cast<std::size_t>(id)];
      r.layer = static_cast<int>(choice.layer);
      r.unit = static_cast<int>(choice.unit);
      r.off = child_id[0];
      r.on = child_id[1];
      recorded.resize(recorded.size() + 2);
    }
    const auto node_bounds = std::make_shared<const NetworkBounds>(std::move(b));
    for (bool active : {!active_first, active_first}) {  // the last pushed is explored first
      std::vector<Split> child = splits;
      child.push_back({choice.layer, choice.unit, active});
      stack.push_back({std::move(child), child_id[active ? 1 : 0], state, node_bounds});
    }
  }
  // Every leaf empty (cannot happen for a non-empty box; still sound): the
  // other side's bound is a valid, if weak, bound on this side too.
  envelope = std::max(envelope, nonpositive ? bounds[layer].lower[unit] : -bounds[layer].upper[unit]);
  result.status = SplitResult::Status::proven;
  result.bound = nonpositive ? envelope : -envelope;
  if (options.tree) {
    options.tree->layer = static_cast<int>(layer);
    options.tree->unit = static_cast<int>(unit);
    options.tree->side = nonpositive ? cert::Side::upper : cert::Side::lower;
    options.tree->bound = result.bound;
    options.tree->nodes = preorder(recorded);
  }
  return result;
}

namespace {

// One unit's task of the split stage (unit_tasks.hpp): prove_sign on each side
// the start state still needs, the nonpositive side first, until one is
// proven. Result: proven side (0 none, 1 nonpositive, 2 nonnegative), bound,
// nodes, the witness candidates met.
// `tree`: when set, the tree of the side proven is recorded there (certificates).
TaskResult split_unit(const Network& net, const Box& box, const NetworkBounds& bounds, const Analysis& start,
                      std::size_t h, Eigen::Index unit, const SplitStageOptions& options, long budget,
                      int beta_iterations, const Deadline& deadline, cert::ReluSplit* tree) {
  int proven = 0;
  double bound = 0;
  long nodes = 0;
  std::vector<Eigen::VectorXd> keep;
  for (bool nonpositive : {true, false}) {
    if (!needs_witness(start, h, unit, nonpositive) || deadline.expired()) continue;
    Progress::global().heartbeat();
    SplitOptions o;
    o.max_nodes = budget;
    o.limits = options.limits;
    o.beta_iterations = beta_iterations;
    o.lp = options.lp;
    o.deadline = deadline;
    cert::ReluSplit side_tree;
    if (tree) o.tree = &side_tree;
    auto refutes = [&](const Eigen::VectorXd& x) {
      auto pre = unit_tasks::examine(net, start, x, keep);
      const double g = pre[h](unit, 0);
      return nonpositive ? g > 0 : g < 0;
    };
    SplitResult r = prove_sign(net, box, bounds, h, unit, nonpositive, o, refutes);
    nodes += r.nodes;
    if (r.status != SplitResult::Status::proven) continue;
    proven = nonpositive ? 1 : 2;
    bound = r.bound;
    if (tree) *tree = std::move(side_tree);
    break;  // the unit is stable: the other side cannot be proven too (but for g == 0)
  }
  unit_tasks::Writer w;
  w.number(proven);
  w.number(bound);
  w.number(static_cast<double>(nodes));
  w.points(keep);
  return w.take();
}

}  // namespace

int split_stage(const Network& net, const Box& box, NetworkBounds& bounds, Analysis& analysis,
                const SplitStageOptions& options, const Deadline& deadline) {
  Stopwatch watch;
  const Deadline stage(options.seconds);
  const Deadline& limit = stage.remaining() < deadline.remaining() ? stage : deadline;
  // Under mpirun (sync.hpp) rank 0's clock decides, at the sync before each
  // pass (`stopped`: its last answer); not distributed, this process's clock.
  bool stopped = false;
  auto out_of_time = [&] { return cluster::distributed() ? stopped : deadline.expired() || stage.expired(); };
  const int before = undecided_units(analysis);
  long nodes = 0, proofs = 0;
  // The layer's units are independent (their searches read layers < h): one
  // task per unit, merged in unit order (unit_tasks.hpp). Three passes, each
  // on the units the one before left undecided (no proof, no witness of
  // either sign from any unit's search), with growing node budgets, so the
  // nodes go where the cheaper search fell short. The first two passes run
  // layer by layer; the last (when asked), which can take long per unit, runs
  // in a second sweep over the layers, once every layer had its cheaper passes.
  const long budgets[] = {options.unit_nodes, options.hard_unit_nodes, options.last_unit_nodes};
  const char* names[] = {"split", "split-hard", "split-last"};
  std::size_t layers = analysis.layers.size();  // the layers searched (size limits may cut them)
  for (int sweep = 0; sweep < 2 && !out_of_time(); ++sweep)
  for (std::size_t h = 1; h < layers && !out_of_time(); ++h) {
    if (sweep == 0 && skip_over_size_limit(net, bounds, h, options.limits, analysis, Stage::split,
                                           fmt::format("layer {} and later skipped: the LP of the layers before", h),
                                           "their undecided units stay undecided", h)) {
      layers = h;
      break;
    }
    if (options.before_layer) options.before_layer(h);
    for (int pass = sweep == 0 ? 0 : 2; pass < (sweep == 0 ? 2 : 3) && !out_of_time(); ++pass) {
      // Every rank starts the pass from rank 0's state and clock (before_layer ran on each).
      const sync::SharedClock clock =
          sync::follow_clock(fmt::format("split layer {} pass {}", h, pass), 0, limit, analysis, &bounds);
      if (clock.stop()) {
        stopped = true;
        break;
      }
      const Deadline& task_limit = clock.limit();
      std::vector<std::size_t> units;
      for (std::size_t i = 0; i < analysis.layers[h].size(); ++i) {
        const auto unit = static_cast<Eigen::Index>(i);
        if (needs_witness(analysis, h, unit, true) || needs_witness(analysis, h, unit, false)) units.push_back(i);
      }
      if (units.empty()) continue;
      long budget = budgets[pass];
      // The last pass shares its total among the units left: a few get the
      // large budget, many get so little that the pass is skipped.
      if (pass == 2 && options.last_pass_nodes > 0)
        budget = std::min(budget, options.last_pass_nodes / static_cast<long>(units.size()));
      if (pass > 0 && budget <= *std::max_element(budgets, budgets + pass)) continue;
      const int iterations = pass == 2 ? options.last_beta_iterations : options.beta_iterations;
      const Analysis& start = analysis;  // read only while the tasks run
      const NetworkBounds& root = bounds;
      auto results = run_tasks(units.size(), options.threads,
                               unit_tasks::fingerprint(names[pass], h, units, start, root),
                               [&](std::size_t k) {
                                 cert::ReluSplit tree;  // travels in the result (threads, ranks)
                                 TaskResult r = split_unit(net, box, root, start, h,
                                                           static_cast<Eigen::Index>(units[k]), options, budget, iterations,
                                                           task_limit, options.recorder ? &tree : nullptr);
                                 if (options.recorder) unit_tasks::append_tree(r, tree);
                                 return r;
                               });
      for (std::size_t k = 0; k < units.size(); ++k) {
        unit_tasks::Reader in(results[k]);
        const long side = in.count();
        const double bound = in.number();
        nodes += in.count();
        const auto points = in.points();
        cert::ReluSplit tree;
        if (options.recorder) tree = in.tree();
        in.finish();
        for (const auto& x : points) harvest_witnesses(net, Eigen::MatrixXd(x), analysis, Stage::split);
        if (side == 0) continue;
        ++proofs;
        if (options.recorder) options.recorder->relu_split(std::move(tree));
        const auto unit = static_cast<Eigen::Index>(units[k]);
        if (side == 1)
          bounds[h].upper[unit] = std::min(bounds[h].upper[unit], bound);
        else
          bounds[h].lower[unit] = std::max(bounds[h].lower[unit], bound);
      }
      apply_bounds(analysis, bounds, Stage::split);
    }
    apply_bounds(analysis, bounds, Stage::split);
    Progress::global().report("split", "layer {}: {} proofs, {} nodes so far, {} units undecided ({:.2f}s)", h, proofs,
                              nodes, undecided_units(analysis), watch.seconds());
  }
  return before - undecided_units(analysis);
}

}  // namespace leo
