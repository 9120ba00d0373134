// The op handlers of the ONNX reader and their table (see ops.hpp).
#include "leo/io/onnx/ops.hpp"

#include <fmt/core.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <array>
#include <optional>

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
  if (in.is_act(0) && in.is_act(1)) {
    if (op != "Add") fail("combines two tensors that both depend on the input (not supported)");
    in.set_output(in.add(in.act(0), in.act(1)));
    return;
  }
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
  in.set_output(in.relu(in.act(0)));
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

// --- convolutional ops ---

// The window of a Conv / AveragePool: kernel, strides, pads (explicit or
// auto_pad), dilations, for an input of in_h x in_w (padded size).
Window2d read_window(Interpreter& in, std::int64_t kh, std::int64_t kw, std::int64_t in_h, std::int64_t in_w) {
  Window2d w;
  w.kernel_h = kh;
  w.kernel_w = kw;
  auto two = [&](const char* name, std::int64_t def) -> std::array<std::int64_t, 2> {
    const auto v = in.attr_ints(name);
    if (!v) return {def, def};
    if (v->size() != 2) fail(fmt::format("{} has {} entries; leo reads 2-D windows (2 entries)", name, v->size()));
    return {(*v)[0], (*v)[1]};
  };
  const auto st = two("strides", 1), di = two("dilations", 1);
  w.stride_h = st[0];
  w.stride_w = st[1];
  w.dilation_h = di[0];
  w.dilation_w = di[1];
  const std::string auto_pad = in.attr_string("auto_pad").value_or("NOTSET");
  if (auto_pad == "NOTSET") {
    if (const auto p = in.attr_ints("pads")) {
      if (p->size() != 4) fail(fmt::format("pads has {} entries; leo reads 2-D windows (4 entries)", p->size()));
      w.pad_top = (*p)[0];
      w.pad_left = (*p)[1];
      w.pad_bottom = (*p)[2];
      w.pad_right = (*p)[3];
    }
  } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
    if (w.stride_h <= 0 || w.stride_w <= 0) fail("strides must be positive");
    set_same_pads(w, in_h, in_w, auto_pad == "SAME_UPPER" ? AutoPad::same_upper : AutoPad::same_lower);
  } else if (auto_pad != "VALID") {
    fail(fmt::format("auto_pad '{}' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID", auto_pad));
  }
  return w;
}

// Output per-sample shape of a map op: [C,H,W], or [1,C,H,W] without a batch axis.
Dims map_dims(const Interpreter& in, const Shape3& m) {
  if (in.batched()) return {m.channels, m.height, m.width};
  return {1, m.channels, m.height, m.width};
}

Eigen::VectorXd vector_of(const Const& k) {
  Eigen::VectorXd v(static_cast<Eigen::Index>(k.size()));
  for (std::size_t j = 0; j < k.size(); ++j) v[static_cast<Eigen::Index>(j)] = k.value(j);
  return v;
}

