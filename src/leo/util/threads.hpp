#pragma once
// Thread counts of the two pools leo uses: OpenMP (our loops, CBC aside) and
// OpenBLAS (Eigen's matrix products, EIGEN_USE_BLAS). The Debian OpenBLAS is
// the pthread build: it keeps its own pool, sized to all cores, whatever
// OpenMP is told, and its idle threads spin (sched_yield), which shows as
// system time. A command that takes --threads must set both.
namespace leo {

// Sets OpenMP's and OpenBLAS's thread counts (n > 0, capped at the cores;
// n <= 0 leaves both alone). n = 1 also stops OpenBLAS's idle pool threads.
void set_threads(int n);
int blas_threads();

// Cores of this machine (at least 1).
int hardware_threads();
// The thread count to use for a request: <= 0 stays 0 (the libraries'
// defaults: all cores); more than the cores is capped at the cores (more
// threads than cores only cost memory and time: stacks, spinning pools).
int effective_threads(int requested);

}  // namespace leo
