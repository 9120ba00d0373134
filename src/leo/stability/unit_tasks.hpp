#pragma once
// The per-unit tasks of the exact stages (split: relu_split.cpp, milp:
// exact.cpp) run through util/parallel.hpp: on many threads and ranks, each
// task reading the analysis as it was when the layer's tasks started and
// changing nothing; what a task finds comes back as a TaskResult (doubles)
// and is merged into the analysis in unit order. So the verdicts and the
// witnesses do not depend on the thread count or the number of ranks.
//
// Witnesses: a task keeps each point it meets that shows a sign some
// undecided unit of the start state lacks (evaluated as harvest() does); the
// merge harvests them in order (evidence.hpp), which re-evaluates them.
#include <Eigen/Dense>
#include <cmath>
#include <cstdint>
#include <string_view>
#include <vector>

#include "leo/bounds/bounds.hpp"
#include "leo/checker/certificate.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"
#include "leo/util/error.hpp"
#include "leo/util/parallel.hpp"

namespace leo::unit_tasks {

// The pre-activations of input x, re-evaluated in double (one column per
// layer). Appends x to `keep` when x lies in the analysis' box and shows a
// sign (g > 0 or g < 0, strictly) that an undecided unit of `a` still lacks.
std::vector<Eigen::MatrixXd> examine(const Network& net, const Analysis& a, const Eigen::VectorXd& x,
                                     std::vector<Eigen::VectorXd>& keep);

// A name for the work of one layer's tasks: the stage, the layer, the units,
// the evidence flags of every unit and the bounds of layers <= `layer` (bit
// for bit). Ranks that disagree on it have diverged (util/parallel.hpp).
std::uint64_t fingerprint(std::string_view stage, std::size_t layer, const std::vector<std::size_t>& units,
                          const Analysis& a, const NetworkBounds& bounds);

// Appends a ReLU-split proof (a certificate's evidence, checker/certificate.hpp)
// to a task's result, so that it travels with the result: between threads,
// and between ranks under mpirun (util/cluster.hpp), bit for bit. Read back
// with Reader::tree().
void append_tree(TaskResult& out, const cert::ReluSplit& tree);

// Writes and reads a TaskResult: numbers and points, in order.
class Writer {
 public:
  void number(double x) { out_.push_back(x); }
  void points(const std::vector<Eigen::VectorXd>& ps) {
    number(static_cast<double>(ps.size()));
    for (const auto& p : ps) {
      number(static_cast<double>(p.size()));
      out_.insert(out_.end(), p.data(), p.data() + p.size());
    }
  }
  TaskResult take() { return std::move(out_); }

 private:
  TaskResult out_;
};

class Reader {
 public:
  explicit Reader(const TaskResult& in) : in_(in) {}
  double number() {
    if (pos_ >= in_.size()) fail();
    return in_[pos_++];
  }
  long count() {
    const double x = number();
    if (!(x >= 0 && x <= 1e15) || x != std::floor(x)) fail();
    return static_cast<long>(x);
  }
  std::vector<Eigen::VectorXd> points() {
    std::vector<Eigen::VectorXd> ps(static_cast<std::size_t>(count()));
    for (auto& p : ps) {
      const long n = count();
      if (static_cast<std::size_t>(n) > in_.size() - pos_) fail();
      p = Eigen::Map<const Eigen::VectorXd>(in_.data() + pos_, n);
      pos_ += static_cast<std::size_t>(n);
    }
    return ps;
  }
  // A tree appended by append_tree.
  cert::ReluSplit tree();
  void finish() const {
    if (pos_ != in_.size()) fail();
  }

 private:
  [[noreturn]] void fail() const { throw Error(ExitCode::internal, "internal error: a unit task's result is malformed"); }
  const TaskResult& in_;
  std::size_t pos_ = 0;
};

}  // namespace leo::unit_tasks
