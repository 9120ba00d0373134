#include "leo/util/progress.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace leo {

namespace {
const auto process_start = std::chrono::steady_clock::now();
}  // namespace

Progress& Progress::global() {
  static Progress instance;
  return instance;
}

void Progress::set_sink(Sink sink) {
  std::lock_guard<std::mutex> lock(mutex_);
  sink_ = std::move(sink);
}

void Progress::set_clock(Clock clock) {
  std::lock_guard<std::mutex> lock(mutex_);
  clock_ = std::move(clock);
}

void Progress::set_interval(double seconds) {
  std::lock_guard<std::mutex> lock(mutex_);
  interval_ = seconds > 0 ? seconds : 5.0;
}

double Progress::interval() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return interval_;
}

double Progress::now_locked() const {
  if (clock_) return clock_();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - process_start).count();
}

void Progress::emit(const std::string& stage, const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  emit_locked(stage, message);
}

void Progress::emit_locked(const std::string& stage, const std::string& message) {
  std::string line = fmt::format("[{:7.2f}s] {}: {}", now_locked(), stage, message);
  if (sink_) {
    sink_(line);
    return;
  }
  fmt::print(stderr, "{}\n", line);
  std::fflush(stderr);
}

void Progress::begin_stage(const std::string& stage, long left) {
  std::lock_guard<std::mutex> lock(mutex_);
  stage_ = stage;
  left_ = left;
  decided_at_start_ = decided_.load();
  stage_start_ = last_beat_ = now_locked();
  active_ = true;
}

void Progress::end_stage() {
  std::lock_guard<std::mutex> lock(mutex_);
  active_ = false;
}

void Progress::heartbeat() {
  if (!active_.load(std::memory_order_relaxed) || !enabled_.load(std::memory_order_relaxed)) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (!active_) return;
  const double now = now_locked();
  if (now - last_beat_ < interval_) return;
  last_beat_ = now;
  const long decided = decided_.load() - decided_at_start_;
  emit_locked(stage_, fmt::format("{} decided, {} left, {:.1f}s", decided, std::max(0L, left_ - decided),
                                  now - stage_start_));
}

StageProgress::StageProgress(const std::string& stage, long left) {
  Progress& p = Progress::global();
  p.begin_stage(stage, left);
  if (!p.enabled() || !p.watcher()) return;
  // Wake often enough to keep the interval (a quarter of it, at most 0.25 s).
  const auto period = std::chrono::duration<double>(std::min(0.25, p.interval() / 4));
  watcher_ = std::thread([this, period] {
    std::unique_lock<std::mutex> lock(mutex_);
    while (!wake_.wait_for(lock, period, [this] { return done_; })) Progress::global().heartbeat();
  });
}

StageProgress::~StageProgress() {
  if (watcher_.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      done_ = true;
    }
    wake_.notify_all();
    watcher_.join();
  }
  Progress::global().end_stage();
}

}  // namespace leo
