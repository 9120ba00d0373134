// The external-data files of an ONNX model (see onnx.hpp).
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <climits>
#include <fstream>

#include "leo/io/onnx.hpp"
#include "leo/io/onnx/tensor.hpp"

namespace leo {
namespace fs = std::filesystem;

std::vector<fs::path> onnx_external_data_files(const fs::path& file) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return {};
  const auto size = fs::file_size(file, ec);
  if (ec || size == 0 || size > static_cast<std::uintmax_t>(INT_MAX)) return {};
  std::ifstream in(file, std::ios::binary);
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  onnx::ModelProto model;
  if (!in || !model.ParseFromArray(data.data(), static_cast<int>(size))) return {};
  data.clear();

  std::vector<fs::path> files;
  auto add = [&](const onnx::TensorProto& t) {
    if (t.data_location() != onnx::TensorProto::EXTERNAL) return;
    for (const auto& kv : t.external_data())
      if (kv.key() == "location" && !kv.value().empty()) {
        fs::path p = onnx_read::resolve_external(file, kv.value()).path;
        if (std::find(files.begin(), files.end(), p) == files.end()) files.push_back(std::move(p));
      }
  };
  const auto& g = model.graph();
  for (const auto& t : g.initializer()) add(t);
  for (const auto& n : g.node())
    for (const auto& a : n.attribute()) {
      if (a.has_t()) add(a.t());
      for (const auto& t : a.tensors()) add(t);
    }
  return files;
}

}  // namespace leo
