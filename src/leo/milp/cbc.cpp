#include "leo/milp/cbc.hpp"

#include <CbcBranchActual.hpp>
#include <CbcEventHandler.hpp>
#include <CbcModel.hpp>
#include <CoinError.hpp>
#include <CoinMessageHandler.hpp>
#include <CoinPackedMatrix.hpp>
#include <ClpEventHandler.hpp>
#include <ClpSimplex.hpp>
#include <OsiClpSolverInterface.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <mutex>

#include "leo/util/deadline.hpp"
#include "leo/util/error.hpp"
#include "leo/util/progress.hpp"

namespace leo {
namespace {

// What the event handlers of one minimize() call (one per CBC thread) share.
struct Shared {
  std::mutex mutex;
  const IncumbentCallback* callback = nullptr;
  const RelaxationCallback* relaxation = nullptr;
  bool stop = false;
  int incumbents = 0;
  int relaxations = 0;
  std::vector<double> last;  // the last solution handed to the callback
};

class IncumbentHandler : public CbcEventHandler {
 public:
  explicit IncumbentHandler(Shared* shared) : shared_(shared) {}
  IncumbentHandler(const IncumbentHandler&) = default;

  CbcAction event(CbcEvent which) override {
    if (model_ == nullptr || (model_->specialOptions() & 2048) != 0) return noAction;  // a heuristic's sub-MIP
    if (which == node) {
      Progress::global().heartbeat();  // long solves keep printing (util/progress.hpp)
      return relaxation();
    }
    if (which != solution && which != heuristicSolution) return noAction;
    const double* best = model_->bestSolution();
    if (best == nullptr) return noAction;
    std::vector<double> values(best, best + model_->getNumCols());
    std::lock_guard<std::mutex> lock(shared_->mutex);
    if (shared_->stop) return stop;
    if (values == shared_->last) return noAction;
    shared_->last = values;
    ++shared_->incumbents;
    if (*shared_->callback && (*shared_->callback)(values)) {
      shared_->stop = true;
      return stop;
    }
    return noAction;
  }

  CbcEventHandler* clone() const override { return new IncumbentHandler(*this); }

 private:
  CbcAction relaxation() {
    if (!*shared_->relaxation) return noAction;
    const OsiSolverInterface* solver = model_->solver();
    if (solver == nullptr || !solver->isProvenOptimal()) return noAction;
    const double* lp = solver->getColSolution();
    if (lp == nullptr) return noAction;
    std::vector<double> values(lp, lp + solver->getNumCols());
    std::lock_guard<std::mutex> lock(shared_->mutex);
    if (shared_->stop) return stop;
    ++shared_->relaxations;
    if ((*shared_->relaxation)(values)) {
      shared_->stop = true;
      return stop;
    }
    return noAction;
  }

  Shared* shared_;
};

}  // namespace

struct MilpSolver::Impl {
  OsiClpSolverInterface solver;
  std::vector<int> priority;  // per column
  bool solved = false;        // an LP relaxation was solved (warm start available)
};

MilpSolver::MilpSolver(const MilpModel& model) : impl_(std::make_unique<Impl>()) {
  const int n = model.columns(), m = model.rows();
  CoinPackedMatrix matrix(false, n, m, static_cast<CoinBigIndex>(model.row_values.size()), model.row_values.data(),
                          model.row_columns.data(), model.row_starts.data(), nullptr);
  std::vector<double> row_lower = model.row_lower, row_upper = model.row_upper;
  std::vector<double> col_lower = model.col_lower, col_upper = model.col_upper;
  auto coin = [&](std::vector<double>& v) {
    for (double& x : v)
      if (std::isinf(x)) x = x > 0 ? impl_->solver.getInfinity() : -impl_->solver.getInfinity();
  };
  coin(row_lower), coin(row_upper), coin(col_lower), coin(col_upper);
  impl_->solver.messageHandler()->setLogLevel(0);
  impl_->solver.loadProblem(matrix, col_lower.data(), col_upper.data(), model.objective.data(), row_lower.data(),
                            row_upper.data());
  for (int j = 0; j < n; ++j)
    if (model.integer[j]) impl_->solver.setInteger(j);
  impl_->priority = model.priority;
}

namespace {
// Stops a Clp simplex (either algorithm) at a wall-clock time, checked after
// every iteration: Clp's own time limit is checked too rarely on dense LPs.
class LpDeadline : public ClpEventHandler {
 public:
  explicit LpDeadline(Deadline::clock::time_point stop_at) : stop_at_(stop_at) {}
  int event(Event which) override {
    if (which == endOfIteration && stop_at_ != Deadline::clock::time_point::max() &&
        Deadline::clock::now() >= stop_at_)
      return 0;  // stop (status 5)
    return -1;
  }
  ClpEventHandler* clone() const override { return new LpDeadline(*this); }

