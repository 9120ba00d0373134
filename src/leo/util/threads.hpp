#pragma once
// Thread counts of the two pools leo uses: OpenMP (our loops, CBC aside) and
// OpenBLAS (Eigen's matrix products, EIGEN_USE_BLAS). The Debian OpenBLAS is
// the pthread build: it keeps its own pool, sized to all cores, whatever
// OpenMP is told, and its idle threads spin (sched_yield), which shows as
// system time. A command that takes --threads must set both.
namespace leo {

// Sets OpenMP's and OpenBLAS's thread counts (n > 0; n <= 0 leaves both
// alone). n = 1 also stops OpenBLAS's idle pool threads.
void set_threads(int n);
int blas_threads();

}  // namespace leo
