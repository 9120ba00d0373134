#pragma once
// CBC backend: a MilpModel loaded once into an OsiClpSolverInterface, then
// minimised as often as wanted with a plain CbcModel (no CbcMain1 defaults:
// measured 5-10x faster on these MILPs), with every incumbent handed to a
// callback (CbcEventHandler, events solution and heuristicSolution; sub-MIPs of
// heuristics, specialOptions() & 2048, are skipped), an elapsed-time limit and
// threads. No COIN-OR type appears in this header.
#include <functional>
#include <limits>
#include <memory>
#include <vector>

#include "leo/milp/relu_milp.hpp"

namespace leo {

struct MilpSettings {
  int threads = 1;
  double seconds = std::numeric_limits<double>::infinity();  // wall clock
  // Only solutions with objective < cutoff are of interest; nodes whose bound
  // reaches the cutoff are pruned. +infinity: none.
  double cutoff = std::numeric_limits<double>::infinity();
  // A binary within this of 0 or 1 counts as integral. Tight, so that the
  // relaxation a solver really solves stays close to the MILP (stability/exact.hpp).
  double integer_tolerance = 1e-9;
  long max_nodes = -1;  // branch-and-bound nodes; -1: no limit
  bool verbose = false;  // CBC's log on stdout
};

struct MilpResult {
  enum class Status {
    optimal,     // search complete, `solution` is optimal (within CBC's gap tolerance 1e-9)
    infeasible,  // search complete, no solution with objective < cutoff exists
    stopped,     // the incumbent callback asked to stop
    time_limit,  // out of time
    node_limit,  // settings.max_nodes reached
    failed,      // numerical trouble or another CBC failure: nothing proven
  };
  Status status = Status::failed;
  double objective = std::numeric_limits<double>::infinity();  // best solution found (+inf: none)
  // A proven lower bound on the minimum when the search completed or hit the
  // time limit (CBC's best possible value); -inf when unknown.
  double bound = -std::numeric_limits<double>::infinity();
  std::vector<double> solution;  // best solution found (empty: none)
  int incumbents = 0;            // incumbents handed to the callback
  int relaxations = 0;           // node LP solutions handed to on_relaxation
  long nodes = 0;
  double seconds = 0;
};

// Called with each incumbent (all column values; model.columns() entries).
// Return true to stop the search. May be called from CBC's threads, but never
// concurrently (MilpSolver serialises the calls).
using IncumbentCallback = std::function<bool(const std::vector<double>& solution)>;
// Called after each branch-and-bound node with the node's LP solution (all
// column values; not integral, maybe slightly outside bounds). Cheap points to
// try as witnesses. Return true to stop the search. Same threading as above.
using RelaxationCallback = std::function<bool(const std::vector<double>& lp_solution)>;

class MilpSolver {
 public:
  explicit MilpSolver(const MilpModel& model);
  ~MilpSolver();
  MilpSolver(const MilpSolver&) = delete;
  MilpSolver& operator=(const MilpSolver&) = delete;

  int columns() const;
  // Replaces the objective (one coefficient per column).
  void set_objective(const std::vector<double>& objective);
  void set_objective_coefficient(int column, double value);
  void set_column_bounds(int column, double lower, double upper);
  // Makes an integer column continuous (false) or integer again (true).
  void set_integer(int column, bool integer);

  // Solves the LP relaxation (warm-started from the previous one) and returns
  // its column values; empty when it is not solved to optimality (or not
  // within `seconds` of wall clock).
  std::vector<double> solve_relaxation(double* objective = nullptr,
                                       double seconds = std::numeric_limits<double>::infinity());

  // Minimises the objective. The callback also sees the final best solution if
  // CBC did not report it as an event.
  MilpResult minimize(const MilpSettings& settings, const IncumbentCallback& on_incumbent = {},
                      const RelaxationCallback& on_relaxation = {});

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace leo
