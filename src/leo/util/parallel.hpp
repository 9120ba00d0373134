#pragma once
// Independent tasks on many threads and many processes, with results that do
// not depend on either: the per-unit stages of the stability analysis (the
// ReLU-split search, the per-unit MILPs) run through here.
//
// Contract: task(i) depends only on i and on state that is the same on every
// thread and every rank (it reads, never writes, shared state). Then the
// results, returned in task order, are the same for any thread count and any
// number of ranks, and the caller merges them in that order: deterministic.
// (A time limit is the exception: what a task finishes before it depends on
// the machine; a task cut short must say so in its result. Under mpirun a task
// cut short on one rank and not on another is fine: its result, whatever that
// rank proved, is gathered like any other; but the task list and the state
// the tasks read must not come from a rank's own clock: the callers take them
// from rank 0's state, stability/sync.hpp.)
//
// Threads: this process runs its tasks `threads` at a time (OpenMP, dynamic
// schedule, one task per grab); OpenBLAS is set to one thread meanwhile, also
// when one thread runs them (the tasks are the parallelism, and a product
// split over BLAS's threads may round otherwise), and restored after. A task that throws: the
// other tasks still run, and the exception of the lowest index is rethrown.
//
// Ranks (util/cluster.hpp): rank r runs the tasks with i % size == r, and the
// results of all tasks are gathered on every rank. `fingerprint` names the
// task list (e.g. a hash of the units the tasks work on): ranks that disagree
// on it or on `count`, or a task missing or returned twice, is an
// Error(internal), never a merged result.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace leo {

using TaskResult = std::vector<double>;
using Task = std::function<TaskResult(std::size_t index)>;

std::vector<TaskResult> run_tasks(std::size_t count, int threads, std::uint64_t fingerprint, const Task& task);

// Threads only, for work that every rank does in full by itself (e.g. the
// check of compress): task(i) for every i < count, `threads` at a time, as
// run_tasks does it on one rank (the exception of the lowest index
// rethrown), with OpenBLAS on one thread meanwhile even when `threads` is 1
// (a product split over OpenBLAS's threads may round otherwise than on
// one, and the tasks' results must not depend on `threads`). Each task writes its result to
// its own slot of the caller's; the same contract makes them independent of
// `threads`.
void run_on_threads(std::size_t count, int threads, const std::function<void(std::size_t index)>& task);

// FNV-1a, for fingerprints: fold values in one after another.
struct Fingerprint {
  std::uint64_t value = 1469598103934665603ULL;
  Fingerprint& add(std::uint64_t x) {
    for (int b = 0; b < 8; ++b) value = (value ^ ((x >> (8 * b)) & 0xff)) * 1099511628211ULL;
    return *this;
  }
  Fingerprint& add(std::string_view text) {
    for (unsigned char c : text) value = (value ^ c) * 1099511628211ULL;
    return add(text.size());
  }
};

}  // namespace leo
