// ONNX reader: reads the file and walks the graph's nodes through the op
// table (onnx/ops.hpp) of a symbolic interpreter (onnx/interp.hpp); see
// onnx.hpp for what it accepts.
#include <fmt/core.h>
#include <fmt/ranges.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <climits>
#include <fstream>
#include <limits>

#include "leo/io/onnx.hpp"
#include "leo/io/onnx/ops.hpp"
#include "leo/util/error.hpp"
#include "leo/util/printable.hpp"

namespace leo {
namespace {
namespace fs = std::filesystem;
using namespace onnx_read;

std::string supported_list() {
  std::vector<std::string_view> ops;
  for (const auto& e : op_table()) ops.push_back(e.op);
  return fmt::format("{}", fmt::join(ops, ", "));
}

class Reader {
 public:
  // `budget`: bytes of external data that may still be read (the size limit
  // minus the .onnx file's size).
  Reader(const fs::path& file, const onnx::ModelProto& model, std::uintmax_t budget, std::uintmax_t limit)
      : file_(file), model_(model), decoder_(file, budget, limit), limit_(limit) {}
  Network run();

 private:
  Network interpret();
  void dispatch(Interpreter& in);
  [[noreturn]] void fail_at(const std::string& what) const;

  const fs::path& file_;
  const onnx::ModelProto& model_;
  TensorDecoder decoder_;
  std::uintmax_t limit_;
  const onnx::NodeProto* node_ = nullptr;
  int node_index_ = 0;
};

// Messages quote names from the file (nodes, tensors, op types): they are
// escaped here, once, so that a message stays on one line.
void Reader::fail_at(const std::string& what) const {
  if (node_) {
    std::string name = node_->name().empty() ? fmt::format("#{}", node_index_) : "'" + node_->name() + "'";
    throw InputError(fmt::format("{}: node {} ({}): {}", file_.string(), printable(name), printable(node_->op_type()),
                                 printable(what)));
  }
  throw InputError(fmt::format("{}: {}", file_.string(), printable(what)));
}

Network Reader::run() {
  try {
    return interpret();
  } catch (const NodeError& e) {
    fail_at(e.what());
  }
}

void Reader::dispatch(Interpreter& in) {
  const std::string& op = node_->op_type();
  if (!node_->domain().empty() && node_->domain() != "ai.onnx")
    fail(fmt::format("unsupported op {} of domain {} (leo reads {})", op, node_->domain(), supported_list()));
  const OpHandler handler = find_handler(op);
  if (!handler)
    fail(fmt::format("unsupported op {} (leo reads feed-forward ReLU networks: {})", op, supported_list()));
  // A Softmax/LogSoftmax must end the graph: only no-ops may follow it.
  const bool no_op = op == "Identity" || op == "Dropout" || op == "Cast";
  for (int k = 0; k < node_->input_size() && !no_op; ++k)
    if (const Act* a = in.find_act(node_->input(k)); a && a->output_activation != OutputActivation::none)
      fail(fmt::format("{} after {}: leo reads a Softmax or LogSoftmax only as the last op of the graph", op,
                       output_activation_name(a->output_activation)));
  // A zero Pad is merged into the Conv or AveragePool right after it.
  if (op != "Conv" && op != "AveragePool")
    for (int k = 0; k < node_->input_size(); ++k)
      if (const Act* a = in.find_act(node_->input(k)); a && !a->pad_node.empty())
        fail(fmt::format("reads the output of Pad node '{}': leo merges a zero Pad only into the Conv or AveragePool "
                         "that reads it",
                         a->pad_node));
  handler(in);
}

TensorInfo tensor_info(const onnx::ValueInfoProto& v) {
  TensorInfo t;
  t.name = v.name();
  if (v.type().has_tensor_type()) {
    const auto& tt = v.type().tensor_type();
    t.type = tt.elem_type() == onnx::TensorProto::DOUBLE ? ElementType::float64 : ElementType::float32;
    if (tt.has_shape())
      for (const auto& d : tt.shape().dim()) {
        t.shape.push_back(d.has_dim_value() ? d.dim_value() : -1);
        t.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "");
      }
  }
  return t;
}

Network Reader::interpret() {
  const auto& g = model_.graph();
  // Opset.
  std::int64_t opset = 0;
  bool found = false;
  for (const auto& o : model_.opset_import())
    if (o.domain().empty() || o.domain() == "ai.onnx") {
      opset = o.version();
      found = true;
    }
  if (!found) fail("the model imports no ai.onnx opset");
  if (opset < 7 || opset > 18) fail(fmt::format("opset {} is not supported (leo reads opsets 7 to 18)", opset));
  if (g.node_size() == 0) fail("the graph is empty (no nodes)");
  if (g.sparse_initializer_size() > 0) fail("sparse initializers are not supported");

  Interpreter interp(decoder_, opset, limit_);
  interp.set_file(file_.string());
  for (const auto& t : g.initializer())
    interp.add_constant(t.name(), decoder_.decode(t, fmt::format("initializer '{}'", t.name())));

  // The one input that is not an initializer.
  std::vector<const onnx::ValueInfoProto*> inputs;
  for (const auto& v : g.input())
    if (!interp.has_constant(v.name())) inputs.push_back(&v);
  if (inputs.size() != 1) fail(fmt::format("the graph has {} inputs; leo reads networks with one input", inputs.size()));
  if (g.output_size() != 1)
    fail(fmt::format("the graph has {} outputs; leo reads networks with one output", g.output_size()));
  const auto& in = *inputs[0];
  if (!in.type().has_tensor_type()) fail(fmt::format("input '{}' is not a tensor", in.name()));
  const auto elem = in.type().tensor_type().elem_type();
  if (elem != onnx::TensorProto::FLOAT && elem != onnx::TensorProto::DOUBLE)
    fail(fmt::format("input '{}' has element type {}; leo reads float and double inputs", in.name(), elem));
  if (!in.type().tensor_type().has_shape()) fail(fmt::format("input '{}' has no shape", in.name()));
  TensorInfo input = tensor_info(in);
  if (input.shape.empty()) fail(fmt::format("input '{}' is a scalar", in.name()));
  const Dims& s = input.shape;
  for (std::size_t k = 1; k < s.size(); ++k)
    if (s[k] <= 0) fail(fmt::format("input '{}' has a dynamic or empty dimension {} (shape {})", in.name(), k, dims_str(s)));
  Dims sample;
  bool batched = false;
  if (s.size() >= 2 && s[0] <= 0) {
    // A symbolic first dimension is the batch; a fixed one (often 1) is part of the sample.
    batched = true;
    sample.assign(s.begin() + 1, s.end());
  } else {
    if (s[0] <= 0) fail(fmt::format("input '{}' has a dynamic or empty dimension 0 (shape {})", in.name(), dims_str(s)));
    sample = s;
  }
  check_size(sample);
  interp.set_input(in.name(), sample, batched);

  for (node_index_ = 0; node_index_ < g.node_size(); ++node_index_) {
    node_ = &g.node(node_index_);
    interp.begin_node(*node_);
    dispatch(interp);
  }
  node_ = nullptr;
  interp.end_nodes();

  const auto& out = g.output(0);
  const Act* found_act = interp.find_act(out.name());
  if (!found_act) {
    if (interp.has_constant(out.name())) fail(fmt::format("output '{}' does not depend on the input", out.name()));
    fail(fmt::format("output '{}' is not computed by any node", out.name()));
  }
  const Act a = *found_act;
  if (!a.pad_node.empty())
    fail(fmt::format("output '{}' is the output of Pad node '{}' (leo merges a zero Pad only into the Conv or "
                     "AveragePool that reads it)",
                     out.name(), a.pad_node));
  std::vector<AffineLayer> layers = interp.finish(a);
  TensorInfo output = tensor_info(out);
  const Dims computed = interp.full_shape(a);
  if (output.shape.empty() && !(out.type().has_tensor_type() && out.type().tensor_type().has_shape())) {
    output.shape = computed;
    for (auto& x : output.shape)
      if (x == kBatch) x = -1;
    output.dim_params.assign(output.shape.size(), "");
  } else {
    bool ok = output.shape.size() == computed.size();
    for (std::size_t k = 0; ok && k < computed.size(); ++k)
      if (output.shape[k] >= 0 && computed[k] != kBatch && output.shape[k] != computed[k]) ok = false;
    if (!ok)
      fail(fmt::format("shape mismatch: output '{}' is declared {} but the graph computes {}", out.name(),
                       dims_str(output.shape), dims_str(computed)));
  }
  if (!out.type().has_tensor_type()) output.type = input.type;

  Network net(std::move(layers));
  net.source = file_.string();
  net.input = input;
  net.output = output;
  net.producer = model_.producer_name();
  if (!model_.producer_version().empty())
    net.producer += (net.producer.empty() ? "" : " ") + model_.producer_version();
  net.opset = opset;
  net.output_activation = a.output_activation;
  net.source_parameters = interp.stored();
  for (const auto& p : model_.metadata_props()) net.metadata[p.key()] = p.value();
  net.validate(file_.string());
  return net;
}

}  // namespace

