// ONNX reader: a small symbolic interpreter over the node list (see onnx.hpp).
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include "leo/io/onnx.hpp"
#include "leo/util/error.hpp"

namespace leo {
namespace {
namespace fs = std::filesystem;
using Dims = std::vector<std::int64_t>;

// The symbolic batch size inside shape values (Shape of a batched activation).
constexpr std::int64_t kBatch = std::numeric_limits<std::int64_t>::min();
// Largest tensor leo accepts (elements).
constexpr std::int64_t kMaxElements = std::int64_t{1} << 31;

std::int64_t product(const Dims& d, std::size_t from = 0, std::size_t to = SIZE_MAX) {
  to = std::min(to, d.size());
  from = std::min(from, to);
  std::int64_t p = 1;
  for (auto it = d.begin() + static_cast<std::ptrdiff_t>(from); it != d.begin() + static_cast<std::ptrdiff_t>(to); ++it)
    p *= *it;
  return p;
}

std::string dims_str(const Dims& d) {
  std::string s = "[";
  for (std::size_t i = 0; i < d.size(); ++i) {
    if (i) s += ",";
    s += d[i] == kBatch || d[i] < 0 ? std::string("N") : std::to_string(d[i]);
  }
  return s + "]";
}

// A tensor that does not depend on the network input.
struct Const {
  Dims dims;
  bool integer = false;
  std::vector<double> f;        // values when !integer
  std::vector<std::int64_t> i;  // values when integer (may hold kBatch)
  std::size_t size() const { return integer ? i.size() : f.size(); }
  double value(std::size_t k) const { return integer ? static_cast<double>(i[k]) : f[k]; }
};

// The tensor that depends on the network input: per sample, an affine
// function A z + c of z, the output of the last ReLU (or the input), laid out
// row-major over `shape` (the dimensions without the batch axis).
struct Act {
  Dims shape;
  bool diagonal = true;  // A = diag(d)
  Eigen::VectorXd d;
  Eigen::MatrixXd A;
  Eigen::VectorXd c;
  std::size_t base = 0;         // number of layers closed when z was produced
  bool fresh = true;            // A = I and c = 0 (nothing applied since z)
  bool pending_matmul = false;  // the last op was a MatMul/Gemm without bias: an Add next is its bias

  std::int64_t size() const { return product(shape); }
  void materialize() {
    if (!diagonal) return;
    A = d.asDiagonal();
    diagonal = false;
  }
  Eigen::MatrixXd matrix() const {
    if (diagonal) return Eigen::MatrixXd(d.asDiagonal());
    return A;
  }
};

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

// Row-major strides.
Dims strides(const Dims& d) {
  Dims s(d.size(), 1);
  for (std::size_t k = d.size(); k-- > 1;) s[k - 1] = s[k] * d[k];
  return s;
}

// For every element of `out` (row-major), the index of the element of `src`
// (numpy broadcasting, aligned on the right) it reads.
std::vector<std::int64_t> broadcast_index(const Dims& out, const Dims& src) {
  const Dims os = strides(out), ss = strides(src);
  const std::size_t off = out.size() - src.size();
  std::vector<std::int64_t> idx(product(out));
  for (std::int64_t k = 0; k < static_cast<std::int64_t>(idx.size()); ++k) {
    std::int64_t rem = k, j = 0;
    for (std::size_t a = 0; a < out.size(); ++a) {
      const std::int64_t coord = rem / os[a];
      rem %= os[a];
      if (a >= off && src[a - off] != 1) j += coord * ss[a - off];
    }
    idx[k] = j;
  }
  return idx;
}

std::optional<Dims> broadcast_dims(const Dims& a, const Dims& b) {
  Dims out(std::max(a.size(), b.size()));
  for (std::size_t k = 0; k < out.size(); ++k) {
    const std::int64_t x = k + a.size() >= out.size() ? a[k + a.size() - out.size()] : 1;
    const std::int64_t y = k + b.size() >= out.size() ? b[k + b.size() - out.size()] : 1;
    if (x == y || y == 1)
      out[k] = x;
    else if (x == 1)
      out[k] = y;
    else
      return std::nullopt;
  }
  return out;
}

const std::vector<std::string> kSupportedOps = {
    "Gemm",    "MatMul", "Add",     "Sub",       "Mul",      "Div",   "Neg",       "Relu",     "Flatten",
    "Reshape", "Squeeze", "Unsqueeze", "Transpose", "Identity", "Dropout", "Cast", "Constant", "Shape",
    "Gather",  "Concat"};

class Reader {
 public:
  // `budget`: bytes of external data that may still be read (the size limit
  // minus the .onnx file's size).
  Reader(const fs::path& file, const onnx::ModelProto& model, std::uintmax_t budget, std::uintmax_t limit)
      : file_(file), model_(model), budget_(budget), limit_(limit) {}
  Network run();

 private:
  const fs::path& file_;
  const onnx::ModelProto& model_;
  std::uintmax_t budget_;
  std::uintmax_t limit_;
  std::int64_t opset_ = 0;
  bool batched_ = false;  // the input's first dimension is symbolic: a batch axis
  std::map<std::string, Const> consts_;
  std::map<std::string, Act> acts_;
  std::vector<AffineLayer> layers_;
  std::int64_t stored_ = 0;
  const onnx::NodeProto* node_ = nullptr;
  int node_index_ = 0;

  [[noreturn]] void fail(const std::string& what) const {
    if (node_) {
      std::string name = node_->name().empty() ? fmt::format("#{}", node_index_) : "'" + node_->name() + "'";
      throw InputError(fmt::format("{}: node {} ({}): {}", file_.string(), name, node_->op_type(), what));
    }
    throw InputError(fmt::format("{}: {}", file_.string(), what));
  }

