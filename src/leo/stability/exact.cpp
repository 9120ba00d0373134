#include "leo/stability/exact.hpp"

#include "leo/checker/certificate.hpp"
#include "leo/stability/certify.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <optional>

#include "leo/milp/cbc.hpp"
#include "leo/milp/relu_milp.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/stability/evidence.hpp"
#include "leo/stability/relu_split.hpp"
#include "leo/stability/sync.hpp"
#include "leo/stability/unit_tasks.hpp"
#include "leo/util/cluster.hpp"
#include "leo/util/parallel.hpp"
#include "leo/util/error.hpp"
#include "leo/util/progress.hpp"

namespace leo {

double exact_margin(const ExactOptions& options, double lower, double upper) {
  double scale = std::max(std::abs(lower), std::abs(upper));
  if (!std::isfinite(scale)) scale = 0;
  return options.margin + options.margin_relative * scale;
}

namespace {

void check_inputs(const Network& net, const Box& box, const NetworkBounds& bounds, Analysis& analysis) {
  if (box.size() != net.inputs())
    throw Error(ExitCode::internal, fmt::format("internal error: milp: the box has {} features, the network {} inputs", box.size(),
                                                net.inputs()));
  // Witnesses are kept only inside the analysis' box (evidence.hpp): a bare
  // analysis (no domain yet) gets this box.
  if (analysis.domain.box.size() == 0) analysis.domain.box = box;
  if (analysis.domain.box.size() != box.size())
    throw Error(ExitCode::internal, "internal error: milp: the box is not the analysis' domain");
  auto widths = net.widths();
  if (bounds.size() < widths.size())
    throw Error(ExitCode::internal, "internal error: milp: bounds are missing for some hidden layers");
  if (analysis.layers.empty())
    for (auto w : widths) analysis.layers.emplace_back(static_cast<std::size_t>(w));
  if (analysis.layers.size() != widths.size())
    throw Error(ExitCode::internal, "internal error: milp: the analysis does not match the network's hidden layers");
  for (std::size_t l = 0; l < widths.size(); ++l) {
    if (static_cast<Eigen::Index>(analysis.layers[l].size()) != widths[l] || bounds[l].lower.size() != widths[l] ||
        bounds[l].upper.size() != widths[l])
      throw Error(ExitCode::internal, fmt::format("internal error: milp: layer {} sizes do not match", l));
  }
}

// Re-evaluates incumbents (clipped to the box) in double and records what they
// show (evidence.hpp), counting the new facts.
class Harvester {
 public:
  Harvester(const Network& net, const Box& box, std::vector<int> inputs, Analysis& analysis)
      : net_(net), box_(box), inputs_(std::move(inputs)), analysis_(analysis) {}

  // Returns the number of new facts (unit, sign) the solution shows.
  int harvest(const std::vector<double>& solution) {
    Eigen::VectorXd x(net_.inputs());
    for (Eigen::Index j = 0; j < net_.inputs(); ++j) {
      double v = solution[inputs_[j]];
      if (!std::isfinite(v)) return 0;
      x[j] = std::clamp(v, box_.lower[j], box_.upper[j]);
    }
    return harvest_input(x);
  }

  // The same for an input of the box.
  int harvest_input(const Eigen::VectorXd& input) {
    const int n = leo::harvest(net_, Eigen::MatrixXd(input), analysis_, Stage::milp).facts;
    facts_ += n;
    return n;
  }

  long facts() const { return facts_; }

 private:
  const Network& net_;
  const Box& box_;
  std::vector<int> inputs_;
  Analysis& analysis_;
  long facts_ = 0;
};

// A CBC claim of stability is a hint, not a proof (its bounds carry Clp's
// unbounded tolerance errors: tests/fixtures/milp/cbc_wrong_infeasible). Each
// claim is checked by the sound ReLU-split search (stability/relu_split.hpp);
// only a proven claim marks the unit, with the search's bound. The LP points
// the search meets are harvested as witnesses.
class Certifier {
 public:
  Certifier(const Network& net, const Box& box, const NetworkBounds& bounds, Harvester& harvester,
            Analysis& analysis, const ExactOptions& options)
      : net_(net), box_(box), bounds_(bounds), harvester_(harvester), analysis_(analysis), options_(options) {
    if (bounds_.size() < net.layers.size()) {  // the search needs every layer up to the target's
      NetworkBounds ib = interval_bounds(net, box);
      for (std::size_t j = bounds_.size(); j < net.layers.size(); ++j) bounds_.push_back(ib[j]);
    }
  }

