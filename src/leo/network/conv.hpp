#pragma once
// Structured linear operators of convolutional networks: 2-D convolution,
// average pooling (including global average pooling) and the per-channel
// affine map of inference-mode BatchNormalization (docs/cnn-plan.md).
//
// Layout. A feature map of C channels, H rows and W columns is flattened in
// (channel, row, column) order, index c*H*W + h*W + w: ONNX's NCHW tensor of
// one sample, flattened. Batches come in two layouts:
//   - columns: a matrix features x N, one sample per column (Network::evaluate);
//   - rows:    a matrix N x features, one sample per row (back-substitution's
//              objective rows nu, bounds/backsub.hpp).
//
// Products. Each operator is a linear map A (plus an offset for `forward`).
// Every bound stage needs only four products with it, which each operator
// offers in both layouts, with A or with |A| (elementwise absolute value, for
// interval radii and rounding-error magnitudes, bounds/rounding.hpp):
//   multiply(X)                 A X        (columns: X is inputs x N)
//   transpose_multiply(L)       A^T L      (columns: L is outputs x N)
//   multiply_rows(X)            X A^T      (rows:    X is N x inputs)
//   transpose_multiply_rows(Nu) Nu A       (rows:    Nu is N x outputs)
// None of them builds the dense matrix of A: a convolution is computed by
// im2col and matrix products (Eigen/BLAS) over chunks of samples whose scratch
// stays below `scratch_limit` doubles; pooling and per-channel maps by direct
// loops. `to_dense()` builds the matrix, for tests and small operators only.
//
// Rounding. The products are computed in round-to-nearest in an unspecified
// summation order. A sound caller bounds their error with rounding::error(n,
// M^) where n is at most terms_per_output() (for A X) or terms_per_input()
// (for A^T L) and M^ the same product with |A| and |X|.
//
// Shapes are checked when an operator is made: a bad shape (non-positive
// sizes or strides, a channel count not divisible by the group, a kernel
// bigger than the padded input, weights of the wrong size, a NaN or infinite
// weight) throws InputError prefixed with the caller's context, e.g.
// "net.onnx: Conv node 'conv1'".
#include <Eigen/Dense>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "leo/network/network.hpp"

namespace leo {

// A feature map's shape: channels x height x width.
struct Shape3 {
  std::int64_t channels = 0;
  std::int64_t height = 0;
  std::int64_t width = 0;

  std::int64_t size() const { return channels * height * width; }
  std::int64_t positions() const { return height * width; }
  // Flat index of (c, h, w) in (channel, row, column) order.
  std::int64_t index(std::int64_t c, std::int64_t h, std::int64_t w) const { return (c * height + h) * width + w; }
  bool operator==(const Shape3&) const = default;
};

// The window of a convolution or pooling: kernel, strides, pads (top, left,
// bottom, right, as ONNX's pads = [top, left, bottom, right]) and dilations.
struct Window2d {
  std::int64_t kernel_h = 1, kernel_w = 1;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;

  // Extent of the dilated kernel: (k - 1) * d + 1.
  std::int64_t extent_h() const { return (kernel_h - 1) * dilation_h + 1; }
  std::int64_t extent_w() const { return (kernel_w - 1) * dilation_w + 1; }
  // Output size along each axis: floor((in + pads - extent) / stride) + 1
  // (ONNX's and PyTorch's rule without ceil_mode).
  std::int64_t output_h(std::int64_t in_h) const { return (in_h + pad_top + pad_bottom - extent_h()) / stride_h + 1; }
  std::int64_t output_w(std::int64_t in_w) const { return (in_w + pad_left + pad_right - extent_w()) / stride_w + 1; }
};

// ONNX auto_pad: the pads of SAME_UPPER (extra pad at the end) or SAME_LOWER
// (extra pad at the start), which make the output size ceil(in / stride).
// Sets the pads of `window` for an input of in_h x in_w; the other fields are
// read.
enum class AutoPad { same_upper, same_lower };
void set_same_pads(Window2d& window, std::int64_t in_h, std::int64_t in_w, AutoPad mode);

// A 2-D convolution y = conv(x) + b (ONNX Conv, PyTorch nn.Conv2d):
//
//   y[o, oh, ow] = b[o] + sum_{c in group(o), i < kh, j < kw}
//                  W[o, c - c0(o), i, j] * x[c, oh*sh - pt + i*dh, ow*sw - pl + j*dw]
//
// where x is 0 outside the input (zero padding), group(o) is the block of
// C/group input channels of output channel o's group (o / (O/group)), c0(o)
// its first channel. Depthwise convolution is group = C (O = m*C).
class Conv2d {
 public:
  // weights: O x (C/group * kh * kw), row o holding W[o] in ONNX's
  // (channel, kernel row, kernel column) order (an ONNX O x C/g x kh x kw
  // tensor, row-major, is exactly this matrix read row by row; see
  // from_onnx_weights). bias: O entries, or empty for none (zeros).
  Conv2d(Shape3 input, std::int64_t out_channels, Window2d window, std::int64_t group, Eigen::MatrixXd weights,
         Eigen::VectorXd bias, const std::string& context = "Conv");

