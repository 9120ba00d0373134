#include "leo/stability/analysis_table.hpp"

#include <fmt/core.h>

#include <array>

namespace leo {

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
    int c[5] = {static_cast<int>(a.layers[h].size()), a.count(h, Status::active), a.count(h, Status::inactive),
                a.count(h, Status::unstable), a.count(h, Status::undecided)};
    std::array<int, n> by{};
    for (const UnitVerdict& v : a.layers[h])
      for (std::size_t k = 0; k < n; ++k)
        if (v.stage == stages[k]) ++by[k];
    for (int k = 0; k < 5; ++k) total[k] += c[k];
    for (std::size_t k = 0; k < n; ++k) total_by[k] += by[k];
    out += row(std::to_string(h), c, by);
  }
  out += row("all", total, total_by);
  out += "\nstage      seconds  decided\n";
  for (const StageTime& s : a.stage_times)
    out += fmt::format("{:<8} {:>9.3f} {:>8}\n", to_string(s.stage), s.seconds, s.decided);
  out += fmt::format("total    {:>9.3f}{}\n", a.time_seconds, a.timed_out ? "  (time limit reached)" : "");
  if (const Certification& c = a.certification; c.claims > 0)
    out += fmt::format("solver claims of stability: {}, proven {}, refuted {}, unproven {} ({} nodes, {:.3f}s)\n",
                       c.claims, c.proven, c.refuted, c.unknown, c.nodes, c.seconds);
  int stable = total[1] + total[2];
  out += fmt::format("stable units: {} of {} ({:.1f}%)\n", stable, total[0],
                     total[0] > 0 ? 100.0 * stable / total[0] : 0.0);
  if (total[4] > 0)
    out += fmt::format("undecided units: {} of {} (kept as unstable{})\n", total[4], total[0],
                       a.timed_out ? "; the time limit stopped the analysis" : "");
  return out;
}

}  // namespace leo
