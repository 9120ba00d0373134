#pragma once
// A straightforward reference evaluator of ONNX graphs for the tests: every
// node is executed on whole tensors with plain loops, in double, independent
// of leo's reader (no affine folding, no layers). Only for the ops the test
// models use. Header-only; include it only from tests that link onnx_proto.
#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace leo::test {

struct RefTensor {
  std::vector<std::int64_t> dims;
  std::vector<double> v;
  std::int64_t size() const {
    std::int64_t n = 1;
    for (auto d : dims) n *= d;
    return n;
  }
};

inline onnx::ModelProto load_model_proto(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  onnx::ModelProto m;
  if (!m.ParseFromIstream(&in)) throw std::runtime_error("cannot parse " + file.string());
  return m;
}

inline RefTensor ref_tensor(const onnx::TensorProto& t, const std::filesystem::path& folder) {
  RefTensor r;
  for (auto d : t.dims()) r.dims.push_back(d);
  const std::int64_t n = r.size();
  std::string raw = t.raw_data();
  if (t.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string loc;
    std::int64_t off = 0;
    for (const auto& kv : t.external_data()) {
      if (kv.key() == "location") loc = kv.value();
      if (kv.key() == "offset") off = std::stoll(kv.value());
    }
    std::ifstream in(folder / loc, std::ios::binary);
    in.seekg(off);
    const int es = (t.data_type() == onnx::TensorProto::FLOAT || t.data_type() == onnx::TensorProto::INT32) ? 4 : 8;
    raw.assign(static_cast<std::size_t>(n * es), '\0');
    in.read(raw.data(), n * es);
  }
  r.v.resize(n);
  for (std::int64_t k = 0; k < n; ++k) {
    switch (t.data_type()) {
      case onnx::TensorProto::FLOAT: {
        float f;
        if (!raw.empty()) std::memcpy(&f, raw.data() + 4 * k, 4);
        else f = t.float_data(static_cast<int>(k));
        r.v[k] = f;
        break;
      }
      case onnx::TensorProto::DOUBLE: {
        double d;
        if (!raw.empty()) std::memcpy(&d, raw.data() + 8 * k, 8);
        else d = t.double_data(static_cast<int>(k));
        r.v[k] = d;
        break;
      }
      case onnx::TensorProto::INT64: {
        std::int64_t i;
        if (!raw.empty()) std::memcpy(&i, raw.data() + 8 * k, 8);
        else i = t.int64_data(static_cast<int>(k));
        r.v[k] = static_cast<double>(i);
        break;
      }
      case onnx::TensorProto::INT32: {
        std::int32_t i;
        if (!raw.empty()) std::memcpy(&i, raw.data() + 4 * k, 4);
        else i = t.int32_data(static_cast<int>(k));
        r.v[k] = i;
        break;
      }
      case onnx::TensorProto::BOOL:
        r.v[k] = !raw.empty() ? static_cast<double>(raw[k] != 0) : t.int32_data(static_cast<int>(k));
        break;
      default: throw std::runtime_error("reference: element type");
    }
  }
  return r;
}

// Numpy-style broadcast of a binary op.
template <class F>
RefTensor ref_broadcast(const RefTensor& a, const RefTensor& b, F f) {
  const std::size_t r = std::max(a.dims.size(), b.dims.size());
  std::vector<std::int64_t> da(r, 1), db(r, 1), out(r);
  for (std::size_t k = 0; k < a.dims.size(); ++k) da[r - a.dims.size() + k] = a.dims[k];
  for (std::size_t k = 0; k < b.dims.size(); ++k) db[r - b.dims.size() + k] = b.dims[k];
  for (std::size_t k = 0; k < r; ++k) {
    if (da[k] != db[k] && da[k] != 1 && db[k] != 1) throw std::runtime_error("reference: broadcast");
    out[k] = std::max(da[k], db[k]);
  }
  RefTensor o;
  o.dims = out;
  o.v.resize(o.size());
  std::vector<std::int64_t> idx(r, 0);
  for (std::int64_t e = 0; e < o.size(); ++e) {
    std::int64_t rem = e;
    for (std::size_t k = r; k-- > 0;) {
      idx[k] = rem % out[k];
      rem /= out[k];
    }
    std::int64_t ia = 0, ib = 0;
    for (std::size_t k = 0; k < r; ++k) {
      ia = ia * da[k] + (da[k] == 1 ? 0 : idx[k]);
      ib = ib * db[k] + (db[k] == 1 ? 0 : idx[k]);
    }
    o.v[e] = f(a.v[ia], b.v[ib]);
  }
  return o;
}

