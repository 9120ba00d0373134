#pragma once
// The machine-readable form of an Analysis (`leo analyze --json`, embedded by
// `leo compress --json` under "analysis"). Field names are an interface:
//
// { "domain": {"description", "features", "lower": [...], "upper": [...], "probes"},
//   "time_seconds", "timed_out",
//   "stages": [{"stage", "seconds", "decided"}],
//   "layers": [{"units", "stably_active", "stably_inactive", "unstable", "undecided",
//               "decided_by": {stage: count},
//               "verdicts": [{"status", "stage", "lower", "upper"}]}],   // one per hidden layer
//   "totals": {"units", "stably_active", "stably_inactive", "unstable", "undecided"},
//   "witnesses": [{"input": [...], "units": [{"layer", "unit", "sign": "positive"|"negative"}]}] }
//
// status: active | inactive | unstable | undecided; stage: the stage that
// decided it ("none" if undecided; names: the stage table, stages.hpp); lower/upper: best proven bounds on g
// (null when unbounded / not computed).
#include <nlohmann/json.hpp>

#include "leo/stability/verdict.hpp"

namespace leo {

nlohmann::json to_json(const Analysis& analysis);

}  // namespace leo
