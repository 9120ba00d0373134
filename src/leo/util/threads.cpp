#include "leo/util/threads.hpp"

#include <omp.h>

extern "C" {
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
// Exported by OpenBLAS (its fork handler): joins the pool's threads; a later
// multi-threaded call starts them again.
int blas_thread_shutdown_(void);
}

namespace leo {

void set_threads(int n) {
  if (n <= 0) return;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
  // One thread: no pool at all. Its threads, started when the library loads,
  // spin for about 0.1 s of CPU before they sleep, whether or not any work
  // comes (system time in every run of a second or more).
  if (n == 1) blas_thread_shutdown_();
}

int blas_threads() { return openblas_get_num_threads(); }

}  // namespace leo
