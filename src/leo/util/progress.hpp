#pragma once
// Progress lines on stderr for long work: "[ 12.3s] stage: message".
// Silent when disabled (tests, --quiet).
//
// Heartbeat: while a stage of long work runs (StageProgress, one at a time),
// a line "[ 12.3s] stage: N decided, M left, T s" is printed at least every
// interval() seconds (default 5), so that no minute passes in silence: by a
// watcher thread, and by heartbeat() calls in the stages' loops, whichever
// comes first. Units decided are counted by count_decided() (the evidence
// module calls it for every verdict); "left" is the stage's undecided units at
// its start minus those decided since.
//
// For tests, the clock, the interval, the output (a sink instead of stderr)
// and the watcher thread can be replaced; with the watcher off and a clock
// that only the test advances, the lines are deterministic.
#include <fmt/core.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace leo {

class Progress {
 public:
  using Clock = std::function<double()>;                  // seconds, monotonic
  using Sink = std::function<void(const std::string&)>;  // one line, without '\n'

  static Progress& global();

  void set_enabled(bool enabled) { enabled_ = enabled; }
  bool enabled() const { return enabled_; }

  template <typename... Args>
  void report(const std::string& stage, fmt::format_string<Args...> format, Args&&... args) {
    if (enabled_) emit(stage, fmt::format(format, std::forward<Args>(args)...));
  }

  // Test hooks; an empty function restores the default (stderr, steady clock).
  void set_sink(Sink sink);
  void set_clock(Clock clock);
  void set_interval(double seconds);
  double interval() const;
  void set_watcher(bool on) { watcher_ = on; }
  bool watcher() const { return watcher_; }

  // The stage being run and the undecided units it starts with; its counts.
  void begin_stage(const std::string& stage, long left);
  void end_stage();
  void count_decided(long units) { decided_.fetch_add(units, std::memory_order_relaxed); }
  long decided() const { return decided_.load(std::memory_order_relaxed); }
  // Prints the heartbeat line when a stage runs and interval() has passed
  // since its start or its last heartbeat line. Cheap: call it often.
  void heartbeat();

 private:
  void emit(const std::string& stage, const std::string& message);
  void emit_locked(const std::string& stage, const std::string& message);
  double now_locked() const;

  std::atomic<bool> enabled_{false};
  std::atomic<bool> watcher_{true};
  std::atomic<bool> active_{false};
  std::atomic<long> decided_{0};
  mutable std::mutex mutex_;  // everything below
  Sink sink_;
  Clock clock_;
  double interval_ = 5.0;
  std::string stage_;
  long left_ = 0;
  long decided_at_start_ = 0;
  double stage_start_ = 0, last_beat_ = 0;
};

// A stage of long work on Progress::global(), for the scope of this object:
// begin_stage / end_stage, and a watcher thread calling heartbeat() while it
// lives (when progress is enabled and the watcher is on).
class StageProgress {
 public:
  StageProgress(const std::string& stage, long left);
  ~StageProgress();
  StageProgress(const StageProgress&) = delete;
  StageProgress& operator=(const StageProgress&) = delete;

 private:
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  std::thread watcher_;
};

}  // namespace leo
