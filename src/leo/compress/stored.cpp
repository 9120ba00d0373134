#include "leo/compress/stored.hpp"

#include <fmt/core.h>

#include <cmath>
#include <variant>

#include "leo/network/evaluate_float.hpp"
#include "leo/network/structured.hpp"

namespace leo {

namespace {

// The first value of m that is not finite, or -1.
template <typename M>
Eigen::Index first_not_finite(const M& m) {
  for (Eigen::Index i = 0; i < m.size(); ++i)
    if (!std::isfinite(m.data()[i])) return i;
  return -1;
}

// The first operator weight of a structured map that is not finite in
// float32, described; "" when there is none.
std::string float_overflow(const StructuredMap& map) {
  for (std::size_t b = 0; b < map.blocks().size(); ++b) {
    const auto& ops = map.blocks()[b].ops;
    for (std::size_t k = 0; k < ops.size(); ++k) {
      auto check = [&](const Eigen::MatrixXd& m, const char* what) -> std::string {
        const Eigen::MatrixXd f = m.cast<float>().cast<double>();
        if (Eigen::Index i = first_not_finite(f); i >= 0)
          return fmt::format("{} {} of operator {} of block {} is {:.6g}", what, i, k, b, m.data()[i]);
        return "";
      };
      std::string bad;
      if (const auto* c = std::get_if<Conv2d>(&ops[k])) {
        bad = check(c->weights(), "Conv weight");
        if (bad.empty()) bad = check(c->bias(), "Conv bias");
      } else if (const auto* a = std::get_if<ChannelAffine>(&ops[k])) {
        bad = check(a->scale(), "scale");
        if (bad.empty()) bad = check(a->shift(), "shift");
      }
      if (!bad.empty()) return bad;
    }
  }
  return "";
}

}  // namespace

Network stored_network(const Network& net, ElementType type) {
  Network out = net;
  const char* name = type == ElementType::float32 ? "float32" : "float64";
  for (std::size_t l = 0; l < out.layers.size(); ++l) {
    auto& layer = out.layers[l];
    const Eigen::VectorXd original_bias = layer.bias;
    if (!layer.is_dense()) {
      // Operator weights: finite in double (an operator refuses others), so
      // only float32 rounding can overflow.
      if (type == ElementType::float32) {
        if (std::string bad = float_overflow(*layer.structured); !bad.empty())
          throw NotStorable(fmt::format("layer {}: {}, which is not a finite float32 value", l, bad));
        layer.structured = round_to_float(*layer.structured);
      }
    } else {
      const Eigen::MatrixXd original_weights = layer.weights;
      if (type == ElementType::float32) layer.weights = layer.weights.cast<float>().cast<double>();
      if (Eigen::Index i = first_not_finite(layer.weights); i >= 0) {
        // Column-major storage: entry i is (i % rows, i / rows).
        const Eigen::Index r = i % layer.weights.rows(), c = i / layer.weights.rows();
        throw NotStorable(fmt::format("weight ({}, {}) of layer {} is {:.6g}, which is not a finite {} value", r, c,
                                      l, original_weights(r, c), name));
      }
    }
    if (type == ElementType::float32) layer.bias = layer.bias.cast<float>().cast<double>();
    if (Eigen::Index i = first_not_finite(layer.bias); i >= 0)
      throw NotStorable(fmt::format("bias {} of layer {} is {:.6g}, which is not a finite {} value", i, l,
                                    original_bias[i], name));
  }
  return out;
}

}  // namespace leo
