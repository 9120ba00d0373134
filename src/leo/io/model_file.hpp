#pragma once
// Reading and writing a model by file name: ".nnet" (any case) is the .nnet
// text format (io/nnet.hpp), anything else is ONNX (io/onnx.hpp).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "leo/network/network.hpp"

namespace leo {

enum class ModelFormat { onnx, nnet };

// The format a file name stands for: nnet for a ".nnet" extension, else onnx.
ModelFormat model_format(const std::filesystem::path& file);
const char* format_name(ModelFormat format);

struct ModelReadOptions {
  // Models larger than this are refused before they are read into memory
  // (for ONNX: the .onnx file plus its external data files).
  std::uintmax_t max_bytes = kDefaultMaxModelBytes;
  static constexpr std::uintmax_t kDefaultMaxModelBytes = std::uintmax_t{1} << 31;  // 2 GiB
};

// Reads a model. Throws InputError "FILE: no such file" for a missing file,
// and the reader's error (naming the file and place) for a bad one.
Network read_model(const std::filesystem::path& file, const ModelReadOptions& options = {});

// Every file reading `file` as a model touches, without loading any weights:
// the model file itself and, for ONNX, each external-data file named by its
// initializers or Constant nodes (once each, in order of first use). Paths
// are resolved (absolute, with "." and ".." and symbolic links resolved as far
// as they exist), external ones against the model's folder, so that they can
// be compared with an output path. A file that cannot be parsed as ONNX names
// no external files (reading it fails anyway). For .nnet: just the file.
std::vector<std::filesystem::path> files_read_by_model(const std::filesystem::path& file);

// A size in bytes from text: a whole number with an optional suffix k, M, G or
// T (powers of 1024; "KiB", "MB", ... read the same, case-insensitive), e.g.
// "2G", "512M", "1000". Throws InputError "WHAT: ..." on anything else.
std::uintmax_t parse_byte_size(const std::string& text, const std::string& what);

struct ModelWriteOptions {
  // Element type of the written weights (ONNX tensors; for .nnet, float32
  // rounds every value to float before writing it in decimal).
  ElementType type = ElementType::float32;
  // Files never to overwrite (the models and data read).
  std::vector<std::filesystem::path> inputs;
};

// Writes a model atomically (util/atomic_file.hpp): on failure the
// destination is untouched and no partial file is left.
void write_model(const Network& net, const std::filesystem::path& file, const ModelWriteOptions& options = {});

}  // namespace leo