  // CBC claims that the unit is stably inactive (inactive = true) or active.
  // Marks it (stage milp) when the claim is proven; returns whether it was.
  bool confirm(std::size_t layer, std::size_t unit, bool inactive) {
    UnitVerdict& v = analysis_.layers[layer][unit];
    if (v.status != Status::undecided || (inactive ? v.seen_positive : v.seen_negative)) return false;
    Stopwatch watch;
    Certification& c = analysis_.certification;
    ++c.claims;
    SplitOptions split;
    split.max_nodes = options_.certify_nodes;
    split.deadline = options_.deadline;
    split.limits = options_.limits;
    auto refutes = [&](const Eigen::VectorXd& x) {
      harvester_.harvest_input(x);
      return inactive ? v.seen_positive : v.seen_negative;
    };
    // The verdicts proven so far (this stage's included) tighten the search's bounds.
    NetworkBounds tight = tightened_bounds(bounds_, analysis_);
    cert::ReluSplit tree;
    if (options_.recorder) split.tree = &tree;
    SplitResult r = prove_sign(net_, box_, tight, layer, static_cast<Eigen::Index>(unit), inactive, split, refutes);
    c.nodes += r.nodes;
    c.lps += r.lps;
    c.seconds += watch.seconds();
    bool proven = r.status == SplitResult::Status::proven && v.status == Status::undecided;
    if (proven) {
      // The search's bound when it has one, else the sign alone.
      double bound = inactive ? std::min(0.0, std::isfinite(r.bound) ? r.bound : 0.0)
                              : std::max(0.0, std::isfinite(r.bound) ? r.bound : 0.0);
      proven = mark_stable(analysis_, layer, unit, inactive, bound, Stage::milp);
      if (proven) ++c.proven; else ++c.unknown;
      if (proven && options_.recorder) options_.recorder->relu_split(std::move(tree));
    } else if (r.status == SplitResult::Status::refuted) {
      ++c.refuted;
      Progress::global().report("milp", "CBC claimed layer {} unit {} stably {}; a re-evaluated point refutes it", layer,
                                unit, inactive ? "inactive" : "active");
    } else {
      ++c.unknown;
    }
    return proven;
  }