  Const load_tensor(const onnx::TensorProto& t, const std::string& what);
  std::string read_external(const onnx::TensorProto& t, const std::string& what, std::int64_t bytes);
  Dims full_shape(const Act& a) const {
    Dims d = a.shape;
    if (batched_) d.insert(d.begin(), kBatch);
    return d;
  }
  // ONNX axis of the full tensor -> axis of the per-sample shape.
  std::size_t sample_axis(std::int64_t axis, std::size_t full_rank, const char* what) const {
    if (axis < 0) axis += static_cast<std::int64_t>(full_rank);
    if (axis < 0 || axis >= static_cast<std::int64_t>(full_rank)) fail(fmt::format("{} axis out of range", what));
    if (batched_) {
      if (axis == 0) fail(fmt::format("{} acts on the batch axis", what));
      --axis;
    }
    return static_cast<std::size_t>(axis);
  }

  // Node inputs.
  bool has_input(int k) const { return node_->input_size() > k && !node_->input(k).empty(); }
  bool is_act(int k) const { return has_input(k) && acts_.count(node_->input(k)); }
  bool is_const(int k) const { return has_input(k) && consts_.count(node_->input(k)); }
  void require_known(int k) const {
    if (!has_input(k)) fail(fmt::format("input {} is missing", k));
    if (!acts_.count(node_->input(k)) && !consts_.count(node_->input(k)))
      fail(fmt::format("input '{}' is not an initializer nor the output of an earlier node (missing initializer?)",
                       node_->input(k)));
  }
  const Act& act(int k) const {
    require_known(k);
    return acts_.at(node_->input(k));
  }
  const Const& cst(int k) const {
    require_known(k);
    auto it = consts_.find(node_->input(k));
    if (it == consts_.end()) fail(fmt::format("input '{}' must be a constant", node_->input(k)));
    return it->second;
  }
  std::vector<std::int64_t> ints_of(const Const& c, const char* what) const {
    if (!c.integer) fail(fmt::format("{} must be an integer tensor", what));
    return c.i;
  }
  const onnx::AttributeProto* attr(const std::string& name) const {
    for (const auto& a : node_->attribute())
      if (a.name() == name) return &a;
    return nullptr;
  }
  std::int64_t attr_int(const std::string& name, std::int64_t def) const {
    auto* a = attr(name);
    return a ? a->i() : def;
  }
  double attr_float(const std::string& name, double def) const {
    auto* a = attr(name);
    return a ? a->f() : def;
  }
  void set_output(const Act& a, int k = 0) {
    if (node_->output_size() <= k || node_->output(k).empty()) return;
    consts_.erase(node_->output(k));
    acts_[node_->output(k)] = a;
  }
  void set_output(const Const& c, int k = 0) {
    if (node_->output_size() <= k || node_->output(k).empty()) return;
    acts_.erase(node_->output(k));
    consts_[node_->output(k)] = c;
  }
  void check_const_size(const Dims& d) const {
    std::int64_t p = 1;
    for (auto x : d) {
      if (x < 0) fail(fmt::format("negative dimension in shape {}", dims_str(d)));
      if (x > 0 && p > kMaxElements / x) fail("tensor too large");
      p *= x;
    }
  }

