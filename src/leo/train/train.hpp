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
#include "leo/network/conv.hpp"
#include "leo/network/network.hpp"
#include "leo/train/objective.hpp"
#include "leo/util/deadline.hpp"
#include "leo/util/threads.hpp"  // set_threads, blas_threads

namespace leo {

enum class OptimizerKind { sgd, adam };

// One hidden layer of an architecture (`leo train --arch`): a 2-D convolution
// (group 1, square kernel, same stride and zero pad on every side) or a dense
// layer. Convolutions come first; the dense layers read their output
// flattened in (channel, row, column) order. The output layer (one unit per
// class) is added by the trainer.
struct LayerSpec {
  bool conv = false;
  std::int64_t units = 0;  // output channels of a convolution, units of a dense layer
  std::int64_t kernel = 0, stride = 1, pad = 0;
  bool operator==(const LayerSpec&) const = default;
};

// Parses an architecture: comma-separated layers, each
//   conv<C>x<K>[s<S>][p<P>]   C channels, K x K kernel, stride S (1), pad P (0)
//   fc<N> (or N)             a dense layer of N units
// e.g. "conv16x4s2,conv32x4s2,fc100" (ERAN's ConvSmall). Throws InputError
// naming the item for a malformed item, a zero size, or a convolution after a
// dense layer. "" and "none" give no hidden layer.
std::vector<LayerSpec> parse_architecture(const std::string& text);
// The spelling parse_architecture reads back ("conv16x4s2,fc100").
std::string architecture_string(const std::vector<LayerSpec>& arch);
// The shape of one sample read as an image: {C, H, W} or {H, W} (one channel);
// InputError when `shape` is neither (e.g. the flat features of a CSV file).
Shape3 image_shape(const std::vector<std::int64_t>& shape, const std::string& what);

struct TrainOptions {
  std::vector<int> hidden{100, 100};
  // Non-empty: the hidden layers, instead of `hidden` (which it overrides);
  // convolutions need image data (Dataset::shape of rank 2 or 3).
  std::vector<LayerSpec> arch;
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
// A network of the architecture `arch` on inputs of shape `input`, then a
// dense output layer of `outputs` units; Kaiming-normal weights (std
// sqrt(2/fan_in), fan_in = C*K*K for a convolution, as PyTorch's
// kaiming_normal_), zero biases. A convolution is a structured layer
// (network/structured.hpp) holding one Conv2d (zero bias; the bias per unit
// in the layer's bias). With dense layers only, the same network as
// kaiming_network. Throws InputError (naming the layer) for a kernel bigger
// than its padded input.
Network kaiming_network(const Shape3& input, const std::vector<LayerSpec>& arch, int outputs, std::uint64_t seed);

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

// The network's weights for the objective. A structured layer must be one
// Conv2d of group 1 whose bias is the same at every position of a channel
// (what kaiming_network builds); other structured layers throw InputError.
Parameters<double> parameters_of(const Network& network);
// Writes parameters (of the shapes parameters_of(net) gives) into the
// network's layers: dense weights, or a new map holding the convolution.
void set_parameters(Network& network, const Parameters<double>& params);

}  // namespace leo