const std::vector<std::string>& onnx_supported_ops() {
  static const std::vector<std::string> ops = [] {
    std::vector<std::string> v;
    for (const auto& e : op_table()) v.emplace_back(e.op);
    return v;
  }();
  return ops;
}

Network read_onnx(const fs::path& file) { return read_onnx(file, OnnxReadOptions{}); }

Network read_onnx(const fs::path& file, const OnnxReadOptions& options) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw InputError(fmt::format("{}: no such file", file.string()));
  if (!fs::is_regular_file(file, ec)) throw InputError(fmt::format("{}: not a regular file", file.string()));
  const auto size = fs::file_size(file, ec);
  if (ec) throw InputError(fmt::format("{}: cannot read: {}", file.string(), ec.message()));
  if (size > options.max_file_bytes)
    throw InputError(fmt::format("{}: file is {} bytes, larger than the limit of {} bytes", file.string(), size,
                                 options.max_file_bytes));
  if (size > INT_MAX)
    throw InputError(fmt::format("{}: file is {} bytes; ONNX files of 2 GiB or more cannot be parsed (protobuf limit)",
                                 file.string(), size));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", file.string()));
  std::string data(size, '\0');
  in.read(data.data(), static_cast<std::streamsize>(size));
  if (!in) throw InputError(fmt::format("{}: cannot read", file.string()));
  onnx::ModelProto model;
  if (size == 0 || !model.ParseFromArray(data.data(), static_cast<int>(size)))
    throw InputError(fmt::format("{}: not an ONNX model (the protobuf does not parse: truncated or corrupt file)",
                                 file.string()));
  if (!model.has_graph() || model.ir_version() <= 0)
    throw InputError(fmt::format("{}: not an ONNX model (no {})", file.string(),
                                 model.has_graph() ? "IR version" : "graph"));
  try {
    return Reader(file, model, options.max_file_bytes - size, options.max_file_bytes).run();
  } catch (const std::bad_alloc&) {
    throw InputError(fmt::format("{}: the model is too large to read (out of memory)", file.string()));
  }
}

}  // namespace leo
