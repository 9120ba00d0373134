#pragma once
// ONNX reading and writing.
//
// read_onnx interprets the graph symbolically, node by node: it tracks "the
// activation" (the one tensor that depends on the network input) as an affine
// function W z + b of the last ReLU output z (or of the flattened input), and
// every other tensor as a constant. Affine ops (Gemm, MatMul, Add/Sub/Mul/Div
// by constants, Neg) compose into the current W, b; shape ops (Flatten,
// Reshape, Squeeze, Unsqueeze, Transpose, Identity, Dropout, Cast) only change
// the activation's shape; Relu closes a layer. So consecutive affine ops with
// no ReLU between them become one layer, and input normalisation is folded
// into the neighbouring layer. Shape arithmetic (Shape, Gather, Unsqueeze,
// Concat, ... on constants, as in PyTorch's `x.view(x.size(0), -1)`) is
// evaluated, with the batch size kept symbolic. Anything else is refused with
// the node's name and op type.
//
// Supported ops (ai.onnx, opsets 7 to 18): see onnx_supported_ops(). The code:
// onnx_read.cpp (file, graph inputs and outputs), onnx/tensor (tensor
// decoding, external data), onnx/fold (constant folding), onnx/interp (the
// activation algebra), onnx/ops (the op handlers and the one op table).
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "leo/network/network.hpp"

namespace leo {

struct OnnxReadOptions {
  // A model larger than this, counting the .onnx file and every external data
  // file it names, is refused before that data is read into memory. The .onnx
  // file itself must also stay below 2 GiB, the protobuf limit.
  std::uintmax_t max_file_bytes = std::uintmax_t{1} << 31;
};

// Reads an ONNX model made of affine layers and ReLUs. Throws InputError
// naming the file, and the node and op where applicable.
Network read_onnx(const std::filesystem::path& file);
Network read_onnx(const std::filesystem::path& file, const OnnxReadOptions& options);

// The external-data files the tensors of an ONNX model name (initializers and
// Constant nodes' values), resolved against the model's folder
// (weakly_canonical), each once, in order of first use; the data itself is not
// read. Empty for a model with no external data, and for a file that is
// missing, larger than 2 GiB or does not parse.
std::vector<std::filesystem::path> onnx_external_data_files(const std::filesystem::path& file);

struct OnnxWriteOptions {
  ElementType type = ElementType::float32;     // float64 on request
  std::vector<std::filesystem::path> inputs;   // files never to overwrite (passed to write_file_atomically)
};

// Writes the network as a Gemm/Relu chain, opset 13, with the network's input
// and output names and shapes (inputs of rank > 2 are flattened inside the
// graph, outputs of rank != 2 reshaped). The first dimension is a symbolic
// "batch" when both input and output have rank >= 2. The model passes
// onnx::checker::check_model. float32 weights are the doubles rounded to
// nearest (bit-identical for weights that were read from float32).
void write_onnx(const Network& net, const std::filesystem::path& file, const OnnxWriteOptions& options = {});

// The ONNX op types read_onnx understands.
const std::vector<std::string>& onnx_supported_ops();

}  // namespace leo
