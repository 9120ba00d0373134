// The symbolic interpreter of the ONNX reader (see interp.hpp).
#include "leo/io/onnx/interp.hpp"

#include <fmt/core.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <optional>
#include <variant>

#include "leo/util/printable.hpp"

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
  sources_.clear();
  sources_.push_back(Source{sample, Act{}, name});
  acts_[name] = fresh_act(0, sample);
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

std::optional<std::string> Interpreter::attr_string(const std::string& name) const {
  auto* a = attr(name, onnx::AttributeProto::STRING);
  if (!a) return std::nullopt;
  return a->s();
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
  if (a.structured) densify(a);
  if (!a.diagonal) return;
  reserve_dense(a.d.size(), a.d.size(), "the layer");
  a.A = a.d.asDiagonal();
  a.diagonal = false;
}

std::vector<std::size_t> Act::sources() const {
  std::vector<std::size_t> v;
  if (!structured) return {source};
  for (const auto& t : terms) v.push_back(t.source);
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

std::vector<std::size_t> Interpreter::sources_of(const Act& a) const { return a.sources(); }

Shape3 shape3_of(const Dims& d) {
  if (d.size() == 3 && d[0] > 0 && d[1] > 0 && d[2] > 0) return {d[0], d[1], d[2]};
  if (d.size() == 4 && d[0] == 1 && d[1] > 0 && d[2] > 0 && d[3] > 0) return {d[1], d[2], d[3]};
  return {product(d), 1, 1};
}

namespace {

using Op = StructuredMap::Op;

Eigen::MatrixXd op_multiply(const Op& op, const Eigen::MatrixXd& X) {
  return std::visit([&](const auto& o) { return o.multiply(X); }, op);
}
Shape3 op_output(const Op& op) {
  return std::visit([](const auto& o) { return o.output(); }, op);
}
Eigen::MatrixXd chain_multiply(const std::vector<Op>& ops, Eigen::MatrixXd X) {
  for (const auto& op : ops) X = op_multiply(op, X);
  return X;
}
Eigen::MatrixXd chain_transpose_multiply(const std::vector<Op>& ops, Eigen::MatrixXd L) {
  for (std::size_t k = ops.size(); k-- > 0;)
    L = std::visit([&](const auto& o) { return o.transpose_multiply(L); }, ops[k]);
  return L;
}
std::int64_t op_parameters(const Op& op) {
  if (const auto* c = std::get_if<Conv2d>(&op)) return c->weights().size();
  if (const auto* a = std::get_if<ChannelAffine>(&op)) return a->scale().size();
  return 0;
}

// The per-channel values of v over the map m, or nullopt when v varies within a channel.
std::optional<Eigen::VectorXd> per_channel(const Eigen::VectorXd& v, const Shape3& m) {
  if (v.size() != m.size()) return std::nullopt;
  Eigen::VectorXd out(m.channels);
  const std::int64_t p = m.positions();
  for (std::int64_t c = 0; c < m.channels; ++c) {
    out[c] = v[c * p];
    for (std::int64_t k = 1; k < p; ++k)
      if (v[c * p + k] != out[c]) return std::nullopt;
  }
  return out;
}

}  // namespace

std::string Interpreter::node_context() const {
  if (!node_) return printable(file_);
  std::string name = node_->name().empty() ? std::string("#?") : "'" + node_->name() + "'";
  return fmt::format("{}: {} node {}", printable(file_), printable(node_->op_type()), printable(name));
}

Shape3 Interpreter::map_of(const Act& a, const char* what) const {
  const Dims full = full_shape(a);
  if (full.size() != 4 || (!batched_ && full[0] != 1))
    fail(fmt::format("{} needs a 4-D input [N,C,H,W]; the activation is {}", what, dims_str(full)));
  return {full[1], full[2] - a.pad[0] - a.pad[2], full[3] - a.pad[1] - a.pad[3]};
}

void Interpreter::to_structured(Act& a) const {
  if (a.structured) return;
  if (!a.diagonal) fail("internal: a dense activation cannot be made structured");
  a.structured = true;
  a.terms = {Term{a.source, {}, {}}};
  a.s = a.d;
  a.d.resize(0);
}

bool Interpreter::flush_scale(Act& a) const {
  if (!a.structured) return true;
  if ((a.s.array() == 1.0).all()) return true;
  // The map the terms give: the last op's output, else the activation's own shape.
  Shape3 m = shape3_of(a.shape);
  for (const auto& t : a.terms)
    if (!t.ops.empty()) m = op_output(t.ops.back());
  if (m.size() != a.s.size()) return false;
  const auto scale = per_channel(a.s, m);
  if (!scale) return false;
  bool all_conv = true;
  for (const auto& t : a.terms)
    if (t.ops.empty() || !std::holds_alternative<Conv2d>(t.ops.back()) || !(op_output(t.ops.back()) == m))
      all_conv = false;
  const ChannelAffine affine(m, *scale, Eigen::VectorXd::Zero(m.channels), node_context());
  for (auto& t : a.terms) {
    if (all_conv) {
      t.ops.back() = fold(std::get<Conv2d>(t.ops.back()), affine, node_context());
    } else {
      t.names.resize(t.ops.size());
      t.ops.emplace_back(affine);
      t.names.emplace_back("");
    }
  }
  a.s = Eigen::VectorXd::Ones(a.s.size());
  return true;
}

void Interpreter::densify(Act& a) const {
  if (!a.structured) return;
  const auto src = a.sources();
  if (src.size() != 1) fail("a dense op on a sum of branches that read different tensors is not supported");
  const std::int64_t n = product(sources_[src[0]].shape);
  reserve_dense(a.size(), n, "the layer");
  Eigen::MatrixXd A = Eigen::MatrixXd::Zero(a.size(), n);
  const Eigen::MatrixXd I = Eigen::MatrixXd::Identity(n, n);
  for (const auto& t : a.terms) A += chain_multiply(t.ops, I);
  a.A = a.s.asDiagonal() * A;
  a.structured = false;
  a.diagonal = false;
  a.source = src[0];
  a.terms.clear();
  a.s.resize(0);
}

void Interpreter::settle(Act& a) const {
  if (!flush_scale(a)) densify(a);
}

void Interpreter::apply_op(Act& a, StructuredMap::Op op, const std::string& name, Dims shape) {
  const bool permute = std::holds_alternative<Permute>(op);
  // Its output (one offset per unit, kept as the layer's bias) counts against the size limit like weights.
  reserve_dense(std::visit([](const auto& o) { return o.outputs(); }, op), 1, "the operator's output");
  if (!a.structured && !a.diagonal) {
    // Dense: the product with the operator, as a matrix.
    reserve_dense(std::visit([](const auto& o) { return o.outputs(); }, op), a.A.cols(), "the layer");
    a.A = op_multiply(op, a.A);
  } else {
    if (!a.structured) to_structured(a);
    if (permute) {
      a.s = op_multiply(op, a.s);
    } else if (!flush_scale(a)) {
      densify(a);
      reserve_dense(std::visit([](const auto& o) { return o.outputs(); }, op), a.A.cols(), "the layer");
      a.A = op_multiply(op, a.A);
      a.c = op_multiply(op, a.c);
      a.shape = std::move(shape);
      a.fresh = false;
      return;
    }
    weights_ += op_parameters(op) * static_cast<std::int64_t>(a.terms.size());
    for (auto& t : a.terms) {
      t.names.resize(t.ops.size());
      t.ops.push_back(op);
      t.names.push_back(name);
    }
    if (!permute) a.s = Eigen::VectorXd::Ones(std::visit([](const auto& o) { return o.outputs(); }, op));
  }
  a.c = op_multiply(op, a.c);
  a.shape = std::move(shape);
  a.fresh = false;
}

bool Interpreter::fold_into_convs(Act& a, const Eigen::VectorXd& channel_scale) {
  if (!a.structured || a.terms.empty()) return false;
  settle(a);
  if (!a.structured) return false;
  for (const auto& t : a.terms)
    if (t.ops.empty() || !std::holds_alternative<Conv2d>(t.ops.back())) return false;
  for (auto& t : a.terms) {
    const auto& conv = std::get<Conv2d>(t.ops.back());
    const ChannelAffine affine(conv.output(), channel_scale, Eigen::VectorXd::Zero(channel_scale.size()),
                               node_context());
    t.ops.back() = fold(conv, affine, node_context());
  }
  return true;
}

Act Interpreter::add(const Act& x, const Act& y) {
  if (full_shape(x) != full_shape(y))
    fail(fmt::format("adds tensors of shapes {} and {} (leo reads an Add of two computed tensors of the same shape)",
                     dims_str(full_shape(x)), dims_str(full_shape(y))));
  auto sx = x.sources(), sy = y.sources();
  std::vector<std::size_t> all = sx;
  all.insert(all.end(), sy.begin(), sy.end());
  std::sort(all.begin(), all.end());
  all.erase(std::unique(all.begin(), all.end()), all.end());
  if (all.size() > 1 && all.front() == 0)
    fail("adds a tensor computed from the network input without a Relu between to one computed after a Relu: leo "
         "carries only Relu outputs across layers (a skip connection from the network input is not supported)");
  Act a = x, b = y;
  a.fresh = false;
  a.pending_matmul = false;
  if (!a.structured && !b.structured && a.source == b.source && !(a.diagonal && b.diagonal && a.shape.size() == 3)) {
    if (a.diagonal && b.diagonal) {
      a.d += b.d;
    } else {
      materialize(a);
      materialize(b);
      a.A += b.A;
    }
    a.c += b.c;
    return a;
  }
  auto make_structured = [&](Act& v) {
    if (v.structured) return;
    if (!v.diagonal) fail("adds a dense (Gemm/MatMul) branch to a branch that reads another tensor: not supported");
    to_structured(v);
  };
  if (!a.structured && !a.diagonal) {
    if (b.structured && b.sources().size() == 1 && b.sources()[0] == a.source) {
      densify(b);
      materialize(b);
      a.A += b.A;
      a.c += b.c;
      return a;
    }
  }
  if (!b.structured && !b.diagonal) {
    if (a.structured && a.sources().size() == 1 && a.sources()[0] == b.source) {
      densify(a);
      materialize(a);
      a.A += b.A;
      a.c += b.c;
      return a;
    }
  }
  make_structured(a);
  make_structured(b);
  if (!(a.s.array() == b.s.array()).all()) {
    if (!flush_scale(a) || !flush_scale(b))
      fail("adds branches scaled differently within a channel: not supported");
  }
  for (auto& t : b.terms) a.terms.push_back(std::move(t));
  a.c += b.c;
  return a;
}

Act Interpreter::relu(const Act& in) {
  Act a = in;
  if (a.fresh && a.source != 0 && !a.structured) return a;  // relu(relu(x)) = relu(x)
  if (a.structured) settle(a);
  if (a.structured) {
    // relu of a sum of Relu outputs with nothing applied is still a layer.
  } else {
    reserve_dense(a.size(), (a.diagonal ? 1 : a.A.cols()) + 1, "the layer");
    weights_ += a.size() * ((a.diagonal ? 1 : a.A.cols()) + 1);
  }
  a.output_activation = OutputActivation::none;
  sources_.push_back(Source{a.shape, a, node_ ? node_->name() : std::string()});
  return fresh_act(sources_.size() - 1, a.shape);
}

std::vector<AffineLayer> Interpreter::finish(Act out) {
  const std::size_t n_src = sources_.size();
  // Depths.
  std::vector<int> depth(n_src, 0);
  for (std::size_t k = 1; k < n_src; ++k) {
    int dd = 0;
    for (auto s : sources_[k].pre.sources()) dd = std::max(dd, depth[s]);
    depth[k] = dd + 1;
  }
  const bool identity_out = out.fresh && !out.structured && out.source != 0;
  if (out.structured) settle(out);
  int out_depth = 0;
  for (auto s : out.sources()) out_depth = std::max(out_depth, depth[s]);
  ++out_depth;
  // What the output needs, and when each z is read last.
  std::vector<char> needed(n_src, 0);
  std::vector<int> last_use(n_src, 0);
  std::vector<std::size_t> stack;
  for (auto s : out.sources()) {
    last_use[s] = std::max(last_use[s], out_depth);
    if (!needed[s]) needed[s] = 1, stack.push_back(s);
  }
  while (!stack.empty()) {
    const auto k = stack.back();
    stack.pop_back();
    if (k == 0) continue;
    for (auto s : sources_[k].pre.sources()) {
      last_use[s] = std::max(last_use[s], depth[k]);
      if (!needed[s]) needed[s] = 1, stack.push_back(s);
    }
  }
  if (needed[0] && last_use[0] > 1)
    fail("the network input is read after a Relu (a skip connection from the input): leo carries only Relu outputs "
         "across layers");
  // Segment shapes of every z: the last op of its pre-activation, else its own shape.
  auto expr_shape = [&](const Act& e) {
    if (e.structured)
      for (const auto& t : e.terms)
        if (!t.ops.empty()) return op_output(t.ops.back());
    return shape3_of(e.shape);
  };
  std::vector<Shape3> seg(n_src);
  seg[0] = shape3_of(sources_[0].shape);
  for (std::size_t k = 1; k < n_src; ++k)
    if (needed[k]) seg[k] = expr_shape(sources_[k].pre);

  std::vector<AffineLayer> layers;
  std::vector<std::size_t> inputs{0};
  for (int k = 0; k < out_depth; ++k) {
    const bool last = k + 1 == out_depth;
    std::vector<std::size_t> outs, carries;
    if (!last) {
      for (std::size_t s = 1; s < n_src; ++s)
        if (needed[s] && depth[s] == k + 1) outs.push_back(s);
      for (std::size_t s = 1; s < n_src; ++s)
        if (needed[s] && depth[s] <= k && last_use[s] >= k + 2) carries.push_back(s);
    }
    std::vector<const Act*> exprs;
    Act id_out;
    if (last) {
      if (identity_out) {
        id_out = fresh_act(out.source, out.shape);
        if (sources_[out.source].pre.structured) to_structured(id_out);
        exprs.push_back(&id_out);
      } else {
        exprs.push_back(&out);
      }
    } else {
      for (auto s : outs) exprs.push_back(&sources_[s].pre);
    }
    AffineLayer layer;
    if (exprs.size() == 1 && carries.empty() && !exprs[0]->structured) {
      const Act& e = *exprs[0];
      if (inputs.size() != 1 || inputs[0] != e.source) fail("internal: a dense layer reads an unexpected tensor");
      if (e.diagonal)
        reserve_dense(e.size(), e.size() + 1,
                      identity_out && last ? "the identity output layer after the last Relu" : "the layer");
      layer.weights = e.matrix();
      layer.bias = e.c;
      layer.weight_name = e.weight_name;
      layer.bias_name = e.bias_name;
    } else {
      std::vector<StructuredMap::Segment> in_segs, out_segs;
      for (auto s : inputs) in_segs.push_back({seg[s], false});
      std::vector<StructuredMap::Block> blocks;
      std::vector<Eigen::VectorXd> biases;
      auto index_of = [&](std::size_t s) {
        auto it = std::find(inputs.begin(), inputs.end(), s);
        if (it == inputs.end()) fail("internal: a layer reads a tensor it is not given");
        return static_cast<std::size_t>(it - inputs.begin());
      };
      for (std::size_t j = 0; j < exprs.size(); ++j) {
        Act e = *exprs[j];
        if (!e.structured) {
          if (!e.diagonal)
            fail("a dense (Gemm/MatMul) layer next to a skip connection is not supported (a Relu output is "
                 "carried across it)");
          to_structured(e);
        }
        if (!flush_scale(e)) fail("a scale that varies within a channel next to a skip connection is not supported");
        const Shape3 shape = last ? expr_shape(e) : seg[outs[j]];
        out_segs.push_back({shape, false});
        for (auto& t : e.terms) {
          StructuredMap::Block b;
          b.in = index_of(t.source);
          b.out = j;
          b.ops = t.ops;
          if (!t.names.empty()) {
            b.names = t.names;
            b.names.resize(b.ops.size());
          }
          blocks.push_back(std::move(b));
        }
        biases.push_back(e.c);
        if (j == 0) {
          layer.weight_name = e.weight_name;
          layer.bias_name = e.bias_name;
        }
      }
      for (auto s : carries) {
        out_segs.push_back({seg[s], true});
        StructuredMap::Block b;
        b.in = index_of(s);
        b.out = out_segs.size() - 1;
        blocks.push_back(std::move(b));
        biases.push_back(Eigen::VectorXd::Zero(seg[s].size()));
      }
      Eigen::Index total = 0;
      for (const auto& b : biases) total += b.size();
      layer.bias.resize(total);
      total = 0;
      for (const auto& b : biases) {
        layer.bias.segment(total, b.size()) = b;
        total += b.size();
      }
      layer.structured = std::make_shared<StructuredMap>(std::move(in_segs), std::move(out_segs), std::move(blocks),
                                                         fmt::format("{}: layer {}", printable(file_), k));
    }
    layers.push_back(std::move(layer));
    inputs = outs;
    inputs.insert(inputs.end(), carries.begin(), carries.end());
  }
  return layers;
}

void Interpreter::apply_axis(Act& a, std::size_t axis, const Eigen::MatrixXd& M) {
  const std::int64_t pre = product(a.shape, 0, axis), in = a.shape[axis], post = product(a.shape, axis + 1);
  if (M.cols() != in)
    fail(fmt::format("shape mismatch: the activation {} has {} entries on axis {}, the weights expect {}",
                     dims_str(full_shape(a)), in, axis + (batched_ ? 1 : 0), M.cols()));
  if (a.structured && pre == 1 && post == 1) {
    // W diag(s) sum_t T_t = sum_t (T_t^T (diag(s) W^T))^T: transpose products, no dense T_t.
    const auto src = a.sources();
    if (src.size() != 1) fail("a Gemm/MatMul on a sum of branches that read different tensors is not supported");
    const std::int64_t n = product(sources_[src[0]].shape);
    reserve_dense(M.rows(), n, "the layer");
    const Eigen::MatrixXd Mt = a.s.asDiagonal() * M.transpose();
    Eigen::MatrixXd R = Eigen::MatrixXd::Zero(n, M.rows());
    for (const auto& t : a.terms) R += chain_transpose_multiply(t.ops, Mt);
    a.A = R.transpose();
    a.c = M * a.c;
    a.structured = false;
    a.diagonal = false;
    a.source = src[0];
    a.terms.clear();
    a.s.resize(0);
    a.shape[axis] = M.rows();
    a.fresh = false;
    return;
  }
  if (a.structured) densify(a);
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

static std::vector<std::int64_t> permutation_source(const Dims& old, const std::vector<std::size_t>& perm) {
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
  return src;
}

void Interpreter::permute(Act& a, const std::vector<std::size_t>& perm) {
  const Dims old = a.shape;
  Dims now(old.size());
  for (std::size_t k = 0; k < perm.size(); ++k) now[k] = old[perm[k]];
  const std::vector<std::int64_t> src = permutation_source(old, perm);
  const std::int64_t n = product(now);
  if (std::is_sorted(perm.begin(), perm.end())) {
    a.shape = now;
    return;
  }
  // A feature map (or anything structured already) stays structured: a Permute op.
  if (a.structured || (a.diagonal && (old.size() == 3 || (old.size() == 4 && old[0] == 1)))) {
    std::vector<Eigen::Index> source(src.begin(), src.end());
    Permute p(shape3_of(old), shape3_of(now), std::move(source), node_context());
    apply_op(a, std::move(p), node_ ? node_->name() : std::string(), now);
    return;
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
  a.fresh = false;
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
  if (a.structured)
    a.s = a.s.cwiseProduct(s);
  else if (a.diagonal)
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

Act Interpreter::fresh_act(std::size_t source, const Dims& shape) const {
  Act a;
  a.shape = shape;
  a.source = source;
  a.d = Eigen::VectorXd::Ones(product(shape));
  a.c = Eigen::VectorXd::Zero(product(shape));
  return a;
}

}  // namespace leo::onnx_read
