#include "leo/cli/model_io.hpp"

#include <fmt/core.h>

#include "leo/io/nnet.hpp"
#include "leo/io/onnx.hpp"
#include "leo/util/error.hpp"

#if __has_include("leo/io/model_file.hpp")
#include "leo/io/model_file.hpp"
#define LEO_HAVE_MODEL_FILE 1
#endif

namespace leo::cli {

namespace {
bool is_nnet(const std::filesystem::path& path) {
  std::string ext = path.extension().string();
  for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".nnet";
}
}  // namespace

Network load_model_file(const std::filesystem::path& path) {
#if defined(LEO_HAVE_MODEL_FILE)
  return read_model(path);
#else
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw InputError(fmt::format("{}: no such file", path.string()));
  if (is_nnet(path)) return read_nnet(path);
  return read_onnx(path);
#endif
}

void save_model_file(const Network& net, const std::filesystem::path& path, ElementType type,
                     const std::vector<std::filesystem::path>& inputs) {
#if defined(LEO_HAVE_MODEL_FILE)
  ModelWriteOptions options;
  options.type = type;
  options.inputs = inputs;
  write_model(net, path, options);
#else
  if (is_nnet(path))
    throw InputError(fmt::format("{}: writing .nnet is not available in this build", path.string()));
  OnnxWriteOptions options;
  options.type = type;
  options.inputs = inputs;
  write_onnx(net, path, options);
#endif
}

}  // namespace leo::cli
