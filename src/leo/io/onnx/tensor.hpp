#pragma once
// ONNX reader, part 1 of 3 (private to io/): constant tensors and their
// decoding from TensorProto, inline or external data.
//
// Errors inside the reader are thrown as NodeError with a bare message; the
// reader (onnx_read.cpp) adds the file name and the node, so that every
// message is built, and escaped, in one place.
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace onnx {
class TensorProto;
}

namespace leo::onnx_read {

using Dims = std::vector<std::int64_t>;

// A bad model, found while reading a tensor or a node: the reader prefixes it.
struct NodeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
[[noreturn]] void fail(const std::string& what);

// The symbolic batch size inside shape values (Shape of a batched activation).
inline constexpr std::int64_t kBatch = std::numeric_limits<std::int64_t>::min();
// Largest tensor leo accepts (elements).
inline constexpr std::int64_t kMaxElements = std::int64_t{1} << 31;

// Product of d[from, to).
std::int64_t product(const Dims& d, std::size_t from = 0, std::size_t to = SIZE_MAX);
// "[N,3,4]" (N for the batch or a dynamic dimension).
std::string dims_str(const Dims& d);
// Row-major strides.
Dims strides(const Dims& d);
// For every element of `out` (row-major), the index of the element of `src`
// (numpy broadcasting, aligned on the right) it reads.
std::vector<std::int64_t> broadcast_index(const Dims& out, const Dims& src);
// The numpy broadcast of two shapes, or nullopt when they do not broadcast.
std::optional<Dims> broadcast_dims(const Dims& a, const Dims& b);
// Fails on a negative dimension or more than kMaxElements elements.
void check_size(const Dims& d);

// A tensor that does not depend on the network input.
struct Const {
  Dims dims;
  bool integer = false;
  std::vector<double> f;        // values when !integer
  std::vector<std::int64_t> i;  // values when integer (may hold kBatch)
  std::size_t size() const { return integer ? i.size() : f.size(); }
  double value(std::size_t k) const { return integer ? static_cast<double>(i[k]) : f[k]; }
};

// Decodes the tensors of one model file. External data is read from files in
// the model's folder only, and counts against a byte budget (the size limit
// minus the .onnx file's size).
class TensorDecoder {
 public:
  TensorDecoder(const std::filesystem::path& model_file, std::uintmax_t budget, std::uintmax_t limit)
      : file_(model_file), budget_(budget), limit_(limit) {}
  // `what` names the tensor in messages ("initializer 'W'").
  Const decode(const onnx::TensorProto& t, const std::string& what);

 private:
  std::string read_external(const onnx::TensorProto& t, const std::string& what, std::int64_t bytes);
  std::filesystem::path file_;
  std::uintmax_t budget_;
  std::uintmax_t limit_;
};

// The file an external-data location names: the model's folder joined with
// it, resolved (weakly_canonical). `inside` tells whether it stays inside
// that folder (absolute locations and ".." escapes do not).
struct ExternalPath {
  std::filesystem::path path;
  bool inside = false;
};
ExternalPath resolve_external(const std::filesystem::path& model_file, const std::string& location);

}  // namespace leo::onnx_read
