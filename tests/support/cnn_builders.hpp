#pragma once
// Helpers for the CNN tests (channels_test, cnn_bounds_test,
// cnn_compress_onnx_itest, cnn_onnx_io_test): tiny structured layers built in
// code and verdicts from interval arithmetic through the layers' own
// products (onnx_builder.hpp has the op counts of an ONNX file).
#include <Eigen/Dense>
#include <cstdint>
#include <vector>

#include "leo/domain/box.hpp"
#include "leo/network/conv.hpp"
#include "leo/network/network.hpp"
#include "leo/network/structured.hpp"
#include "leo/stability/verdict.hpp"

namespace leo::test {

// A k x k window, the same stride and padding on every side.
Window2d square_window(std::int64_t k, std::int64_t stride, std::int64_t pad);

// A Conv2d without bias (a layer holds it) with weights w (out x in/group*k*k).
Conv2d conv2d(const Shape3& in, std::int64_t out, std::int64_t k, std::int64_t stride, std::int64_t pad,
              Eigen::MatrixXd w, std::int64_t group = 1);

// The per-unit bias of a map of shape s from one value per channel.
Eigen::VectorXd channel_bias(const Shape3& s, const Eigen::VectorXd& per_channel);

// An affine layer holding `map`, with one bias per output unit.
AffineLayer structured_layer(StructuredMap map, Eigen::VectorXd bias);
AffineLayer structured_layer(std::vector<StructuredMap::Segment> inputs, std::vector<StructuredMap::Segment> outputs,
                             std::vector<StructuredMap::Block> blocks, Eigen::VectorXd bias);

// Verdicts of every hidden unit from interval arithmetic through the layers'
// products (|W| for the radii), stable only with a margin (undecided
// otherwise): sound for the tests' small nets, whose rounding is far below
// the margin.
std::vector<std::vector<Status>> interval_statuses(const Network& net, const Box& box, double margin = 1e-6);

}  // namespace leo::test
