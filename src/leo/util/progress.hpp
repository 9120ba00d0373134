#pragma once
// Progress lines on stderr for long work: "[ 12.3s] stage: message".
// Silent when disabled (tests, --quiet).
#include <fmt/core.h>

#include <string>
#include <utility>

namespace leo {

class Progress {
 public:
  static Progress& global();

  void set_enabled(bool enabled) { enabled_ = enabled; }
  bool enabled() const { return enabled_; }

  template <typename... Args>
  void report(const std::string& stage, fmt::format_string<Args...> format, Args&&... args) {
    if (enabled_) emit(stage, fmt::format(format, std::forward<Args>(args)...));
  }

 private:
  void emit(const std::string& stage, const std::string& message);
  bool enabled_ = false;
};

}  // namespace leo
