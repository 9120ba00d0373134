#include "leo/stability/cascade.hpp"

#include "leo/checker/certificate.hpp"
#include "leo/stability/certify.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <optional>
#include <cctype>
#include <random>
#include <sstream>

#include "leo/bounds/alpha.hpp"
#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/bounds/lp.hpp"
#include "leo/stability/bab.hpp"
#include "leo/stability/evidence.hpp"
#include "leo/stability/exact.hpp"
#include "leo/stability/sync.hpp"
#include "leo/util/cluster.hpp"
#include "leo/util/deadline.hpp"
#include "leo/util/error.hpp"
#include "leo/util/progress.hpp"
#include "leo/util/threads.hpp"

namespace leo {

std::set<Stage> parse_stages(const std::string& list) {
  const auto& all = kCascadeStages;
  std::set<Stage> out;
  std::stringstream in(list);
  std::string item;
  while (std::getline(in, item, ',')) {
    item.erase(std::remove_if(item.begin(), item.end(), [](unsigned char c) { return std::isspace(c); }),
               item.end());
    if (item.empty()) continue;
    if (item == "all") {
      out.insert(std::begin(all), std::end(all));
      continue;
    }
    if (item == "none") continue;
    std::optional<Stage> stage = stage_from_name(item);
    if (!stage) throw InputError(fmt::format("--stages: unknown stage '{}' (known: {})", item, stage_names()));
    out.insert(*stage);
  }
  return out;
}

ExactMethod parse_exact(const std::string& name) {
  if (name == "network") return ExactMethod::network;
  if (name == "per-unit") return ExactMethod::per_unit;
  if (name == "none") return ExactMethod::none;
  throw InputError(fmt::format("--exact: unknown method '{}' (known: network, per-unit, none)", name));
}

const char* to_string(ExactMethod method) {
  switch (method) {
    case ExactMethod::network: return "network";
    case ExactMethod::per_unit: return "per-unit";
    case ExactMethod::none: return "none";
  }
  return "?";
}

void apply_baseline(AnalyzeOptions& options, const std::string& name) {
  if (name == "leo2020") {
    options.stages = {Stage::ibp, Stage::milp};
    options.exact = ExactMethod::per_unit;
  } else if (name == "isa2021") {
    options.stages = {Stage::samples, Stage::ibp, Stage::milp};
    options.exact = ExactMethod::network;
  } else {
    throw InputError(fmt::format("--baseline: unknown baseline '{}' (known: leo2020, isa2021)", name));
  }
}

bool stage_available(Stage stage) { return stage != Stage::none; }

namespace {

// Undecided units of the model: values carried for a skip connection are left
// out, so that a stage's "decided" adds up to the reports' totals.
int undecided_model_units(const Analysis& a) {
  int n = 0;
  for (std::size_t h = 0; h < a.layers.size(); ++h) n += a.count_model(h, Status::undecided);
  return n;
}

std::vector<std::vector<bool>> undecided_targets(const Network& network, const Analysis& a) {
  std::vector<std::vector<bool>> targets;
  for (std::size_t l = 0; l < network.layers.size(); ++l) {
    std::vector<bool> t(static_cast<std::size_t>(network.layers[l].outputs()), false);
    if (l < a.layers.size())
      for (std::size_t i = 0; i < t.size(); ++i) t[i] = a.layers[l][i].status == Status::undecided;
    targets.push_back(std::move(t));
  }
  return targets;
}

// Every unit of the hidden layers (the bound stages keep the unstable ones):
// their bounds, not only their signs, matter, since the triangle relaxation
// of an unstable unit feeds every later layer's bounds (and the exact
// stages' models).
std::vector<std::vector<bool>> hidden_units(const Network& network) {
  std::vector<std::vector<bool>> targets;
  for (std::size_t l = 0; l < network.layers.size(); ++l)
    targets.emplace_back(static_cast<std::size_t>(network.layers[l].outputs()), l + 1 < network.layers.size());
  return targets;
}

// The hidden units whose relaxations feed a later hidden layer (all but the
// last hidden layer's), and not those of layer 0, which CROWN bounds exactly
// already (an affine function of the input): the units whose LP bounds pay.
std::vector<std::vector<bool>> feeding_units(const Network& network) {
  std::vector<std::vector<bool>> targets;
  for (std::size_t l = 0; l < network.layers.size(); ++l)
    targets.emplace_back(static_cast<std::size_t>(network.layers[l].outputs()), l > 0 && l + 2 < network.layers.size());
  return targets;
}

// With a time limit, shares of the time left when the stage starts: the
// alpha stage's optimisation of every unstable unit's bounds, and the LP
// stage's full LPs of the feeding units (the sign LPs of undecided units
// have no own share: they decide units).
constexpr double kAlphaShare = 0.2;
constexpr double kLpBoundsShare = 0.15;
// The LP stage's give-up rules (LpOptions::full_probe, sign_streak).
constexpr int kLpFullProbe = 4;
constexpr int kLpSignStreak = 8;
constexpr double kLpSignReach = 100;

// The earlier of two deadlines.
const Deadline& earlier(const Deadline& a, const Deadline& b) { return a.remaining() < b.remaining() ? a : b; }

// A stage's own time budget: `configured` (<= 0: none), capped with a time
// limit by `share` of the time left when the stage starts.
double stage_seconds(double configured, double share, const Deadline& deadline) {
  if (deadline.unlimited() || share <= 0) return configured;
  const double limit = share * deadline.remaining();
  return configured > 0 ? std::min(configured, limit) : limit;
}

}  // namespace

Analysis analyze(const Network& network, const Domain& domain, const AnalyzeOptions& options) {
  Stopwatch total;
  // cluster::test_time_scale(): 1 but for the rank a test skews (LEO_MPI_TEST_TIME_SCALE).
  Deadline deadline(options.time_limit > 0 ? options.time_limit * cluster::test_time_scale() : options.time_limit);
  domain.box.validate(network.inputs(), "domain");
  const int threads = effective_threads(options.threads);
  set_threads(threads);  // OpenMP and OpenBLAS (util/threads.hpp)
  // The per-unit stages (split, milp per unit) run this many units at once.
  const int unit_threads = threads > 0 ? threads : hardware_threads();
  Analysis a = make_analysis(network, domain);
  std::mt19937_64 rng(options.seed);
  Progress& progress = Progress::global();
  std::optional<NetworkBounds> bounds;

  // Interval bounds are the base of every later bound stage (and of the
  // MILP's big-M), computed once even when the ibp stage is off.
  CertificateRecorder* rec = options.certificate;
  auto ensure_bounds = [&] {
    if (bounds) return;
    bounds = interval_bounds(network, domain.box);
    if (rec) rec->propagate(false);
  };
  // A bound stage that tightens by back-substitution: its multipliers are recorded.
  auto linear_stage = [&](const auto& run) {
    if (rec) rec->begin_linear(*bounds);
    run();
    if (rec) rec->end_linear(*bounds);
  };
  // What each stage does; returns the units it decided.
  auto body = [&](Stage stage) -> int {
    switch (stage) {
      case Stage::ibp:
        ensure_bounds();
        return apply_bounds(a, *bounds, Stage::ibp);
      case Stage::samples: return sample_stage(network, a, rng, options.samples, deadline);
      case Stage::attack: {
        const Deadline own(stage_seconds(0, options.attack_share, deadline));
        return attack_stage(network, a, rng, options.attack, own.remaining() < deadline.remaining() ? own : deadline);
      }
      case Stage::crown:
        ensure_bounds();
        crown_bounds(network, domain.box, *bounds, deadline);
        if (rec) rec->propagate(true);
        return apply_bounds(a, *bounds, Stage::crown);
      case Stage::alpha:
        ensure_bounds();
        {
          // The bounds of every unstable hidden unit, layer by layer (each
          // layer from its predecessors' optimised bounds), not only the
          // signs of the undecided ones: the exact stages build on them.
          const Deadline own(stage_seconds(0, kAlphaShare, deadline));
          linear_stage([&] {
            alpha_bounds(network, domain.box, *bounds, hidden_units(network), AlphaOptions{}, earlier(own, deadline));
          });
        }
        return apply_bounds(a, *bounds, Stage::alpha);
      case Stage::bab: {
        ensure_bounds();
        BabOptions bab = options.bab;
        bab.seconds = stage_seconds(bab.seconds, options.bab_share, deadline);
        cert::InputSplit tree;
        if (rec) bab.tree = &tree;
        const int decided = bab_stage(network, *bounds, a, bab, deadline);
        if (rec) rec->input_split(std::move(tree));
        return decided;
      }
      case Stage::lp: {
        ensure_bounds();
        // Layer by layer: alpha-CROWN again from the LP-tightened layers
        // before, the sign LPs of the undecided units, then full LPs of the
        // unstable units that feed later layers; every LP's primal point is
        // a witness candidate, re-evaluated in double.
        const int before = undecided_units(a);
        const auto feeding = feeding_units(network);
        LpOptions lp;
        lp.full = &feeding;
        lp.full_seconds = stage_seconds(0, kLpBoundsShare, deadline);
        lp.realpha = true;
        // Where the LPs do not pay, their time goes to the stages after:
        // full LPs stop in a layer whose first units they narrow by < 1 %
        // (alpha-CROWN is at the LP's optimum there), and, when the split
        // search follows (its root bound is this LP, with splits after it),
        // a layer's sign LPs stop after a run that settled nothing.
        lp.full_probe = kLpFullProbe;
        if (options.stages.count(Stage::split)) lp.sign_streak = kLpSignStreak;
        // and a sign question whose unit's interval would have to shrink by
        // more than 100x what the full LPs gained on average is not asked.
        lp.sign_reach = kLpSignReach;
        lp.on_point = [&](std::size_t, const Eigen::VectorXd& x) {
          harvest_witnesses(network, Eigen::MatrixXd(x), a, Stage::lp);
        };
        linear_stage([&] { lp_bounds(network, domain.box, *bounds, undecided_targets(network, a), lp, deadline); });
        apply_bounds(a, *bounds, Stage::lp);
        return before - undecided_units(a);
      }
      case Stage::split: {
        ensure_bounds();
        SplitStageOptions split = options.split;
        split.seconds = stage_seconds(split.seconds, options.split_share, deadline);
        split.recorder = rec;
        split.threads = unit_threads;
        // Layerwise re-tightening: once a layer's units are proven stable,
        // the next layer's bounds are re-optimised (alpha-CROWN) from them
        // before its searches start: units it settles need no search, and
        // the others' searches start from tighter relaxations.
        NetworkBounds last = *bounds;
        const Deadline own(split.seconds);
        split.before_layer = [&](std::size_t h) {
          bool changed = false;
          for (std::size_t j = 0; j < h && !changed; ++j)
            changed = !(last[j].lower.array() == (*bounds)[j].lower.array()).all() ||
                      !(last[j].upper.array() == (*bounds)[j].upper.array()).all();
          if (!changed || h + 1 >= network.layers.size()) return;
          std::vector<std::vector<bool>> targets(network.layers.size());
          targets[h].assign(static_cast<std::size_t>(network.layers[h].outputs()), true);
          linear_stage([&] {
            alpha_bounds(network, domain.box, *bounds, targets, AlphaOptions{}, earlier(own, deadline));
          });
          const int settled = apply_bounds(a, *bounds, Stage::alpha);
          if (settled > 0) progress.report("split", "layer {}: {} units settled by alpha-CROWN from the proofs before", h, settled);
          last = *bounds;
        };
        return split_stage(network, domain.box, *bounds, a, split, deadline);
      }
      case Stage::milp: {
        ensure_bounds();
        const int before = undecided_units(a);
        ExactOptions exact_options;
        exact_options.deadline = deadline;
        exact_options.threads = std::max(1, threads);  // CBC of the network MILP: one thread unless told
        exact_options.unit_threads = unit_threads;
        exact_options.recorder = rec;
        if (options.exact == ExactMethod::per_unit)
          exact_per_unit(network, domain.box, *bounds, a, exact_options);
        else
          exact_network(network, domain.box, *bounds, a, exact_options);
        return before - undecided_units(a);
      }
      case Stage::none: break;
    }
    return 0;
  };

  // Under mpirun rank 0's state and clock rule (sync.hpp): at each stage's
  // start and at the end, every rank adopts rank 0's analysis, bounds, random
  // state and time left, so the ranks take the same decisions and reach the
  // distributed steps of split and milp with the same tasks. Not distributed:
  // nothing happens here.
  const std::uint64_t inputs = cluster::distributed() ? sync::input_fingerprint(network, domain.box) : 0;
  auto follow_primary = [&](std::string_view site) {
    if (!cluster::distributed()) return sync::SharedClock(deadline);
    NetworkBounds shared = bounds && cluster::primary() ? *bounds : NetworkBounds{};
    std::ostringstream random;
    random << (bounds ? '1' : '0') << rng;
    std::string extra = random.str();
    const sync::SharedClock clock = sync::follow_clock(site, inputs, deadline, a, &shared, &extra);
    if (!cluster::primary()) {
      if (extra.starts_with("1"))
        bounds = std::move(shared);
      else
        bounds.reset();
      std::istringstream in(extra.substr(1));
      in >> rng;
      if (!in) throw Error(ExitCode::internal, "MPI: the random state sent by rank 0 is malformed");
      deadline = clock.limit();
    }
    return clock;
  };

  // The stages in the order of the stage table (stages.hpp).
  for (const StageInfo& info : kStages) {
    const Stage stage = info.stage;
    if (!options.stages.count(stage)) continue;
    if (!stage_available(stage)) {
      progress.report(info.name, "not available in this build; skipped");
      continue;
    }
    if (stage == Stage::milp && options.exact == ExactMethod::none) continue;
    const sync::SharedClock clock = follow_primary(fmt::format("the start of stage {}", info.name));
    const int left = undecided_units(a);  // carried values included: their bounds still matter
    if (left == 0) continue;
    const int model_left = undecided_model_units(a);
    if (clock.stop()) {
      a.timed_out = true;
      progress.report(info.name, "time limit reached; skipped ({} units undecided)", model_left);
      a.stage_times.push_back({stage, 0.0, 0});  // every requested stage has its line
      continue;
    }
    progress.report(info.name, "{} units undecided, {:.1f}s elapsed", model_left, total.seconds());
    Stopwatch watch;
    {
      StageProgress beat(info.name, left);  // a line at least every 5 s (util/progress.hpp)
      body(stage);
    }
    // Units of the model the stage decided (the body's own count includes carried values).
    const int model_now = undecided_model_units(a);
    a.stage_times.push_back({stage, watch.seconds(), model_left - model_now});
    progress.report(info.name, "decided {} units in {:.2f}s, {} left", model_left - model_now, watch.seconds(),
                    model_now);
  }
  if (undecided_units(a) > 0 && deadline.expired()) a.timed_out = true;
  a.time_seconds = total.seconds();
  if (cluster::distributed()) follow_primary("the end of the analysis");  // every rank returns rank 0's analysis
  return a;
}

}  // namespace leo