void op_conv(Interpreter& in) {
  in.require_known(0);
  in.require_known(1);
  if (!in.is_act(0)) fail("Conv of a constant input is not supported");
  if (!in.is_const(1)) fail("the weight W depends on the input (not affine)");
  Act a = in.act(0);
  const Const& W = in.cst(1);
  if (W.dims.size() != 4)
    fail(fmt::format("the weight W has shape {}: leo reads 2-D convolutions (W of rank 4)", dims_str(W.dims)));
  const Shape3 m = in.map_of(a, "Conv");
  if (const auto ks = in.attr_ints("kernel_shape"); ks && (ks->size() != 2 || (*ks)[0] != W.dims[2] || (*ks)[1] != W.dims[3]))
    fail(fmt::format("kernel_shape does not match the weight W {}", dims_str(W.dims)));
  const std::int64_t group = in.attr_int("group", 1);
  Window2d w = read_window(in, W.dims[2], W.dims[3], m.height + a.pad[0] + a.pad[2], m.width + a.pad[1] + a.pad[3]);
  w.pad_top += a.pad[0];
  w.pad_left += a.pad[1];
  w.pad_bottom += a.pad[2];
  w.pad_right += a.pad[3];
  std::vector<double> bias;
  if (in.has_input(2)) {
    in.require_known(2);
    if (!in.is_const(2)) fail("the bias B depends on the input");
    const Const& B = in.cst(2);
    bias.assign(B.size(), 0.0);
    for (std::size_t j = 0; j < B.size(); ++j) bias[j] = B.value(j);
    in.count_stored(B.size());
  }
  if (group > 0 && m.channels != W.dims[1] * group)
    fail(fmt::format("channel mismatch: the input has {} channels but the weight W {} expects {} ({} per group x {} "
                     "group{})",
                     m.channels, dims_str(W.dims), W.dims[1] * group, W.dims[1], group, group == 1 ? "" : "s"));
  std::vector<double> weights(W.size());
  for (std::size_t j = 0; j < W.size(); ++j) weights[j] = W.value(j);
  in.count_stored(W.size());
  // The map's Conv2d has no bias: the layer holds it.
  Conv2d conv = Conv2d::from_onnx_weights(m, W.dims[0], w, group, weights, {}, in.node_context());
  if (!bias.empty() && static_cast<std::int64_t>(bias.size()) != W.dims[0])
    fail(fmt::format("the bias B has {} entries, the weight W {} has {} output channels", bias.size(),
                     dims_str(W.dims), W.dims[0]));
  const Shape3 out = conv.output();
  a.pad = {0, 0, 0, 0};
  a.pad_node.clear();
  in.apply_op(a, std::move(conv), in.input_name(1), map_dims(in, out));
  if (!bias.empty()) {
    const std::int64_t p = out.positions();
    for (std::int64_t o = 0; o < out.channels; ++o) a.c.segment(o * p, p).array() += bias[static_cast<std::size_t>(o)];
    a.bias_name = in.input_name(2);
  } else {
    a.bias_name.clear();
  }
  a.weight_name = in.input_name(1);
  a.pending_matmul = !in.has_input(2);
  in.set_output(a);
}

void op_batchnorm(Interpreter& in) {
  for (int k = 0; k < 5; ++k) in.require_known(k);
  if (!in.is_act(0)) fail("BatchNormalization of a constant is not supported");
  if (in.attr_int("training_mode", 0) != 0) fail("BatchNormalization in training mode (training_mode=1)");
  for (int k = 1; k < in.node().output_size(); ++k)
    if (!in.node().output(k).empty())
      fail("BatchNormalization with running statistics outputs (training mode); leo reads its inference form");
  if (in.opset() < 9 && in.attr_int("spatial", 1) != 1) fail("BatchNormalization with spatial=0 is not supported");
  Act a = in.act(0);
  const Dims full = in.full_shape(a);
  if (full.size() < 2) fail(fmt::format("the input {} has no channel axis", dims_str(full)));
  if (!in.batched() && full[0] != 1) fail(fmt::format("the input {} has a batch of {}", dims_str(full), full[0]));
  const std::int64_t channels = full[1];
  const Shape3 m{channels, product(full, 2), 1};
  Shape3 shape = m;
  if (full.size() == 4) shape = {full[1], full[2], full[3]};
  const ChannelAffine bn =
      ChannelAffine::batch_norm(shape, vector_of(in.cst(1)), vector_of(in.cst(2)), vector_of(in.cst(3)),
                                vector_of(in.cst(4)), in.attr_float("epsilon", 1e-5), in.node_context());
  for (int k = 1; k < 5; ++k) in.count_stored(in.cst(k).size());
  // Linear part: folded into the Conv before it, or scales the features; the shift goes to the offset.
  const Eigen::VectorXd shift = bn.dense_shift();
  if (!in.fold_into_convs(a, bn.scale())) {
    const Eigen::VectorXd per_feature = bn.multiply(Eigen::VectorXd::Ones(shape.size()));
    in.scale(a, per_feature);
  } else {
    a.c = bn.multiply(a.c);
  }
  a.c += shift;
  a.fresh = false;
  a.pending_matmul = false;
  in.set_output(a);
}

