// The convolution operator (network/conv.hpp) against the dense matrix of the
// same layer, on the two conv layers of the cifar nets:
//   L1: 3x32x32 -> 16x16x16, kernel 4, stride 2, pad 1
//   L2: 16x16x16 -> 32x8x8,  kernel 4, stride 2, pad 1
// Products: W X (columns, N samples: IBP, samples, attack) and Nu W (rows, N
// objective rows: CROWN back-substitution), each as Conv2d and as the dense
// matrix product (Eigen/BLAS). Counters: the bytes each form holds (weights;
// for conv, plus its im2col scratch for this N) and the dense matrix's.
// Threads: one (leo::set_threads(1) in main), so the numbers compare the
// algorithms, not the load of the machine; times are CPU times. Results: bench/results/conv_ops.md.
// Run: build/bench/conv_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <random>

#include "leo/network/conv.hpp"
#include "leo/util/threads.hpp"

using namespace leo;

namespace {

Eigen::MatrixXd random_matrix(Eigen::Index r, Eigen::Index c, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Eigen::MatrixXd m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = u(rng);
  return m;
}

const Conv2d& layer(int which) {
  static const Conv2d l1 = [] {
    Window2d w;
    w.kernel_h = w.kernel_w = 4;
    w.stride_h = w.stride_w = 2;
    w.pad_top = w.pad_left = w.pad_bottom = w.pad_right = 1;
    return Conv2d({3, 32, 32}, 16, w, 1, random_matrix(16, 48, 1), random_matrix(16, 1, 2).col(0));
  }();
  static const Conv2d l2 = [] {
    Window2d w;
    w.kernel_h = w.kernel_w = 4;
    w.stride_h = w.stride_w = 2;
    w.pad_top = w.pad_left = w.pad_bottom = w.pad_right = 1;
    return Conv2d({16, 16, 16}, 32, w, 1, random_matrix(32, 256, 3), random_matrix(32, 1, 4).col(0));
  }();
  return which == 1 ? l1 : l2;
}

const Eigen::MatrixXd& dense(int which) {
  static const Eigen::MatrixXd d1 = layer(1).to_dense();
  static const Eigen::MatrixXd d2 = layer(2).to_dense();
  return which == 1 ? d1 : d2;
}

void set_counters(benchmark::State& state, const Conv2d& conv, bool is_dense, Eigen::Index n) {
  const double op_bytes = 8.0 * static_cast<double>(conv.parameters());
  const double dense_bytes = 8.0 * static_cast<double>(conv.outputs()) * static_cast<double>(conv.inputs());
  const Eigen::Index width = std::max<Eigen::Index>(conv.weights().cols() * conv.group(), conv.output().channels);
  const Eigen::Index per_sample = conv.output().positions() * width;
  const Eigen::Index chunk = std::min<Eigen::Index>(n, std::max<Eigen::Index>(1, conv.scratch_limit / per_sample));
  const double scratch_bytes = 2.0 * 8.0 * static_cast<double>(chunk * per_sample);  // two buffers
  state.counters["held_MiB"] = (is_dense ? dense_bytes : op_bytes + scratch_bytes) / (1 << 20);
  state.counters["dense_MiB"] = dense_bytes / (1 << 20);
  state.counters["MACs/s"] = benchmark::Counter(static_cast<double>(conv.multiply_adds()) * static_cast<double>(n),
                                                benchmark::Counter::kIsIterationInvariantRate);
}

// args: layer (1, 2), N
void BM_ConvMultiply(benchmark::State& state) {
  set_threads(1);
  const auto& conv = layer(static_cast<int>(state.range(0)));
  const auto X = random_matrix(conv.inputs(), state.range(1), 5);
  for (auto _ : state) benchmark::DoNotOptimize(conv.multiply(X));
  set_counters(state, conv, false, state.range(1));
}
void BM_DenseMultiply(benchmark::State& state) {
  set_threads(1);
  const auto& conv = layer(static_cast<int>(state.range(0)));
  const auto& D = dense(static_cast<int>(state.range(0)));
  const auto X = random_matrix(conv.inputs(), state.range(1), 5);
  for (auto _ : state) benchmark::DoNotOptimize(Eigen::MatrixXd(D * X));
  set_counters(state, conv, true, state.range(1));
}
void BM_ConvTransposeRows(benchmark::State& state) {
  set_threads(1);
  const auto& conv = layer(static_cast<int>(state.range(0)));
  const auto Nu = random_matrix(state.range(1), conv.outputs(), 6);
  for (auto _ : state) benchmark::DoNotOptimize(conv.transpose_multiply_rows(Nu));
  set_counters(state, conv, false, state.range(1));
}
void BM_DenseTransposeRows(benchmark::State& state) {
  set_threads(1);
  const auto& conv = layer(static_cast<int>(state.range(0)));
  const auto& D = dense(static_cast<int>(state.range(0)));
  const auto Nu = random_matrix(state.range(1), conv.outputs(), 6);
  for (auto _ : state) benchmark::DoNotOptimize(Eigen::MatrixXd(Nu * D));
  set_counters(state, conv, true, state.range(1));
}
void BM_ConvTransposeColumnsAbs(benchmark::State& state) {
  set_threads(1);
  const auto& conv = layer(static_cast<int>(state.range(0)));
  const auto L = random_matrix(conv.outputs(), state.range(1), 7);
  for (auto _ : state) benchmark::DoNotOptimize(conv.transpose_multiply(L, Weights::absolute));
  set_counters(state, conv, false, state.range(1));
}

void args(benchmark::internal::Benchmark* b) {
  for (int l : {1, 2})
    for (int n : {1, 64, 512}) b->Args({l, n});
  b->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_ConvMultiply)->Apply(args);
BENCHMARK(BM_DenseMultiply)->Apply(args);
BENCHMARK(BM_ConvTransposeRows)->Apply(args);
BENCHMARK(BM_DenseTransposeRows)->Apply(args);
BENCHMARK(BM_ConvTransposeColumnsAbs)->Apply(args);
// One thread for the whole run, set before anything else: OpenBLAS's pool
// threads, started when the library loads, spin for a while before they
// sleep, and their CPU time would be charged to whichever benchmark runs first.
int main(int argc, char** argv) {
  set_threads(1);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
