#pragma once
// A wall-clock deadline shared by the stages of a long computation. A stage
// that sees expired() stops and leaves its remaining work undecided: a time
// limit may cost compression, never correctness.
#include <chrono>
#include <limits>

namespace leo {

class Deadline {
 public:
  using clock = std::chrono::steady_clock;

  // No limit.
  Deadline() : start_(clock::now()), end_(clock::time_point::max()) {}
  // A limit of `seconds` from now; seconds <= 0 or infinity means no limit.
  explicit Deadline(double seconds) : start_(clock::now()), end_(clock::time_point::max()) {
    if (seconds > 0 && seconds < 1e9)
      end_ = start_ + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(seconds));
  }

  bool expired() const { return clock::now() >= end_; }
  bool unlimited() const { return end_ == clock::time_point::max(); }
  double elapsed() const { return std::chrono::duration<double>(clock::now() - start_).count(); }
  // Seconds left (infinity when unlimited, 0 when expired).
  double remaining() const {
    if (unlimited()) return std::numeric_limits<double>::infinity();
    double r = std::chrono::duration<double>(end_ - clock::now()).count();
    return r > 0 ? r : 0.0;
  }

 private:
  clock::time_point start_;
  clock::time_point end_;
};

// Measures one stage.
class Stopwatch {
 public:
  Stopwatch() : start_(Deadline::clock::now()) {}
  double seconds() const { return std::chrono::duration<double>(Deadline::clock::now() - start_).count(); }

 private:
  Deadline::clock::time_point start_;
};

}  // namespace leo
