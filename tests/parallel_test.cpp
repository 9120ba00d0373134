// util/parallel.hpp in one process: every task runs once, results come back in
// task order whatever the thread count, and the exception of the lowest task
// index is the one rethrown after every task ran.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <thread>

#include "leo/util/cluster.hpp"
#include "leo/util/parallel.hpp"
#include "leo/util/threads.hpp"

namespace leo {
namespace {

TEST(RunTasks, ResultsInTaskOrderForAnyThreadCount) {
  ASSERT_FALSE(cluster::distributed());  // the tests never start MPI
  for (int threads : {1, 2, 3, 8}) {
    std::atomic<int> calls{0};
    auto out = run_tasks(37, threads, 7, [&](std::size_t i) {
      ++calls;
      // Uneven work, so that a dynamic schedule finishes tasks out of order.
      if (i % 5 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
      return TaskResult(i % 4, static_cast<double>(i) * 1.5);
    });
    EXPECT_EQ(calls.load(), 37) << threads;
    ASSERT_EQ(out.size(), 37u);
    for (std::size_t i = 0; i < out.size(); ++i) {
      ASSERT_EQ(out[i].size(), i % 4) << "task " << i << ", " << threads << " threads";
      for (double x : out[i]) EXPECT_EQ(x, static_cast<double>(i) * 1.5);
    }
  }
  EXPECT_TRUE(run_tasks(0, 2, 0, [](std::size_t) { return TaskResult{1.0}; }).empty());
}

// Tasks run their products on one OpenBLAS thread whatever the thread count
// and the length of the list (a product split over BLAS's threads may round
// otherwise, and a task's result must not depend on either); the caller's
// BLAS thread count comes back after, also when a task throws.
TEST(RunTasks, RunOnOneBlasThreadAndRestoreTheCount) {
  const int before = blas_threads();
  set_threads(2);
  const int caller = blas_threads();
  for (int threads : {1, 2}) {
    for (std::size_t count : {1, 5}) {
      auto out = run_tasks(count, threads, 0, [](std::size_t) { return TaskResult{double(blas_threads())}; });
      for (const auto& r : out) EXPECT_EQ(r[0], 1.0) << threads << " threads, " << count << " tasks";
      EXPECT_EQ(blas_threads(), caller);
    }
  }
  EXPECT_THROW(run_tasks(1, 1, 0, [](std::size_t) -> TaskResult { throw std::runtime_error("x"); }),
               std::runtime_error);
  EXPECT_EQ(blas_threads(), caller);
  set_threads(before);
}

TEST(RunTasks, RethrowsTheLowestFailingTaskAfterAllRan) {
  for (int threads : {1, 2, 4}) {
    std::atomic<int> calls{0};
    try {
      run_tasks(20, threads, 0, [&](std::size_t i) -> TaskResult {
        ++calls;
        if (i == 13 || i == 6) throw std::runtime_error("task " + std::to_string(i));
        return {};
      });
      FAIL() << "no exception";
    } catch (const std::runtime_error& e) {
      EXPECT_STREQ(e.what(), "task 6");
    }
    // One thread stops at the first failure; more threads still run the rest.
    if (threads > 1) {
      EXPECT_EQ(calls.load(), 20);
    }
  }
}

TEST(Fingerprint, DependsOnEveryValueAndTheirOrder) {
  EXPECT_EQ(Fingerprint().add(1).add(2).value, Fingerprint().add(1).add(2).value);
  EXPECT_NE(Fingerprint().add(1).add(2).value, Fingerprint().add(2).add(1).value);
  EXPECT_NE(Fingerprint().add("split").value, Fingerprint().add("milp").value);
  EXPECT_NE(Fingerprint().add("ab").add("c").value, Fingerprint().add("a").add("bc").value);
}

TEST(Cluster, NotStartedOutsideMpirun) {
  // No mpirun variables in the test environment: start() must do nothing.
  if (cluster::launched_by_mpirun()) GTEST_SKIP() << "the test itself runs under mpirun";
  int argc = 0;
  char** argv = nullptr;
  cluster::start(&argc, &argv);
  EXPECT_EQ(cluster::size(), 1);
  EXPECT_EQ(cluster::rank(), 0);
  EXPECT_EQ(cluster::all_gather("abc"), std::vector<std::string>{"abc"});
  cluster::stop();
}

}  // namespace
}  // namespace leo
