#include "leo/stability/analysis_table.hpp"

#include <fmt/core.h>

#include <array>

#include "leo/stability/channels.hpp"

namespace leo {

namespace {

// Per conv layer: the channels, each with its positions by status and whether
// the whole channel is stable; then the carried units of residual connections.
std::string channel_table(const Analysis& a) {
  std::string out;
  for (std::size_t h = 0; h < a.layers.size(); ++h) {
    const std::vector<ChannelSummary> channels = channel_summary(a, h);
    if (!channels.empty()) {
      int whole_inactive = 0, whole_active = 0;
      for (const ChannelSummary& c : channels) whole_inactive += c.whole_inactive(), whole_active += c.whole_active();
      const auto& segs = a.layouts[h].segments;
      int model_segments = 0;
      for (const UnitSegment& s : segs) model_segments += !s.carry;
      out += fmt::format("\nlayer {}: {} channels, {} wholly inactive, {} wholly active\n", h, channels.size(),
                         whole_inactive, whole_active);
      out += fmt::format("{:>9} {:>9} {:>8} {:>8} {:>8} {:>9}  {}\n", model_segments > 1 ? "seg:chan" : "channel",
                         "positions", "inactive", "active", "unstable", "undecided", "whole channel");
      for (const ChannelSummary& c : channels) {
        const std::string name =
            model_segments > 1 ? fmt::format("{}:{}", c.segment, c.channel) : std::to_string(c.channel);
        out += fmt::format("{:>9} {:>9} {:>8} {:>8} {:>8} {:>9}  {}\n", name, c.positions, c.inactive, c.active,
                           c.unstable, c.undecided,
                           c.whole_inactive() ? "stably inactive" : c.whole_active() ? "stably active" : "-");
      }
    }
    if (const int carries = a.carry_units(h); carries > 0) {
      int active = 0, inactive = 0;
      for (std::size_t i = 0; i < a.layers[h].size(); ++i) {
        if (!a.is_carry(h, static_cast<Eigen::Index>(i))) continue;
        active += a.layers[h][i].status == Status::active;
        inactive += a.layers[h][i].status == Status::inactive;
      }
      out += fmt::format("layer {}: {} carried units of residual connections (not units of the model): {} stably "
                         "active, {} stably inactive, {} other\n", h, carries, active, inactive,
                         carries - active - inactive);
    }
  }
  return out;
}

}  // namespace

std::string format_table(const Analysis& a) {
  constexpr std::size_t n = std::size(kCascadeStages);
  const auto& stages = kCascadeStages;
  std::string out;
  out += fmt::format("domain: {}\n", a.domain.description);
  out += fmt::format("{:>5} {:>6} {:>7} {:>8} {:>8} {:>9} |", "layer", "units", "active", "inactive", "unstable",
                     "undecided");
  for (Stage s : stages) out += fmt::format(" {:>7}", to_string(s));
  out += "\n";
  std::array<int, n> total_by{};
  int total[5] = {0, 0, 0, 0, 0};
  auto row = [&](const std::string& name, const int* c, const std::array<int, n>& by) {
    std::string r = fmt::format("{:>5} {:>6} {:>7} {:>8} {:>8} {:>9} |", name, c[0], c[1], c[2], c[3], c[4]);
    for (int k : by) r += fmt::format(" {:>7}", k);
    return r + "\n";
  };
  for (std::size_t h = 0; h < a.layers.size(); ++h) {
    // Units of the model only: carries (residual connections) are reported apart, below.
    int c[5] = {a.model_units(h), a.count_model(h, Status::active), a.count_model(h, Status::inactive),
                a.count_model(h, Status::unstable), a.count_model(h, Status::undecided)};
    std::array<int, n> by{};
    for (std::size_t i = 0; i < a.layers[h].size(); ++i) {
      if (a.is_carry(h, static_cast<Eigen::Index>(i))) continue;
      for (std::size_t k = 0; k < n; ++k)
        if (a.layers[h][i].stage == stages[k]) ++by[k];
    }
    for (int k = 0; k < 5; ++k) total[k] += c[k];
    for (std::size_t k = 0; k < n; ++k) total_by[k] += by[k];
    out += row(std::to_string(h), c, by);
  }
  out += row("all", total, total_by);
  out += channel_table(a);
  out += "\nstage      seconds  decided\n";
  for (const StageTime& s : a.stage_times)
    out += fmt::format("{:<8} {:>9.3f} {:>8}\n", to_string(s.stage), s.seconds, s.decided);
  out += fmt::format("total    {:>9.3f}{}\n", a.time_seconds, a.timed_out ? "  (time limit reached)" : "");
  if (const Certification& c = a.certification; c.claims > 0)
    out += fmt::format("solver claims of stability: {}, proven {}, refuted {}, unproven {} ({} nodes, {:.3f}s)\n",
                       c.claims, c.proven, c.refuted, c.unknown, c.nodes, c.seconds);
  for (const SkippedModel& m : a.skipped_models)
    out += fmt::format("{}: layer {} and later not solved: the model would have {} rows and {} nonzeros (limits {} "
                       "and {})\n", to_string(m.stage), m.layer, m.rows, m.nonzeros, m.limit_rows, m.limit_nonzeros);
  int stable = total[1] + total[2];
  out += fmt::format("stable units: {} of {} ({:.1f}%)\n", stable, total[0],
                     total[0] > 0 ? 100.0 * stable / total[0] : 0.0);
  if (total[4] > 0)
    out += fmt::format("undecided units: {} of {} (kept as unstable{})\n", total[4], total[0],
                       a.timed_out ? "; the time limit stopped the analysis" : "");
  return out;
}

}  // namespace leo
