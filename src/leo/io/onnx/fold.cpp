// Constant folding of the ONNX reader (see fold.hpp).
#include "leo/io/onnx/fold.hpp"

#include <fmt/core.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cmath>
#include <numeric>

namespace leo::onnx_read {

Const fold_elementwise(const std::string& op, const Const& a, const Const& b) {
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

Const fold_neg(Const k) {
  for (auto& v : k.f) v = -v;
  for (auto& v : k.i) {
    if (v == kBatch) fail("arithmetic on the symbolic batch size is not supported");
    v = -v;
  }
  return k;
}

std::vector<std::size_t> transpose_perm(const std::vector<std::int64_t>* given, std::size_t r) {
  std::vector<std::size_t> perm(r);
  if (given) {
    if (given->size() != r) fail("perm has the wrong length");
    for (std::size_t k = 0; k < r; ++k) {
      const auto p = (*given)[k];
      if (p < 0 || static_cast<std::size_t>(p) >= r) fail("bad perm");
      perm[k] = static_cast<std::size_t>(p);
    }
  } else {
    for (std::size_t k = 0; k < r; ++k) perm[k] = r - 1 - k;
  }
  std::vector<std::size_t> id(r);
  std::iota(id.begin(), id.end(), std::size_t{0});
  if (!std::is_permutation(perm.begin(), perm.end(), id.begin())) fail("bad perm");
  return perm;
}

Const fold_transpose(const Const& k, const std::vector<std::size_t>& perm) {
  const std::size_t r = perm.size();
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
  return o;
}

Const fold_gather(const Const& data, const Const& indices, std::int64_t axis) {
  if (!indices.integer) fail("indices must be an integer tensor");
  const auto r = static_cast<std::int64_t>(data.dims.size());
  if (axis < 0) axis += r;
  if (axis < 0 || axis >= r) fail("axis out of range");
  const std::int64_t pre = product(data.dims, 0, axis), n = data.dims[axis], post = product(data.dims, axis + 1);
  Const o;
  o.integer = data.integer;
  o.dims.assign(data.dims.begin(), data.dims.begin() + axis);
  o.dims.insert(o.dims.end(), indices.dims.begin(), indices.dims.end());
  o.dims.insert(o.dims.end(), data.dims.begin() + axis + 1, data.dims.end());
  for (std::int64_t p = 0; p < pre; ++p)
    for (auto j : indices.i) {
      if (j < 0) j += n;
      if (j < 0 || j >= n) fail("index out of range");
      for (std::int64_t s = 0; s < post; ++s) {
        const std::int64_t src = (p * n + j) * post + s;
        if (o.integer) o.i.push_back(data.i[src]);
        else o.f.push_back(data.f[src]);
      }
    }
  return o;
}

Const fold_concat(const std::vector<const Const*>& parts, std::int64_t axis) {
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
  return o;
}

Const fold_cast(Const k, int to) {
  const bool to_int = to == onnx::TensorProto::INT64 || to == onnx::TensorProto::INT32;
  const bool to_float = to == onnx::TensorProto::FLOAT || to == onnx::TensorProto::DOUBLE;
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
  return k;
}

Const fold_flatten(Const k, std::int64_t axis) {
  const auto r = static_cast<std::int64_t>(k.dims.size());
  if (axis < 0) axis += r;
  if (axis < 0 || axis > r) fail("axis out of range");
  k.dims = {product(k.dims, 0, axis), product(k.dims, axis)};
  return k;
}

Dims resolve_reshape(const Dims& in, Dims t, bool allowzero) {
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

Const fold_reshape(Const k, const Dims& target, bool allowzero) {
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
  return k;
}

Const shape_of(const Dims& full, std::int64_t start, std::int64_t end) {
  const auto r = static_cast<std::int64_t>(full.size());
  if (start < 0) start += r;
  if (end < 0) end += r;
  start = std::clamp<std::int64_t>(start, 0, r);
  end = std::clamp<std::int64_t>(end, 0, r);
  Const k;
  k.integer = true;
  for (std::int64_t j = start; j < end; ++j) k.i.push_back(full[j]);
  k.dims = {static_cast<std::int64_t>(k.i.size())};
  return k;
}

Dims unsqueezed(const Dims& full, const Dims& axes) {
  const auto r = static_cast<std::int64_t>(full.size() + axes.size());
  std::vector<bool> ins(r, false);
  for (auto x : axes) {
    if (x < 0) x += r;
    if (x < 0 || x >= r || ins[x]) fail("bad axes");
    ins[x] = true;
  }
  Dims out;
  std::size_t j = 0;
  for (std::int64_t k = 0; k < r; ++k) out.push_back(ins[k] ? 1 : full[j++]);
  return out;
}

Dims squeezed(const Dims& full, const Dims& axes, bool keep_first) {
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
  if (keep_first && r > 0) del[0] = false;
  Dims out;
  for (std::int64_t k = 0; k < r; ++k)
    if (!del[k]) out.push_back(full[k]);
  return out;
}

}  // namespace leo::onnx_read
