#include "cnn_builders.hpp"

#include <memory>
#include <utility>

namespace leo::test {

Window2d square_window(std::int64_t k, std::int64_t stride, std::int64_t pad) {
  Window2d w;
  w.kernel_h = w.kernel_w = k;
  w.stride_h = w.stride_w = stride;
  w.pad_top = w.pad_left = w.pad_bottom = w.pad_right = pad;
  return w;
}

Conv2d conv2d(const Shape3& in, std::int64_t out, std::int64_t k, std::int64_t stride, std::int64_t pad,
              Eigen::MatrixXd w, std::int64_t group) {
  return Conv2d(in, out, square_window(k, stride, pad), group, std::move(w), Eigen::VectorXd());
}

Eigen::VectorXd channel_bias(const Shape3& s, const Eigen::VectorXd& per_channel) {
  Eigen::VectorXd b(s.size());
  for (std::int64_t c = 0; c < s.channels; ++c) b.segment(c * s.positions(), s.positions()).setConstant(per_channel[c]);
  return b;
}

AffineLayer structured_layer(StructuredMap map, Eigen::VectorXd bias) {
  AffineLayer layer;
  layer.structured = std::make_shared<const StructuredMap>(std::move(map));
  layer.bias = std::move(bias);
  return layer;
}

AffineLayer structured_layer(std::vector<StructuredMap::Segment> inputs, std::vector<StructuredMap::Segment> outputs,
                             std::vector<StructuredMap::Block> blocks, Eigen::VectorXd bias) {
  return structured_layer(StructuredMap(std::move(inputs), std::move(outputs), std::move(blocks)), std::move(bias));
}

std::vector<std::vector<Status>> interval_statuses(const Network& net, const Box& box, double margin) {
  std::vector<std::vector<Status>> out;
  Eigen::VectorXd lo = box.lower, hi = box.upper;
  for (std::size_t l = 0; l + 1 < net.layers.size(); ++l) {
    const auto& layer = net.layers[l];
    const Eigen::VectorXd c = layer.multiply(0.5 * (lo + hi)).col(0) + layer.bias;
    const Eigen::VectorXd r = layer.multiply(0.5 * (hi - lo), Weights::absolute).col(0);
    out.emplace_back();
    for (Eigen::Index i = 0; i < c.size(); ++i)
      out.back().push_back(c[i] - r[i] > margin    ? Status::active
                           : c[i] + r[i] < -margin ? Status::inactive
                                                   : Status::undecided);
    lo = (c - r).cwiseMax(0.0);
    hi = (c + r).cwiseMax(0.0);
  }
  return out;
}

}  // namespace leo::test