  // Weights given flat in ONNX order (O x C/g x kh x kw, row-major).
  static Conv2d from_onnx_weights(Shape3 input, std::int64_t out_channels, Window2d window, std::int64_t group,
                                  const std::vector<double>& weights, const std::vector<double>& bias,
                                  const std::string& context = "Conv");

  const Shape3& input() const { return input_; }
  const Shape3& output() const { return output_; }
  const Window2d& window() const { return window_; }
  std::int64_t group() const { return group_; }
  const Eigen::MatrixXd& weights() const { return weights_; }
  const Eigen::VectorXd& bias() const { return bias_; }
  Eigen::Index inputs() const { return input_.size(); }
  Eigen::Index outputs() const { return output_.size(); }
  // Weight W[o, c, i, j] (c within the group's channels).
  double weight(std::int64_t o, std::int64_t c, std::int64_t i, std::int64_t j) const {
    return weights_(o, (c * window_.kernel_h + i) * window_.kernel_w + j);
  }

  // Weights and biases; multiply-adds for one sample (W x, bias excluded).
  std::int64_t parameters() const { return weights_.size() + bias_.size(); }
  std::int64_t multiply_adds() const { return output_.size() * weights_.cols(); }
  // Most products in one entry of W x (C/g * kh * kw) and of W^T l
  // (O/g * kh * kw): the n of rounding::error.
  std::int64_t terms_per_output() const { return weights_.cols(); }
  std::int64_t terms_per_input() const { return (output_.channels / group_) * window_.kernel_h * window_.kernel_w; }

  Eigen::MatrixXd forward(const Eigen::MatrixXd& X) const;  // W X + b, columns
  Eigen::MatrixXd multiply(const Eigen::MatrixXd& X, Weights w = Weights::plain) const;
  Eigen::MatrixXd transpose_multiply(const Eigen::MatrixXd& L, Weights w = Weights::plain) const;
  Eigen::MatrixXd multiply_rows(const Eigen::MatrixXd& X, Weights w = Weights::plain) const;
  Eigen::MatrixXd transpose_multiply_rows(const Eigen::MatrixXd& Nu, Weights w = Weights::plain) const;

  // The dense matrix (outputs x inputs) and the bias per output unit
  // (b[o] at every position of channel o). For tests and small layers.
  Eigen::MatrixXd to_dense() const;
  Eigen::VectorXd dense_bias() const;

  // Channel removal (group 1 only; std::invalid_argument otherwise, or for
  // `keep` not ascending, repeated or out of range). Invariants:
  //   select_output_channels(keep).forward(x) == the rows of forward(x) of the
  //     kept channels, in order;
  //   select_input_channels(keep).forward(x_keep) == forward(x) for every x
  //     that is 0 on the channels not kept, x_keep its kept channels.
  Conv2d select_output_channels(const std::vector<std::int64_t>& keep) const;
  Conv2d select_input_channels(const std::vector<std::int64_t>& keep) const;

  // Row `unit` of the dense matrix as (input feature, weight) pairs, ascending
  // by feature, without the zeros of the padding (at most terms_per_output()
  // entries): what an LP or MILP encoding of one unit needs. The bias of the
  // unit is bias()(unit / output().positions()).
  std::vector<std::pair<Eigen::Index, double>> row(Eigen::Index unit) const;

  // Scratch budget of the im2col buffers, in doubles (a tuning knob; any
  // value >= 1 gives the same results up to summation order).
  Eigen::Index scratch_limit = Eigen::Index{1} << 18;

 private:
  Shape3 input_, output_;
  Window2d window_;
  std::int64_t group_;
  Eigen::MatrixXd weights_;
  Eigen::VectorXd bias_;
};

// Average pooling (ONNX AveragePool without ceil_mode and dilations, PyTorch
// nn.AvgPool2d with ceil_mode=False): per channel,
//
//   y[c, oh, ow] = (1 / d(oh, ow)) * sum_{(h, w) in window(oh, ow), inside the input} x[c, h, w]
//
// where d = kh * kw when count_include_pad (pad cells count as zeros), else
// the number of window cells inside the input. Its matrix is non-negative, so
// the |A| products equal the plain ones. GlobalAveragePool is the window of
// the whole map (global()).
class AvgPool2d {
 public:
  AvgPool2d(Shape3 input, Window2d window, bool count_include_pad, const std::string& context = "AveragePool");
  static AvgPool2d global(Shape3 input, const std::string& context = "GlobalAveragePool");

