#pragma once
// ONNX reader, part 3 of 3 (private to io/): the symbolic interpreter the op
// handlers (ops.hpp) work on.
//
// Every tensor of the graph is either a constant (Const, tensor.hpp) or "the
// activation" (Act): a tensor that depends on the network input, held per
// sample as an affine function A z + c of z, the output of the last ReLU (or
// the flattened input). Affine ops compose into A and c; Relu closes a layer.
//
// Writing a handler for a new op: read its inputs with act(k) / cst(k), its
// attributes with the typed accessors (attr_int, attr_float, attr_ints, ...:
// a wrong AttributeProto type is refused, never misread), transform the
// activation with the helpers below (apply_axis for a matrix on one axis,
// which with a reshape to one axis is any linear map of the sample; scale,
// per_sample for a broadcast constant, permute, reshape), count the weights it reads from
// the file with count_stored, and publish the result with set_output. Fail
// with fail("what is wrong"): the reader adds the file, the node and its op.
#include <Eigen/Dense>
#include <array>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "leo/io/onnx/tensor.hpp"
#include "leo/network/network.hpp"
#include "leo/network/structured.hpp"

namespace onnx {
class NodeProto;
class AttributeProto;
}  // namespace onnx

namespace leo::onnx_read {

// One summand of a structured activation: the operators `ops` (first to
// last) applied to the tensor z of `source` (0: the network input, k: the
// output of the k-th Relu read). `names` names each op (its weight
// initializer or node) for the writer.
struct Term {
  std::size_t source = 0;
  std::vector<StructuredMap::Op> ops;
  std::vector<std::string> names;
};

// The activation: per sample, an affine function of the tensors z the graph
// computed last (the network input or Relu outputs), laid out row-major over
// `shape` (the dimensions without the batch axis). Two kinds:
//   dense:      A z + c of one source z (A = diag(d) while `diagonal`);
//   structured: diag(s) * sum_t ops_t(z_t) + c (convolutions and the like
//               kept as operators, network/structured.hpp).
// A diagonal dense activation turns structured when a structured op (Conv,
// AveragePool, a Transpose of a feature map) is applied to it; a structured
// one turns dense when a dense op (Gemm, MatMul) is applied to it, through
// transpose products (never a dense matrix of the convolution).
struct Act {
  Dims shape;
  std::size_t source = 0;  // dense kind: the z read
  bool structured = false;
  bool diagonal = true;  // dense kind: A = diag(d)
  Eigen::VectorXd d;
  Eigen::MatrixXd A;
  std::vector<Term> terms;  // structured kind
  Eigen::VectorXd s;        // structured kind: a scale applied after the terms
  Eigen::VectorXd c;
  bool fresh = true;            // A = I and c = 0 (nothing applied since z)
  bool pending_matmul = false;  // the last op was a MatMul/Gemm without bias: an Add next is its bias
  // Names of the tensors that gave the layer its weight matrix and its bias
  // (the last ones applied), kept on the layer when it closes.
  std::string weight_name;
  std::string bias_name;
  // A Softmax/LogSoftmax applied last (only shape-preserving no-ops may follow).
  OutputActivation output_activation = OutputActivation::none;
  // A zero Pad not yet merged (top, left, bottom, right): only a Conv or an
  // AveragePool may read the activation then. `shape` is the padded shape.
  std::array<std::int64_t, 4> pad{0, 0, 0, 0};
  std::string pad_node;  // non-empty while a Pad is pending

  std::int64_t size() const { return product(shape); }
  Eigen::MatrixXd matrix() const {
    if (diagonal) return Eigen::MatrixXd(d.asDiagonal());
    return A;
  }
  // The z's the activation reads, ascending.
  std::vector<std::size_t> sources() const;
};

// A feature map's shape from a per-sample shape: [C,H,W] (or [1,C,H,W]) is
// itself, anything else n x 1 x 1.
Shape3 shape3_of(const Dims& sample);

class Interpreter {
 public:
  // `decoder` reads the tensors of Constant nodes. `limit_bytes`: the size
  // limit. The network may hold at most limit_bytes / 4 weights (matrix
  // entries and biases over all layers): as many as a model within the limit
  // can store in float32. Every dense matrix is checked against what is left
  // before it is allocated, so memory follows the limit, not the dimensions a
  // model declares (see onnx.hpp).
  Interpreter(TensorDecoder& decoder, std::int64_t opset, std::uintmax_t limit_bytes);

  // --- graph set-up (the reader) ---
  void add_constant(const std::string& name, Const c) { consts_[name] = std::move(c); }
  bool has_constant(const std::string& name) const { return consts_.count(name) > 0; }
  // The network input: a fresh activation of the given per-sample shape.
  void set_input(const std::string& name, const Dims& sample, bool batched);
  void begin_node(const onnx::NodeProto& node) { node_ = &node; }
  void end_nodes() { node_ = nullptr; }
  const Act* find_act(const std::string& name) const;
  // The file read, for the context of operator errors (node_context()).
  void set_file(const std::string& file) { file_ = file; }
  std::int64_t stored() const { return stored_; }

  // --- the current node ---
  const onnx::NodeProto& node() const { return *node_; }
  const std::string& op() const;
  std::int64_t opset() const { return opset_; }
  bool batched() const { return batched_; }

