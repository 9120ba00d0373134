#include "leo/network/network.hpp"

#include <fmt/core.h>

#include <cmath>
#include <limits>

#include "leo/network/structured.hpp"
#include "leo/util/error.hpp"

namespace leo {

// ---------------------------------------------------------------- AffineLayer

Eigen::Index AffineLayer::inputs() const { return structured ? structured->inputs() : weights.cols(); }
Eigen::Index AffineLayer::outputs() const { return structured ? structured->outputs() : weights.rows(); }

Eigen::Index AffineLayer::carried_outputs() const {
  if (!structured) return 0;
  Eigen::Index n = 0;
  for (const auto& s : structured->output_segments())
    if (s.carry) n += s.shape.size();
  return n;
}

std::int64_t AffineLayer::parameters() const {
  if (structured) return structured->weight_parameters() + structured->bias_parameters();
  return weights.size() + bias.size();
}

std::int64_t AffineLayer::multiply_adds() const { return structured ? structured->multiply_adds() : weights.size(); }

Eigen::MatrixXd AffineLayer::multiply(const Eigen::MatrixXd& X, Weights w) const {
  if (structured) return structured->multiply(X, w);
  if (w == Weights::absolute) return weights.cwiseAbs() * X;
  return weights * X;
}

Eigen::MatrixXd AffineLayer::transpose_multiply(const Eigen::MatrixXd& L, Weights w) const {
  if (structured) return structured->transpose_multiply(L, w);
  if (w == Weights::absolute) return weights.cwiseAbs().transpose() * L;
  return weights.transpose() * L;
}

Eigen::MatrixXd AffineLayer::multiply_rows(const Eigen::MatrixXd& X, Weights w) const {
  if (structured) return structured->multiply_rows(X, w);
  if (w == Weights::absolute) return X * weights.cwiseAbs().transpose();
  return X * weights.transpose();
}

Eigen::MatrixXd AffineLayer::transpose_multiply_rows(const Eigen::MatrixXd& Nu, Weights w) const {
  if (structured) return structured->transpose_multiply_rows(Nu, w);
  if (w == Weights::absolute) return Nu * weights.cwiseAbs();
  return Nu * weights;
}

std::int64_t AffineLayer::terms_per_output() const {
  return structured ? structured->terms_per_output() : static_cast<std::int64_t>(weights.cols());
}

std::int64_t AffineLayer::terms_per_input() const {
  return structured ? structured->terms_per_input() : static_cast<std::int64_t>(weights.rows());
}

std::vector<std::pair<Eigen::Index, double>> AffineLayer::row(Eigen::Index i) const {
  if (structured) return structured->row(i);
  if (i < 0 || i >= weights.rows()) throw Error(ExitCode::internal, "internal error: AffineLayer::row out of range");
  std::vector<std::pair<Eigen::Index, double>> r;
  for (Eigen::Index j = 0; j < weights.cols(); ++j)
    if (weights(i, j) != 0.0) r.emplace_back(j, weights(i, j));
  return r;
}

Eigen::MatrixXd AffineLayer::dense() const { return structured ? structured->to_dense() : weights; }

// ---------------------------------------------------------------- Network

std::int64_t TensorInfo::features() const {
  if (shape.empty()) return 0;
  if (shape.size() == 1) return shape[0];
  std::int64_t n = 1;
  for (std::size_t i = 1; i < shape.size(); ++i) n *= shape[i];
  return n;
}

Network::Network(std::vector<AffineLayer> l) : layers(std::move(l)) { set_default_interface(); }

Eigen::Index Network::inputs() const { return layers.empty() ? 0 : layers.front().inputs(); }
Eigen::Index Network::outputs() const { return layers.empty() ? 0 : layers.back().outputs(); }

std::vector<Eigen::Index> Network::widths() const {
  std::vector<Eigen::Index> w;
  for (std::size_t h = 0; h + 1 < layers.size(); ++h) w.push_back(layers[h].outputs());
  return w;
}

std::int64_t Network::hidden_units() const {
  std::int64_t n = 0;
  for (auto w : widths()) n += w;
  return n;
}

std::vector<Eigen::Index> Network::model_widths() const {
  std::vector<Eigen::Index> w;
  for (std::size_t h = 0; h + 1 < layers.size(); ++h) w.push_back(layers[h].outputs() - layers[h].carried_outputs());
  return w;
}

std::int64_t Network::model_units() const {
  std::int64_t n = 0;
  for (auto w : model_widths()) n += w;
  return n;
}

std::int64_t Network::carried_units() const { return hidden_units() - model_units(); }

std::int64_t Network::parameters() const {
  std::int64_t n = 0;
  for (const auto& layer : layers) n += layer.parameters();
  return n;
}

std::int64_t Network::multiply_adds() const {
  std::int64_t n = 0;
  for (const auto& layer : layers) n += layer.multiply_adds();
  return n;
}

void Network::validate(const std::string& context) const {
  if (layers.empty()) throw InputError(fmt::format("{}: the network has no layers", context));
  for (std::size_t l = 0; l < layers.size(); ++l) {
    const auto& layer = layers[l];
    if (layer.bias.size() != layer.outputs())
      throw InputError(fmt::format("{}: layer {} has {} outputs but {} biases", context, l, layer.outputs(),
                                   layer.bias.size()));
    if (layer.outputs() == 0 || layer.inputs() == 0)
      throw InputError(fmt::format("{}: layer {} is empty ({}x{})", context, l, layer.outputs(), layer.inputs()));
    if (l > 0 && layer.inputs() != layers[l - 1].outputs())
      throw InputError(fmt::format("{}: layer {} takes {} inputs but layer {} gives {}", context, l, layer.inputs(),
                                   l - 1, layers[l - 1].outputs()));
    if (layer.is_dense() && !layer.weights.allFinite())
      throw InputError(fmt::format("{}: layer {} has NaN or infinite weights", context, l));
    if (!layer.bias.allFinite()) throw InputError(fmt::format("{}: layer {} has NaN or infinite biases", context, l));
  }
}

void Network::set_default_interface() {
  if (input.name.empty()) input.name = "input";
  if (input.shape.empty() && !layers.empty()) input.shape = {-1, inputs()};
  if (output.name.empty()) output.name = "output";
  if (output.shape.empty() && !layers.empty()) output.shape = {-1, outputs()};
}

const char* output_activation_name(OutputActivation a) {
  switch (a) {
    case OutputActivation::softmax: return "Softmax";
    case OutputActivation::log_softmax: return "LogSoftmax";
    default: return "none";
  }
}

void Network::apply_output_activation(Eigen::MatrixXd& Y) const {
  if (output_activation == OutputActivation::none || Y.rows() == 0) return;
  // Groups of consecutive values along the last axis of the output shape.
  Eigen::Index group = Y.rows();
  if (!output.shape.empty() && output.shape.back() > 0 && Y.rows() % output.shape.back() == 0)
    group = output.shape.back();
  for (Eigen::Index j = 0; j < Y.cols(); ++j)
    for (Eigen::Index start = 0; start < Y.rows(); start += group) {
      auto v = Y.col(j).segment(start, group);
      const double m = v.maxCoeff();  // shift by the max: no overflow, the same result
      if (!std::isfinite(m)) {
        v.setConstant(std::numeric_limits<double>::quiet_NaN());
        continue;
      }
      const double sum = (v.array() - m).exp().sum();
      if (output_activation == OutputActivation::softmax)
        v = ((v.array() - m).exp() / sum).matrix();
      else
        v = (v.array() - m - std::log(sum)).matrix();
    }
}

Eigen::MatrixXd Network::evaluate(const Eigen::MatrixXd& X) const {
  Eigen::MatrixXd y = logits(X);
  apply_output_activation(y);
  return y;
}

Eigen::MatrixXd Network::logits(const Eigen::MatrixXd& X) const {
  Eigen::MatrixXd a = X;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    Eigen::MatrixXd g = layers[l].multiply(a);
    g.colwise() += layers[l].bias;
    if (l + 1 < layers.size()) g = g.cwiseMax(0.0);
    a = std::move(g);
  }
  return a;
}

Eigen::VectorXd Network::evaluate(const Eigen::VectorXd& x) const {
  Eigen::VectorXd a = x;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    Eigen::VectorXd g = layers[l].multiply(a).col(0) + layers[l].bias;
    if (l + 1 < layers.size()) g = g.cwiseMax(0.0);
    a = std::move(g);
  }
  if (output_activation == OutputActivation::none) return a;
  Eigen::MatrixXd y = a;
  apply_output_activation(y);
  return y.col(0);
}

std::vector<Eigen::MatrixXd> Network::pre_activations(const Eigen::MatrixXd& X) const {
  std::vector<Eigen::MatrixXd> pre;
  pre.reserve(layers.size());
  Eigen::MatrixXd a = X;
  for (std::size_t l = 0; l < layers.size(); ++l) {
    Eigen::MatrixXd g = layers[l].multiply(a);
    g.colwise() += layers[l].bias;
    pre.push_back(g);
    if (l + 1 < layers.size()) a = g.cwiseMax(0.0);
  }
  return pre;
}

}  // namespace leo
