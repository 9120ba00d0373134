#include "leo/util/threads.hpp"

#include <omp.h>

#include <algorithm>
#include <thread>

extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
// Exported by OpenBLAS (its fork handler): joins the pool's threads; a later
// multi-threaded call starts them again.
int blas_thread_shutdown_(void);
}

namespace leo {

void set_threads(int n) {
  n = effective_threads(n);
  if (n <= 0) return;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  // One thread: no pool at all. Its threads, started when the library loads,
  // spin for about 0.1 s of CPU before they sleep, whether or not any work
  // comes (system time in every run of a second or more).
  if (n == 1) blas_thread_shutdown_();
}

int blas_threads() { return openblas_get_num_threads(); }

int hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n > 0 ? static_cast<int>(n) : 1;
}

int effective_threads(int requested) {
  if (requested <= 0) return 0;
  return std::min(requested, hardware_threads());
}

}  // namespace leo
