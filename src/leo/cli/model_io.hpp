#pragma once
// Reading and writing models from the compress/verify commands: by file name
// (.nnet or ONNX), through io/model_file.hpp when this build has it.
#include <filesystem>
#include <vector>

#include "leo/network/network.hpp"

namespace leo::cli {

Network load_model_file(const std::filesystem::path& path);
// Atomic; never overwrites one of `inputs`.
void save_model_file(const Network& net, const std::filesystem::path& path, ElementType type,
                     const std::vector<std::filesystem::path>& inputs);

}  // namespace leo::cli
