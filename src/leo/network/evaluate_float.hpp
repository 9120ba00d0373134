#pragma once
// Evaluation in the arithmetic of a stored element type: what a runtime such
// as ONNX Runtime computes for the model as written, rather than the
// real-valued function of its weights that Network::evaluate approximates in
// double.
//
// float32, dense layers: the input is rounded to float (the runtime receives
// a float32 tensor), weights and biases are cast to float (exact for weights
// that were stored as float32; rounded otherwise), every product, sum and
// ReLU is done in float. The summation order is Eigen's, not the runtime's,
// so the results agree with ONNX Runtime to within float32 rounding of the
// sums, not bit for bit. An overflow gives +-inf, as in the runtime.
//
// float32, structured layers (convolution, pooling, per-channel scaling,
// permutation: network/structured.hpp): the operators' weights are cast to
// float (round_to_float below), and each operator of a block is applied to
// float32 values with its double product (every product of two floats is
// exact in double, and the sums' error in double is ~2^-29 of float32's)
// and its result rounded to float: one float32 rounding per operator, as a
// runtime that accumulates in higher precision computes. The blocks' results
// are added in float, then the bias (in float), then the ReLU. A runtime
// that accumulates a convolution in float32 differs from this by its own
// summation error (at most about n u sum|terms|, n = terms_per_output, u =
// 2^-24), the same order as two float32 runtimes differ from each other; an
// average pool is a sum of floats times 1/d, rounded once. Overflow: an
// operator's result beyond float's range rounds to +-inf.
// float64: Network::evaluate.
#include <Eigen/Dense>
#include <memory>
#include <vector>

#include "leo/network/network.hpp"

namespace leo {

class StructuredMap;

// The map with every operator weight (Conv2d kernels and biases,
// ChannelAffine scales and shifts) rounded to the nearest float32 value (as
// a float32 writer stores them); pooling and permutations have none.
// Returns nullptr when a weight is beyond float's range (it would be +-inf,
// which an operator cannot hold). Float32Network then throws
// Error(check_failed).
std::shared_ptr<const StructuredMap> round_to_float(const StructuredMap& map);

// A network's weights cast to float once, for repeated float32 evaluations.
class Float32Network {
 public:
  explicit Float32Network(const Network& net);
  // X: inputs x N in double, rounded to float; returns outputs x N (float
  // results widened to double, exactly). Like Network::evaluate, with the
  // network's output_activation (computed from the float logits, rounded to
  // float).
  Eigen::MatrixXd evaluate(const Eigen::MatrixXd& X) const;

  // Dense layers only (dense()): the gradient of sum_k C(k, j) * f_k(x_j)
  // with respect to x_j for each column j, in float32 arithmetic (forward
  // and backward passes in float, ReLU'(0) = 0), widened to double.
  // `outputs`, when given, receives evaluate(X) from the same forward pass
  // (the same operations, bit for bit). Requires output_activation none.
  Eigen::MatrixXd input_gradients(const Eigen::MatrixXd& X, const Eigen::MatrixXd& C,
                                  Eigen::MatrixXd* outputs = nullptr) const;
  bool dense() const;

 private:
  std::vector<Eigen::MatrixXf> weights_;                      // dense layers (0 x 0 for structured ones)
  std::vector<std::shared_ptr<const StructuredMap>> maps_;    // structured layers, weights rounded (else null)
  std::vector<Eigen::VectorXf> biases_;
  Network head_;  // the output tensor and output_activation only
};

// Evaluates `net` on X (inputs x N) in the arithmetic of `type`.
Eigen::MatrixXd evaluate_in(const Network& net, const Eigen::MatrixXd& X, ElementType type);

// The element type a network computes in as deployed: the element type of its
// input tensor (float32 for the reference ONNX models, float64 for .nnet files).
inline ElementType arithmetic_of(const Network& net) { return net.input.type; }

const char* arithmetic_name(ElementType type);  // "float" or "double"

}  // namespace leo
