#pragma once
// The linear map of a structured (convolutional) layer: what a CNN computes
// between two ReLUs, kept as operators (network/conv.hpp) instead of a dense
// matrix, so that no stage pays outputs x inputs memory for a convolution
// (docs/cnn-plan.md). An AffineLayer holds one in `structured`; its bias
// vector (one entry per output unit) holds every offset, so the operators
// here are linear: whoever builds a map folds Conv biases and BatchNorm
// shifts into the layer's bias.
//
// Segments. The layer's input and its output are each a concatenation of
// segments, feature maps of known shape laid out one after another, each in
// (channel, row, column) order. A chain of convolutions has one input and
// one output segment.
//
// Blocks. Output segment s is the sum, over the blocks whose `out` is s, of
// ops_k(...ops_1(x[in])...) (ops applied first to last; no ops = identity).
// An output segment no block writes is 0 (plus the bias).
//
// Carries. A graph with skip connections (the residual Add of a ResNet) is
// lowered to a chain: a value that a later layer needs is carried through
// the ReLUs between as a *carry* output segment, written by an identity
// block. The lowering is exact when the value carried is the output of a
// ReLU (>= 0), for then relu(v) = v; the reader only builds carries of such
// values. Carry units are not units of the model: analyses report them
// apart, compression keeps them, and a model writer emits no node for them
// (the later layer reads the original tensor).
//
// Invariant: for every x, multiply(x) == to_dense() * x in exact arithmetic.
#include <Eigen/Dense>
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "leo/network/conv.hpp"
#include "leo/network/network.hpp"

namespace leo {

// A fixed permutation of features, y[i] = x[source[i]]: e.g. the NHWC input
// of a Keras/TF model read in NCHW order, or a Transpose before Flatten.
// The input shape only gives the size (input.size() == output.size()).
class Permute {
 public:
  Permute(Shape3 input, Shape3 output, std::vector<Eigen::Index> source, const std::string& context = "Transpose");
  // The permutation that reads a map stored as (row, column, channel) in
  // (channel, row, column) order: the NHWC -> NCHW Transpose (perm 0,3,1,2).
  static Permute from_hwc(Shape3 chw, const std::string& context = "Transpose");

  const Shape3& input() const { return input_; }
  const Shape3& output() const { return output_; }
  const std::vector<Eigen::Index>& source() const { return source_; }
  Eigen::Index inputs() const { return input_.size(); }
  Eigen::Index outputs() const { return output_.size(); }
  std::int64_t terms_per_output() const { return 1; }
  std::int64_t terms_per_input() const { return 1; }

  // |P| = P, so `w` changes nothing.
  Eigen::MatrixXd multiply(const Eigen::MatrixXd& X, Weights w = Weights::plain) const;
  Eigen::MatrixXd transpose_multiply(const Eigen::MatrixXd& L, Weights w = Weights::plain) const;
  Eigen::MatrixXd multiply_rows(const Eigen::MatrixXd& X, Weights w = Weights::plain) const;
  Eigen::MatrixXd transpose_multiply_rows(const Eigen::MatrixXd& Nu, Weights w = Weights::plain) const;
  Eigen::MatrixXd to_dense() const;

 private:
  Shape3 input_, output_;
  std::vector<Eigen::Index> source_;
};

class StructuredMap {
 public:
  // A linear operator. Conv2d inside a map has no bias (the layer holds it).
  using Op = std::variant<Conv2d, AvgPool2d, ChannelAffine, Permute>;

  struct Segment {
    Shape3 shape;
    bool carry = false;  // output segments only: a carried value (see above)
  };
  struct Block {
    std::size_t in = 0;   // input segment
    std::size_t out = 0;  // output segment
    std::vector<Op> ops;  // applied first to last; empty = identity
    // Names for a writer (e.g. the ONNX node or weight name of each op);
    // empty or one per op.
    std::vector<std::string> names;
  };

  // Throws InputError (prefixed with `context`) when a segment is empty, a
  // block names a segment that does not exist, or shapes do not chain: the
  // first op must take the input segment's size, each op the previous one's
  // output, the last op must give the output segment's shape (an identity
  // block needs equal sizes), and a carry segment must be written by exactly
  // one identity block and nothing else.
  StructuredMap(std::vector<Segment> inputs, std::vector<Segment> outputs, std::vector<Block> blocks,
                const std::string& context = "layer");

  const std::vector<Segment>& input_segments() const { return inputs_; }
  const std::vector<Segment>& output_segments() const { return outputs_; }
  const std::vector<Block>& blocks() const { return blocks_; }
  Eigen::Index inputs() const { return in_offset_.back(); }
  Eigen::Index outputs() const { return out_offset_.back(); }
  // First feature of a segment in the input / output vector.
  Eigen::Index input_offset(std::size_t segment) const { return in_offset_[segment]; }
  Eigen::Index output_offset(std::size_t segment) const { return out_offset_[segment]; }
  // The output segment holding output unit i.
  std::size_t output_segment_of(Eigen::Index i) const;
  // True when output unit i belongs to a carry segment.
  bool is_carry(Eigen::Index i) const { return outputs_[output_segment_of(i)].carry; }

  // Weights of the operators (Conv kernels, BatchNorm scales), and the
  // biases a model file stores for them: one per channel of each output
  // segment that is not a carry.
  std::int64_t weight_parameters() const;
  std::int64_t bias_parameters() const;
  std::int64_t multiply_adds() const;
  std::int64_t terms_per_output() const;
  std::int64_t terms_per_input() const;

  Eigen::MatrixXd multiply(const Eigen::MatrixXd& X, Weights w = Weights::plain) const;
  Eigen::MatrixXd transpose_multiply(const Eigen::MatrixXd& L, Weights w = Weights::plain) const;
  Eigen::MatrixXd multiply_rows(const Eigen::MatrixXd& X, Weights w = Weights::plain) const;
  Eigen::MatrixXd transpose_multiply_rows(const Eigen::MatrixXd& Nu, Weights w = Weights::plain) const;
  std::vector<std::pair<Eigen::Index, double>> row(Eigen::Index i) const;
  Eigen::MatrixXd to_dense() const;

 private:
  std::vector<Segment> inputs_, outputs_;
  std::vector<Block> blocks_;
  std::vector<Eigen::Index> in_offset_, out_offset_;  // size segments + 1
};

}  // namespace leo
