#include "leo/util/parallel.hpp"

#include <fmt/core.h>
#include <omp.h>

#include <cstring>
#include <exception>
#include <string>

#include "leo/util/cluster.hpp"
#include "leo/util/error.hpp"
#include "leo/util/threads.hpp"

extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
}

namespace leo {
namespace {

// OpenBLAS on one thread while it lives, its count restored after (also
// when a task throws).
class OneBlasThread {
 public:
  OneBlasThread() : old_(openblas_get_num_threads()) { openblas_set_num_threads(1); }
  ~OneBlasThread() { openblas_set_num_threads(old_); }
  OneBlasThread(const OneBlasThread&) = delete;
  OneBlasThread& operator=(const OneBlasThread&) = delete;

 private:
  int old_;
};

// Runs task(indices[k]) for every k, `threads` at a time; results by k.
// OpenBLAS runs on one thread meanwhile, whatever `threads` and however many
// tasks there are: a product split over BLAS's threads may round otherwise
// than the same product on one, and a task's result must not depend on the
// thread count (nor on a list so short that one thread runs it).
std::vector<TaskResult> run_local(const std::vector<std::size_t>& indices, int threads, const Task& task) {
  std::vector<TaskResult> out(indices.size());
  std::vector<std::exception_ptr> errors(indices.size());
  threads = std::max(1, std::min<int>(threads, static_cast<int>(indices.size())));
  OneBlasThread blas;
  if (threads <= 1) {
    for (std::size_t k = 0; k < indices.size(); ++k) out[k] = task(indices[k]);
    return out;
  }
  const long n = static_cast<long>(indices.size());
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (long k = 0; k < n; ++k) {
    try {
      out[k] = task(indices[k]);
    } catch (...) {
      errors[k] = std::current_exception();
    }
  }
  for (auto& e : errors)
    if (e) std::rethrow_exception(e);
  return out;
}

// The first word of a run_tasks message ("leotasks"): ranks that meet at
// different kinds of step see it (stability/sync.cpp sends "leo sync").
constexpr std::uint64_t kTasksMagic = 0x736b7361746f656cULL;

void put(std::string& s, std::uint64_t x) { s.append(reinterpret_cast<const char*>(&x), sizeof x); }

class Reader {
 public:
  Reader(const std::string& s, int rank) : s_(s), rank_(rank) {}
  std::uint64_t u64() {
    std::uint64_t x;
    take(&x, sizeof x);
    return x;
  }
  void doubles(TaskResult& out, std::uint64_t n) {
    if (n > (s_.size() - pos_) / sizeof(double)) fail();
    out.resize(n);
    take(out.data(), n * sizeof(double));
  }
  bool done() const { return pos_ == s_.size(); }
  [[noreturn]] void fail() const {
    throw Error(ExitCode::internal, fmt::format("MPI: the results of rank {} are malformed", rank_));
  }

 private:
  void take(void* p, std::size_t n) {
    if (n > s_.size() - pos_) fail();
    std::memcpy(p, s_.data() + pos_, n);
    pos_ += n;
  }
  const std::string& s_;
  int rank_;
  std::size_t pos_ = 0;
};

}  // namespace

void run_on_threads(std::size_t count, int threads, const std::function<void(std::size_t index)>& task) {
  std::vector<std::size_t> all(count);
  for (std::size_t i = 0; i < count; ++i) all[i] = i;
  run_local(all, threads, [&](std::size_t i) {
    task(i);
    return TaskResult{};
  });
}

std::vector<TaskResult> run_tasks(std::size_t count, int threads, std::uint64_t fingerprint, const Task& task) {
  const int ranks = cluster::size(), me = cluster::rank();
  std::vector<std::size_t> mine;
  for (std::size_t i = static_cast<std::size_t>(me); i < count; i += static_cast<std::size_t>(ranks)) mine.push_back(i);
  std::vector<TaskResult> local = run_local(mine, threads, task);
  if (ranks <= 1) return local;

  std::string message;
  put(message, kTasksMagic);
  put(message, fingerprint);
  put(message, count);
  put(message, mine.size());
  for (std::size_t k = 0; k < mine.size(); ++k) {
    put(message, mine[k]);
    put(message, local[k].size());
    message.append(reinterpret_cast<const char*>(local[k].data()), local[k].size() * sizeof(double));
  }
  std::vector<std::string> all = cluster::all_gather(message);
  std::vector<TaskResult> out(count);
  std::vector<bool> seen(count, false);
  for (std::size_t r = 0; r < all.size(); ++r) {
    Reader in(all[r], static_cast<int>(r));
    if (all[r].size() < sizeof(std::uint64_t) || in.u64() != kTasksMagic)
      throw Error(ExitCode::internal,
                  fmt::format("MPI: the ranks are out of step: rank {} shares out tasks while rank {} is at another "
                              "step (a rank-local decision that was not synchronised, or other commands on the ranks)",
                              me, r));
    const std::uint64_t fp = in.u64(), n = in.u64(), tasks = in.u64();
    if (fp != fingerprint || n != count)
      throw Error(ExitCode::internal,
                  fmt::format("MPI: rank {} has another task list than rank {}: {}; the ranks start each distributed "
                              "step from rank 0's state, so their options or inputs differ, or a rank-local decision "
                              "was not synchronised",
                              r, me,
                              n != count ? fmt::format("{} tasks, not {}", n, count)
                                         : std::string("the same number of tasks, but other units or start bounds")));
    for (std::uint64_t k = 0; k < tasks; ++k) {
      const std::uint64_t index = in.u64(), length = in.u64();
      if (index >= count || seen[index] || index % static_cast<std::uint64_t>(ranks) != r) in.fail();
      seen[index] = true;
      in.doubles(out[index], length);
    }
    if (!in.done()) in.fail();
  }
  for (std::size_t i = 0; i < count; ++i)
    if (!seen[i]) throw Error(ExitCode::internal, fmt::format("MPI: the result of task {} of {} is missing", i, count));
  return out;
}

}  // namespace leo
