#pragma once
// The .nnet text format of ACAS Xu / Reluplex / Marabou.
//
// Layout (one record per line, values separated by commas, a trailing comma
// allowed, blank lines ignored):
//   // comment lines (only at the top)
//   numLayers, inputSize, outputSize, maxLayerSize
//   numLayers + 1 layer sizes (input first, output last)
//   the deprecated "symmetric" flag (an integer, ignored)
//   inputSize input minimums
//   inputSize input maximums
//   inputSize + 1 means  (the last one is the output mean)
//   inputSize + 1 ranges (the last one is the output range)
//   for each layer: its weight rows (one line per unit, one value per input),
//                   then its biases (one line per unit)
// A tool evaluating an .nnet file computes
//   y = range_out * N((clamp(x, min, max) - mean_in) / range_in) + mean_out.
//
// What leo does with the normalisation (README "The .nnet normalisation"):
// - Reading folds it into the weights, so the Network computes the same
//   function on raw inputs: the first layer becomes W / range_in (per column)
//   with bias b - (W / range_in) mean_in, the last layer becomes range_out W
//   with bias range_out b + mean_out. When the means are 0 and the ranges 1
//   nothing is touched (weights stay bit-identical).
// - The clamp to [min, max] is not affine and is not part of the Network.
//   The minimums and maximums are kept in Network::metadata under
//   "nnet.input_min" and "nnet.input_max" (comma-separated, exact decimal), so
//   that `analyze` can use them as the default input box (nnet_input_box).
//   They are not stored when every bound is +-infinite or +-DBL_MAX (what
//   leo writes when it knows no bounds).
// - Writing writes means 0 and ranges 1 (the weights act on raw inputs) and
//   the bounds from the metadata, else -DBL_MAX / +DBL_MAX. Numbers are the
//   shortest decimal that reads back as the same double, so
//   write_nnet -> read_nnet gives back exactly the same weights.
// - leo also writes comment lines "// leo input: NAME [SHAPE] TYPE" and
//   "// leo output: ..." and reads them back, so ONNX -> .nnet -> ONNX keeps
//   the tensor names, shapes and element type. Without them a .nnet file reads
//   as input "input" [-1, n] and output "output" [-1, m], element type float64
//   (the decimal weights are not rounded to float32 unless asked).
#include <filesystem>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"

namespace leo {

// Reads an .nnet file. Throws InputError "FILE: line N: what is wrong" on a
// malformed file, NaN/infinite weights, zero or non-finite ranges.
// Files larger than `max_bytes` (default 2 GiB) are refused before reading.
Network read_nnet(const std::filesystem::path& file, std::uintmax_t max_bytes = std::uintmax_t{1} << 31);
// Same, from text already in memory; `name` is used in error messages.
Network parse_nnet(const std::string& text, const std::string& name);

struct NnetWriteOptions {
  // float32: every weight and bias is rounded to float before it is written,
  // so the file holds the network a float32 ONNX file would hold.
  ElementType type = ElementType::float64;
  // Files that must not be overwritten (the models read).
  std::vector<std::filesystem::path> inputs;
};

// Writes `net` (validated first) to `file` atomically (util/atomic_file.hpp).
void write_nnet(const Network& net, const std::filesystem::path& file, const NnetWriteOptions& options = {});
// Writes the .nnet text of `net` to a stream.
void write_nnet(const Network& net, std::ostream& out, ElementType type = ElementType::float64);

// The input box stored by read_nnet in the metadata ("nnet.input_min" /
// "nnet.input_max"), when present and consistent with the network's inputs.
std::optional<Box> nnet_input_box(const Network& net);

// Metadata keys.
inline constexpr const char* kNnetInputMin = "nnet.input_min";
inline constexpr const char* kNnetInputMax = "nnet.input_max";

}  // namespace leo