// C[m,n] = sum_k A[m,k] B[k,n] for every leading (batch) index of A or B.
inline RefTensor ref_matmul(RefTensor a, RefTensor b) {
  bool a_vec = a.dims.size() == 1, b_vec = b.dims.size() == 1;
  if (a_vec) a.dims.insert(a.dims.begin(), 1);
  if (b_vec) b.dims.push_back(1);
  const std::int64_t m = a.dims[a.dims.size() - 2], k = a.dims.back(), n = b.dims.back();
  if (b.dims[b.dims.size() - 2] != k) throw std::runtime_error("reference: matmul shapes");
  std::int64_t ba = a.size() / (m * k), bb = b.size() / (k * n);
  std::int64_t batches = std::max(ba, bb);
  RefTensor o;
  o.dims = a.dims.size() >= b.dims.size() ? a.dims : b.dims;
  o.dims[o.dims.size() - 2] = m;
  o.dims.back() = n;
  o.v.assign(batches * m * n, 0.0);
  for (std::int64_t q = 0; q < batches; ++q)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (std::int64_t l = 0; l < k; ++l)
          s += a.v[(ba == 1 ? 0 : q) * m * k + i * k + l] * b.v[(bb == 1 ? 0 : q) * k * n + l * n + j];
        o.v[q * m * n + i * n + j] = s;
      }
  if (a_vec) o.dims.erase(o.dims.end() - 2);
  if (b_vec) o.dims.pop_back();
  return o;
}

inline RefTensor ref_transpose2(const RefTensor& a) {
  RefTensor o;
  o.dims = {a.dims[1], a.dims[0]};
  o.v.resize(a.v.size());
  for (std::int64_t i = 0; i < a.dims[0]; ++i)
    for (std::int64_t j = 0; j < a.dims[1]; ++j) o.v[j * a.dims[0] + i] = a.v[i * a.dims[1] + j];
  return o;
}

