#include "leo/stability/cascade.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <optional>
#include <random>
#include <sstream>

#include "leo/bounds/alpha.hpp"
#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/bounds/lp.hpp"
#include "leo/milp/exact.hpp"
#include "leo/stability/bab.hpp"
#include "leo/stability/witnesses.hpp"
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
    auto it = std::find_if(std::begin(all), std::end(all), [&](Stage s) { return item == to_string(s); });
    if (it == std::end(all))
      throw InputError(fmt::format(
          "--stages: unknown stage '{}' (known: samples, attack, ibp, crown, alpha, lp, bab, split, milp)", item));
    out.insert(*it);
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

int apply_bounds(Analysis& analysis, const NetworkBounds& bounds, Stage stage) {
  int decided = 0;
  for (std::size_t h = 0; h < analysis.layers.size() && h < bounds.size(); ++h) {
    auto& layer = analysis.layers[h];
    const Bounds& b = bounds[h];
    for (std::size_t i = 0; i < layer.size(); ++i) {
      UnitVerdict& v = layer[i];
      auto k = static_cast<Eigen::Index>(i);
      if (k < b.lower.size()) v.lower = std::max(v.lower, b.lower[k]);
      if (k < b.upper.size()) v.upper = std::min(v.upper, b.upper[k]);
      if (v.status != Status::undecided) continue;
      if (v.upper <= 0) {
        if (v.seen_positive) {
          Progress::global().report(to_string(stage),
                                    "warning: layer {} unit {}: bound {} <= 0 contradicts a positive witness; "
                                    "left undecided",
                                    h, i, v.upper);
          continue;
        }
        v.status = Status::inactive;
        v.stage = stage;
        ++decided;
      } else if (v.lower >= 0) {
        if (v.seen_negative) {
          Progress::global().report(to_string(stage),
                                    "warning: layer {} unit {}: bound {} >= 0 contradicts a negative witness; "
                                    "left undecided",
                                    h, i, v.lower);
          continue;
        }
        v.status = Status::active;
        v.stage = stage;
        ++decided;
      }
    }
  }
  return decided;
}

namespace {

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
  Deadline deadline(options.time_limit);
  domain.box.validate(network.inputs(), "domain");
  set_threads(options.threads);  // OpenMP and OpenBLAS (util/threads.hpp)
  Analysis a = make_analysis(network, domain);
  std::mt19937_64 rng(options.seed);
  Progress& progress = Progress::global();
  std::optional<NetworkBounds> bounds;

  auto wants = [&](Stage s) { return options.stages.count(s) > 0; };
  auto run = [&](Stage stage, auto&& body) {
    if (!wants(stage)) return;
    if (!stage_available(stage)) {
      progress.report(to_string(stage), "not available in this build; skipped");
      return;
    }
    if (stage == Stage::milp && options.exact == ExactMethod::none) return;
    int left = undecided_units(a);
    if (left == 0) return;
    if (deadline.expired()) {
      a.timed_out = true;
      progress.report(to_string(stage), "time limit reached; skipped ({} units undecided)", left);
      a.stage_times.push_back({stage, 0.0, 0});  // every requested stage has its line
      return;
    }
    progress.report(to_string(stage), "{} units undecided, {:.1f}s elapsed", left, total.seconds());
    Stopwatch watch;
    int decided = body();
    a.stage_times.push_back({stage, watch.seconds(), decided});
    progress.report(to_string(stage), "decided {} units in {:.2f}s, {} left", decided, watch.seconds(),
                    undecided_units(a));
  };

  // Interval bounds are the base of every later bound stage (and of the
  // MILP's big-M), computed once even when the ibp stage is off.
  auto ensure_bounds = [&] {
    if (!bounds) bounds = interval_bounds(network, domain.box);
  };

  // Interval bounds first: nearly free, and every unit they settle is one
  // target less for the attack.
  run(Stage::ibp, [&] {
    ensure_bounds();
    return apply_bounds(a, *bounds, Stage::ibp);
  });
  run(Stage::samples, [&] { return sample_stage(network, a, rng, options.samples, deadline); });
  run(Stage::attack, [&] { return attack_stage(network, a, rng, options.attack, deadline); });
  run(Stage::crown, [&] {
    ensure_bounds();
    crown_bounds(network, domain.box, *bounds, deadline);
    return apply_bounds(a, *bounds, Stage::crown);
  });
  run(Stage::alpha, [&] {
    ensure_bounds();
    alpha_bounds(network, domain.box, *bounds, undecided_targets(network, a), AlphaOptions{}, deadline);
    return apply_bounds(a, *bounds, Stage::alpha);
  });
  run(Stage::bab, [&] {
    ensure_bounds();
    BabOptions bab = options.bab;
    bab.seconds = stage_seconds(bab.seconds, options.bab_share, deadline);
    return bab_stage(network, *bounds, a, bab, deadline);
  });
  run(Stage::lp, [&] {
    ensure_bounds();
    lp_bounds(network, domain.box, *bounds, undecided_targets(network, a), LpOptions{}, deadline);
    return apply_bounds(a, *bounds, Stage::lp);
  });
  run(Stage::split, [&] {
    ensure_bounds();
    SplitStageOptions split = options.split;
    split.seconds = stage_seconds(split.seconds, options.split_share, deadline);
    return split_stage(network, domain.box, *bounds, a, split, deadline);
  });
  run(Stage::milp, [&] {
    ensure_bounds();
    int before = undecided_units(a);
    ExactOptions exact_options;
    exact_options.deadline = deadline;
    exact_options.threads = std::max(1, options.threads);
    if (options.exact == ExactMethod::per_unit)
      exact_per_unit(network, domain.box, *bounds, a, exact_options);
    else
      exact_network(network, domain.box, *bounds, a, exact_options);
    return before - undecided_units(a);
  });
  if (undecided_units(a) > 0 && deadline.expired()) a.timed_out = true;
  a.time_seconds = total.seconds();
  return a;
}

}  // namespace leo