  // Affine updates of an activation.
  void apply_axis(Act& a, std::size_t axis, const Eigen::MatrixXd& M) const {
    const std::int64_t pre = product(a.shape, 0, axis), in = a.shape[axis], post = product(a.shape, axis + 1);
    if (M.cols() != in)
      fail(fmt::format("shape mismatch: the activation {} has {} entries on axis {}, the weights expect {}",
                       dims_str(full_shape(a)), in, axis + (batched_ ? 1 : 0), M.cols()));
    if (a.diagonal && pre == 1 && post == 1) {
      a.A = M.array().rowwise() * a.d.transpose().array();  // exact for d = 1
      a.diagonal = false;
    } else {
      a.materialize();
      a.A = map_rows(a.A, pre, in, post, M);
    }
    Eigen::MatrixXd c = a.c;
    a.c = map_rows(c, pre, in, post, M).col(0);
    a.shape[axis] = M.rows();
    a.fresh = false;
  }
  void permute(Act& a, const std::vector<std::size_t>& perm) const {
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
    a.materialize();
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
  // The constant broadcast over one sample of the activation.
  Eigen::VectorXd per_sample(const Act& a, const Const& k) const {
    const Dims full = full_shape(a);
    Dims kd = k.dims;
    if (kd.size() > full.size()) fail(fmt::format("the constant {} has more dimensions than the activation {}",
                                                    dims_str(kd), dims_str(full)));
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
  void scale(Act& a, const Eigen::VectorXd& s) const {
    if (a.diagonal)
      a.d = a.d.cwiseProduct(s);
    else
      a.A = s.asDiagonal() * a.A;
    a.c = a.c.cwiseProduct(s);
    a.fresh = false;
  }
  void reshape(Act& a, Dims shape) const {
    if (product(shape) != a.size())
      fail(fmt::format("shape mismatch: cannot reshape {} to {}", dims_str(full_shape(a)), dims_str(shape)));
    a.shape = std::move(shape);
  }
  void close_layer(Act& a) {
    AffineLayer layer;
    layer.weights = a.matrix();
    layer.bias = a.c;
    layers_.push_back(std::move(layer));
  }
  Act fresh_act(const Dims& shape) const {
    Act a;
    a.shape = shape;
    a.d = Eigen::VectorXd::Ones(product(shape));
    a.c = Eigen::VectorXd::Zero(product(shape));
    a.base = layers_.size();
    return a;
  }

  // Op handlers.
  void op_gemm();
  void op_matmul();
  void op_elementwise(const std::string& op);
  void op_relu();
  void op_flatten();
  void op_reshape();
  void op_squeeze(bool unsqueeze);
  void op_transpose();
  void op_constant();
  void op_shape();
  void op_gather();
  void op_concat();
  void op_cast();
  void dispatch();
  Const const_elementwise(const std::string& op, const Const& a, const Const& b) const;
  Dims resolve_reshape(const Dims& in, Dims target, bool allowzero) const;
};

std::string Reader::read_external(const onnx::TensorProto& t, const std::string& what, std::int64_t bytes) {
  std::string location;
  std::int64_t offset = 0, length = -1;
  for (const auto& kv : t.external_data()) {
    try {
      if (kv.key() == "location") location = kv.value();
      else if (kv.key() == "offset") offset = std::stoll(kv.value());
      else if (kv.key() == "length") length = std::stoll(kv.value());
    } catch (const std::exception&) {
      fail(fmt::format("{}: bad external data entry {}={}", what, kv.key(), kv.value()));
    }
  }
  if (location.empty()) fail(fmt::format("{}: external data without a location", what));
  fs::path rel(location);
  std::error_code ec;
  const fs::path folder = fs::weakly_canonical(fs::absolute(file_).parent_path(), ec);
  const fs::path data = fs::weakly_canonical(folder / rel, ec);
  auto [fe, de] = std::mismatch(folder.begin(), folder.end(), data.begin(), data.end());
  if (rel.is_absolute() || ec || fe != folder.end())
    fail(fmt::format("{}: external data file '{}' is outside the model's folder", what, location));
  if (!fs::is_regular_file(data, ec)) fail(fmt::format("{}: external data file '{}' not found", what, location));
  if (length >= 0 && length != bytes)
    fail(fmt::format("{}: external data length {} does not match {} bytes of the tensor", what, length, bytes));
  const auto file_size = fs::file_size(data, ec);
  if (ec || offset < 0 || static_cast<std::uintmax_t>(offset) + static_cast<std::uintmax_t>(bytes) > file_size)
    fail(fmt::format("{}: external data file '{}' is too short", what, location));
  if (static_cast<std::uintmax_t>(bytes) > budget_)
    fail(fmt::format("{}: the model with its external data is larger than the limit of {} bytes", what, limit_));
  budget_ -= static_cast<std::uintmax_t>(bytes);
  std::ifstream in(data, std::ios::binary);
  in.seekg(offset);
  std::string buf(static_cast<std::size_t>(bytes), '\0');
  in.read(buf.data(), bytes);
  if (!in) fail(fmt::format("{}: cannot read external data file '{}'", what, location));
  return buf;
}

Const Reader::load_tensor(const onnx::TensorProto& t, const std::string& what) {
  Const c;
  for (auto d : t.dims()) c.dims.push_back(d);
  check_const_size(c.dims);
  const std::int64_t n = product(c.dims);
  if (t.has_segment()) fail(fmt::format("{}: segmented tensors are not supported", what));
  int elem = 0;
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT: elem = 4; break;
    case onnx::TensorProto::DOUBLE: elem = 8; break;
    case onnx::TensorProto::INT64: elem = 8; c.integer = true; break;
    case onnx::TensorProto::INT32: elem = 4; c.integer = true; break;
    case onnx::TensorProto::BOOL: elem = 1; c.integer = true; break;
    default: fail(fmt::format("{}: unsupported tensor element type {}", what, t.data_type()));
  }
  std::string external;
  const std::string* raw = nullptr;
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    external = read_external(t, what, n * elem);
    raw = &external;
  } else if (t.has_raw_data()) {
    raw = &t.raw_data();
  }
  if (raw) {
    if (static_cast<std::int64_t>(raw->size()) != n * elem)
      fail(fmt::format("{}: has {} bytes of data, its shape {} needs {}", what, raw->size(), dims_str(c.dims),
                       n * elem));
    const auto* p = reinterpret_cast<const unsigned char*>(raw->data());
    auto le = [&](std::int64_t k, int bytes) {
      std::uint64_t v = 0;
      for (int b = bytes - 1; b >= 0; --b) v = (v << 8) | p[k * bytes + b];
      return v;
    };
    if (c.integer) c.i.resize(n);
    else c.f.resize(n);
    for (std::int64_t k = 0; k < n; ++k) {
      switch (t.data_type()) {
        case onnx::TensorProto::FLOAT: c.f[k] = std::bit_cast<float>(static_cast<std::uint32_t>(le(k, 4))); break;
        case onnx::TensorProto::DOUBLE: c.f[k] = std::bit_cast<double>(le(k, 8)); break;
        case onnx::TensorProto::INT64: c.i[k] = std::bit_cast<std::int64_t>(le(k, 8)); break;
        case onnx::TensorProto::BOOL: c.i[k] = p[k] != 0; break;
        default: c.i[k] = std::bit_cast<std::int32_t>(static_cast<std::uint32_t>(le(k, 4))); break;
      }
    }
    return c;
  }
  std::int64_t have = 0;
  switch (t.data_type()) {
    case onnx::TensorProto::FLOAT: have = t.float_data_size(); c.f.assign(t.float_data().begin(), t.float_data().end()); break;
    case onnx::TensorProto::DOUBLE: have = t.double_data_size(); c.f.assign(t.double_data().begin(), t.double_data().end()); break;
    case onnx::TensorProto::INT64: have = t.int64_data_size(); c.i.assign(t.int64_data().begin(), t.int64_data().end()); break;
    default: have = t.int32_data_size(); c.i.assign(t.int32_data().begin(), t.int32_data().end()); break;  // INT32, BOOL
  }
  if (have != n)
    fail(fmt::format("{}: has {} values, its shape {} needs {}", what, have, dims_str(c.dims), n));
  return c;
}

Dims Reader::resolve_reshape(const Dims& in, Dims t, bool allowzero) const {
  // in: the full input shape (kBatch at 0 for a symbolic batch).
  for (std::size_t k = 0; k < t.size(); ++k)
    if (t[k] == 0 && !allowzero) {
      if (k >= in.size()) fail("Reshape copies a dimension the input does not have");
      t[k] = in[k];
    }
  int minus = 0;
  for (auto x : t) {
    if (x == -1) ++minus;
    else if (x < 0 && x != kBatch) fail(fmt::format("bad target shape {}", dims_str(t)));
  }
  if (minus > 1) fail("Reshape target has more than one -1");
  std::int64_t p = 1;
  for (auto x : t)
    if (x > 0) {
      if (p > kMaxElements / x) fail(fmt::format("target shape {} is too large", dims_str(t)));
      p *= x;
    }
  return t;
}

void Reader::op_gemm() {
  const double alpha = attr_float("alpha", 1.0), beta = attr_float("beta", 1.0);
  const bool ta = attr_int("transA", 0) != 0, tb = attr_int("transB", 0) != 0;
  require_known(0);
  require_known(1);
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
  if (is_act(0) && is_const(1)) {
    a = act(0);
    const Const& B = cst(1);
    Eigen::MatrixXd Bm = as_matrix(B, tb, "B");  // K x N
    stored_ += static_cast<std::int64_t>(B.size());
    const Dims full = full_shape(a);
    if (full.size() != 2) fail(fmt::format("input A must be a matrix, has shape {}", dims_str(full)));
    if (batched_) {
      if (ta) fail("transA would move the batch axis");
      apply_axis(a, 0, Bm.transpose());
    } else {
      if (ta) permute(a, {1, 0});
      apply_axis(a, 1, Bm.transpose());
    }
  } else if (is_const(0) && is_act(1)) {
    a = act(1);
    const Const& Ak = cst(0);
    Eigen::MatrixXd Am = as_matrix(Ak, ta, "A");  // M x K
    stored_ += static_cast<std::int64_t>(Ak.size());
    const Dims full = full_shape(a);
    if (full.size() != 2) fail(fmt::format("input B must be a matrix, has shape {}", dims_str(full)));
    if (batched_) fail("the batched input is the right factor of Gemm");
    if (tb) permute(a, {1, 0});
    apply_axis(a, 0, Am);
  } else if (is_act(0) && is_act(1)) {
    fail("multiplies two tensors that both depend on the input (not affine)");
  } else {
    fail("Gemm of two constants is not supported");
  }
  a.pending_matmul = false;
  if (has_input(2)) {
    require_known(2);
    if (!is_const(2)) fail("the bias C depends on the input");
    const Const& C = cst(2);
    stored_ += static_cast<std::int64_t>(C.size());
    Eigen::VectorXd v = per_sample(a, C);
    a.c += beta == 1.0 ? v : Eigen::VectorXd(beta * v);
  } else {
    a.pending_matmul = true;
  }
  a.fresh = false;
  set_output(a);
}

void Reader::op_matmul() {
  require_known(0);
  require_known(1);
  if (is_act(0) && is_act(1)) fail("multiplies two tensors that both depend on the input (not affine)");
  if (is_const(0) && is_const(1)) fail("MatMul of two constants is not supported");
  const bool act_left = is_act(0);
  Act a = act_left ? act(0) : act(1);
  const Const& W = act_left ? cst(1) : cst(0);
  stored_ += static_cast<std::int64_t>(W.size());
  const Dims full = full_shape(a);
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
    axis = sample_axis(static_cast<std::int64_t>(full.size()) - 1, full.size(), "MatMul");
    M = vec ? Eigen::MatrixXd(Wm) : Eigen::MatrixXd(Wm.transpose());
  } else {
    // W[M, K] @ x[..., K, N] -> [..., M, N]; x[K] is a column vector.
    const std::int64_t ax = full.size() == 1 ? 0 : static_cast<std::int64_t>(full.size()) - 2;
    axis = sample_axis(ax, full.size(), "MatMul");
    M = Wm;
  }
  apply_axis(a, axis, M);
  if (vec) a.shape.erase(a.shape.begin() + static_cast<std::ptrdiff_t>(axis));
  a.pending_matmul = true;
  set_output(a);
}

Const Reader::const_elementwise(const std::string& op, const Const& a, const Const& b) const {
  auto dims = broadcast_dims(a.dims, b.dims);
  if (!dims) fail(fmt::format("cannot broadcast {} with {}", dims_str(a.dims), dims_str(b.dims)));
  Const r;
  r.dims = *dims;
  auto ia = broadcast_index(r.dims, a.dims), ib = broadcast_index(r.dims, b.dims);
  r.integer = a.integer && b.integer;
  const std::size_t n = ia.size();
  if (r.integer) {
    r.i.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      const std::int64_t x = a.i[ia[k]], y = b.i[ib[k]];
      if (x == kBatch || y == kBatch) fail("arithmetic on the symbolic batch size is not supported");
      bool overflow = false;
      if (op == "Add") overflow = __builtin_add_overflow(x, y, &r.i[k]);
      else if (op == "Sub") overflow = __builtin_sub_overflow(x, y, &r.i[k]);
      else if (op == "Mul") overflow = __builtin_mul_overflow(x, y, &r.i[k]);
      else {
        if (y == 0) fail("integer division by zero");
        r.i[k] = x / y;  // x != INT64_MIN (that is the symbolic batch size)
      }
      if (overflow || r.i[k] == kBatch) fail("integer overflow");
    }
  } else {
    r.f.resize(n);
    for (std::size_t k = 0; k < n; ++k) {
      const double x = a.value(ia[k]), y = b.value(ib[k]);
      if (op == "Add") r.f[k] = x + y;
      else if (op == "Sub") r.f[k] = x - y;
      else if (op == "Mul") r.f[k] = x * y;
      else r.f[k] = x / y;
    }
  }
  return r;
}

