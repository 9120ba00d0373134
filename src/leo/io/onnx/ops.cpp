// The op handlers of the ONNX reader and their table (see ops.hpp).
#include "leo/io/onnx/ops.hpp"

#include <fmt/core.h>
#include <onnx/onnx_pb.h>

#include "leo/io/onnx/fold.hpp"

namespace leo::onnx_read {
namespace {

// Y = alpha * A' B' + beta * C, one factor the activation, the other a matrix.
void op_gemm(Interpreter& in) {
  const double alpha = in.attr_float("alpha", 1.0), beta = in.attr_float("beta", 1.0);
  const bool ta = in.attr_int("transA", 0) != 0, tb = in.attr_int("transB", 0) != 0;
  in.require_known(0);
  in.require_known(1);
  auto as_matrix = [&](const Const& k, bool trans, const char* which) {
    if (k.dims.size() != 2) fail(fmt::format("{} must be a matrix, has shape {}", which, dims_str(k.dims)));
    Eigen::MatrixXd M(k.dims[0], k.dims[1]);
    for (std::int64_t r = 0; r < k.dims[0]; ++r)
      for (std::int64_t q = 0; q < k.dims[1]; ++q) M(r, q) = k.value(r * k.dims[1] + q);
    if (trans) M.transposeInPlace();
    if (alpha != 1.0) M *= alpha;
    return M;
  };
  Act a;
  if (in.is_act(0) && in.is_const(1)) {
    a = in.act(0);
    const Const& B = in.cst(1);
    Eigen::MatrixXd Bm = as_matrix(B, tb, "B");  // K x N
    in.count_stored(B.size());
    a.weight_name = in.input_name(1);
    const Dims full = in.full_shape(a);
    if (full.size() != 2) fail(fmt::format("input A must be a matrix, has shape {}", dims_str(full)));
    if (in.batched()) {
      if (ta) fail("transA would move the batch axis");
      in.apply_axis(a, 0, Bm.transpose());
    } else {
      if (ta) in.permute(a, {1, 0});
      in.apply_axis(a, 1, Bm.transpose());
    }
  } else if (in.is_const(0) && in.is_act(1)) {
    a = in.act(1);
    const Const& Ak = in.cst(0);
    Eigen::MatrixXd Am = as_matrix(Ak, ta, "A");  // M x K
    in.count_stored(Ak.size());
    a.weight_name = in.input_name(0);
    const Dims full = in.full_shape(a);
    if (full.size() != 2) fail(fmt::format("input B must be a matrix, has shape {}", dims_str(full)));
    if (in.batched()) fail("the batched input is the right factor of Gemm");
    if (tb) in.permute(a, {1, 0});
    in.apply_axis(a, 0, Am);
  } else if (in.is_act(0) && in.is_act(1)) {
    fail("multiplies two tensors that both depend on the input (not affine)");
  } else {
    fail("Gemm of two constants is not supported");
  }
  a.pending_matmul = false;
  if (in.has_input(2)) {
    in.require_known(2);
    if (!in.is_const(2)) fail("the bias C depends on the input");
    const Const& C = in.cst(2);
    in.count_stored(C.size());
    Eigen::VectorXd v = in.per_sample(a, C);
    a.c += beta == 1.0 ? v : Eigen::VectorXd(beta * v);
    a.bias_name = in.input_name(2);
  } else {
    a.bias_name.clear();
    a.pending_matmul = true;
  }
  a.fresh = false;
  in.set_output(a);
}

void op_matmul(Interpreter& in) {
  in.require_known(0);
  in.require_known(1);
  if (in.is_act(0) && in.is_act(1)) fail("multiplies two tensors that both depend on the input (not affine)");
  if (in.is_const(0) && in.is_const(1)) fail("MatMul of two constants is not supported");
  const bool act_left = in.is_act(0);
  Act a = act_left ? in.act(0) : in.act(1);
  const Const& W = act_left ? in.cst(1) : in.cst(0);
  in.count_stored(W.size());
  a.weight_name = in.input_name(act_left ? 1 : 0);
  a.bias_name.clear();
  const Dims full = in.full_shape(a);
  if (W.dims.empty() || W.dims.size() > 2)
    fail(fmt::format("the constant factor must be a vector or a matrix, has shape {}", dims_str(W.dims)));
  if (full.empty()) fail("the activation is a scalar");
  const bool vec = W.dims.size() == 1;
  const std::int64_t r = vec ? 1 : W.dims[0], q = vec ? W.dims[0] : W.dims[1];
  Eigen::MatrixXd Wm(r, q);
  for (std::int64_t i = 0; i < r; ++i)
    for (std::int64_t j = 0; j < q; ++j) Wm(i, j) = W.value(i * q + j);
  std::size_t axis;
  Eigen::MatrixXd M;
  if (act_left) {
    // x[..., K] @ W[K, N] -> [..., N]; a vector W[K] drops the axis.
    axis = in.sample_axis(static_cast<std::int64_t>(full.size()) - 1, full.size(), "MatMul");
    M = vec ? Eigen::MatrixXd(Wm) : Eigen::MatrixXd(Wm.transpose());
  } else {
    // W[M, K] @ x[..., K, N] -> [..., M, N]; x[K] is a column vector.
    const std::int64_t ax = full.size() == 1 ? 0 : static_cast<std::int64_t>(full.size()) - 2;
    axis = in.sample_axis(ax, full.size(), "MatMul");
    M = Wm;
  }
  in.apply_axis(a, axis, M);
  if (vec) a.shape.erase(a.shape.begin() + static_cast<std::ptrdiff_t>(axis));
  a.pending_matmul = true;
  in.set_output(a);
}

void op_neg(Interpreter& in) {
  in.require_known(0);
  if (in.is_const(0)) {
    in.set_output(fold_neg(in.cst(0)));
    return;
  }
  Act a = in.act(0);
  in.scale(a, Eigen::VectorXd::Constant(a.size(), -1.0));
  a.pending_matmul = false;
  in.set_output(a);
}

// Add, Sub, Mul, Div: of two constants, or of the activation and a constant.
void op_binary(Interpreter& in) {
  const std::string& op = in.op();
  in.require_known(0);
  in.require_known(1);
  if (in.is_const(0) && in.is_const(1)) {
    in.set_output(fold_elementwise(op, in.cst(0), in.cst(1)));
    return;
  }
  if (in.is_act(0) && in.is_act(1)) fail("combines two tensors that both depend on the input (not supported)");
  const bool act_left = in.is_act(0);
  Act a = act_left ? in.act(0) : in.act(1);
  const Const& k = act_left ? in.cst(1) : in.cst(0);
  const Dims full = in.full_shape(a);
  if (auto out = broadcast_dims(full, k.dims); !out || *out != full) {
    // Broadcasting the batch axis is fine (kBatch vs 1); anything else that grows the activation is not.
    if (!out || out->size() != full.size())
      fail(fmt::format("shape mismatch: the constant {} does not broadcast over the activation {}",
                       dims_str(k.dims), dims_str(full)));
  }
  Eigen::VectorXd v = in.per_sample(a, k);
  const bool bias = a.pending_matmul && op == "Add";
  if (op == "Add") {
    a.c += v;
  } else if (op == "Sub") {
    if (act_left) {
      a.c -= v;
    } else {
      in.scale(a, Eigen::VectorXd::Constant(a.size(), -1.0));
      a.c += v;
    }
  } else if (op == "Mul") {
    in.scale(a, v);
  } else {  // Div
    if (!act_left) fail("divides a constant by the activation (not affine)");
    if ((v.array() == 0.0).any()) fail("division by zero");
    in.scale(a, v.cwiseInverse());
  }
  if (bias) {
    in.count_stored(k.size());
    a.bias_name = in.input_name(act_left ? 1 : 0);
  }
  a.pending_matmul = false;
  a.fresh = false;
  in.set_output(a);
}

void op_relu(Interpreter& in) {
  in.require_known(0);
  if (in.is_const(0)) fail("Relu of a constant is not supported");
  const Act& a = in.act(0);
  if (a.base != in.layers().size())
    fail("Relu of a tensor computed before an earlier Relu (branching graphs are not supported)");
  if (a.fresh && !in.layers().empty()) {  // relu(relu(x)) = relu(x)
    in.set_output(Act(a));
    return;
  }
  in.set_output(in.close_layer(a));
}

void op_flatten(Interpreter& in) {
  in.require_known(0);
  std::int64_t axis = in.attr_int("axis", 1);
  if (in.is_const(0)) {
    in.set_output(fold_flatten(in.cst(0), axis));
    return;
  }
  Act a = in.act(0);
  const Dims full = in.full_shape(a);
  const auto r = static_cast<std::int64_t>(full.size());
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) fail("axis out of range");
  if (!in.batched()) {
    in.reshape(a, {product(full, 0, axis), product(full, axis)});
  } else {
    if (axis == 0 || product(a.shape, 0, axis - 1) != 1) fail("Flatten merges the batch axis with other axes");
    in.reshape(a, {a.size()});
  }
  in.set_output(a);
}

void op_reshape(Interpreter& in) {
  in.require_known(0);
  const bool allowzero = in.attr_int("allowzero", 0) != 0;
  const Dims target = in.ints_of(in.cst(1), "the shape");
  if (in.is_const(0)) {
    in.set_output(fold_reshape(in.cst(0), target, allowzero));
    return;
  }
  Act a = in.act(0);
  Dims t = resolve_reshape(in.full_shape(a), target, allowzero);
  Dims sample;
  if (in.batched()) {
    if (t.empty()) fail("Reshape drops the batch axis");
    const bool first_is_batch = t[0] == kBatch;
    if (!first_is_batch && t[0] != -1) fail(fmt::format("Reshape to {} fixes the batch size", dims_str(t)));
    sample.assign(t.begin() + 1, t.end());
    for (auto x : sample)
      if (x == kBatch) fail("Reshape puts the batch size on a feature axis");
    if (t[0] == -1) {
      for (auto x : sample)
        if (x == -1) fail("Reshape target has more than one -1");
    }
  } else {
    for (auto x : t)
      if (x == kBatch) fail("Reshape uses a batch size the input does not have");
    sample = t;
  }
  std::int64_t known = 1;
  for (auto x : sample)
    if (x != -1) known *= x;
  for (auto& x : sample)
    if (x == -1) {
      if (known == 0 || a.size() % known)
        fail(fmt::format("cannot reshape {} to {}", dims_str(in.full_shape(a)), dims_str(t)));
      x = a.size() / known;
    }
  in.reshape(a, sample);
  in.set_output(a);
}

// Squeeze and Unsqueeze: axes from the attribute (opset < 13) or input 1.
void op_squeeze(Interpreter& in) {
  const bool unsqueeze = in.op() == "Unsqueeze";
  in.require_known(0);
  Dims axes;
  if (auto at = in.attr_ints("axes")) axes = *at;
  else if (in.has_input(1)) axes = in.ints_of(in.cst(1), "axes");
  const bool is_c = in.is_const(0);
  const Dims full = is_c ? in.cst(0).dims : in.full_shape(in.act(0));
  Dims out;
  if (unsqueeze) {
    out = unsqueezed(full, axes);
    if (!is_c && in.batched() && out[0] != kBatch) fail("Unsqueeze moves the batch axis");
  } else {
    out = squeezed(full, axes, !is_c && in.batched());
  }
  if (is_c) {
    Const k = in.cst(0);
    k.dims = out;
    in.set_output(k);
    return;
  }
  Act a = in.act(0);
  if (in.batched()) out.erase(out.begin());
  in.reshape(a, out);
  in.set_output(a);
}

void op_transpose(Interpreter& in) {
  in.require_known(0);
  const bool is_c = in.is_const(0);
  const std::size_t r = is_c ? in.cst(0).dims.size() : in.full_shape(in.act(0)).size();
  const auto given = in.attr_ints("perm");
  const std::vector<std::size_t> perm = transpose_perm(given ? &*given : nullptr, r);
  if (is_c) {
    in.set_output(fold_transpose(in.cst(0), perm));
    return;
  }
  Act a = in.act(0);
  std::vector<std::size_t> sp;
  if (in.batched()) {
    if (perm[0] != 0) fail("Transpose moves the batch axis");
    for (std::size_t k = 1; k < r; ++k) sp.push_back(perm[k] - 1);
  } else {
    sp = perm;
  }
  in.permute(a, sp);
  a.pending_matmul = false;
  in.set_output(a);
}

// Identity, and Dropout in inference mode.
void op_identity(Interpreter& in) {
  in.require_known(0);
  if (in.op() == "Dropout" && in.has_input(2)) {
    const Const& mode = in.cst(2);
    if (mode.size() != 1 || mode.value(0) != 0.0) fail("Dropout in training mode");
  }
  if (in.is_act(0)) in.set_output(Act(in.act(0)));
  else in.set_output(Const(in.cst(0)));
}

// Softmax / LogSoftmax over the last axis, as the graph's last op: recorded
// on the network (Network::output_activation), not interpreted.
void op_softmax(Interpreter& in) {
  in.require_known(0);
  if (in.is_const(0)) fail(fmt::format("{} of a constant is not supported", in.op()));
  Act a = in.act(0);
  const Dims full = in.full_shape(a);
  const auto r = static_cast<std::int64_t>(full.size());
  // Opsets before 13 default to axis 1 and coerce the input to 2-D there;
  // on the last axis both definitions agree.
  std::int64_t axis = in.attr_int("axis", in.opset() >= 13 ? -1 : 1);
  if (axis < 0) axis += r;
  if (axis != r - 1 || (in.batched() && axis == 0))
    fail(fmt::format("{} on axis {} of the activation {}: leo reads it only on the last axis of the features",
                     in.op(), axis, dims_str(full)));
  a.output_activation = in.op() == "Softmax" ? OutputActivation::softmax : OutputActivation::log_softmax;
  in.set_output(a);
}

void op_cast(Interpreter& in) {
  in.require_known(0);
  const auto to = in.attr_int("to", 0);
  const bool to_int = to == onnx::TensorProto::INT64 || to == onnx::TensorProto::INT32;
  const bool to_float = to == onnx::TensorProto::FLOAT || to == onnx::TensorProto::DOUBLE;
  if (!to_int && !to_float) fail(fmt::format("Cast to element type {} is not supported", to));
  if (in.is_act(0)) {
    if (!to_float) fail("Cast of the activation to integers");
    in.set_output(Act(in.act(0)));
    return;
  }
  in.set_output(fold_cast(in.cst(0), static_cast<int>(to)));
}

void op_constant(Interpreter& in) {
  Const k;
  if (auto* t = in.attr_tensor("value")) {
    k = in.decode(*t, "constant");
  } else if (in.has_attr("value_float")) {
    k.f = {in.attr_float("value_float", 0.0)};
  } else if (auto fs = in.attr_floats("value_floats")) {
    k.f = *fs;
    k.dims = {static_cast<std::int64_t>(k.f.size())};
  } else if (in.has_attr("value_int")) {
    k.integer = true;
    k.i = {in.attr_int("value_int", 0)};
  } else if (auto is = in.attr_ints("value_ints")) {
    k.integer = true;
    k.i = *is;
    k.dims = {static_cast<std::int64_t>(k.i.size())};
  } else {
    fail("Constant without a supported value attribute");
  }
  in.set_output(k);
}

void op_shape(Interpreter& in) {
  in.require_known(0);
  const Dims full = in.is_const(0) ? in.cst(0).dims : in.full_shape(in.act(0));
  const auto r = static_cast<std::int64_t>(full.size());
  in.set_output(shape_of(full, in.attr_int("start", 0), in.attr_int("end", r)));
}

void op_gather(Interpreter& in) {
  in.require_known(0);
  if (in.is_act(0)) fail("Gather on the activation is not supported");
  in.set_output(fold_gather(in.cst(0), in.cst(1), in.attr_int("axis", 0)));
}

void op_concat(Interpreter& in) {
  const std::int64_t axis = in.attr_int("axis", 0);
  std::vector<const Const*> parts;
  for (int k = 0; k < in.input_count(); ++k) {
    if (!in.has_input(k)) continue;
    in.require_known(k);
    if (in.is_act(k)) fail("Concat of the activation is not supported");
    parts.push_back(&in.cst(k));
  }
  in.set_output(fold_concat(parts, axis));
}

}  // namespace

const std::vector<OpEntry>& op_table() {
  static const std::vector<OpEntry> table = {
      {"Gemm", op_gemm},           {"MatMul", op_matmul},   {"Add", op_binary},       {"Sub", op_binary},
      {"Mul", op_binary},          {"Div", op_binary},      {"Neg", op_neg},          {"Relu", op_relu},
      {"Flatten", op_flatten},     {"Reshape", op_reshape}, {"Squeeze", op_squeeze},  {"Unsqueeze", op_squeeze},
      {"Transpose", op_transpose}, {"Identity", op_identity}, {"Dropout", op_identity}, {"Cast", op_cast},
      {"Constant", op_constant},   {"Shape", op_shape},     {"Gather", op_gather},    {"Concat", op_concat},
      {"Softmax", op_softmax},     {"LogSoftmax", op_softmax},
  };
  return table;
}

OpHandler find_handler(std::string_view op) {
  for (const auto& e : op_table())
    if (e.op == op) return e.handler;
  return nullptr;
}

}  // namespace leo::onnx_read