void op_avgpool(Interpreter& in) {
  in.require_known(0);
  if (!in.is_act(0)) fail(fmt::format("{} of a constant is not supported", in.op()));
  Act a = in.act(0);
  const Shape3 m = in.map_of(a, in.op().c_str());
  std::optional<AvgPool2d> pool;
  if (in.op() == "GlobalAveragePool") {
    pool = AvgPool2d::global(m, in.node_context());
  } else {
    const auto ks = in.attr_ints("kernel_shape");
    if (!ks || ks->size() != 2) fail("kernel_shape must give 2 entries (leo reads 2-D pooling)");
    if (in.attr_int("ceil_mode", 0) != 0) fail("ceil_mode=1 is not supported (leo reads floor mode)");
    if (const auto d = in.attr_ints("dilations"))
      for (auto v : *d)
        if (v != 1) fail("dilated average pooling is not supported");
    bool include = in.attr_int("count_include_pad", 0) != 0;
    Window2d w = read_window(in, (*ks)[0], (*ks)[1], m.height + a.pad[0] + a.pad[2], m.width + a.pad[1] + a.pad[3]);
    if (!a.pad_node.empty()) {
      // Pad(0) then pooling: the Pad's cells count as zeros.
      const bool own = w.pad_top || w.pad_left || w.pad_bottom || w.pad_right;
      if (own && !include)
        fail(fmt::format("reads the output of Pad node '{}' and pads again without count_include_pad: not "
                         "expressible as one AveragePool",
                         a.pad_node));
      include = true;
      w.pad_top += a.pad[0];
      w.pad_left += a.pad[1];
      w.pad_bottom += a.pad[2];
      w.pad_right += a.pad[3];
    }
    pool = AvgPool2d(m, w, include, in.node_context());
  }
  const Shape3 out = pool->output();
  a.pad = {0, 0, 0, 0};
  a.pad_node.clear();
  in.apply_op(a, std::move(*pool), in.node().name(), map_dims(in, out));
  a.pending_matmul = false;
  in.set_output(a);
}

// Pad with constant 0 on the two spatial axes: kept on the activation until
// the Conv or AveragePool that reads it takes it as its pads.
void op_pad(Interpreter& in) {
  in.require_known(0);
  if (!in.is_act(0)) fail("Pad of a constant is not supported");
  const std::string mode = in.attr_string("mode").value_or("constant");
  if (mode != "constant") fail(fmt::format("Pad mode '{}': leo reads constant zero padding only", mode));
  Dims pads;
  double value = 0.0;
  if (in.opset() < 11) {
    const auto p = in.attr_ints("pads");
    if (!p) fail("Pad without pads");
    pads = *p;
    value = in.attr_float("value", 0.0);
  } else {
    pads = in.ints_of(in.cst(1), "pads");
    if (in.has_input(2)) {
      const Const& v = in.cst(2);
      if (v.size() != 1) fail("constant_value must be a scalar");
      value = v.value(0);
    }
  }
  Act a = in.act(0);
  const Dims full = in.full_shape(a);
  const std::size_t r = full.size();
  std::vector<std::int64_t> begin(r, 0), end(r, 0);
  if (in.has_input(3)) {
    const Dims axes = in.ints_of(in.cst(3), "axes");
    if (pads.size() != 2 * axes.size()) fail("pads and axes do not match");
    for (std::size_t j = 0; j < axes.size(); ++j) {
      std::int64_t ax = axes[j] < 0 ? axes[j] + static_cast<std::int64_t>(r) : axes[j];
      if (ax < 0 || ax >= static_cast<std::int64_t>(r)) fail("axis out of range");
      begin[ax] = pads[j];
      end[ax] = pads[j + axes.size()];
    }
  } else {
    if (pads.size() != 2 * r) fail(fmt::format("pads has {} entries for a tensor of rank {}", pads.size(), r));
    for (std::size_t j = 0; j < r; ++j) begin[j] = pads[j], end[j] = pads[j + r];
  }
  if (value != 0.0)
    fail(fmt::format("pads with the value {}: leo merges only zero padding (value 0) into the next Conv", value));
  if (r != 4) fail(fmt::format("pads a tensor of shape {}: leo merges a Pad only on the spatial axes of [N,C,H,W]",
                               dims_str(full)));
  for (std::size_t j = 0; j < 2; ++j)
    if (begin[j] != 0 || end[j] != 0)
      fail(fmt::format("pads the {} axis: leo merges a Pad only on the spatial axes (H, W) into the next Conv",
                       j == 0 ? "batch" : "channel"));
  for (std::size_t j = 2; j < 4; ++j)
    if (begin[j] < 0 || end[j] < 0) fail("negative pads (cropping) are not supported");
  a.pad[0] += begin[2];
  a.pad[1] += begin[3];
  a.pad[2] += end[2];
  a.pad[3] += end[3];
  a.pad_node = in.node().name().empty() ? std::string("#?") : in.node().name();
  a.shape[a.shape.size() - 2] += begin[2] + end[2];
  a.shape[a.shape.size() - 1] += begin[3] + end[3];
  in.set_output(a);
}