void Reader::op_elementwise(const std::string& op) {
  require_known(0);
  if (op == "Neg") {
    if (is_const(0)) {
      Const k = cst(0);
      for (auto& v : k.f) v = -v;
      for (auto& v : k.i) {
        if (v == kBatch) fail("arithmetic on the symbolic batch size is not supported");
        v = -v;
      }
      set_output(k);
      return;
    }
    Act a = act(0);
    scale(a, Eigen::VectorXd::Constant(a.size(), -1.0));
    a.pending_matmul = false;
    set_output(a);
    return;
  }
  require_known(1);
  if (is_const(0) && is_const(1)) {
    set_output(const_elementwise(op, cst(0), cst(1)));
    return;
  }
  if (is_act(0) && is_act(1)) fail("combines two tensors that both depend on the input (not supported)");
  const bool act_left = is_act(0);
  Act a = act_left ? act(0) : act(1);
  const Const& k = act_left ? cst(1) : cst(0);
  if (auto out = broadcast_dims(full_shape(a), k.dims); !out || *out != full_shape(a)) {
    // Broadcasting the batch axis is fine (kBatch vs 1); anything else that grows the activation is not.
    if (!out || out->size() != full_shape(a).size())
      fail(fmt::format("shape mismatch: the constant {} does not broadcast over the activation {}",
                       dims_str(k.dims), dims_str(full_shape(a))));
  }
  Eigen::VectorXd v = per_sample(a, k);
  const bool bias = a.pending_matmul && op == "Add";
  if (op == "Add") {
    a.c += v;
  } else if (op == "Sub") {
    if (act_left) {
      a.c -= v;
    } else {
      scale(a, Eigen::VectorXd::Constant(a.size(), -1.0));
      a.c += v;
    }
  } else if (op == "Mul") {
    scale(a, v);
  } else {  // Div
    if (!act_left) fail("divides a constant by the activation (not affine)");
    if ((v.array() == 0.0).any()) fail("division by zero");
    scale(a, v.cwiseInverse());
  }
  if (bias) stored_ += static_cast<std::int64_t>(k.size());
  a.pending_matmul = false;
  a.fresh = false;
  set_output(a);
}