 private:
  const Network& net_;
  const Box& box_;
  NetworkBounds bounds_;
  Harvester& harvester_;
  Analysis& analysis_;
  const ExactOptions& options_;
};

MilpSettings settings_for(const ExactOptions& options) {
  MilpSettings s;
  s.threads = options.threads;
  s.seconds = options.deadline.remaining();
  s.integer_tolerance = options.integer_tolerance;
  s.verbose = options.verbose;
  return s;
}

enum class Outcome { proven, witnessed, open, out_of_time };

// Maximises (positive = true) or minimises the column g of unit (layer, unit)
// with a cutoff at the margin. proven: no point of the MILP has g >= -margin
// (resp. g <= margin); witnessed: a re-evaluated incumbent shows g > 0 (resp. < 0).
Outcome settle(MilpSolver& solver, int g_column, bool positive, double margin, std::size_t layer, std::size_t unit,
               Harvester& harvester, Analysis& analysis, const ExactOptions& options) {
  if (options.deadline.expired()) return Outcome::out_of_time;
  Progress::global().heartbeat();
  std::vector<double> objective(static_cast<std::size_t>(solver.columns()), 0.0);
  objective[g_column] = positive ? -1.0 : 1.0;
  solver.set_objective(objective);
  MilpSettings settings = settings_for(options);
  settings.cutoff = margin;
  const UnitVerdict& v = analysis.layers[layer][unit];
  auto seen = [&] { return positive ? v.seen_positive : v.seen_negative; };
  auto try_point = [&](const std::vector<double>& solution) {
    harvester.harvest(solution);
    return seen();
  };
  MilpResult r = solver.minimize(settings, try_point, try_point);
  if (seen()) return Outcome::witnessed;
  switch (r.status) {
    case MilpResult::Status::infeasible: return Outcome::proven;
    case MilpResult::Status::time_limit: return Outcome::out_of_time;
    default: return options.deadline.expired() ? Outcome::out_of_time : Outcome::open;
  }
}

}  // namespace

namespace {

// One unit's task of exact_per_unit (unit_tasks.hpp): max then min of g over
// the layer's MILP, on its own solver (CBC objects are not shared between
// threads), each CBC claim of stability checked by prove_sign. Reads `start`
// (the analysis when the layer began) and changes nothing. Result: proven
// side (0 none, 1 inactive, 2 active), its bound, the outcome of each claim
// checked (claims, proven, refuted, unknown: as Certification), search
// nodes and LPs, seconds, whether the deadline cut it short, the points.
TaskResult per_unit_task(const Network& net, const Box& box, const NetworkBounds& tight, const MilpModel& model,
                         const std::vector<int>& inputs, int g_column, double margin, std::size_t layer,
                         std::size_t unit, const Analysis& start, const ExactOptions& options,
                         cert::ReluSplit* tree) {
  std::vector<Eigen::VectorXd> keep;
  int proven_side = 0;
  double proven_bound = 0;
  long claims = 0, refuted = 0, unknown = 0, nodes = 0, lps = 0;
  double seconds = 0;
  bool cut_short = false;
  const UnitVerdict& v = start.layers[layer][unit];
  // Re-evaluates a point (clipped to the box) and tells whether it shows the
  // unit's sign on side `positive`.
  auto shows = [&](const Eigen::VectorXd& x, bool positive) {
    auto pre = unit_tasks::examine(net, start, x, keep);
    const double g = pre[layer](static_cast<Eigen::Index>(unit), 0);
    return positive ? g > 0 : g < 0;
  };
  if (v.status == Status::undecided) {
    // Loaded once the clock allows a first MILP: a task that starts after the
    // limit loads nothing (the layer's model, loaded by every task left).
    std::optional<MilpSolver> solver;
    for (bool positive : {true, false}) {
      if (positive ? v.seen_positive : v.seen_negative) continue;
      if (options.deadline.expired()) {
        cut_short = true;
        break;
      }
      Progress::global().heartbeat();
      if (!solver) solver.emplace(model);
      std::vector<double> objective(static_cast<std::size_t>(solver->columns()), 0.0);
      objective[static_cast<std::size_t>(g_column)] = positive ? -1.0 : 1.0;
      solver->set_objective(objective);
      MilpSettings settings = settings_for(options);
      settings.threads = 1;
      settings.cutoff = margin;
      bool seen = false;
      auto try_point = [&](const std::vector<double>& solution) {
        Eigen::VectorXd x(net.inputs());
        for (Eigen::Index j = 0; j < net.inputs(); ++j) {
          const double value = solution[static_cast<std::size_t>(inputs[static_cast<std::size_t>(j)])];
          if (!std::isfinite(value)) return seen;
          x[j] = std::clamp(value, box.lower[j], box.upper[j]);
        }
        seen = shows(x, positive) || seen;
        return seen;
      };
      MilpResult r = solver->minimize(settings, try_point, try_point);
      if (seen) continue;  // witnessed: the merge harvests the point
      if (r.status == MilpResult::Status::time_limit || options.deadline.expired()) {
        cut_short = true;
        break;
      }
      if (r.status != MilpResult::Status::infeasible) continue;  // open
      // CBC claims no point on this side (max g < -margin, resp. min g >
      // margin): the unit is stable if the sound search proves it.
      Stopwatch watch;
      ++claims;
      SplitOptions split;
      split.max_nodes = options.certify_nodes;
      split.deadline = options.deadline;
      split.limits = options.limits;
      cert::ReluSplit side_tree;  // the proof, for a certificate
      if (tree) split.tree = &side_tree;
      SplitResult proof = prove_sign(net, box, tight, layer, static_cast<Eigen::Index>(unit), positive, split,
                                     [&](const Eigen::VectorXd& x) { return shows(x, positive); });
      nodes += proof.nodes;
      lps += proof.lps;
      seconds += watch.seconds();
      if (proof.status == SplitResult::Status::proven) {
        proven_side = positive ? 1 : 2;
        proven_bound = positive ? std::min(0.0, std::isfinite(proof.bound) ? proof.bound : 0.0)
                                : std::max(0.0, std::isfinite(proof.bound) ? proof.bound : 0.0);
        if (tree) *tree = std::move(side_tree);
        break;
      }
      if (proof.status == SplitResult::Status::refuted) {
        ++refuted;
        Progress::global().report("milp", "CBC claimed layer {} unit {} stably {}; a re-evaluated point refutes it",
                                  layer, unit, positive ? "inactive" : "active");
      } else {
        ++unknown;
      }
      if (options.deadline.expired()) {
        cut_short = true;
        break;
      }
    }
  }
  unit_tasks::Writer w;
  w.number(proven_side);
  w.number(proven_bound);
  for (long n : {claims, refuted, unknown, nodes, lps}) w.number(static_cast<double>(n));
  w.number(seconds);
  w.number(cut_short ? 1 : 0);
  w.points(keep);
  return w.take();
}

}  // namespace

void exact_per_unit(const Network& net, const Box& box, const NetworkBounds& bounds, Analysis& analysis,
                    const ExactOptions& options) {
  check_inputs(net, box, bounds, analysis);
  const std::size_t hidden = net.hidden_layers();
  // The certifying search needs bounds on every layer up to the target's.
  NetworkBounds full = bounds;
  if (full.size() < net.layers.size()) {
    NetworkBounds ib = interval_bounds(net, box);
    for (std::size_t j = full.size(); j < net.layers.size(); ++j) full.push_back(ib[j]);
  }
  for (std::size_t l = 0; l < hidden; ++l) {
    // Under mpirun (sync.hpp) every rank starts the layer from rank 0's
    // analysis, with rank 0's decision to go on and its time left for the
    // tasks; not distributed, this process's clock.
    const sync::SharedClock clock =
        sync::follow_clock(fmt::format("milp layer {}", l), 0, options.deadline, analysis, nullptr);
    std::optional<ExactOptions> adopted;
    if (cluster::distributed()) {
      adopted = options;
      adopted->deadline = clock.limit();
    }
    const ExactOptions& run = adopted ? *adopted : options;
    NetworkBounds tight = tightened_bounds(bounds, analysis);
    apply_bounds(analysis, tight, Stage::milp);  // units the (sound) bounds alone show stable
    std::vector<std::size_t> todo;
    for (std::size_t i = 0; i < analysis.layers[l].size(); ++i)
      if (analysis.layers[l][i].status == Status::undecided) todo.push_back(i);
    if (todo.empty()) continue;
    if (clock.stop()) {
      analysis.timed_out = true;
      return;
    }
    if (skip_over_size_limit(net, tight, l, options.limits, analysis, Stage::milp,
                             fmt::format("per-unit: layer {} and later skipped: the MILP of the layers before", l),
                             "their undecided units stay undecided", l))
      return;
    // The MILP of layers [0, l) plus the g columns of layer l.
    MilpModel model;
    auto inputs = add_input_columns(model, box);
    auto layers = encode_relu_network(model, net, tight, inputs, l);
    const std::vector<int>& previous = l == 0 ? inputs : layers.back().x;
    const AffineLayer& layer = net.layers[l];
    std::vector<int> g(static_cast<std::size_t>(layer.outputs()), -1);
    std::vector<int> cols;
    std::vector<double> vals;
    for (std::size_t i : todo) {
      g[i] = model.add_column(tight[l].lower[i], tight[l].upper[i]);
      cols.assign(1, g[i]);
      vals.assign(1, 1.0);
      for (const auto& [j, w] : layer.row(static_cast<Eigen::Index>(i))) {  // sparse for a convolution
        cols.push_back(previous[static_cast<std::size_t>(j)]);
        vals.push_back(-w);
      }
      model.add_row(cols, vals, layer.bias[i], layer.bias[i]);
    }
    Progress::global().report("milp", "per-unit: layer {}, {} undecided units, {} binaries", l, todo.size(),
                              model.integers());
    // One task per unit (unit_tasks.hpp), on the state at the start of the
    // layer: the units of a layer do not depend on each other.
    const NetworkBounds certify = tightened_bounds(full, analysis);
    const Analysis& start = analysis;  // read only while the tasks run
    auto results = run_tasks(todo.size(), options.unit_threads,
                             unit_tasks::fingerprint("milp", l, todo, start, tight), [&](std::size_t k) {
                               const std::size_t i = todo[k];
                               const double margin = exact_margin(options, tight[l].lower[i], tight[l].upper[i]);
                               cert::ReluSplit tree;  // travels in the result (threads, ranks)
                               TaskResult r = per_unit_task(net, box, certify, model, inputs, g[i], margin, l, i,
                                                            start, run, options.recorder ? &tree : nullptr);
                               if (options.recorder) unit_tasks::append_tree(r, tree);
                               return r;
                             });
    bool cut_short = false;
    Certification& c = analysis.certification;
    for (std::size_t k = 0; k < todo.size(); ++k) {
      unit_tasks::Reader in(results[k]);
      const long side = in.count();
      const double bound = in.number();
      const long claims = in.count(), refuted = in.count(), unknown = in.count();
      c.nodes += in.count();
      c.lps += in.count();
      c.seconds += in.number();
      cut_short = in.count() != 0 || cut_short;
      const auto points = in.points();
      cert::ReluSplit tree;
      if (options.recorder) tree = in.tree();
      in.finish();
      Harvester harvester(net, box, inputs, analysis);
      for (const auto& x : points) harvester.harvest_input(x);
      c.claims += static_cast<int>(claims);
      c.refuted += static_cast<int>(refuted);
      c.unknown += static_cast<int>(unknown);
      if (side != 0) {
        // A proven claim (counted in claims): the unit is marked unless a
        // witness contradicts it (then it counts as unknown).
        if (mark_stable(analysis, l, todo[k], side == 1, bound, Stage::milp)) {
          ++c.proven;
          if (options.recorder) options.recorder->relu_split(std::move(tree));
        } else
          ++c.unknown;
      }
    }
    if (cut_short) {
      analysis.timed_out = true;
      return;
    }
  }
}

void exact_network(const Network& net, const Box& box, const NetworkBounds& bounds, Analysis& analysis,
                   const ExactOptions& options) {
  check_inputs(net, box, bounds, analysis);
  const std::size_t hidden = net.hidden_layers();
  NetworkBounds tight = tightened_bounds(bounds, analysis);
  apply_bounds(analysis, tight, Stage::milp);  // units the (sound) bounds alone show stable
  bool any = false;
  for (const auto& layer : analysis.layers)
    for (const auto& v : layer) any = any || v.status == Status::undecided;
  if (!any) return;
  if (options.deadline.expired()) {
    analysis.timed_out = true;
    return;
  }

  if (skip_over_size_limit(net, tight, hidden, options.limits, analysis, Stage::milp, "network: skipped: the MILP",
                           "the undecided units stay undecided", 0))
    return;
  MilpModel model;
  auto inputs = add_input_columns(model, box);
  ReluEncodingOptions relax;
  relax.relax_absolute = options.margin;
  relax.relax_relative = options.margin_relative;
  auto layers = encode_relu_network(model, net, tight, inputs, hidden, relax);
  // p (unit may be > 0) and q (unit may be < 0) columns; -1 when absent.
  struct Candidate {
    std::size_t layer, unit;
    int p = -1, q = -1;
  };
  std::vector<Candidate> candidates;
  for (std::size_t l = 0; l < hidden; ++l)
    for (std::size_t i = 0; i < analysis.layers[l].size(); ++i) {
      const UnitVerdict& v = analysis.layers[l][i];
      if (v.status != Status::undecided) continue;
      int z = layers[l].z[i];
      if (z < 0) continue;  // cannot happen: stable by bounds was marked above
      Candidate c{l, i};
      if (!v.seen_positive) {
        c.p = model.add_column(0.0, 1.0, -1.0);
        model.add_row({c.p, z}, {1.0, -1.0}, -MilpModel::infinity, 0.0);  // p <= z
      }
      if (!v.seen_negative) {
        c.q = model.add_column(0.0, 1.0, -1.0);
        model.add_row({c.q, z}, {1.0, 1.0}, -MilpModel::infinity, 1.0);  // q <= 1 - z
      }
      candidates.push_back(c);
    }
  MilpSolver solver(model);
  const std::vector<double> objective = model.objective;
  Harvester harvester(net, box, inputs, analysis);
  Certifier certifier(net, box, bounds, harvester, analysis, options);

  auto retire = [&](int column) { solver.set_column_bounds(column, 0.0, 0.0); };
  // Drops from the objective every p/q whose side has been seen (or decided).
  auto prune = [&] {
    int open = 0;
    for (Candidate& c : candidates) {
      const UnitVerdict& v = analysis.layers[c.layer][c.unit];
      if (c.p >= 0 && (v.status != Status::undecided || v.seen_positive)) retire(c.p), c.p = -1;
      if (c.q >= 0 && (v.status != Status::undecided || v.seen_negative)) retire(c.q), c.q = -1;
      open += (c.p >= 0) + (c.q >= 0);
    }
    return open;
  };
  // One side of one candidate by a per-unit solve on this MILP (objective g,
  // cutoff at the margin). Binaries of the unit's layer and later ones are made
  // continuous meanwhile: g depends on earlier layers only, and any assignment
  // of those extends to the later layers, so the answer is the same with far
  // less branching. Returns false when out of time.
  auto settle_candidate = [&](Candidate& c, bool positive) {
    int& column = positive ? c.p : c.q;
    if (column < 0) return true;
    UnitVerdict& v = analysis.layers[c.layer][c.unit];
    if (v.status == Status::undecided && !(positive ? v.seen_positive : v.seen_negative)) {
      for (std::size_t l = c.layer; l < hidden; ++l)
        for (int z : layers[l].z)
          if (z >= 0) solver.set_integer(z, false);
      double margin = exact_margin(options, tight[c.layer].lower[c.unit], tight[c.layer].upper[c.unit]);
      Outcome o = settle(solver, layers[c.layer].g[c.unit], positive, margin, c.layer, c.unit, harvester, analysis,
                         options);
      for (std::size_t l = c.layer; l < hidden; ++l)
        for (int z : layers[l].z)
          if (z >= 0) solver.set_integer(z, true);
      if (o == Outcome::out_of_time) return false;
      if (o == Outcome::proven) certifier.confirm(c.layer, c.unit, positive);
      if (options.deadline.expired()) return false;
    }
    if (column >= 0) retire(column), column = -1;
    return true;
  };

  int round = 0;
  while (true) {
    int open = prune();
    if (open == 0) return;
    if (options.deadline.expired()) {
      analysis.timed_out = true;
      return;
    }
    solver.set_objective(objective);
    long before = harvester.facts();
    // Cheap first: the LP relaxation's point, re-evaluated, often shows a few
    // candidates; only when it shows none is the MILP needed.
    double lp_objective = 0;
    std::vector<double> lp = solver.solve_relaxation(&lp_objective, options.deadline.remaining());
    if (!lp.empty() && lp_objective < -0.5 && harvester.harvest(lp) > 0) continue;
    Progress::global().report("milp", "network: MILP {}, {} candidates left, {} binaries", round, open,
                              model.integers());
    ++round;
    MilpSettings settings = settings_for(options);
    settings.cutoff = -0.5;
    settings.max_nodes = options.network_stall_nodes;
    auto try_point = [&](const std::vector<double>& solution) { return harvester.harvest(solution) > 0; };
    MilpResult r = solver.minimize(settings, try_point, try_point);
    Progress::global().report("milp", "network: solve {:.2f}s, {} nodes, {} incumbents, {} LP points, {} new facts",
                              r.seconds, r.nodes, r.incumbents, r.relaxations, harvester.facts() - before);
    if (harvester.facts() > before) continue;  // retire what was shown, solve again
    switch (r.status) {
      case MilpResult::Status::infeasible: {
        // No solution reaches 0.5: CBC claims that every remaining p (q) has
        // z = 1 (z = 0) infeasible in the relaxed MILP.
        for (Candidate& c : candidates) {
          UnitVerdict& v = analysis.layers[c.layer][c.unit];
          if (v.status != Status::undecided) continue;
          if (c.p >= 0 && c.q >= 0) continue;  // both sides impossible: a solver contradiction, claim nothing
          certifier.confirm(c.layer, c.unit, c.p >= 0);
          if (options.deadline.expired()) {
            analysis.timed_out = true;
            return;
          }
        }
        return;
      }
      case MilpResult::Status::node_limit: {
        // The sum objective's LP relaxation is weak; the per-unit one is tight.
        Progress::global().report("milp", "network: stalled, {} candidates left to per-unit solves", open);
        for (Candidate& c : candidates)
          for (bool positive : {true, false})
            if (!settle_candidate(c, positive)) {
              analysis.timed_out = true;
              return;
            }
        break;
      }
      case MilpResult::Status::optimal:
      case MilpResult::Status::stopped: {
        // The optimum claims units its re-evaluated point does not show: their
        // extreme is within the margin of 0, or the point is off by solver
        // tolerance. Settle each with a per-unit solve, else leave it undecided.
        std::vector<std::pair<Candidate*, bool>> stuck;
        for (Candidate& c : candidates) {
          if (c.p >= 0 && !r.solution.empty() && r.solution[c.p] > 0.5) stuck.push_back({&c, true});
          if (c.q >= 0 && !r.solution.empty() && r.solution[c.q] > 0.5) stuck.push_back({&c, false});
        }
        if (stuck.empty()) return;  // cannot happen with a solution >= 0.5; claim nothing
        for (auto& [c, positive] : stuck)
          if (!settle_candidate(*c, positive)) {
            analysis.timed_out = true;
            return;
          }
        break;
      }
      case MilpResult::Status::time_limit:
        analysis.timed_out = true;
        return;
      case MilpResult::Status::failed:
        if (options.deadline.expired()) analysis.timed_out = true;
        return;
    }
  }
}

}  // namespace leo