 private:
  Deadline::clock::time_point stop_at_;
};

// A wall-clock limit on the LPs of `solver` (<= 0 or infinite: none). CBC's
// time limit is only checked between nodes; the LPs inside (the root's above
// all, on big models) must stop too.
void limit_lp(OsiSolverInterface* solver, double seconds) {
  auto* clp = dynamic_cast<OsiClpSolverInterface*>(solver);
  if (clp == nullptr) return;
  const bool limited = seconds > 0 && seconds < 1e9;  // (infinite: none; also keeps the time_point finite)
  clp->getModelPtr()->setMaximumWallSeconds(limited ? seconds : -1.0);
  clp->getModelPtr()->setMaximumSeconds(limited ? seconds : -1.0);
  LpDeadline handler(limited ? Deadline::clock::now() + std::chrono::duration_cast<Deadline::clock::duration>(
                                                            std::chrono::duration<double>(seconds))
                             : Deadline::clock::time_point::max());
  clp->getModelPtr()->passInEventHandler(&handler);  // Clp keeps a clone
}
}  // namespace

std::vector<double> MilpSolver::solve_relaxation(double* objective, double seconds) {
  if (!(seconds > 0)) return {};
  try {
    limit_lp(&impl_->solver, seconds);
    if (impl_->solved)
      impl_->solver.resolve();
    else
      impl_->solver.initialSolve();
    impl_->solved = true;
    limit_lp(&impl_->solver, 0);
    if (!impl_->solver.isProvenOptimal()) return {};
    const double* x = impl_->solver.getColSolution();
    if (objective) *objective = impl_->solver.getObjValue();
    return std::vector<double>(x, x + impl_->solver.getNumCols());
  } catch (const CoinError&) {
    limit_lp(&impl_->solver, 0);
    return {};
  }
}

MilpSolver::~MilpSolver() = default;

int MilpSolver::columns() const { return impl_->solver.getNumCols(); }

void MilpSolver::set_objective(const std::vector<double>& objective) {
  if (static_cast<int>(objective.size()) != columns())
    throw Error(ExitCode::internal, "internal error: MilpSolver::set_objective: wrong size");
  impl_->solver.setObjective(objective.data());
}

void MilpSolver::set_objective_coefficient(int column, double value) { impl_->solver.setObjCoeff(column, value); }

void MilpSolver::set_integer(int column, bool integer) {
  if (integer)
    impl_->solver.setInteger(column);
  else
    impl_->solver.setContinuous(column);
}

void MilpSolver::set_column_bounds(int column, double lower, double upper) {
  impl_->solver.setColBounds(column, lower, upper);
}

MilpResult MilpSolver::minimize(const MilpSettings& settings, const IncumbentCallback& on_incumbent,
                                const RelaxationCallback& on_relaxation) {
  Stopwatch watch;
  MilpResult result;
  if (!(settings.seconds > 0)) {
    result.status = MilpResult::Status::time_limit;
    return result;
  }
  Shared shared;
  shared.callback = &on_incumbent;
  shared.relaxation = &on_relaxation;
  try {
    CbcModel model(impl_->solver);
    model.setLogLevel(settings.verbose ? 1 : 0);
    model.solver()->messageHandler()->setLogLevel(0);
    model.setIntegerTolerance(settings.integer_tolerance);
    model.setDblParam(CbcModel::CbcCutoffIncrement, 1e-9);
    model.setAllowableGap(1e-9);
    model.setAllowableFractionGap(0.0);
    model.setAllowablePercentageGap(0.0);
    if (std::isfinite(settings.cutoff)) model.setCutoff(settings.cutoff);
    model.setUseElapsedTime(true);
    if (std::isfinite(settings.seconds)) model.setMaximumSeconds(settings.seconds);
    if (settings.max_nodes >= 0) model.setMaximumNodes(static_cast<int>(std::min<long>(settings.max_nodes, 1 << 30)));
    if (settings.threads > 1) model.setNumberThreads(settings.threads);
    model.findIntegers(false);
    for (int k = 0; k < model.numberObjects(); ++k) {
      auto* object = dynamic_cast<CbcSimpleInteger*>(model.modifiableObject(k));
      if (object != nullptr && object->columnNumber() < static_cast<int>(impl_->priority.size()))
        object->setPriority(impl_->priority[object->columnNumber()]);
    }
    IncumbentHandler handler(&shared);
    model.passInEventHandler(&handler);
    limit_lp(model.solver(), settings.seconds);
    model.branchAndBound();

    result.nodes = model.getNodeCount();
    const double* best = model.bestSolution();
    if (best != nullptr) {
      result.solution.assign(best, best + model.getNumCols());
      result.objective = model.getObjValue();
    }
    if (shared.stop) {
      result.status = MilpResult::Status::stopped;
    } else if (model.status() == 0 && (model.isProvenOptimal() || model.isProvenInfeasible())) {
      result.status = best != nullptr ? MilpResult::Status::optimal : MilpResult::Status::infeasible;
      result.bound = best != nullptr ? std::min(model.getBestPossibleObjValue(), result.objective) : settings.cutoff;
    } else if (model.status() == 1 && (model.isSecondsLimitReached() || model.secondaryStatus() == 4)) {
      result.status = MilpResult::Status::time_limit;
      result.bound = model.getBestPossibleObjValue();
    } else if (model.status() == 1 && (model.isNodeLimitReached() || model.secondaryStatus() == 3)) {
      result.status = MilpResult::Status::node_limit;
      result.bound = model.getBestPossibleObjValue();
    } else {
      result.status = MilpResult::Status::failed;
    }
    // An LP cut short by its time limit can look infeasible to CBC: past the
    // limit, a completed search is not trusted as complete.
    if (std::isfinite(settings.seconds) && watch.seconds() >= settings.seconds &&
        (result.status == MilpResult::Status::optimal || result.status == MilpResult::Status::infeasible ||
         result.status == MilpResult::Status::failed)) {
      result.status = MilpResult::Status::time_limit;
      result.bound = -std::numeric_limits<double>::infinity();
    }
    // The final best solution counts as an incumbent too (CBC does not always
    // raise an event, e.g. when the root LP is already integral).
    if (best != nullptr && !shared.stop && result.solution != shared.last) {
      std::lock_guard<std::mutex> lock(shared.mutex);
      ++shared.incumbents;
      shared.last = result.solution;
      if (on_incumbent && on_incumbent(result.solution) && result.status != MilpResult::Status::optimal &&
          result.status != MilpResult::Status::infeasible)
        result.status = MilpResult::Status::stopped;
    }
  } catch (const CoinError& e) {
    result.status = MilpResult::Status::failed;
  }
  result.incumbents = shared.incumbents;
  result.relaxations = shared.relaxations;
  result.seconds = watch.seconds();
  return result;
}

}  // namespace leo
