#pragma once
// Training of a ReLU network (network/network.hpp) for `leo train`.
//
// Defaults follow the LEO papers: Kaiming-normal weights (std sqrt(2/fan_in)),
// zero biases, softmax cross-entropy, SGD with momentum 0.9, learning rate 0.01
// multiplied by 0.1 at 50/120 and 100/120 of the run, batch 128, ℓ1 on all
// weights (objective.hpp). The arithmetic is float32 (as PyTorch's), every
// product a BLAS GEMM on a batch held one sample per column. Deterministic for
// a given seed and thread count.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "leo/data/dataset.hpp"
#include "leo/network/network.hpp"
#include "leo/train/objective.hpp"
#include "leo/util/deadline.hpp"
#include "leo/util/threads.hpp"  // set_threads, blas_threads

namespace leo {

enum class OptimizerKind { sgd, adam };

struct TrainOptions {
  std::vector<int> hidden{100, 100};
  OptimizerKind optimizer = OptimizerKind::sgd;
  double learning_rate = 0.01;
  double momentum = 0.9;  // SGD (PyTorch convention: v = μv + g, p -= lr·v)
  double beta1 = 0.9, beta2 = 0.999, adam_epsilon = 1e-8;
  // The learning rate is multiplied by `gamma` at each of these fractions of
  // the run (50/120 and 100/120: the papers' epochs 50 and 100 of 120).
  std::vector<double> milestones{50.0 / 120.0, 100.0 / 120.0};
  double gamma = 0.1;
  int epochs = 120;
  std::int64_t steps = 0;  // > 0: train for this many SGD steps instead of `epochs`
  int batch_size = 128;
  Regularisation regularisation;
  std::uint64_t seed = 0;
  int threads = 0;  // > 0: OpenMP and OpenBLAS threads
  bool test_each_epoch = true;
  // Training stops after the step in progress when the deadline passes; the
  // epoch so far is closed (metrics, test accuracy) and the network returned.
  Deadline deadline;
};

struct EpochMetrics {
  int epoch = 0;               // 1-based
  std::int64_t steps = 0;      // SGD steps done so far
  double learning_rate = 0.0;  // during this epoch (its last step)
  double loss = 0.0;           // mean total loss over the epoch's batches
  double cross_entropy = 0.0;  // mean data loss over the epoch's batches
  double train_accuracy = 0.0; // % of the epoch's samples classified right when their batch was seen
  double test_accuracy = -1.0; // % on the test set after the epoch (-1: no test set)
  double seconds = 0.0;        // wall time of the epoch (training + test evaluation)
  double cpu_seconds = 0.0;    // CPU time of the process (all threads) during the epoch
};

struct TrainResult {
  Network network;
  std::vector<EpochMetrics> epochs;
  std::int64_t steps = 0;
  std::int64_t planned_steps = 0;  // what --epochs / --steps asked for
  bool stopped_by_time = false;    // the deadline ended training before planned_steps
  double seconds = 0.0;
};

// A network inputs -> hidden... -> outputs with Kaiming-normal weights and zero biases.
Network kaiming_network(int inputs, const std::vector<int>& hidden, int outputs, std::uint64_t seed);

// Trains from `initial` (or from kaiming_network(...) when `initial` is null).
// `on_epoch` is called after every epoch. The result's input interface is
// [-1, shape...] of the data (e.g. [-1,1,28,28] for images).
TrainResult train_network(const Dataset& train, const Dataset* test, const TrainOptions& options,
                          const Network* initial = nullptr,
                          const std::function<void(const EpochMetrics&)>& on_epoch = {});

struct AccuracyResult {
  std::int64_t correct = 0;
  std::int64_t samples = 0;
  double percent() const { return samples ? 100.0 * static_cast<double>(correct) / static_cast<double>(samples) : 0.0; }
};
// Arg-max of the network's outputs against the labels (float64 evaluation in
// chunks). Throws InputError when the data and the network disagree in size.
AccuracyResult accuracy(const Network& network, const Dataset& data);

Parameters<double> parameters_of(const Network& network);

}  // namespace leo