  const Shape3& input() const { return input_; }
  const Shape3& output() const { return output_; }
  const Window2d& window() const { return window_; }
  bool count_include_pad() const { return count_include_pad_; }
  Eigen::Index inputs() const { return input_.size(); }
  Eigen::Index outputs() const { return output_.size(); }
  std::int64_t terms_per_output() const { return window_.kernel_h * window_.kernel_w; }
  std::int64_t terms_per_input() const;
  // The divisor of output position (oh, ow).
  double divisor(std::int64_t oh, std::int64_t ow) const;

  Eigen::MatrixXd forward(const Eigen::MatrixXd& X) const { return multiply(X); }
  Eigen::MatrixXd multiply(const Eigen::MatrixXd& X, Weights w = Weights::plain) const;
  Eigen::MatrixXd transpose_multiply(const Eigen::MatrixXd& L, Weights w = Weights::plain) const;
  Eigen::MatrixXd multiply_rows(const Eigen::MatrixXd& X, Weights w = Weights::plain) const;
  Eigen::MatrixXd transpose_multiply_rows(const Eigen::MatrixXd& Nu, Weights w = Weights::plain) const;
  Eigen::MatrixXd to_dense() const;

 private:
  Shape3 input_, output_;
  Window2d window_;
  bool count_include_pad_;
  std::vector<double> inverse_divisor_;  // per output position
};

// A per-channel affine map y[c, h, w] = scale[c] * x[c, h, w] + shift[c]:
// inference-mode BatchNormalization (and any per-channel normalisation) of a
// map of shape `shape`. A vector of n features (BatchNorm1d after a Linear
// layer) is the shape n x 1 x 1.
class ChannelAffine {
 public:
  ChannelAffine(Shape3 shape, Eigen::VectorXd scale, Eigen::VectorXd shift, const std::string& context = "affine");
  // ONNX BatchNormalization in inference form: scale = gamma / sqrt(var + eps),
  // shift = beta - mean * scale. Throws InputError for var + eps <= 0 or a
  // non-finite parameter.
  static ChannelAffine batch_norm(Shape3 shape, const Eigen::VectorXd& gamma, const Eigen::VectorXd& beta,
                                  const Eigen::VectorXd& mean, const Eigen::VectorXd& var, double epsilon,
                                  const std::string& context = "BatchNormalization");

  const Shape3& input() const { return shape_; }
  const Shape3& output() const { return shape_; }
  const Eigen::VectorXd& scale() const { return scale_; }
  const Eigen::VectorXd& shift() const { return shift_; }
  Eigen::Index inputs() const { return shape_.size(); }
  Eigen::Index outputs() const { return shape_.size(); }
  std::int64_t terms_per_output() const { return 1; }
  std::int64_t terms_per_input() const { return 1; }

  Eigen::MatrixXd forward(const Eigen::MatrixXd& X) const;  // scale x + shift, columns
  Eigen::MatrixXd multiply(const Eigen::MatrixXd& X, Weights w = Weights::plain) const;
  Eigen::MatrixXd transpose_multiply(const Eigen::MatrixXd& L, Weights w = Weights::plain) const {
    return multiply(L, w);  // diagonal
  }
  Eigen::MatrixXd multiply_rows(const Eigen::MatrixXd& X, Weights w = Weights::plain) const;
  Eigen::MatrixXd transpose_multiply_rows(const Eigen::MatrixXd& Nu, Weights w = Weights::plain) const {
    return multiply_rows(Nu, w);
  }
  Eigen::MatrixXd to_dense() const;
  Eigen::VectorXd dense_shift() const;  // shift[c] at every position of channel c

 private:
  Shape3 shape_;
  Eigen::VectorXd scale_, shift_;
};

// The flat feature indices of the channels `keep` of a map of shape `shape`
// (all positions of each, in order): the columns of a dense layer after
// Flatten that read those channels.
std::vector<Eigen::Index> channel_features(const Shape3& shape, const std::vector<std::int64_t>& keep);

// Folds. Invariant of each: for every input x, in exact arithmetic,
//   fold(conv, bn).forward(x) == bn.forward(conv.forward(x))
//   fold(layer, bn): W' x + b' == bn.forward(W x + b)
// i.e. the map computed is unchanged; in floating point the two differ only by
// rounding (one product scale*W[o] rounded per weight). The BN must act on
// the conv's (layer's) output shape; else InputError.
//   conv:  W'[o] = scale[o] * W[o],  b'[o] = scale[o] * b[o] + shift[o]
//   dense: row r of W scaled by scale[c(r)], c(r) = r / (H*W) for bn.shape()
Conv2d fold(const Conv2d& conv, const ChannelAffine& bn, const std::string& context = "BatchNormalization");
AffineLayer fold(const AffineLayer& layer, const ChannelAffine& bn, const std::string& context = "BatchNormalization");

}  // namespace leo
