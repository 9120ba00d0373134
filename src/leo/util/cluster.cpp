#include "leo/util/cluster.hpp"

#include <fmt/core.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "leo/util/error.hpp"

#ifdef LEO_HAVE_MPI
#include <mpi.h>
#endif

namespace leo::cluster {
namespace {

int g_rank = 0;
int g_size = 1;
bool g_started = false;

// Seconds a gather may wait for the other ranks (LEO_MPI_TIMEOUT; unset, 0 or
// unreadable: no limit, mpirun's own failure detection applies).
[[maybe_unused]] double gather_timeout() {
  const char* text = std::getenv("LEO_MPI_TIMEOUT");
  if (!text) return 0;
  char* end = nullptr;
  double s = std::strtod(text, &end);
  return end != text && s > 0 ? s : 0;
}

// Test hook (tests/mpi_test.sh): the rank named by LEO_MPI_TEST_DIE_RANK ends
// abruptly (no MPI_Finalize, exit 9) when it reaches its first gather, as a
// crashed or killed rank would.
[[maybe_unused]] void maybe_die_for_test() {
  const char* text = std::getenv("LEO_MPI_TEST_DIE_RANK");
  if (text && std::atoi(text) == g_rank && g_size > 1) {
    fmt::print(stderr, "leo: rank {}: LEO_MPI_TEST_DIE_RANK: exiting without finishing (test)\n", g_rank);
    std::fflush(stderr);
    std::_Exit(9);
  }
}

#ifdef LEO_HAVE_MPI
void check(int code, const char* what) {
  if (code == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING] = {};
  int length = 0;
  MPI_Error_string(code, text, &length);
  throw Error(ExitCode::internal, fmt::format("MPI: rank {} of {}: {} failed: {}", g_rank, g_size, what, text));
}

// Waits for a non-blocking operation, polling, within the timeout.
void wait(MPI_Request& request, const char* what, double timeout) {
  const auto start = std::chrono::steady_clock::now();
  auto pause = std::chrono::microseconds(50);
  while (true) {
    int done = 0;
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), what);
    if (done) return;
    if (timeout > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > timeout)
      throw Error(ExitCode::internal,
                  fmt::format("MPI: rank {} of {}: {}: the other ranks did not answer within LEO_MPI_TIMEOUT = {} s "
                              "(a rank failed or hangs)",
                              g_rank, g_size, what, timeout));
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(20000));
  }
}
#endif

}  // namespace

bool available() {
#ifdef LEO_HAVE_MPI
  return true;
#else
  return false;
#endif
}

bool launched_by_mpirun() {
  return std::getenv("OMPI_COMM_WORLD_SIZE") || std::getenv("PMIX_RANK") || std::getenv("PMI_SIZE");
}

void start(int* argc, char*** argv) {
  if (g_started || !launched_by_mpirun()) return;
#ifdef LEO_HAVE_MPI
  int provided = 0;
  // Only the thread that called start() calls MPI (the gathers are between tasks).
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
    throw Error(ExitCode::internal, "MPI: MPI_Init_thread failed");
  g_started = true;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  check(MPI_Comm_rank(MPI_COMM_WORLD, &g_rank), "MPI_Comm_rank");
  check(MPI_Comm_size(MPI_COMM_WORLD, &g_size), "MPI_Comm_size");
#else
  (void)argc;
  (void)argv;
  throw InputError("started by mpirun, but this leo was built without MPI (install libopenmpi-dev and rebuild: "
                   "scripts/setup)");
#endif
}

void stop() {
#ifdef LEO_HAVE_MPI
  if (g_started) MPI_Finalize();
#endif
  g_started = false;
  g_rank = 0;
  g_size = 1;
}

void abort(int code) {
#ifdef LEO_HAVE_MPI
  if (g_started && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  (void)code;
}

double test_time_scale() {
  const char* text = std::getenv("LEO_MPI_TEST_TIME_SCALE");
  if (!text || g_size <= 1) return 1.0;
  char* end = nullptr;
  const long r = std::strtol(text, &end, 10);
  if (end == text || *end != ':' || r != g_rank) return 1.0;
  const char* f = end + 1;
  const double scale = std::strtod(f, &end);
  return end != f && *end == '\0' && scale > 0 && scale < 1e9 ? scale : 1.0;
}

int rank() { return g_rank; }
int size() { return g_size; }

std::vector<std::string> all_gather(const std::string& mine) {
  if (g_size <= 1) return {mine};
  maybe_die_for_test();
#ifdef LEO_HAVE_MPI
  const double timeout = gather_timeout();
  // Sizes first, then the messages.
  unsigned long long length = mine.size();
  std::vector<unsigned long long> lengths(static_cast<std::size_t>(g_size));
  MPI_Request request;
  check(MPI_Iallgather(&length, 1, MPI_UNSIGNED_LONG_LONG, lengths.data(), 1, MPI_UNSIGNED_LONG_LONG,
                       MPI_COMM_WORLD, &request),
        "MPI_Iallgather");
  wait(request, "gathering result sizes", timeout);
  std::vector<int> counts(lengths.size()), offsets(lengths.size());
  unsigned long long total = 0;
  for (std::size_t r = 0; r < lengths.size(); ++r) {
    if (lengths[r] > 0x7fffffffULL || total + lengths[r] > 0x7fffffffULL)
      throw Error(ExitCode::internal, fmt::format("MPI: rank {}: a result of {} bytes is too large to gather", r,
                                                  lengths[r]));
    counts[r] = static_cast<int>(lengths[r]);
    offsets[r] = static_cast<int>(total);
    total += lengths[r];
  }
  std::string all(static_cast<std::size_t>(total), '\0');
  check(MPI_Iallgatherv(mine.data(), static_cast<int>(mine.size()), MPI_BYTE, all.data(), counts.data(),
                        offsets.data(), MPI_BYTE, MPI_COMM_WORLD, &request),
        "MPI_Iallgatherv");
  wait(request, "gathering results", timeout);
  std::vector<std::string> out;
  for (std::size_t r = 0; r < lengths.size(); ++r) out.push_back(all.substr(offsets[r], counts[r]));
  return out;
#else
  return {mine};
#endif
}

}  // namespace leo::cluster