void Reader::op_relu() {
  require_known(0);
  if (is_const(0)) fail("Relu of a constant is not supported");
  Act a = act(0);
  if (a.base != layers_.size())
    fail("Relu of a tensor computed before an earlier Relu (branching graphs are not supported)");
  if (a.fresh && !layers_.empty()) {  // relu(relu(x)) = relu(x)
    set_output(a);
    return;
  }
  close_layer(a);
  set_output(fresh_act(a.shape));
}

void Reader::op_flatten() {
  require_known(0);
  std::int64_t axis = attr_int("axis", 1);
  if (is_const(0)) {
    Const k = cst(0);
    const auto r = static_cast<std::int64_t>(k.dims.size());
    if (axis < 0) axis += r;
    if (axis < 0 || axis > r) fail("axis out of range");
    k.dims = {product(k.dims, 0, axis), product(k.dims, axis)};
    set_output(k);
    return;
  }
  Act a = act(0);
  const Dims full = full_shape(a);
  const auto r = static_cast<std::int64_t>(full.size());
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) fail("axis out of range");
  if (!batched_) {
    reshape(a, {product(full, 0, axis), product(full, axis)});
  } else {
    if (axis == 0 || product(a.shape, 0, axis - 1) != 1) fail("Flatten merges the batch axis with other axes");
    reshape(a, {a.size()});
  }
  set_output(a);
}

void Reader::op_reshape() {
  require_known(0);
  const bool allowzero = attr_int("allowzero", 0) != 0;
  Dims target = ints_of(cst(1), "the shape");
  if (is_const(0)) {
    Const k = cst(0);
    Dims t = resolve_reshape(k.dims, target, allowzero);
    for (auto& x : t)
      if (x == kBatch) fail("Reshape of a constant to the batch size");
    const std::int64_t known = -product(t);  // product with the -1
    for (auto& x : t)
      if (x == -1) {
        if (known == 0 || static_cast<std::int64_t>(k.size()) % known) fail("cannot infer the -1 of the shape");
        x = static_cast<std::int64_t>(k.size()) / known;
      }
    if (product(t) != static_cast<std::int64_t>(k.size())) fail("shape mismatch in Reshape of a constant");
    k.dims = t;
    set_output(k);
    return;
  }
  Act a = act(0);
  Dims t = resolve_reshape(full_shape(a), target, allowzero);
  Dims sample;
  if (batched_) {
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
      if (known == 0 || a.size() % known) fail(fmt::format("cannot reshape {} to {}", dims_str(full_shape(a)), dims_str(t)));
      x = a.size() / known;
    }
  reshape(a, sample);
  set_output(a);
}

