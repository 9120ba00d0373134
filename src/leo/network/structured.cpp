#include "leo/network/structured.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <map>

#include "leo/util/error.hpp"

namespace leo {

using Eigen::Index;

// ---------------------------------------------------------------- Permute

Permute::Permute(Shape3 input, Shape3 output, std::vector<Index> source, const std::string& context)
    : input_(input), output_(output), source_(std::move(source)) {
  if (input_.size() <= 0 || input_.size() != output_.size() || static_cast<Index>(source_.size()) != output_.size())
    throw InputError(fmt::format("{}: a permutation of {} features to {} ({} indices)", context, input_.size(),
                                 output_.size(), source_.size()));
  std::vector<char> seen(source_.size(), 0);
  for (Index s : source_) {
    if (s < 0 || s >= input_.size() || seen[static_cast<std::size_t>(s)])
      throw InputError(fmt::format("{}: not a permutation (index {})", context, s));
    seen[static_cast<std::size_t>(s)] = 1;
  }
}

Permute Permute::from_hwc(Shape3 chw, const std::string& context) {
  std::vector<Index> source(static_cast<std::size_t>(chw.size()));
  for (Index c = 0; c < chw.channels; ++c)
    for (Index h = 0; h < chw.height; ++h)
      for (Index w = 0; w < chw.width; ++w)
        source[static_cast<std::size_t>(chw.index(c, h, w))] = (h * chw.width + w) * chw.channels + c;
  return Permute(Shape3{chw.height, chw.width, chw.channels}, chw, std::move(source), context);
}

Eigen::MatrixXd Permute::multiply(const Eigen::MatrixXd& X, Weights) const {
  Eigen::MatrixXd Y(outputs(), X.cols());
  for (Index i = 0; i < outputs(); ++i) Y.row(i) = X.row(source_[static_cast<std::size_t>(i)]);
  return Y;
}

Eigen::MatrixXd Permute::transpose_multiply(const Eigen::MatrixXd& L, Weights) const {
  Eigen::MatrixXd Y(inputs(), L.cols());
  for (Index i = 0; i < outputs(); ++i) Y.row(source_[static_cast<std::size_t>(i)]) = L.row(i);
  return Y;
}

Eigen::MatrixXd Permute::multiply_rows(const Eigen::MatrixXd& X, Weights) const {
  Eigen::MatrixXd Y(X.rows(), outputs());
  for (Index i = 0; i < outputs(); ++i) Y.col(i) = X.col(source_[static_cast<std::size_t>(i)]);
  return Y;
}

Eigen::MatrixXd Permute::transpose_multiply_rows(const Eigen::MatrixXd& Nu, Weights) const {
  Eigen::MatrixXd Y(Nu.rows(), inputs());
  for (Index i = 0; i < outputs(); ++i) Y.col(source_[static_cast<std::size_t>(i)]) = Nu.col(i);
  return Y;
}

Eigen::MatrixXd Permute::to_dense() const {
  Eigen::MatrixXd D = Eigen::MatrixXd::Zero(outputs(), inputs());
  for (Index i = 0; i < outputs(); ++i) D(i, source_[static_cast<std::size_t>(i)]) = 1.0;
  return D;
}

// ---------------------------------------------------------------- StructuredMap

namespace {

Index op_inputs(const StructuredMap::Op& op) {
  return std::visit([](const auto& o) { return o.inputs(); }, op);
}
Index op_outputs(const StructuredMap::Op& op) {
  return std::visit([](const auto& o) { return o.outputs(); }, op);
}
Shape3 op_output_shape(const StructuredMap::Op& op) {
  return std::visit([](const auto& o) { return o.output(); }, op);
}

// The chain's products: ops first to last (multiply), last to first (transpose).
Eigen::MatrixXd chain_multiply(const std::vector<StructuredMap::Op>& ops, const Eigen::MatrixXd& X, Weights w) {
  if (ops.empty()) return X;
  Eigen::MatrixXd Y = std::visit([&](const auto& o) { return o.multiply(X, w); }, ops.front());
  for (std::size_t k = 1; k < ops.size(); ++k) Y = std::visit([&](const auto& o) { return o.multiply(Y, w); }, ops[k]);
  return Y;
}
Eigen::MatrixXd chain_transpose_multiply(const std::vector<StructuredMap::Op>& ops, const Eigen::MatrixXd& L,
                                         Weights w) {
  if (ops.empty()) return L;
  Eigen::MatrixXd Y = std::visit([&](const auto& o) { return o.transpose_multiply(L, w); }, ops.back());
  for (std::size_t k = ops.size() - 1; k-- > 0;)
    Y = std::visit([&](const auto& o) { return o.transpose_multiply(Y, w); }, ops[k]);
  return Y;
}
Eigen::MatrixXd chain_multiply_rows(const std::vector<StructuredMap::Op>& ops, const Eigen::MatrixXd& X, Weights w) {
  if (ops.empty()) return X;
  Eigen::MatrixXd Y = std::visit([&](const auto& o) { return o.multiply_rows(X, w); }, ops.front());
  for (std::size_t k = 1; k < ops.size(); ++k)
    Y = std::visit([&](const auto& o) { return o.multiply_rows(Y, w); }, ops[k]);
  return Y;
}
Eigen::MatrixXd chain_transpose_multiply_rows(const std::vector<StructuredMap::Op>& ops, const Eigen::MatrixXd& Nu,
                                              Weights w) {
  if (ops.empty()) return Nu;
  Eigen::MatrixXd Y = std::visit([&](const auto& o) { return o.transpose_multiply_rows(Nu, w); }, ops.back());
  for (std::size_t k = ops.size() - 1; k-- > 0;)
    Y = std::visit([&](const auto& o) { return o.transpose_multiply_rows(Y, w); }, ops[k]);
  return Y;
}

std::int64_t chain_terms(const std::vector<StructuredMap::Op>& ops, bool per_output) {
  std::int64_t n = 0;
  for (const auto& op : ops)
    n += std::visit([&](const auto& o) { return per_output ? o.terms_per_output() : o.terms_per_input(); }, op);
  return std::max<std::int64_t>(n, 1);
}

}  // namespace

StructuredMap::StructuredMap(std::vector<Segment> inputs, std::vector<Segment> outputs, std::vector<Block> blocks,
                             const std::string& context)
    : inputs_(std::move(inputs)), outputs_(std::move(outputs)), blocks_(std::move(blocks)) {
  if (inputs_.empty() || outputs_.empty())
    throw InputError(fmt::format("{}: a structured layer needs input and output segments", context));
  in_offset_.assign(1, 0);
  for (const auto& s : inputs_) {
    if (s.shape.size() <= 0) throw InputError(fmt::format("{}: an input segment is empty", context));
    in_offset_.push_back(in_offset_.back() + s.shape.size());
  }
  out_offset_.assign(1, 0);
  for (const auto& s : outputs_) {
    if (s.shape.size() <= 0) throw InputError(fmt::format("{}: an output segment is empty", context));
    out_offset_.push_back(out_offset_.back() + s.shape.size());
  }
  std::vector<int> writers(outputs_.size(), 0);
  for (std::size_t b = 0; b < blocks_.size(); ++b) {
    const auto& blk = blocks_[b];
    if (blk.in >= inputs_.size() || blk.out >= outputs_.size())
      throw InputError(fmt::format("{}: block {} names a segment that does not exist", context, b));
    if (!blk.names.empty() && blk.names.size() != blk.ops.size())
      throw InputError(fmt::format("{}: block {} has {} names for {} operators", context, b, blk.names.size(),
                                   blk.ops.size()));
    Index size = inputs_[blk.in].shape.size();
    for (std::size_t k = 0; k < blk.ops.size(); ++k) {
      if (op_inputs(blk.ops[k]) != size)
        throw InputError(fmt::format("{}: block {} operator {} takes {} features but is given {}", context, b, k,
                                     op_inputs(blk.ops[k]), size));
      size = op_outputs(blk.ops[k]);
    }
    const Shape3& want = outputs_[blk.out].shape;
    if (size != want.size() || (!blk.ops.empty() && !(op_output_shape(blk.ops.back()) == want)))
      throw InputError(fmt::format("{}: block {} gives {} features but its output segment has {}x{}x{}", context, b,
                                   size, want.channels, want.height, want.width));
    ++writers[blk.out];
    if (outputs_[blk.out].carry && !blk.ops.empty())
      throw InputError(fmt::format("{}: block {} writes a carry segment but is not the identity", context, b));
  }
  for (std::size_t s = 0; s < outputs_.size(); ++s)
    if (outputs_[s].carry && writers[s] != 1)
      throw InputError(fmt::format("{}: carry segment {} is written by {} blocks, not one", context, s, writers[s]));
}

std::size_t StructuredMap::output_segment_of(Index i) const {
  if (i < 0 || i >= outputs()) throw Error(ExitCode::internal, "internal error: StructuredMap: unit out of range");
  auto it = std::upper_bound(out_offset_.begin(), out_offset_.end(), i);
  return static_cast<std::size_t>(it - out_offset_.begin()) - 1;
}

std::int64_t StructuredMap::weight_parameters() const {
  std::int64_t n = 0;
  for (const auto& blk : blocks_)
    for (const auto& op : blk.ops) {
      if (const auto* c = std::get_if<Conv2d>(&op)) n += c->weights().size();
      if (const auto* a = std::get_if<ChannelAffine>(&op)) n += a->scale().size();
    }
  return n;
}

std::int64_t StructuredMap::bias_parameters() const {
  std::int64_t n = 0;
  for (const auto& s : outputs_)
    if (!s.carry) n += s.shape.channels;
  return n;
}

std::int64_t StructuredMap::multiply_adds() const {
  std::int64_t n = 0;
  for (const auto& blk : blocks_)
    for (const auto& op : blk.ops) {
      if (const auto* c = std::get_if<Conv2d>(&op))
        n += c->multiply_adds();
      else
        n += op_outputs(op) * std::visit([](const auto& o) { return o.terms_per_output(); }, op);
    }
  return n;
}

std::int64_t StructuredMap::terms_per_output() const {
  std::vector<std::int64_t> per(outputs_.size(), 0);
  for (const auto& blk : blocks_) per[blk.out] += chain_terms(blk.ops, true);
  return std::max<std::int64_t>(1, *std::max_element(per.begin(), per.end()));
}

std::int64_t StructuredMap::terms_per_input() const {
  std::vector<std::int64_t> per(inputs_.size(), 0);
  for (const auto& blk : blocks_) per[blk.in] += chain_terms(blk.ops, false);
  return std::max<std::int64_t>(1, *std::max_element(per.begin(), per.end()));
}

Eigen::MatrixXd StructuredMap::multiply(const Eigen::MatrixXd& X, Weights w) const {
  if (X.rows() != inputs()) throw Error(ExitCode::internal, "internal error: StructuredMap::multiply: size");
  Eigen::MatrixXd Y = Eigen::MatrixXd::Zero(outputs(), X.cols());
  for (const auto& blk : blocks_) {
    const auto& is = inputs_[blk.in].shape;
    const auto& os = outputs_[blk.out].shape;
    Y.middleRows(out_offset_[blk.out], os.size()) +=
        chain_multiply(blk.ops, X.middleRows(in_offset_[blk.in], is.size()), w);
  }
  return Y;
}

Eigen::MatrixXd StructuredMap::transpose_multiply(const Eigen::MatrixXd& L, Weights w) const {
  if (L.rows() != outputs()) throw Error(ExitCode::internal, "internal error: StructuredMap::transpose_multiply: size");
  Eigen::MatrixXd Y = Eigen::MatrixXd::Zero(inputs(), L.cols());
  for (const auto& blk : blocks_) {
    const auto& is = inputs_[blk.in].shape;
    const auto& os = outputs_[blk.out].shape;
    Y.middleRows(in_offset_[blk.in], is.size()) +=
        chain_transpose_multiply(blk.ops, L.middleRows(out_offset_[blk.out], os.size()), w);
  }
  return Y;
}

Eigen::MatrixXd StructuredMap::multiply_rows(const Eigen::MatrixXd& X, Weights w) const {
  if (X.cols() != inputs()) throw Error(ExitCode::internal, "internal error: StructuredMap::multiply_rows: size");
  Eigen::MatrixXd Y = Eigen::MatrixXd::Zero(X.rows(), outputs());
  for (const auto& blk : blocks_) {
    const auto& is = inputs_[blk.in].shape;
    const auto& os = outputs_[blk.out].shape;
    Y.middleCols(out_offset_[blk.out], os.size()) +=
        chain_multiply_rows(blk.ops, X.middleCols(in_offset_[blk.in], is.size()), w);
  }
  return Y;
}

Eigen::MatrixXd StructuredMap::transpose_multiply_rows(const Eigen::MatrixXd& Nu, Weights w) const {
  if (Nu.cols() != outputs())
    throw Error(ExitCode::internal, "internal error: StructuredMap::transpose_multiply_rows: size");
  Eigen::MatrixXd Y = Eigen::MatrixXd::Zero(Nu.rows(), inputs());
  for (const auto& blk : blocks_) {
    const auto& is = inputs_[blk.in].shape;
    const auto& os = outputs_[blk.out].shape;
    Y.middleCols(in_offset_[blk.in], is.size()) +=
        chain_transpose_multiply_rows(blk.ops, Nu.middleCols(out_offset_[blk.out], os.size()), w);
  }
  return Y;
}

std::vector<std::pair<Index, double>> StructuredMap::row(Index i) const {
  const std::size_t seg = output_segment_of(i);
  const Index local = i - out_offset_[seg];
  std::map<Index, double> acc;
  for (const auto& blk : blocks_) {
    if (blk.out != seg) continue;
    const Index base = in_offset_[blk.in];
    if (blk.ops.empty()) {
      acc[base + local] += 1.0;
    } else if (blk.ops.size() == 1 && std::holds_alternative<Conv2d>(blk.ops.front())) {
      for (const auto& [c, v] : std::get<Conv2d>(blk.ops.front()).row(local)) acc[base + c] += v;
    } else {
      // General chain: W^T e_local, one transpose product of a unit vector.
      Eigen::MatrixXd e = Eigen::MatrixXd::Zero(outputs_[seg].shape.size(), 1);
      e(local, 0) = 1.0;
      Eigen::MatrixXd r = chain_transpose_multiply(blk.ops, e, Weights::plain);
      for (Index c = 0; c < r.rows(); ++c)
        if (r(c, 0) != 0.0) acc[base + c] += r(c, 0);
    }
  }
  std::vector<std::pair<Index, double>> out;
  out.reserve(acc.size());
  for (const auto& [c, v] : acc)
    if (v != 0.0) out.emplace_back(c, v);
  return out;
}

Eigen::MatrixXd StructuredMap::to_dense() const {
  return transpose_multiply(Eigen::MatrixXd::Identity(outputs(), outputs())).transpose();
}

}  // namespace leo
