#include "leo/cli/model_io.hpp"

#include "leo/io/model_file.hpp"

namespace leo::cli {

Network load_model_file(const std::filesystem::path& path) { return read_model(path); }

void save_model_file(const Network& net, const std::filesystem::path& path, ElementType type,
                     const std::vector<std::filesystem::path>& inputs) {
  ModelWriteOptions options;
  options.type = type;
  options.inputs = inputs;
  write_model(net, path, options);
}

}  // namespace leo::cli
