#include "leo/io/model_file.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <string>

#include "leo/io/nnet.hpp"
#include "leo/io/onnx.hpp"
#include "leo/util/atomic_file.hpp"
#include "leo/util/error.hpp"

namespace leo {
namespace fs = std::filesystem;

ModelFormat model_format(const fs::path& file) {
  std::string ext = file.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".nnet" ? ModelFormat::nnet : ModelFormat::onnx;
}

const char* format_name(ModelFormat format) { return format == ModelFormat::nnet ? "nnet" : "onnx"; }

Network read_model(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw InputError(fmt::format("{}: no such file", file.string()));
  if (fs::is_directory(file, ec)) throw InputError(fmt::format("{}: is a folder, not a model file", file.string()));
  return model_format(file) == ModelFormat::nnet ? read_nnet(file) : read_onnx(file);
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
