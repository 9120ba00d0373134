#include "leo/network/evaluate_float.hpp"

namespace leo {

Float32Network::Float32Network(const Network& net) {
  weights_.reserve(net.layers.size());
  biases_.reserve(net.layers.size());
  for (const auto& layer : net.layers) {
    weights_.push_back(layer.weights.cast<float>());
    biases_.push_back(layer.bias.cast<float>());
  }
  head_.output = net.output;
  head_.output_activation = net.output_activation;
}

Eigen::MatrixXd Float32Network::evaluate(const Eigen::MatrixXd& X) const {
  Eigen::MatrixXf a = X.cast<float>();
  for (std::size_t l = 0; l < weights_.size(); ++l) {
    Eigen::MatrixXf g = weights_[l] * a;
    g.colwise() += biases_[l];
    if (l + 1 < weights_.size()) g = g.cwiseMax(0.0f);
    a = std::move(g);
  }
  Eigen::MatrixXd y = a.cast<double>();
  if (head_.output_activation != OutputActivation::none) {
    head_.apply_output_activation(y);
    y = y.cast<float>().cast<double>();
  }
  return y;
}

Eigen::MatrixXd evaluate_in(const Network& net, const Eigen::MatrixXd& X, ElementType type) {
  if (type == ElementType::float32) return Float32Network(net).evaluate(X);
  return net.evaluate(X);
}

const char* arithmetic_name(ElementType type) { return type == ElementType::float64 ? "double" : "float"; }

}  // namespace leo