  // Inputs.
  int input_count() const;
  bool has_input(int k) const;
  const std::string& input_name(int k) const;
  bool is_act(int k) const;
  bool is_const(int k) const;
  void require_known(int k) const;  // fails when input k is missing or unknown
  const Act& act(int k) const;
  const Const& cst(int k) const;   // fails when input k is not a constant
  std::vector<std::int64_t> ints_of(const Const& c, const char* what) const;

  // Attributes, by AttributeProto type. Absent: the default (or nullopt /
  // nullptr). Present with another type: fails naming the attribute, its type
  // and the type the op needs.
  std::int64_t attr_int(const std::string& name, std::int64_t def) const;
  double attr_float(const std::string& name, double def) const;
  std::optional<std::vector<std::int64_t>> attr_ints(const std::string& name) const;
  std::optional<std::vector<double>> attr_floats(const std::string& name) const;
  const onnx::TensorProto* attr_tensor(const std::string& name) const;
  std::optional<std::string> attr_string(const std::string& name) const;
  bool has_attr(const std::string& name) const;

  // Outputs.
  void set_output(const Act& a, int k = 0);
  void set_output(const Const& c, int k = 0);

  // Constants of Constant nodes, counted weights.
  Const decode(const onnx::TensorProto& t, const std::string& what) { return decoder_.decode(t, what); }
  void count_stored(std::size_t n) { stored_ += static_cast<std::int64_t>(n); }

  // --- the activation ---
  // The full ONNX shape of the activation (kBatch first when batched).
  Dims full_shape(const Act& a) const;
  // ONNX axis of the full tensor -> axis of the per-sample shape (fails on
  // the batch axis).
  std::size_t sample_axis(std::int64_t axis, std::size_t full_rank, const char* what) const;
  // Applies M (out x in) along `axis` of the sample: entries (p, l, s) with
  // l < in become (p, i, s) = sum_l M(i, l) (p, l, s).
  void apply_axis(Act& a, std::size_t axis, const Eigen::MatrixXd& M);
  // Permutes the axes of the sample.
  void permute(Act& a, const std::vector<std::size_t>& perm);
  // The constant broadcast over one sample of the activation.
  Eigen::VectorXd per_sample(const Act& a, const Const& k) const;
  // Multiplies the sample elementwise by s.
  void scale(Act& a, const Eigen::VectorXd& s) const;
  void reshape(Act& a, Dims shape) const;
  // Relu of the activation: records it as a new z and returns the fresh
  // activation of that z (relu of a Relu output is that output).
  Act relu(const Act& a);
  // The layers computing `out` (the graph's output): every Relu the output
  // depends on, grouped by depth (longest path of Relus from the input), one
  // layer per depth; a Relu output read more than one layer later is carried
  // (StructuredMap carry segments). A graph ending with a Relu gets an
  // identity output layer.
  std::vector<AffineLayer> finish(Act out);
  Act fresh_act(std::size_t source, const Dims& shape) const;

  // --- structured ops ---
  // "FILE: OP node 'NAME'" (escaped): the context of operator errors.
  std::string node_context() const;
  // The feature map the activation holds, without a pending pad.
  Shape3 map_of(const Act& a, const char* what) const;
  // Applies a linear operator to the activation (shape: the per-sample shape
  // after it). `name` names it for the writer.
  void apply_op(Act& a, StructuredMap::Op op, const std::string& name, Dims shape);
  // Folds a per-channel scale into the last Conv of every term when each
  // ends with one; else appends it as a ChannelAffine. Returns false when
  // the terms do not all end with a Conv (nothing done then).
  bool fold_into_convs(Act& a, const Eigen::VectorXd& channel_scale);
  // a + b of two activations (a residual Add).
  Act add(const Act& a, const Act& b);

 private:
  const onnx::AttributeProto* attr(const std::string& name, int type) const;
  // Fails unless a dense matrix of rows x cols fits in the weights left.
  void reserve_dense(std::int64_t rows, std::int64_t cols, const char* what) const;
  void materialize(Act& a) const;
  // A diagonal dense activation as a structured one (identity term, s = d).
  void to_structured(Act& a) const;
  // Moves s into the terms (per-channel: ChannelAffine or a Conv fold);
  // false when s varies within a channel.
  bool flush_scale(Act& a) const;
  // A structured activation of one source as a dense one.
  void densify(Act& a) const;
  // flush_scale, else densify.
  void settle(Act& a) const;
  std::vector<std::size_t> sources_of(const Act& a) const;

  TensorDecoder& decoder_;
  std::int64_t opset_ = 0;
  std::uintmax_t limit_bytes_ = 0;
  std::int64_t max_weights_ = 0;
  std::int64_t weights_ = 0;  // held by the closed layers
  bool batched_ = false;      // the input's first dimension is symbolic: a batch axis
  std::map<std::string, Const> consts_;
  std::map<std::string, Act> acts_;
  struct Source {
    Dims shape;        // per sample
    Act pre;           // its pre-activation (Relu outputs)
    std::string node;  // the Relu node
  };
  std::vector<Source> sources_;  // [0]: the network input
  std::string file_;
  std::int64_t stored_ = 0;
  const onnx::NodeProto* node_ = nullptr;
};

}  // namespace leo::onnx_read
