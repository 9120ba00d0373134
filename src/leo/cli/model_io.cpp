#include "leo/cli/model_io.hpp"

#include <CLI/CLI.hpp>
#include <cstdlib>

#include "leo/api/leo.hpp"
#include "leo/io/model_file.hpp"

namespace leo::cli {
namespace {
// The --max-model-size of the command being run (one command per process).
std::string& max_model_size() {
  static std::string size;
  return size;
}
}  // namespace

void add_model_size_option(CLI::App& app) {
  app.add_option("--max-model-size", max_model_size(),
                 "Refuse models larger than this before reading them: bytes, or with a k/M/G/T suffix (powers of "
                 "1024); ONNX counts its external data too. Default: $LEO_MAX_MODEL_SIZE, else 2G");
}

api::LoadOptions load_options(bool validate) {
  api::LoadOptions options;
  options.validate = validate;
  if (!max_model_size().empty()) {
    options.max_bytes = parse_byte_size(max_model_size(), "--max-model-size");
  } else if (const char* env = std::getenv("LEO_MAX_MODEL_SIZE"); env && *env) {
    options.max_bytes = parse_byte_size(env, "LEO_MAX_MODEL_SIZE");
  }
  return options;
}

Network load_model_file(const std::filesystem::path& path, bool validate) {
  return api::load_model(path, load_options(validate));
}

}  // namespace leo::cli
