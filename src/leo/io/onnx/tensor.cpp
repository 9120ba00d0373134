// Constant tensors of the ONNX reader (see tensor.hpp).
#include "leo/io/onnx/tensor.hpp"

#include <fmt/core.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <bit>
#include <fstream>

namespace leo::onnx_read {
namespace fs = std::filesystem;

void fail(const std::string& what) { throw NodeError(what); }

std::int64_t product(const Dims& d, std::size_t from, std::size_t to) {
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

Dims strides(const Dims& d) {
  Dims s(d.size(), 1);
  for (std::size_t k = d.size(); k-- > 1;) s[k - 1] = s[k] * d[k];
  return s;
}

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

void check_size(const Dims& d) {
  std::int64_t p = 1;
  for (auto x : d) {
    if (x < 0) fail(fmt::format("negative dimension in shape {}", dims_str(d)));
    if (x > 0 && p > kMaxElements / x) fail("tensor too large");
    p *= x;
  }
}

ExternalPath resolve_external(const fs::path& model_file, const std::string& location) {
  const fs::path rel(location);
  std::error_code ec;
  const fs::path folder = fs::weakly_canonical(fs::absolute(model_file, ec).parent_path(), ec);
  ExternalPath r;
  r.path = fs::weakly_canonical(folder / rel, ec);
  if (ec || r.path.empty()) {
    r.path = (folder / rel).lexically_normal();
    return r;
  }
  auto [fe, de] = std::mismatch(folder.begin(), folder.end(), r.path.begin(), r.path.end());
  r.inside = !rel.is_absolute() && fe == folder.end();
  return r;
}

std::string TensorDecoder::read_external(const onnx::TensorProto& t, const std::string& what, std::int64_t bytes) {
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
  const ExternalPath data = resolve_external(file_, location);
  if (!data.inside) fail(fmt::format("{}: external data file '{}' is outside the model's folder", what, location));
  std::error_code ec;
  if (!fs::is_regular_file(data.path, ec)) fail(fmt::format("{}: external data file '{}' not found", what, location));
  if (length >= 0 && length != bytes)
    fail(fmt::format("{}: external data length {} does not match {} bytes of the tensor", what, length, bytes));
  const auto file_size = fs::file_size(data.path, ec);
  if (ec || offset < 0 || static_cast<std::uintmax_t>(offset) + static_cast<std::uintmax_t>(bytes) > file_size)
    fail(fmt::format("{}: external data file '{}' is too short", what, location));
  if (static_cast<std::uintmax_t>(bytes) > budget_)
    fail(fmt::format("{}: the model with its external data is larger than the limit of {} bytes", what, limit_));
  budget_ -= static_cast<std::uintmax_t>(bytes);
  std::ifstream in(data.path, std::ios::binary);
  in.seekg(offset);
  std::string buf(static_cast<std::size_t>(bytes), '\0');
  in.read(buf.data(), bytes);
  if (!in) fail(fmt::format("{}: cannot read external data file '{}'", what, location));
  return buf;
}

Const TensorDecoder::decode(const onnx::TensorProto& t, const std::string& what) {
  Const c;
  for (auto d : t.dims()) c.dims.push_back(d);
  check_size(c.dims);
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

}  // namespace leo::onnx_read
