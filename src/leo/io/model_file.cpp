#include "leo/io/model_file.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <limits>
#include <string>

#include "leo/io/nnet.hpp"
#include "leo/io/onnx.hpp"
#include "leo/util/atomic_file.hpp"
#include "leo/util/error.hpp"
#include "leo/util/numbers.hpp"

namespace leo {
namespace fs = std::filesystem;

ModelFormat model_format(const fs::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".nnet" ? ModelFormat::nnet : ModelFormat::onnx;
}

const char* format_name(ModelFormat format) { return format == ModelFormat::nnet ? "nnet" : "onnx"; }

Network read_model(const fs::path& file, const ModelReadOptions& options) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw InputError(fmt::format("{}: no such file", file.string()));
  if (fs::is_directory(file, ec)) throw InputError(fmt::format("{}: is a folder, not a model file", file.string()));
  if (model_format(file) == ModelFormat::nnet) return read_nnet(file, options.max_bytes);
  OnnxReadOptions onnx;
  onnx.max_file_bytes = options.max_bytes;
  return read_onnx(file, onnx);
}

std::vector<fs::path> files_read_by_model(const fs::path& file) {
  std::error_code ec;
  std::vector<fs::path> files{fs::weakly_canonical(fs::absolute(file, ec), ec)};
  if (files[0].empty()) files[0] = file;
  if (model_format(file) == ModelFormat::onnx)
    for (auto& f : onnx_external_data_files(file)) files.push_back(std::move(f));
  return files;
}

std::uintmax_t parse_byte_size(const std::string& text, const std::string& what) {
  std::string_view t = trim(text);
  std::uintmax_t value = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
  std::string suffix(end, t.data() + t.size());
  std::transform(suffix.begin(), suffix.end(), suffix.begin(), [](unsigned char c) { return std::tolower(c); });
  int shift = -1;
  if (suffix.empty() || suffix == "b") shift = 0;
  const std::string units = "kmgt";
  if (!suffix.empty() && (suffix.size() == 1 || suffix.substr(1) == "b" || suffix.substr(1) == "ib")) {
    const auto k = units.find(suffix[0]);
    if (k != std::string::npos) shift = 10 * static_cast<int>(k + 1);
  }
  if (ec != std::errc() || end == t.data() || shift < 0)
    throw InputError(fmt::format("{}: '{}' is not a size (a whole number of bytes, or with k, M, G or T)", what, text));
  if (shift > 0 && value > (std::numeric_limits<std::uintmax_t>::max() >> shift))
    throw InputError(fmt::format("{}: '{}' is too large", what, text));
  return value << shift;
}

void write_model(const Network& net, const fs::path& file, const ModelWriteOptions& options) {
  // Refuse a bad destination before any work (and before the writers' own checks).
  check_output_path(file, options.inputs);
  if (model_format(file) == ModelFormat::nnet)
    write_nnet(net, file, NnetWriteOptions{options.type, options.inputs});
  else
    write_onnx(net, file, OnnxWriteOptions{options.type, options.inputs});
}

}  // namespace leo