void op_constant_of_shape(Interpreter& in) {
  const Dims shape = in.ints_of(in.cst(0), "the shape");
  check_size(shape);
  Const k;
  k.dims = shape;
  const std::int64_t n = product(shape);
  if (auto* t = in.attr_tensor("value")) {
    Const v = in.decode(*t, "value");
    if (v.size() != 1) fail("value must hold one element");
    k.integer = v.integer;
    if (v.integer) k.i.assign(static_cast<std::size_t>(n), v.i[0]);
    else k.f.assign(static_cast<std::size_t>(n), v.f[0]);
  } else {
    k.f.assign(static_cast<std::size_t>(n), 0.0);
  }
  in.set_output(k);
}

void op_slice(Interpreter& in) {
  in.require_known(0);
  if (in.is_act(0)) fail("Slice of the activation is not supported");
  const Const& data = in.cst(0);
  Dims starts, ends, axes, steps;
  if (in.opset() < 10) {
    starts = in.attr_ints("starts").value_or(Dims{});
    ends = in.attr_ints("ends").value_or(Dims{});
    axes = in.attr_ints("axes").value_or(Dims{});
  } else {
    starts = in.ints_of(in.cst(1), "starts");
    ends = in.ints_of(in.cst(2), "ends");
    if (in.has_input(3)) axes = in.ints_of(in.cst(3), "axes");
    if (in.has_input(4)) steps = in.ints_of(in.cst(4), "steps");
  }
  const auto r = static_cast<std::int64_t>(data.dims.size());
  if (axes.empty())
    for (std::int64_t j = 0; j < static_cast<std::int64_t>(starts.size()); ++j) axes.push_back(j);
  if (steps.empty()) steps.assign(starts.size(), 1);
  if (starts.size() != ends.size() || axes.size() != starts.size() || steps.size() != starts.size())
    fail("starts, ends, axes and steps differ in length");
  std::vector<std::int64_t> st(r, 0), step(r, 1), count(r);
  for (std::int64_t ax = 0; ax < r; ++ax) count[ax] = data.dims[ax];
  for (std::size_t j = 0; j < axes.size(); ++j) {
    std::int64_t ax = axes[j] < 0 ? axes[j] + r : axes[j];
    if (ax < 0 || ax >= r) fail("axis out of range");
    const std::int64_t d = data.dims[ax], sp = steps[j];
    if (sp == 0) fail("a step of 0");
    std::int64_t s = starts[j], e = ends[j];
    if (s == kBatch || e == kBatch) fail("Slice by the symbolic batch size");
    if (s < 0) s += d;
    if (e < 0) e += d;
    if (sp > 0) {
      s = std::clamp<std::int64_t>(s, 0, d);
      e = std::clamp<std::int64_t>(e, 0, d);
      count[ax] = e > s ? (e - s + sp - 1) / sp : 0;
    } else {
      s = std::clamp<std::int64_t>(s, 0, d - 1);
      e = std::clamp<std::int64_t>(e, -1, d - 1);
      count[ax] = s > e ? (s - e + (-sp) - 1) / (-sp) : 0;
    }
    st[ax] = s;
    step[ax] = sp;
  }
  Const o;
  o.integer = data.integer;
  o.dims = count;
  const Dims is = strides(data.dims), os = strides(count);
  const std::int64_t n = product(count);
  for (std::int64_t e = 0; e < n; ++e) {
    std::int64_t rem = e, src = 0;
    for (std::int64_t ax = 0; ax < r; ++ax) {
      const std::int64_t idx = rem / os[ax];
      rem %= os[ax];
      src += (st[ax] + idx * step[ax]) * is[ax];
    }
    if (o.integer) o.i.push_back(data.i[src]);
    else o.f.push_back(data.f[src]);
  }
  in.set_output(o);
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
      {"Conv", op_conv},           {"BatchNormalization", op_batchnorm}, {"AveragePool", op_avgpool},
      {"GlobalAveragePool", op_avgpool}, {"Pad", op_pad}, {"ConstantOfShape", op_constant_of_shape},
      {"Slice", op_slice},
  };
  return table;
}

OpHandler find_handler(std::string_view op) {
  for (const auto& e : op_table())
    if (e.op == op) return e.handler;
  return nullptr;
}

}  // namespace leo::onnx_read
