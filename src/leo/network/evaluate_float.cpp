#include "leo/network/evaluate_float.hpp"

#include <variant>

#include "leo/network/structured.hpp"
#include "leo/util/error.hpp"

namespace leo {

namespace {

template <typename M>
M to_float_values(const M& m) {
  return m.template cast<float>().template cast<double>();
}

// The operator with its weights rounded to float. Throws InputError (from the
// operator's constructor) when a rounded weight is not finite.
StructuredMap::Op round_op(const StructuredMap::Op& op) {
  if (const auto* c = std::get_if<Conv2d>(&op)) {
    Conv2d r(c->input(), c->output().channels, c->window(), c->group(), to_float_values(c->weights()),
             to_float_values(c->bias()), "float32");
    r.scratch_limit = c->scratch_limit;
    return r;
  }
  if (const auto* a = std::get_if<ChannelAffine>(&op))
    return ChannelAffine(a->input(), to_float_values(a->scale()), to_float_values(a->shift()), "float32");
  return op;  // AvgPool2d, Permute: no stored weights
}

Eigen::MatrixXd apply_op(const StructuredMap::Op& op, const Eigen::MatrixXd& X) {
  return std::visit([&](const auto& o) { return o.multiply(X); }, op);
}

}  // namespace

std::shared_ptr<const StructuredMap> round_to_float(const StructuredMap& map) {
  auto blocks = map.blocks();
  try {
    for (auto& blk : blocks)
      for (auto& op : blk.ops) op = round_op(op);
  } catch (const InputError&) {
    return nullptr;  // a weight beyond float's range
  }
  return std::make_shared<const StructuredMap>(map.input_segments(), map.output_segments(), std::move(blocks),
                                               "float32");
}

Float32Network::Float32Network(const Network& net) {
  weights_.reserve(net.layers.size());
  maps_.reserve(net.layers.size());
  biases_.reserve(net.layers.size());
  for (const auto& layer : net.layers) {
    if (layer.is_dense()) {
      weights_.push_back(layer.weights.cast<float>());
      maps_.push_back(nullptr);
    } else {
      weights_.emplace_back();
      auto map = round_to_float(*layer.structured);
      if (!map)
        throw Error(ExitCode::check_failed, "a weight of a structured layer is beyond float32's range");
      maps_.push_back(std::move(map));
    }
    biases_.push_back(layer.bias.cast<float>());
  }
  head_.output = net.output;
  head_.output_activation = net.output_activation;
}

Eigen::MatrixXd Float32Network::evaluate(const Eigen::MatrixXd& X) const {
  Eigen::MatrixXf a = X.cast<float>();
  for (std::size_t l = 0; l < weights_.size(); ++l) {
    Eigen::MatrixXf g;
    if (!maps_[l]) {
      g = weights_[l] * a;
    } else {
      // See the header: each operator in double on float values, rounded to float.
      const StructuredMap& m = *maps_[l];
      g = Eigen::MatrixXf::Zero(m.outputs(), a.cols());
      for (const auto& blk : m.blocks()) {
        const auto& is = m.input_segments()[blk.in].shape;
        const auto& os = m.output_segments()[blk.out].shape;
        Eigen::MatrixXf z = a.middleRows(m.input_offset(blk.in), is.size());
        for (const auto& op : blk.ops) z = apply_op(op, z.cast<double>()).cast<float>();
        g.middleRows(m.output_offset(blk.out), os.size()) += z;
      }
    }
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

bool Float32Network::dense() const {
  for (const auto& m : maps_)
    if (m) return false;
  return true;
}

Eigen::MatrixXd Float32Network::input_gradients(const Eigen::MatrixXd& X, const Eigen::MatrixXd& C,
                                                Eigen::MatrixXd* outputs) const {
  if (!dense() || head_.output_activation != OutputActivation::none)
    throw Error(ExitCode::internal, "internal error: Float32Network::input_gradients: dense logits only");
  // Forward: the operations of evaluate(), keeping each layer's result.
  std::vector<Eigen::MatrixXf> pre;
  pre.reserve(weights_.size());
  Eigen::MatrixXf a = X.cast<float>();
  for (std::size_t l = 0; l < weights_.size(); ++l) {
    Eigen::MatrixXf g = weights_[l] * a;
    g.colwise() += biases_[l];
    if (l + 1 < weights_.size()) a = g.cwiseMax(0.0f);
    pre.push_back(std::move(g));
  }
  if (outputs) *outputs = pre.back().cast<double>();
  Eigen::MatrixXf delta = C.cast<float>();
  for (std::size_t l = weights_.size(); l-- > 0;) {
    Eigen::MatrixXf g = weights_[l].transpose() * delta;
    if (l == 0) return g.cast<double>();
    delta = g.cwiseProduct((pre[l - 1].array() > 0.0f).cast<float>().matrix());
  }
  return Eigen::MatrixXd::Zero(X.rows(), X.cols());
}

Eigen::MatrixXd evaluate_in(const Network& net, const Eigen::MatrixXd& X, ElementType type) {
  if (type == ElementType::float32) return Float32Network(net).evaluate(X);
  return net.evaluate(X);
}

const char* arithmetic_name(ElementType type) { return type == ElementType::float64 ? "double" : "float"; }

}  // namespace leo
