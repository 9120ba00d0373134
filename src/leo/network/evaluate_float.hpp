#pragma once
// Evaluation in the arithmetic of a stored element type: what a runtime such
// as ONNX Runtime computes for the model as written, rather than the
// real-valued function of its weights that Network::evaluate approximates in
// double.
//
// float32: the input is rounded to float (the runtime receives a float32
// tensor), weights and biases are cast to float (exact for weights that were
// stored as float32; rounded otherwise), every product, sum and ReLU is done
// in float. The summation order is Eigen's, not the runtime's, so the results
// agree with ONNX Runtime to within float32 rounding of the sums, not bit for
// bit. An overflow gives +-inf, as in the runtime.
// float64: Network::evaluate.
#include <Eigen/Dense>
#include <vector>

#include "leo/network/network.hpp"

namespace leo {

// A network's weights cast to float once, for repeated float32 evaluations.
class Float32Network {
 public:
  explicit Float32Network(const Network& net);
  // X: inputs x N in double, rounded to float; returns outputs x N (float
  // results widened to double, exactly). Like Network::evaluate, with the
  // network's output_activation (computed from the float logits, rounded to
  // float).
  Eigen::MatrixXd evaluate(const Eigen::MatrixXd& X) const;

 private:
  std::vector<Eigen::MatrixXf> weights_;
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
