#include "leo/stability/analysis_json.hpp"

#include <cmath>

#include "leo/stability/channels.hpp"

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

// "unit" (flat, in the layer) and "index" [channel, row, column] (in its
// segment; with "segment" when asked) of a unit of a structured layer.
void unit_index(const LayerLayout& layout, Eigen::Index unit, bool with_segment, nlohmann::json& entry) {
  const std::size_t s = layout.segment_of(unit);
  const Shape3& shape = layout.segments[s].shape;
  const Eigen::Index local = unit - layout.segments[s].offset;
  const Eigen::Index positions = shape.positions();
  entry["unit"] = unit;
  entry["index"] = {local / positions, (local % positions) / shape.width, local % shape.width};
  if (with_segment) entry["segment"] = s;
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
    const LayerLayout* layout = h < a.layouts.size() && a.layouts[h].structured() ? &a.layouts[h] : nullptr;
    nlohmann::json layer;
    layer["units"] = a.model_units(h);
    layer["stably_active"] = a.count_model(h, Status::active);
    layer["stably_inactive"] = a.count_model(h, Status::inactive);
    layer["unstable"] = a.count_model(h, Status::unstable);
    layer["undecided"] = a.count_model(h, Status::undecided);
    nlohmann::json by = nlohmann::json::object();
    nlohmann::json verdicts = nlohmann::json::array();
    int model_segments = 0;
    if (layout)
      for (const UnitSegment& seg : layout->segments) model_segments += !seg.carry;
    for (std::size_t i = 0; i < a.layers[h].size(); ++i) {
      const UnitVerdict& v = a.layers[h][i];
      const auto unit = static_cast<Eigen::Index>(i);
      if (a.is_carry(h, unit)) continue;  // reported apart, below
      nlohmann::json entry = {{"status", to_string(v.status)},
                              {"stage", to_string(v.stage)},
                              {"lower", number_or_null(v.lower)},
                              {"upper", number_or_null(v.upper)}};
      if (layout) unit_index(*layout, unit, model_segments > 1, entry);
      verdicts.push_back(std::move(entry));
      if (v.stage != Stage::none) {
        auto& c = by[to_string(v.stage)];
        c = c.is_null() ? 1 : c.get<int>() + 1;
      }
    }
    layer["decided_by"] = by;
    if (layout) {
      nlohmann::json shapes = nlohmann::json::array();
      for (const UnitSegment& seg : layout->segments)
        if (!seg.carry) shapes.push_back({seg.shape.channels, seg.shape.height, seg.shape.width});
      layer["shape"] = model_segments == 1 ? shapes[0] : shapes;
      nlohmann::json channels = nlohmann::json::array();
      int whole_inactive = 0, whole_active = 0, count = 0;
      for (const ChannelSummary& c : channel_summary(a, h)) {
        nlohmann::json entry = {{"channel", c.channel},
                                {"positions", c.positions},
                                {"stably_inactive", c.inactive},
                                {"stably_active", c.active},
                                {"unstable", c.unstable},
                                {"undecided", c.undecided},
                                {"stable", c.whole_inactive() || c.whole_active()},
                                {"whole", c.whole_inactive() ? "inactive" : c.whole_active() ? "active" : "none"}};
        if (model_segments > 1) entry["segment"] = c.segment;
        channels.push_back(std::move(entry));
        whole_inactive += c.whole_inactive();
        whole_active += c.whole_active();
        ++count;
      }
      layer["channels"] = channels;
      layer["whole_channels"] = {{"channels", count}, {"stably_inactive", whole_inactive}, {"stably_active", whole_active}};
      const int carries = a.carry_units(h);
      if (carries > 0) {
        int by_status[4] = {0, 0, 0, 0};
        for (std::size_t i = 0; i < a.layers[h].size(); ++i)
          if (a.is_carry(h, static_cast<Eigen::Index>(i))) ++by_status[static_cast<int>(a.layers[h][i].status)];
        layer["carry"] = {{"units", carries},
                          {"stably_active", by_status[static_cast<int>(Status::active)]},
                          {"stably_inactive", by_status[static_cast<int>(Status::inactive)]},
                          {"unstable", by_status[static_cast<int>(Status::unstable)]},
                          {"undecided", by_status[static_cast<int>(Status::undecided)]}};
      }
    }
    layer["verdicts"] = verdicts;
    layers.push_back(layer);
  }
  j["layers"] = layers;
  nlohmann::json skipped = nlohmann::json::array();
  for (const SkippedModel& m : a.skipped_models)
    skipped.push_back({{"stage", to_string(m.stage)},
                       {"layer", m.layer},
                       {"rows", m.rows},
                       {"nonzeros", m.nonzeros},
                       {"limit_rows", m.limit_rows},
                       {"limit_nonzeros", m.limit_nonzeros}});
  j["skipped_models"] = skipped;
  // Totals over the hidden layers; undecided units are kept as unstable.
  nlohmann::json totals = {{"units", 0}, {"stably_active", 0}, {"stably_inactive", 0}, {"unstable", 0},
                           {"undecided", 0}};
  for (const auto& layer : layers)
    for (const char* key : {"units", "stably_active", "stably_inactive", "unstable", "undecided"})
      totals[key] = totals[key].get<long>() + layer[key].get<long>();
  int carries = 0;
  for (std::size_t h = 0; h < a.layers.size(); ++h) carries += a.carry_units(h);
  if (carries > 0) totals["carry_units"] = carries;  // not in "units": see "carry" of each layer
  j["totals"] = totals;
  nlohmann::json witnesses = nlohmann::json::array();
  for (const Witness& w : a.witnesses) {
    nlohmann::json units = nlohmann::json::array();
    for (const WitnessUnit& u : w.units) {
      nlohmann::json entry = {{"layer", u.layer}, {"unit", u.unit}, {"sign", u.positive ? "positive" : "negative"}};
      const auto h = static_cast<std::size_t>(u.layer);
      if (h < a.layouts.size() && a.layouts[h].structured()) {
        unit_index(a.layouts[h], u.unit, true, entry);
        if (a.is_carry(h, u.unit)) entry["carry"] = true;
      }
      units.push_back(std::move(entry));
    }
    witnesses.push_back({{"input", vector_json(w.input)}, {"units", units}});
  }
  j["witnesses"] = witnesses;
  return j;
}

}  // namespace leo
