#pragma once
// The op handlers of the ONNX reader (private to io/): ONE table from op type
// to handler. read_onnx dispatches through it and onnx_supported_ops() lists
// its keys, so adding an op is adding one handler and one row.
#include <string_view>
#include <vector>

#include "leo/io/onnx/interp.hpp"

namespace leo::onnx_read {

// Interprets the interpreter's current node (see interp.hpp for what a
// handler may use).
using OpHandler = void (*)(Interpreter&);

struct OpEntry {
  std::string_view op;  // ai.onnx op type
  OpHandler handler;
};

// Every op read_onnx understands, in the order the docs list them.
const std::vector<OpEntry>& op_table();
// The handler of an op type, or nullptr.
OpHandler find_handler(std::string_view op);

}  // namespace leo::onnx_read