// Evaluates the model's graph on one sample: the input tensor takes the graph
// input's shape with dynamic dimensions set to 1. Returns the output values.
inline std::vector<double> reference_eval(const std::filesystem::path& file, const std::vector<double>& input) {
  const onnx::ModelProto model = load_model_proto(file);
  const auto& g = model.graph();
  std::map<std::string, RefTensor> env;
  for (const auto& t : g.initializer()) env[t.name()] = ref_tensor(t, file.parent_path());
  for (const auto& in : g.input()) {
    if (env.count(in.name())) continue;
    RefTensor x;
    for (const auto& d : in.type().tensor_type().shape().dim()) x.dims.push_back(d.has_dim_value() ? d.dim_value() : 1);
    if (static_cast<std::size_t>(x.size()) != input.size()) throw std::runtime_error("reference: input size");
    x.v = input;
    env[in.name()] = x;
  }
  auto attr = [](const onnx::NodeProto& n, const std::string& name) -> const onnx::AttributeProto* {
    for (const auto& a : n.attribute())
      if (a.name() == name) return &a;
    return nullptr;
  };
  for (const auto& n : g.node()) {
    const std::string& op = n.op_type();
    auto in = [&](int k) -> const RefTensor& { return env.at(n.input(k)); };
    RefTensor out;
    if (op == "Relu") {
      out = in(0);
      for (auto& v : out.v) v = v > 0 ? v : 0.0;
    } else if (op == "Add" || op == "Sub" || op == "Mul" || op == "Div") {
      out = ref_broadcast(in(0), in(1), [&](double x, double y) {
        return op == "Add" ? x + y : op == "Sub" ? x - y : op == "Mul" ? x * y : x / y;
      });
    } else if (op == "Neg") {
      out = in(0);
      for (auto& v : out.v) v = -v;
    } else if (op == "MatMul") {
      out = ref_matmul(in(0), in(1));
    } else if (op == "Gemm") {
      RefTensor a = in(0), b = in(1);
      auto* ta = attr(n, "transA");
      auto* tb = attr(n, "transB");
      auto* al = attr(n, "alpha");
      auto* be = attr(n, "beta");
      if (ta && ta->i()) a = ref_transpose2(a);
      if (tb && tb->i()) b = ref_transpose2(b);
      out = ref_matmul(a, b);
      for (auto& v : out.v) v *= al ? al->f() : 1.0;
      if (n.input_size() > 2 && !n.input(2).empty()) {
        RefTensor c = in(2);
        for (auto& v : c.v) v *= be ? be->f() : 1.0;
        out = ref_broadcast(out, c, [](double x, double y) { return x + y; });
      }
    } else if (op == "Flatten") {
      out = in(0);
      auto* a = attr(n, "axis");
      std::int64_t axis = a ? a->i() : 1;
      if (axis < 0) axis += static_cast<std::int64_t>(out.dims.size());
      std::int64_t p = 1;
      for (std::int64_t k = 0; k < axis; ++k) p *= out.dims[k];
      out.dims = {p, out.size() / p};
    } else if (op == "Reshape") {
      out = in(0);
      std::vector<std::int64_t> d;
      std::int64_t known = 1;
      for (std::size_t k = 0; k < in(1).v.size(); ++k) {
        auto x = static_cast<std::int64_t>(in(1).v[k]);
        if (x == 0) x = in(0).dims[k];
        d.push_back(x);
        if (x != -1) known *= x;
      }
      for (auto& x : d)
        if (x == -1) x = out.size() / known;
      out.dims = d;
    } else if (op == "Identity" || op == "Dropout" || op == "Cast") {
      out = in(0);
    } else if (op == "Constant") {
      out = ref_tensor(attr(n, "value")->t(), file.parent_path());
    } else if (op == "Shape") {
      for (auto d : in(0).dims) out.v.push_back(static_cast<double>(d));
      out.dims = {static_cast<std::int64_t>(out.v.size())};
    } else if (op == "Gather") {  // axis 0 of a vector
      const RefTensor& idx = in(1);
      out.dims = idx.dims;
      for (double i : idx.v) out.v.push_back(in(0).v[static_cast<std::size_t>(i < 0 ? i + in(0).dims[0] : i)]);
    } else if (op == "Unsqueeze" || op == "Squeeze") {
      out = in(0);
      std::vector<std::int64_t> axes;
      if (auto* a = attr(n, "axes")) axes.assign(a->ints().begin(), a->ints().end());
      else if (n.input_size() > 1)
        for (double v : in(1).v) axes.push_back(static_cast<std::int64_t>(v));
      if (op == "Unsqueeze") {
        const auto r = static_cast<std::int64_t>(out.dims.size() + axes.size());
        std::vector<std::int64_t> d;
        std::size_t j = 0;
        for (std::int64_t k = 0; k < r; ++k) {
          bool ins = false;
          for (auto x : axes) ins = ins || (x < 0 ? x + r : x) == k;
          d.push_back(ins ? 1 : out.dims[j++]);
        }
        out.dims = d;
      } else {
        std::vector<std::int64_t> d;
        const auto r = static_cast<std::int64_t>(out.dims.size());
        for (std::int64_t k = 0; k < r; ++k) {
          bool del = axes.empty() ? out.dims[k] == 1 : false;
          for (auto x : axes) del = del || (x < 0 ? x + r : x) == k;
          if (!del) d.push_back(out.dims[k]);
        }
        out.dims = d;
      }
    } else if (op == "Concat") {  // vectors
      for (int k = 0; k < n.input_size(); ++k) out.v.insert(out.v.end(), in(k).v.begin(), in(k).v.end());
      out.dims = {static_cast<std::int64_t>(out.v.size())};
    } else if (op == "Transpose") {
      out = ref_transpose2(in(0));
    } else {
      throw std::runtime_error("reference: unsupported op " + op);
    }
    env[n.output(0)] = out;
  }
  return env.at(g.output(0).name()).v;
}

}  // namespace leo::test
