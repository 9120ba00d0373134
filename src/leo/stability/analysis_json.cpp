#include "leo/stability/analysis_json.hpp"

#include <cmath>

namespace leo {
namespace {

nlohmann::json number_or_null(double v) {
  if (std::isfinite(v)) return v;
  return nullptr;
}

nlohmann::json vector_json(const Eigen::VectorXd& v) {
  nlohmann::json out = nlohmann::json::array();
  for (Eigen::Index i = 0; i < v.size(); ++i) out.push_back(v[i]);
  return out;
}

}  // namespace

nlohmann::json to_json(const Analysis& a) {
  nlohmann::json j;
  j["domain"] = {{"description", a.domain.description},
                 {"features", a.domain.box.size()},
                 {"lower", vector_json(a.domain.box.lower)},
                 {"upper", vector_json(a.domain.box.upper)},
                 {"probes", a.domain.probes.cols()}};
  j["time_seconds"] = a.time_seconds;
  j["timed_out"] = a.timed_out;
  nlohmann::json stages = nlohmann::json::array();
  for (const StageTime& s : a.stage_times)
    stages.push_back({{"stage", to_string(s.stage)}, {"seconds", s.seconds}, {"decided", s.decided}});
  j["stages"] = stages;
  const Certification& c = a.certification;
  j["certification"] = {{"claims", c.claims}, {"proven", c.proven},   {"refuted", c.refuted}, {"unknown", c.unknown},
                        {"nodes", c.nodes},   {"lps", c.lps},         {"seconds", c.seconds}};
  nlohmann::json layers = nlohmann::json::array();
  for (std::size_t h = 0; h < a.layers.size(); ++h) {
    nlohmann::json layer;
    layer["units"] = a.layers[h].size();
    layer["stably_active"] = a.count(h, Status::active);
    layer["stably_inactive"] = a.count(h, Status::inactive);
    layer["unstable"] = a.count(h, Status::unstable);
    layer["undecided"] = a.count(h, Status::undecided);
    nlohmann::json by = nlohmann::json::object();
    nlohmann::json verdicts = nlohmann::json::array();
    for (const UnitVerdict& v : a.layers[h]) {
      verdicts.push_back({{"status", to_string(v.status)},
                          {"stage", to_string(v.stage)},
                          {"lower", number_or_null(v.lower)},
                          {"upper", number_or_null(v.upper)}});
      if (v.stage != Stage::none) {
        auto& c = by[to_string(v.stage)];
        c = c.is_null() ? 1 : c.get<int>() + 1;
      }
    }
    layer["decided_by"] = by;
    layer["verdicts"] = verdicts;
    layers.push_back(layer);
  }
  j["layers"] = layers;
  // Totals over the hidden layers; undecided units are kept as unstable.
  nlohmann::json totals = {{"units", 0}, {"stably_active", 0}, {"stably_inactive", 0}, {"unstable", 0},
                           {"undecided", 0}};
  for (const auto& layer : layers)
    for (const char* key : {"units", "stably_active", "stably_inactive", "unstable", "undecided"})
      totals[key] = totals[key].get<long>() + layer[key].get<long>();
  j["totals"] = totals;
  nlohmann::json witnesses = nlohmann::json::array();
  for (const Witness& w : a.witnesses) {
    nlohmann::json units = nlohmann::json::array();
    for (const WitnessUnit& u : w.units)
      units.push_back({{"layer", u.layer}, {"unit", u.unit}, {"sign", u.positive ? "positive" : "negative"}});
    witnesses.push_back({{"input", vector_json(w.input)}, {"units", units}});
  }
  j["witnesses"] = witnesses;
  return j;
}

}  // namespace leo
