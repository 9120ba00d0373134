#include "leo/stability/stages.hpp"

#include <fmt/core.h>

namespace leo {

const char* to_string(Stage stage) {
  for (const StageInfo& info : kStages)
    if (info.stage == stage) return info.name;
  return "none";
}

std::optional<Stage> stage_from_name(std::string_view name) {
  for (const StageInfo& info : kStages)
    if (name == info.name) return info.stage;
  return std::nullopt;
}

std::string stage_names() {
  std::string out;
  for (const StageInfo& info : kStages) out += (out.empty() ? "" : ", ") + std::string(info.name);
  return out;
}

std::string stages_help() {
  std::string out = "Stages to run, comma-separated, or all (default) or none. They run in this order, each on the "
                    "units still undecided:";
  for (const StageInfo& info : kStages) out += fmt::format("\n  {:<8} {}", info.name, info.summary);
  return out;
}

}  // namespace leo
