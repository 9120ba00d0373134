// The symbolic interpreter of the ONNX reader (see interp.hpp).
#include "leo/io/onnx/interp.hpp"

#include <fmt/core.h>
#include <onnx/onnx_pb.h>

#include <algorithm>

namespace leo::onnx_read {
namespace {

// Rows of X indexed (p, l, s) with l < in become rows (p, i, s) = sum_l M(i, l) X(p, l, s).
Eigen::MatrixXd map_rows(const Eigen::MatrixXd& X, std::int64_t pre, std::int64_t in, std::int64_t post,
                         const Eigen::MatrixXd& M) {
  const std::int64_t out = M.rows();
  Eigen::MatrixXd Y(pre * out * post, X.cols());
  if (post == 1) {
    for (std::int64_t p = 0; p < pre; ++p) Y.middleRows(p * out, out).noalias() = M * X.middleRows(p * in, in);
    return Y;
  }
  Eigen::MatrixXd T(in, X.cols());
  for (std::int64_t p = 0; p < pre; ++p)
    for (std::int64_t s = 0; s < post; ++s) {
      for (std::int64_t l = 0; l < in; ++l) T.row(l) = X.row(p * in * post + l * post + s);
      Eigen::MatrixXd R = M * T;
      for (std::int64_t i = 0; i < out; ++i) Y.row(p * out * post + i * post + s) = R.row(i);
    }
  return Y;
}

const char* attribute_type_name(int type) {
  switch (type) {
    case onnx::AttributeProto::FLOAT: return "FLOAT";
    case onnx::AttributeProto::INT: return "INT";
    case onnx::AttributeProto::STRING: return "STRING";
    case onnx::AttributeProto::TENSOR: return "TENSOR";
    case onnx::AttributeProto::GRAPH: return "GRAPH";
    case onnx::AttributeProto::SPARSE_TENSOR: return "SPARSE_TENSOR";
    case onnx::AttributeProto::TYPE_PROTO: return "TYPE_PROTO";
    case onnx::AttributeProto::FLOATS: return "FLOATS";
    case onnx::AttributeProto::INTS: return "INTS";
    case onnx::AttributeProto::STRINGS: return "STRINGS";
    case onnx::AttributeProto::TENSORS: return "TENSORS";
    case onnx::AttributeProto::GRAPHS: return "GRAPHS";
    case onnx::AttributeProto::SPARSE_TENSORS: return "SPARSE_TENSORS";
    case onnx::AttributeProto::TYPE_PROTOS: return "TYPE_PROTOS";
    default: return "UNDEFINED";
  }
}

}  // namespace

Interpreter::Interpreter(TensorDecoder& decoder, std::int64_t opset, std::uintmax_t limit_bytes)
    : decoder_(decoder),
      opset_(opset),
      limit_bytes_(limit_bytes),
      max_weights_(static_cast<std::int64_t>(std::min<std::uintmax_t>(limit_bytes / 4, std::uintmax_t{1} << 62))) {}

void Interpreter::set_input(const std::string& name, const Dims& sample, bool batched) {
  batched_ = batched;
  if (product(sample) > max_weights_)
    fail(fmt::format("input '{}' has {} features; the network would hold more weights than a model within the "
                     "size limit of {} bytes can store (4 bytes a weight)",
                     name, product(sample), limit_bytes_));
  acts_[name] = fresh_act(sample);
}

const Act* Interpreter::find_act(const std::string& name) const {
  auto it = acts_.find(name);
  return it == acts_.end() ? nullptr : &it->second;
}

const std::string& Interpreter::op() const { return node_->op_type(); }
int Interpreter::input_count() const { return node_->input_size(); }
bool Interpreter::has_input(int k) const { return node_->input_size() > k && !node_->input(k).empty(); }
const std::string& Interpreter::input_name(int k) const {
  if (!has_input(k)) fail(fmt::format("input {} is missing", k));
  return node_->input(k);
}
bool Interpreter::is_act(int k) const { return has_input(k) && acts_.count(node_->input(k)); }
bool Interpreter::is_const(int k) const { return has_input(k) && consts_.count(node_->input(k)); }

void Interpreter::require_known(int k) const {
  if (!has_input(k)) fail(fmt::format("input {} is missing", k));
  if (!acts_.count(node_->input(k)) && !consts_.count(node_->input(k)))
    fail(fmt::format("input '{}' is not an initializer nor the output of an earlier node (missing initializer?)",
                     node_->input(k)));
}

const Act& Interpreter::act(int k) const {
  require_known(k);
  return acts_.at(node_->input(k));
}

const Const& Interpreter::cst(int k) const {
  require_known(k);
  auto it = consts_.find(node_->input(k));
  if (it == consts_.end()) fail(fmt::format("input '{}' must be a constant", node_->input(k)));
  return it->second;
}

std::vector<std::int64_t> Interpreter::ints_of(const Const& c, const char* what) const {
  if (!c.integer) fail(fmt::format("{} must be an integer tensor", what));
  return c.i;
}

// --- attributes ---

const onnx::AttributeProto* Interpreter::attr(const std::string& name, int type) const {
  for (const auto& a : node_->attribute())
    if (a.name() == name) {
      if (a.type() != type)
        fail(fmt::format("attribute '{}' has type {}; {} needs {}", name, attribute_type_name(a.type()), op(),
                         attribute_type_name(type)));
      return &a;
    }
  return nullptr;
}

bool Interpreter::has_attr(const std::string& name) const {
  for (const auto& a : node_->attribute())
    if (a.name() == name) return true;
  return false;
}

std::int64_t Interpreter::attr_int(const std::string& name, std::int64_t def) const {
  auto* a = attr(name, onnx::AttributeProto::INT);
  return a ? a->i() : def;
}

double Interpreter::attr_float(const std::string& name, double def) const {
  auto* a = attr(name, onnx::AttributeProto::FLOAT);
  return a ? a->f() : def;
}

std::optional<std::vector<std::int64_t>> Interpreter::attr_ints(const std::string& name) const {
  auto* a = attr(name, onnx::AttributeProto::INTS);
  if (!a) return std::nullopt;
  return std::vector<std::int64_t>(a->ints().begin(), a->ints().end());
}

std::optional<std::vector<double>> Interpreter::attr_floats(const std::string& name) const {
  auto* a = attr(name, onnx::AttributeProto::FLOATS);
  if (!a) return std::nullopt;
  return std::vector<double>(a->floats().begin(), a->floats().end());
}

const onnx::TensorProto* Interpreter::attr_tensor(const std::string& name) const {
  auto* a = attr(name, onnx::AttributeProto::TENSOR);
  return a ? &a->t() : nullptr;
}

// --- outputs ---

void Interpreter::set_output(const Act& a, int k) {
  if (node_->output_size() <= k || node_->output(k).empty()) return;
  consts_.erase(node_->output(k));
  acts_[node_->output(k)] = a;
}

void Interpreter::set_output(const Const& c, int k) {
  if (node_->output_size() <= k || node_->output(k).empty()) return;
  acts_.erase(node_->output(k));
  consts_[node_->output(k)] = c;
}

// --- the activation ---

Dims Interpreter::full_shape(const Act& a) const {
  Dims d = a.shape;
  if (batched_) d.insert(d.begin(), kBatch);
  return d;
}

std::size_t Interpreter::sample_axis(std::int64_t axis, std::size_t full_rank, const char* what) const {
  if (axis < 0) axis += static_cast<std::int64_t>(full_rank);
  if (axis < 0 || axis >= static_cast<std::int64_t>(full_rank)) fail(fmt::format("{} axis out of range", what));
  if (batched_) {
    if (axis == 0) fail(fmt::format("{} acts on the batch axis", what));
    --axis;
  }
  return static_cast<std::size_t>(axis);
}

void Interpreter::reserve_dense(std::int64_t rows, std::int64_t cols, const char* what) const {
  const std::int64_t left = max_weights_ - weights_;
  if (rows > 0 && cols > left / rows)
    fail(fmt::format("{} would be a {} x {} matrix: the network would hold more than the {} weights a model within "
                     "the size limit of {} bytes can store (4 bytes a weight)",
                     what, rows, cols, max_weights_, limit_bytes_));
}

void Interpreter::materialize(Act& a) const {
  if (!a.diagonal) return;
  reserve_dense(a.d.size(), a.d.size(), "the layer");
  a.A = a.d.asDiagonal();
  a.diagonal = false;
}

void Interpreter::apply_axis(Act& a, std::size_t axis, const Eigen::MatrixXd& M) {
  const std::int64_t pre = product(a.shape, 0, axis), in = a.shape[axis], post = product(a.shape, axis + 1);
  if (M.cols() != in)
    fail(fmt::format("shape mismatch: the activation {} has {} entries on axis {}, the weights expect {}",
                     dims_str(full_shape(a)), in, axis + (batched_ ? 1 : 0), M.cols()));
  const std::int64_t cols = a.diagonal ? a.d.size() : a.A.cols();
  reserve_dense(pre * M.rows() * post, cols, "the layer");
  if (a.diagonal && pre == 1 && post == 1) {
    a.A = M.array().rowwise() * a.d.transpose().array();  // exact for d = 1
    a.diagonal = false;
  } else {
    materialize(a);
    a.A = map_rows(a.A, pre, in, post, M);
  }
  Eigen::MatrixXd c = a.c;
  a.c = map_rows(c, pre, in, post, M).col(0);
  a.shape[axis] = M.rows();
  a.fresh = false;
}

void Interpreter::permute(Act& a, const std::vector<std::size_t>& perm) {
  const Dims old = a.shape;
  Dims now(old.size());
  for (std::size_t k = 0; k < perm.size(); ++k) now[k] = old[perm[k]];
  const Dims os = strides(old), ns = strides(now);
  const std::int64_t n = product(now);
  std::vector<std::int64_t> src(n);
  for (std::int64_t k = 0; k < n; ++k) {
    std::int64_t rem = k, j = 0;
    for (std::size_t ax = 0; ax < now.size(); ++ax) {
      j += (rem / ns[ax]) * os[perm[ax]];
      rem %= ns[ax];
    }
    src[k] = j;
  }
  materialize(a);
  Eigen::MatrixXd A(a.A.rows(), a.A.cols());
  Eigen::VectorXd c(a.c.size());
  for (std::int64_t k = 0; k < n; ++k) {
    A.row(k) = a.A.row(src[k]);
    c[k] = a.c[src[k]];
  }
  a.A = std::move(A);
  a.c = std::move(c);
  a.shape = now;
  if (!std::is_sorted(perm.begin(), perm.end())) a.fresh = false;
}

Eigen::VectorXd Interpreter::per_sample(const Act& a, const Const& k) const {
  const Dims full = full_shape(a);
  Dims kd = k.dims;
  if (kd.size() > full.size())
    fail(fmt::format("the constant {} has more dimensions than the activation {}", dims_str(kd), dims_str(full)));
  const std::size_t off = full.size() - kd.size();
  for (std::size_t ax = 0; ax < kd.size(); ++ax) {
    const std::int64_t f = full[ax + off];
    if (batched_ && ax + off == 0) {
      if (kd[ax] != 1) fail("the constant varies along the batch axis");
      continue;
    }
    if (kd[ax] != f && kd[ax] != 1)
      fail(fmt::format("shape mismatch: cannot broadcast the constant {} over the activation {}", dims_str(kd),
                       dims_str(full)));
  }
  if (batched_ && kd.size() == full.size()) kd.erase(kd.begin());
  auto idx = broadcast_index(a.shape, kd);
  Eigen::VectorXd v(idx.size());
  for (std::size_t j = 0; j < idx.size(); ++j) v[j] = k.value(idx[j]);
  return v;
}

void Interpreter::scale(Act& a, const Eigen::VectorXd& s) const {
  if (a.diagonal)
    a.d = a.d.cwiseProduct(s);
  else
    a.A = s.asDiagonal() * a.A;
  a.c = a.c.cwiseProduct(s);
  a.fresh = false;
}

void Interpreter::reshape(Act& a, Dims shape) const {
  if (product(shape) != a.size())
    fail(fmt::format("shape mismatch: cannot reshape {} to {}", dims_str(full_shape(a)), dims_str(shape)));
  a.shape = std::move(shape);
}

Act Interpreter::close_layer(const Act& a) {
  AffineLayer layer;
  reserve_dense(a.size(), (a.diagonal ? a.d.size() : a.A.cols()) + 1, "the layer");
  layer.weights = a.matrix();
  layer.bias = a.c;
  layer.weight_name = a.weight_name;
  layer.bias_name = a.bias_name;
  weights_ += layer.parameters();
  layers_.push_back(std::move(layer));
  return fresh_act(a.shape);
}

void Interpreter::close_identity(const Act& a) {
  reserve_dense(a.size(), a.size() + 1, "the identity output layer after the last Relu");
  AffineLayer id;
  id.weights = Eigen::MatrixXd::Identity(a.size(), a.size());
  id.bias = Eigen::VectorXd::Zero(a.size());
  weights_ += id.parameters();
  layers_.push_back(std::move(id));
}

Act Interpreter::fresh_act(const Dims& shape) const {
  Act a;
  a.shape = shape;
  a.d = Eigen::VectorXd::Ones(product(shape));
  a.c = Eigen::VectorXd::Zero(product(shape));
  a.base = layers_.size();
  return a;
}

}  // namespace leo::onnx_read