void Reader::op_squeeze(bool unsqueeze) {
  require_known(0);
  Dims axes;
  if (auto* at = attr("axes")) axes.assign(at->ints().begin(), at->ints().end());
  else if (has_input(1)) axes = ints_of(cst(1), "axes");
  const bool is_c = is_const(0);
  Dims full = is_c ? cst(0).dims : full_shape(act(0));
  Dims out;
  if (unsqueeze) {
    const auto r = static_cast<std::int64_t>(full.size() + axes.size());
    std::vector<bool> ins(r, false);
    for (auto x : axes) {
      if (x < 0) x += r;
      if (x < 0 || x >= r || ins[x]) fail("bad axes");
      ins[x] = true;
    }
    std::size_t j = 0;
    for (std::int64_t k = 0; k < r; ++k) out.push_back(ins[k] ? 1 : full[j++]);
    if (!is_c && batched_ && ins[0]) fail("Unsqueeze moves the batch axis");
  } else {
    const auto r = static_cast<std::int64_t>(full.size());
    std::vector<bool> del(r, false);
    if (axes.empty()) {
      for (std::int64_t k = 0; k < r; ++k) del[k] = full[k] == 1;
    } else {
      for (auto x : axes) {
        if (x < 0) x += r;
        if (x < 0 || x >= r || full[x] != 1) fail("Squeeze of an axis that is not 1");
        del[x] = true;
      }
    }
    if (!is_c && batched_) del[0] = false;
    for (std::int64_t k = 0; k < r; ++k)
      if (!del[k]) out.push_back(full[k]);
  }
  if (is_c) {
    Const k = cst(0);
    k.dims = out;
    set_output(k);
    return;
  }
  Act a = act(0);
  if (batched_) out.erase(out.begin());
  reshape(a, out);
  set_output(a);
}

void Reader::op_transpose() {
  require_known(0);
  const bool is_c = is_const(0);
  const std::size_t r = is_c ? cst(0).dims.size() : full_shape(act(0)).size();
  std::vector<std::size_t> perm(r);
  if (auto* at = attr("perm")) {
    if (static_cast<std::size_t>(at->ints_size()) != r) fail("perm has the wrong length");
    for (std::size_t k = 0; k < r; ++k) {
      auto p = at->ints(static_cast<int>(k));
      if (p < 0 || static_cast<std::size_t>(p) >= r) fail("bad perm");
      perm[k] = static_cast<std::size_t>(p);
    }
  } else {
    for (std::size_t k = 0; k < r; ++k) perm[k] = r - 1 - k;
  }
  if (!std::is_permutation(perm.begin(), perm.end(), [&] {
        std::vector<std::size_t> id(r);
        for (std::size_t k = 0; k < r; ++k) id[k] = k;
        return id;
      }().begin()))
    fail("bad perm");
  if (is_c) {
    const Const& k = cst(0);
    Const o = k;
    for (std::size_t j = 0; j < r; ++j) o.dims[j] = k.dims[perm[j]];
    const Dims is = strides(k.dims), os = strides(o.dims);
    for (std::int64_t e = 0; e < static_cast<std::int64_t>(k.size()); ++e) {
      std::int64_t rem = e, src = 0;
      for (std::size_t ax = 0; ax < r; ++ax) {
        src += (rem / os[ax]) * is[perm[ax]];
        rem %= os[ax];
      }
      if (k.integer) o.i[e] = k.i[src];
      else o.f[e] = k.f[src];
    }
    set_output(o);
    return;
  }
  Act a = act(0);
  std::vector<std::size_t> sp;
  if (batched_) {
    if (perm[0] != 0) fail("Transpose moves the batch axis");
    for (std::size_t k = 1; k < r; ++k) sp.push_back(perm[k] - 1);
  } else {
    sp = perm;
  }
  permute(a, sp);
  a.pending_matmul = false;
  set_output(a);
}

void Reader::op_constant() {
  Const k;
  if (auto* a = attr("value")) {
    k = load_tensor(a->t(), "constant");
  } else if (auto* a = attr("value_float")) {
    k.f = {a->f()};
  } else if (auto* a = attr("value_floats")) {
    k.f.assign(a->floats().begin(), a->floats().end());
    k.dims = {static_cast<std::int64_t>(k.f.size())};
  } else if (auto* a = attr("value_int")) {
    k.integer = true;
    k.i = {a->i()};
  } else if (auto* a = attr("value_ints")) {
    k.integer = true;
    k.i.assign(a->ints().begin(), a->ints().end());
    k.dims = {static_cast<std::int64_t>(k.i.size())};
  } else {
    fail("Constant without a supported value attribute");
  }
  set_output(k);
}

void Reader::op_shape() {
  require_known(0);
  Dims full = is_const(0) ? cst(0).dims : full_shape(act(0));
  const auto r = static_cast<std::int64_t>(full.size());
  std::int64_t start = attr_int("start", 0), end = attr_int("end", r);
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<std::int64_t>(start, 0, r);
  end = std::clamp<std::int64_t>(end, 0, r);
  Const k;
  k.integer = true;
  for (std::int64_t j = start; j < end; ++j) k.i.push_back(full[j]);
  k.dims = {static_cast<std::int64_t>(k.i.size())};
  set_output(k);
}

void Reader::op_gather() {
  require_known(0);
  if (is_act(0)) fail("Gather on the activation is not supported");
  const Const& data = cst(0);
  const Dims idx = ints_of(cst(1), "indices");
  const Dims idims = cst(1).dims;
  const auto r = static_cast<std::int64_t>(data.dims.size());
  std::int64_t axis = attr_int("axis", 0);
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) fail("axis out of range");
  const std::int64_t pre = product(data.dims, 0, axis), n = data.dims[axis], post = product(data.dims, axis + 1);
  Const o;
  o.integer = data.integer;
  o.dims.assign(data.dims.begin(), data.dims.begin() + axis);
  o.dims.insert(o.dims.end(), idims.begin(), idims.end());
  o.dims.insert(o.dims.end(), data.dims.begin() + axis + 1, data.dims.end());
  for (std::int64_t p = 0; p < pre; ++p)
    for (auto j : idx) {
      if (j < 0) j += n;
      if (j < 0 || j >= n) fail("index out of range");
      for (std::int64_t s = 0; s < post; ++s) {
        const std::int64_t src = (p * n + j) * post + s;
        if (o.integer) o.i.push_back(data.i[src]);
        else o.f.push_back(data.f[src]);
      }
    }
  set_output(o);
}

