#pragma once
// Reading and writing models from the commands, through api/leo.hpp, with the
// size limit every command that reads a model takes as --max-model-size.
#include <filesystem>
#include <vector>

#include "leo/api/options.hpp"
#include "leo/network/network.hpp"

namespace CLI {
class App;
}

namespace leo::cli {

// Adds `--max-model-size SIZE` to a command that reads models: models larger
// than SIZE (bytes, or with a k/M/G/T suffix, powers of 1024; for ONNX the
// .onnx file plus its external data) are refused before they are read. The
// default is $LEO_MAX_MODEL_SIZE when set, else 2G.
void add_model_size_option(CLI::App& app);

// The load options of the command being run (the size limit above).
api::LoadOptions load_options(bool validate);

// Reads a model with that limit (validated as a ReLU network when asked).
Network load_model_file(const std::filesystem::path& path, bool validate = false);

}  // namespace leo::cli
