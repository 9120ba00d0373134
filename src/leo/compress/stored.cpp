#include "leo/compress/stored.hpp"

#include <fmt/core.h>

#include <cmath>

namespace leo {

namespace {

// The first value of m that is not finite, or -1.
template <typename M>
Eigen::Index first_not_finite(const M& m) {
  for (Eigen::Index i = 0; i < m.size(); ++i)
    if (!std::isfinite(m.data()[i])) return i;
  return -1;
}

}  // namespace

Network stored_network(const Network& net, ElementType type) {
  Network out = net;
  const char* name = type == ElementType::float32 ? "float32" : "float64";
  for (std::size_t l = 0; l < out.layers.size(); ++l) {
    auto& layer = out.layers[l];
    const Eigen::MatrixXd original_weights = layer.weights;
    const Eigen::VectorXd original_bias = layer.bias;
    if (type == ElementType::float32) {
      layer.weights = layer.weights.cast<float>().cast<double>();
      layer.bias = layer.bias.cast<float>().cast<double>();
    }
    if (Eigen::Index i = first_not_finite(layer.weights); i >= 0) {
      // Column-major storage: entry i is (i % rows, i / rows).
      const Eigen::Index r = i % layer.weights.rows(), c = i / layer.weights.rows();
      throw NotStorable(fmt::format("weight ({}, {}) of layer {} is {:.6g}, which is not a finite {} value", r, c, l,
                                    original_weights(r, c), name));
    }
    if (Eigen::Index i = first_not_finite(layer.bias); i >= 0)
      throw NotStorable(fmt::format("bias {} of layer {} is {:.6g}, which is not a finite {} value", i, l,
                                    original_bias[i], name));
  }
  return out;
}

}  // namespace leo
