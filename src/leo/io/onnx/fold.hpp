#pragma once
// ONNX reader, part 2 of 3 (private to io/): constant folding. Pure functions
// on constant tensors (the weights, and the shape arithmetic PyTorch exports
// emit, with the batch size as the symbol kBatch). Each throws NodeError on
// input it does not define.
#include <string>
#include <vector>

#include "leo/io/onnx/tensor.hpp"

namespace leo::onnx_read {

// a OP b with numpy broadcasting, OP one of Add, Sub, Mul, Div. Integer
// tensors stay integer (overflow, division by zero and arithmetic on kBatch
// fail); a float operand makes the result float.
Const fold_elementwise(const std::string& op, const Const& a, const Const& b);
Const fold_neg(Const k);
// perm: a permutation of the axes of k.
Const fold_transpose(const Const& k, const std::vector<std::size_t>& perm);
Const fold_gather(const Const& data, const Const& indices, std::int64_t axis);
Const fold_concat(const std::vector<const Const*>& parts, std::int64_t axis);
// to: an ONNX element type among FLOAT, DOUBLE, INT32, INT64 (FLOAT rounds).
Const fold_cast(Const k, int to);
Const fold_flatten(Const k, std::int64_t axis);
Const fold_reshape(Const k, const Dims& target, bool allowzero);
// The 1-D integer tensor of dims [start, end) (Shape; negative ends count from the back).
Const shape_of(const Dims& dims, std::int64_t start, std::int64_t end);

// Reshape's target with 0s copied from `in` (unless allowzero) and checked:
// at most one -1, no other negative entry but kBatch, at most kMaxElements.
Dims resolve_reshape(const Dims& in, Dims target, bool allowzero);
// The shape after Unsqueeze / Squeeze with `axes` (Squeeze of no axes drops
// every 1; keep_first keeps axis 0 even if it is 1).
Dims unsqueezed(const Dims& dims, const Dims& axes);
Dims squeezed(const Dims& dims, const Dims& axes, bool keep_first);
// A permutation of r axes from Transpose's perm (reversed when absent).
std::vector<std::size_t> transpose_perm(const std::vector<std::int64_t>* perm, std::size_t r);

}  // namespace leo::onnx_read