void Reader::op_concat() {
  std::int64_t axis = attr_int("axis", 0);
  std::vector<const Const*> parts;
  for (int k = 0; k < node_->input_size(); ++k) {
    if (!has_input(k)) continue;
    require_known(k);
    if (is_act(k)) fail("Concat of the activation is not supported");
    parts.push_back(&cst(k));
  }
  if (parts.empty()) fail("Concat without inputs");
  const Dims& d0 = parts[0]->dims;
  const auto r = static_cast<std::int64_t>(d0.size());
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) fail("axis out of range");
  Const o;
  o.integer = true;
  for (auto* p : parts) o.integer = o.integer && p->integer;
  o.dims = d0;
  o.dims[axis] = 0;
  for (auto* p : parts) {
    if (static_cast<std::int64_t>(p->dims.size()) != r) fail("Concat of tensors of different ranks");
    for (std::int64_t k = 0; k < r; ++k)
      if (k != axis && p->dims[k] != d0[k]) fail("Concat of tensors of different shapes");
    o.dims[axis] += p->dims[axis];
  }
  const std::int64_t pre = product(d0, 0, axis), post = product(d0, axis + 1);
  for (std::int64_t q = 0; q < pre; ++q)
    for (auto* p : parts)
      for (std::int64_t j = 0; j < p->dims[axis] * post; ++j) {
        const std::int64_t src = q * p->dims[axis] * post + j;
        if (o.integer) o.i.push_back(p->i[src]);
        else o.f.push_back(p->value(src));
      }
  set_output(o);
}

void Reader::op_cast() {
  require_known(0);
  const auto to = attr_int("to", 0);
  const bool to_int = to == onnx::TensorProto::INT64 || to == onnx::TensorProto::INT32;
  const bool to_float = to == onnx::TensorProto::FLOAT || to == onnx::TensorProto::DOUBLE;
  if (!to_int && !to_float) fail(fmt::format("Cast to element type {} is not supported", to));
  if (is_act(0)) {
    if (!to_float) fail("Cast of the activation to integers");
    set_output(act(0));
    return;
  }
  Const k = cst(0);
  if (to_int && !k.integer) {
    for (double v : k.f) {
      if (!std::isfinite(v) || std::abs(v) > 9e18) fail("Cast of a non-finite value to an integer");
      k.i.push_back(static_cast<std::int64_t>(v));
    }
    k.f.clear();
    k.integer = true;
  } else if (to_float && k.integer) {
    for (auto v : k.i) {
      if (v == kBatch) fail("Cast of the symbolic batch size");
      k.f.push_back(static_cast<double>(v));
    }
    k.i.clear();
    k.integer = false;
  }
  if (to == onnx::TensorProto::FLOAT)
    for (auto& v : k.f) v = static_cast<double>(static_cast<float>(v));
  set_output(k);
}

void Reader::dispatch() {
  const std::string& op = node_->op_type();
  if (!node_->domain().empty() && node_->domain() != "ai.onnx")
    fail(fmt::format("unsupported op {} of domain {} (leo reads {})", op, node_->domain(),
                     fmt::join(kSupportedOps, ", ")));
  if (op == "Gemm") op_gemm();
  else if (op == "MatMul") op_matmul();
  else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div" || op == "Neg") op_elementwise(op);
  else if (op == "Relu") op_relu();
  else if (op == "Flatten") op_flatten();
  else if (op == "Reshape") op_reshape();
  else if (op == "Squeeze") op_squeeze(false);
  else if (op == "Unsqueeze") op_squeeze(true);
  else if (op == "Transpose") op_transpose();
  else if (op == "Identity") {
    require_known(0);
    if (is_act(0)) set_output(act(0));
    else set_output(cst(0));
  } else if (op == "Dropout") {
    require_known(0);
    if (has_input(2)) {
      const Const& mode = cst(2);
      if (mode.size() != 1 || mode.value(0) != 0.0) fail("Dropout in training mode");
    }
    if (is_act(0)) set_output(act(0));
    else set_output(cst(0));
  } else if (op == "Cast") op_cast();
  else if (op == "Constant") op_constant();
  else if (op == "Shape") op_shape();
  else if (op == "Gather") op_gather();
  else if (op == "Concat") op_concat();
  else
    fail(fmt::format("unsupported op {} (leo reads feed-forward ReLU networks: {})", op,
                     fmt::join(kSupportedOps, ", ")));
}

TensorInfo tensor_info(const onnx::ValueInfoProto& v) {
  TensorInfo t;
  t.name = v.name();
  if (v.type().has_tensor_type()) {
    const auto& tt = v.type().tensor_type();
    t.type = tt.elem_type() == onnx::TensorProto::DOUBLE ? ElementType::float64 : ElementType::float32;
    if (tt.has_shape())
      for (const auto& d : tt.shape().dim()) t.shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
  }
  return t;
}

