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
// into the neighbouring layer. A Softmax or LogSoftmax on the last axis may
// end the graph: it is recorded as Network::output_activation. Shape arithmetic (Shape, Gather, Unsqueeze,
// Concat, ... on constants, as in PyTorch's `x.view(x.size(0), -1)`) is
// evaluated, with the batch size kept symbolic. Anything else is refused with
// the node's name and op type.
//
// Convolutional networks (issue 12) are read into structured layers
// (network/structured.hpp): Conv, AveragePool, GlobalAveragePool, a
// BatchNormalization not folded into the Conv or Gemm before it, and the
// Transpose of a feature map stay operators (a Conv's bias and a BN's shift go
// to the layer's bias); a zero Pad is merged into the Conv or AveragePool that
// reads it; a Gemm/MatMul after them with no Relu between is multiplied in by
// transpose products (a dense layer). A residual Add of two branches lowers
// the graph to a chain: one layer per Relu depth, a Relu output read more than
// one layer later carried through the layers between (carry segments); a skip
// from the network input is refused naming the Add.
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
  // The same limit bounds the network leo builds, whatever dimensions the
  // model declares: at most max_file_bytes / 4 weights and biases in all (what
  // a model within the limit stores in float32), checked before any dense
  // matrix is allocated. Layers built from declared dimensions rather than
  // stored weights (the identity after a final Relu, a Transpose or a
  // diagonal Mul made dense) count too. So leo holds at most about twice the
  // limit in memory (weights in double), plus temporaries of the same size.
  std::uintmax_t max_file_bytes = std::uintmax_t{1} << 31;
};

// Reads an ONNX model made of affine layers and ReLUs. Throws InputError
// naming the file, and the node and op where applicable (names from the file
// escaped by printable(), so a message is one line). Attributes are read by
// their AttributeProto type: one of another type (Gemm's alpha stored as
// INT) is refused, never misread.
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

// Writes the network as a Gemm/Relu chain (a structured layer as Conv,
// AveragePool/GlobalAveragePool, Mul/Add for a per-channel scale, Transpose
// for a permutation, Add for a segment several blocks write, its per-channel
// bias on the last Conv or else an Add; carry segments emit no node) with the
// network's input and output
// names and shapes (inputs of rank > 2 are flattened inside the graph, outputs
// of rank != 2 reshaped), followed by its output_activation (Softmax or
// LogSoftmax on the last axis) if any. What the model read had is kept:
// - the opset (net.opset; 13 for a network built in code), raised to 7 or
//   lowered to the newest the linked ONNX library knows when outside those;
//   the ops written mean the same at every opset from 7 on;
// - the layers' weight and bias names (AffineLayer::weight_name/bias_name;
//   layerL.weight / layerL.bias for unnamed layers or names already taken);
// - the batch dimension's name (TensorInfo::dim_params[0]; "batch" if none):
//   the first dimension is symbolic when both input and output have rank >= 2.
// The model passes onnx::checker::check_model. float32 weights are the
// doubles rounded to nearest (bit-identical for weights read from float32).
void write_onnx(const Network& net, const std::filesystem::path& file, const OnnxWriteOptions& options = {});

// The ONNX op types read_onnx understands.
const std::vector<std::string>& onnx_supported_ops();

}  // namespace leo
