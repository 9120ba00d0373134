#include "leo/util/progress.hpp"

#include <chrono>
#include <cstdio>
#include <mutex>

namespace leo {

namespace {
const auto process_start = std::chrono::steady_clock::now();
std::mutex emit_mutex;
}  // namespace

Progress& Progress::global() {
  static Progress instance;
  return instance;
}

void Progress::emit(const std::string& stage, const std::string& message) {
  double t = std::chrono::duration<double>(std::chrono::steady_clock::now() - process_start).count();
  std::lock_guard<std::mutex> lock(emit_mutex);
  fmt::print(stderr, "[{:7.2f}s] {}: {}\n", t, stage, message);
  std::fflush(stderr);
}

}  // namespace leo