Network Reader::run() {
  const auto& g = model_.graph();
  // Opset.
  bool found = false;
  for (const auto& o : model_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") {
      opset_ = o.version();
      found = true;
    }
  if (!found) fail("the model imports no ai.onnx opset");
  if (opset_ < 7 || opset_ > 18) fail(fmt::format("opset {} is not supported (leo reads opsets 7 to 18)", opset_));
  if (g.node_size() == 0) fail("the graph is empty (no nodes)");
  if (g.sparse_initializer_size() > 0) fail("sparse initializers are not supported");

  for (const auto& t : g.initializer()) consts_[t.name()] = load_tensor(t, fmt::format("initializer '{}'", t.name()));

  // The one input that is not an initializer.
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const auto& v : g.input())
    if (!consts_.count(v.name())) inputs.push_back(&v);
  if (inputs.size() != 1) fail(fmt::format("the graph has {} inputs; leo reads networks with one input", inputs.size()));
  if (g.output_size() != 1)
    fail(fmt::format("the graph has {} outputs; leo reads networks with one output", g.output_size()));
  const auto& in = *inputs[0];
  if (!in.type().has_tensor_type()) fail(fmt::format("input '{}' is not a tensor", in.name()));
  const auto elem = in.type().tensor_type().elem_type();
  if (elem != onnx::TensorProto::FLOAT && elem != onnx::TensorProto::DOUBLE)
    fail(fmt::format("input '{}' has element type {}; leo reads float and double inputs", in.name(), elem));
  if (!in.type().tensor_type().has_shape()) fail(fmt::format("input '{}' has no shape", in.name()));
  TensorInfo input = tensor_info(in);
  if (input.shape.empty()) fail(fmt::format("input '{}' is a scalar", in.name()));
  const Dims& s = input.shape;
  for (std::size_t k = 1; k < s.size(); ++k)
    if (s[k] <= 0) fail(fmt::format("input '{}' has a dynamic or empty dimension {} (shape {})", in.name(), k, dims_str(s)));
  Dims sample;
  if (s.size() >= 2 && s[0] <= 0) {
    // A symbolic first dimension is the batch; a fixed one (often 1) is part of the sample.
    batched_ = true;
    sample.assign(s.begin() + 1, s.end());
  } else {
    if (s[0] <= 0) fail(fmt::format("input '{}' has a dynamic or empty dimension 0 (shape {})", in.name(), dims_str(s)));
    sample = s;
  }
  check_const_size(sample);
  acts_[in.name()] = fresh_act(sample);

  for (node_index_ = 0; node_index_ < g.node_size(); ++node_index_) {
    node_ = &g.node(node_index_);
    dispatch();
  }
  node_ = nullptr;

  const auto& out = g.output(0);
  auto it = acts_.find(out.name());
  if (it == acts_.end()) {
    if (consts_.count(out.name())) fail(fmt::format("output '{}' does not depend on the input", out.name()));
    fail(fmt::format("output '{}' is not computed by any node", out.name()));
  }
  Act a = it->second;
  if (a.base != layers_.size())
    fail(fmt::format("output '{}' is computed before the last Relu (branching graphs are not supported)", out.name()));
  if (a.fresh && !layers_.empty()) {
    // The graph ends with a Relu: add an identity output layer.
    AffineLayer id;
    id.weights = Eigen::MatrixXd::Identity(a.size(), a.size());
    id.bias = Eigen::VectorXd::Zero(a.size());
    layers_.push_back(std::move(id));
  } else {
    close_layer(a);
  }
  TensorInfo output = tensor_info(out);
  const Dims computed = full_shape(a);
  if (output.shape.empty() && !(out.type().has_tensor_type() && out.type().tensor_type().has_shape())) {
    output.shape = computed;
    for (auto& x : output.shape)
      if (x == kBatch) x = -1;
  } else {
    bool ok = output.shape.size() == computed.size();
    for (std::size_t k = 0; ok && k < computed.size(); ++k)
      if (output.shape[k] >= 0 && computed[k] != kBatch && output.shape[k] != computed[k]) ok = false;
    if (!ok)
      fail(fmt::format("shape mismatch: output '{}' is declared {} but the graph computes {}", out.name(),
                       dims_str(output.shape), dims_str(computed)));
  }
  if (!out.type().has_tensor_type()) output.type = input.type;

  Network net(std::move(layers_));
  net.input = input;
  net.output = output;
  net.producer = model_.producer_name();
  if (!model_.producer_version().empty())
    net.producer += (net.producer.empty() ? "" : " ") + model_.producer_version();
  net.opset = opset_;
  net.source_parameters = stored_;
  for (const auto& p : model_.metadata_props()) net.metadata[p.key()] = p.value();
  net.validate(file_.string());
  return net;
}

}  // namespace

const std::vector<std::string>& onnx_supported_ops() { return kSupportedOps; }

Network read_onnx(const fs::path& file) { return read_onnx(file, OnnxReadOptions{}); }

Network read_onnx(const fs::path& file, const OnnxReadOptions& options) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw InputError(fmt::format("{}: no such file", file.string()));
  if (!fs::is_regular_file(file, ec)) throw InputError(fmt::format("{}: not a regular file", file.string()));
  const auto size = fs::file_size(file, ec);
  if (ec) throw InputError(fmt::format("{}: cannot read: {}", file.string(), ec.message()));
  if (size > options.max_file_bytes)
    throw InputError(fmt::format("{}: file is {} bytes, larger than the limit of {} bytes", file.string(), size,
                                 options.max_file_bytes));
  if (size > INT_MAX)
    throw InputError(fmt::format("{}: file is {} bytes; ONNX files of 2 GiB or more cannot be parsed (protobuf limit)",
                                 file.string(), size));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", file.string()));
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (!in) throw InputError(fmt::format("{}: cannot read", file.string()));
  onnx::ModelProto model;
  if (size == 0 || !model.ParseFromArray(data.data(), static_cast<int>(size)))
    throw InputError(fmt::format("{}: not an ONNX model (the protobuf does not parse: truncated or corrupt file)",
                                 file.string()));
  if (!model.has_graph() || model.ir_version() <= 0)
    throw InputError(fmt::format("{}: not an ONNX model (no {})", file.string(),
                                 model.has_graph() ? "IR version" : "graph"));
  try {
    return Reader(file, model, options.max_file_bytes - size, options.max_file_bytes).run();
  } catch (const std::bad_alloc&) {
    throw InputError(fmt::format("{}: the model is too large to read (out of memory)", file.string()));
  }
}

}  // namespace leo
