// ONNX writer: a Gemm/Relu chain (see onnx.hpp).
#include <fmt/core.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <bit>
#include <climits>
#include <optional>
#include <set>
#include <variant>

#include "leo/io/onnx.hpp"
#include "leo/network/structured.hpp"
#include "leo/util/atomic_file.hpp"
#include "leo/util/error.hpp"

namespace leo {
namespace {
namespace fs = std::filesystem;
using Dims = std::vector<std::int64_t>;

// The opset of a network built in code.
constexpr std::int64_t kDefaultOpset = 13;
// The oldest opset the ops written (Gemm, Relu, Flatten, Reshape with a shape
// input, Softmax/LogSoftmax on the last axis) all exist in with the meaning
// used here.
constexpr std::int64_t kMinOpset = 7;

// The newest ai.onnx opset the linked ONNX library (its checker) knows.
std::int64_t newest_opset() {
  const auto& map = onnx::OpSchemaRegistry::DomainToVersionRange::Instance().LastReleaseVersionMap();
  auto it = map.find(onnx::ONNX_DOMAIN);
  return it == map.end() ? kDefaultOpset : it->second;
}

// The opset to write: the model's own where the writer's ops allow it, so
// that a written model keeps its identity.
std::int64_t opset_to_write(std::int64_t read) {
  if (read <= 0) return kDefaultOpset;
  return std::clamp(read, kMinOpset, newest_opset());
}

// The IR version released with an opset (onnx/docs/Versioning.md), at least
// 4: before it, initializers had to be listed among the graph's inputs.
std::int64_t ir_version_of(std::int64_t opset) {
  if (opset <= 9) return 4;
  if (opset == 10) return 5;
  if (opset == 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  return 9;
}

void append_le(std::string& out, std::uint64_t v, int bytes) {
  for (int b = 0; b < bytes; ++b) out.push_back(static_cast<char>((v >> (8 * b)) & 0xff));
}

void set_shape(onnx::ValueInfoProto* v, const std::string& name, ElementType type, const Dims& shape,
               const std::string& batch) {
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int>(type));
  auto* sh = tt->mutable_shape();
  for (std::size_t k = 0; k < shape.size(); ++k) {
    auto* d = sh->add_dim();
    if (k == 0 && !batch.empty()) d->set_dim_param(batch);
    else d->set_dim_value(shape[k]);
  }
}

// The name of a tensor's batch dimension: its own dim_param, else "batch".
std::string batch_name(const TensorInfo& t) {
  return !t.dim_params.empty() && !t.dim_params[0].empty() ? t.dim_params[0] : "batch";
}

void add_int64_initializer(onnx::GraphProto* g, const std::string& name, const Dims& values) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(onnx::TensorProto::INT64);
  t->add_dims(static_cast<std::int64_t>(values.size()));
  for (auto v : values) t->add_int64_data(v);
}

// Matrix (rows x cols) or vector, row-major, as float32 or float64 raw data.
void add_initializer(onnx::GraphProto* g, const std::string& name, const Eigen::MatrixXd& m, bool vector,
                     ElementType type) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(static_cast<int>(type));
  if (vector) {
    t->add_dims(m.size());
  } else {
    t->add_dims(m.rows());
    t->add_dims(m.cols());
  }
  std::string raw;
  raw.reserve(static_cast<std::size_t>(m.size()) * (type == ElementType::float32 ? 4 : 8));
  for (Eigen::Index r = 0; r < m.rows(); ++r)
    for (Eigen::Index c = 0; c < m.cols(); ++c) {
      if (type == ElementType::float32) append_le(raw, std::bit_cast<std::uint32_t>(static_cast<float>(m(r, c))), 4);
      else append_le(raw, std::bit_cast<std::uint64_t>(m(r, c)), 8);
    }
  t->set_raw_data(std::move(raw));
}

// A float tensor of any shape (values row-major), as float32 or float64 raw data.
void add_tensor(onnx::GraphProto* g, const std::string& name, const Dims& dims, const std::vector<double>& values,
                ElementType type) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(static_cast<int>(type));
  for (auto d : dims) t->add_dims(d);
  std::string raw;
  raw.reserve(values.size() * (type == ElementType::float32 ? 4 : 8));
  for (double v : values) {
    if (type == ElementType::float32) append_le(raw, std::bit_cast<std::uint32_t>(static_cast<float>(v)), 4);
    else append_le(raw, std::bit_cast<std::uint64_t>(v), 8);
  }
  t->set_raw_data(std::move(raw));
}

void set_ints(onnx::NodeProto* node, const char* name, const Dims& v) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (auto x : v) a->add_ints(x);
}
void set_int(onnx::NodeProto* node, const char* name, std::int64_t v) {
  auto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(v);
}

Dims dims_of(const Shape3& s) { return {s.channels, s.height, s.width}; }

// The axis permutation of a 3-D map a Permute is, if it is one: perm over
// the sample axes (Transpose's perm without the batch axis).
std::optional<std::vector<std::int64_t>> axis_permutation(const Permute& p) {
  const Dims in = dims_of(p.input());
  std::vector<std::int64_t> perm{0, 1, 2};
  do {
    const Dims out{in[perm[0]], in[perm[1]], in[perm[2]]};
    if (out != dims_of(p.output())) continue;
    // y[i0,i1,i2] = x[j] with j's index on axis perm[k] = i_k.
    bool ok = true;
    const Dims is{in[1] * in[2], in[2], 1};
    for (std::int64_t i = 0; i < p.outputs() && ok; ++i) {
      const std::int64_t i0 = i / (out[1] * out[2]), i1 = (i / out[2]) % out[1], i2 = i % out[2];
      std::int64_t j = 0;
      const std::int64_t idx[3] = {i0, i1, i2};
      for (int k = 0; k < 3; ++k) j += idx[k] * is[perm[k]];
      ok = p.source()[static_cast<std::size_t>(i)] == j;
    }
    if (ok) return perm;
  } while (std::next_permutation(perm.begin(), perm.end()));
  return std::nullopt;
}

}  // namespace

void write_onnx(const Network& net, const fs::path& file, const OnnxWriteOptions& options) {
  net.validate(file.string() + ": cannot write the network");
  check_output_path(file, options.inputs);
  const ElementType type = options.type;
  const std::int64_t n_in = net.inputs(), n_out = net.outputs();

  std::string in_name = net.input.name.empty() ? "input" : net.input.name;
  std::string out_name = net.output.name.empty() ? "output" : net.output.name;
  if (in_name == out_name) out_name += "_out";
  Dims in_shape = net.input.shape.empty() ? Dims{-1, n_in} : net.input.shape;
  Dims out_shape = net.output.shape.empty() ? Dims{-1, n_out} : net.output.shape;
  auto features = [](const Dims& s, bool batch) {
    std::int64_t p = 1;
    for (std::size_t k = batch ? 1 : 0; k < s.size(); ++k) p *= s[k];
    return p;
  };
  auto check_dims = [&](const Dims& s, bool batch, std::int64_t n, const char* what) {
    for (std::size_t k = batch ? 1 : 0; k < s.size(); ++k)
      if (s[k] <= 0)
        throw InputError(fmt::format("{}: the network's {} shape has a dynamic feature dimension", file.string(), what));
    if (features(s, batch) != n)
      throw InputError(fmt::format("{}: the network's {} shape does not match its {} {}s", file.string(), what, n, what));
  };
  if (in_shape.empty() || out_shape.empty())
    throw InputError(fmt::format("{}: scalar network inputs or outputs are not supported", file.string()));
  // A batch axis on both sides: rank >= 2 and a first dimension that is
  // dynamic or 1 and not part of the features. Otherwise the shapes are kept
  // as read (a dynamic first dimension becomes 1) and the batch is fixed.
  auto batch_axis = [&](const Dims& s, std::int64_t n) {
    return s.size() >= 2 && (s[0] == -1 || s[0] == 1) && features(s, true) == n;
  };
  const bool batch = batch_axis(in_shape, n_in) && batch_axis(out_shape, n_out);
  if (!batch)
    for (auto* s : {&in_shape, &out_shape})
      if (s->size() >= 2 && (*s)[0] < 0) (*s)[0] = 1;
  check_dims(in_shape, batch, n_in, "input");
  check_dims(out_shape, batch, n_out, "output");

  const std::int64_t opset = opset_to_write(net.opset);
  onnx::ModelProto model;
  model.set_ir_version(ir_version_of(opset));
  model.set_producer_name("leo");
  model.set_producer_version(LEO_VERSION);
  auto* op = model.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  for (const auto& [k, v] : net.metadata) {
    auto* p = model.add_metadata_props();
    p->set_key(k);
    p->set_value(v);
  }
  auto* g = model.mutable_graph();
  g->set_name("leo");
  set_shape(g->add_input(), in_name, type, in_shape, batch ? batch_name(net.input) : "");
  set_shape(g->add_output(), out_name, type, out_shape, batch ? batch_name(net.output) : "");

  std::set<std::string> used{in_name, out_name};
  auto fresh = [&](const std::string& want) {
    std::string n = want;
    for (int k = 1; used.count(n); ++k) n = fmt::format("{}_{}", want, k);
    used.insert(n);
    return n;
  };
  auto add_node = [&](const std::string& op_type, const std::vector<std::string>& ins, const std::string& out) {
    auto* node = g->add_node();
    node->set_op_type(op_type);
    node->set_name(fresh("leo_" + out));
    for (const auto& i : ins) node->add_input(i);
    node->add_output(out);
    return node;
  };

  bool any_structured = false;
  for (const auto& layer : net.layers) any_structured = any_structured || !layer.is_dense();
  const bool out_is_matrix = out_shape.size() == 2 && (batch || out_shape[0] == 1);
  const bool activation = net.output_activation != OutputActivation::none;
  // The final tensor before the output activation, if any.
  const std::string logits = activation ? fresh(out_name + "_logits") : out_name;
  // A layer's own tensor name when it has one not yet used, else layerL.*.
  auto name_of = [&](const std::string& own, const std::string& fallback) {
    if (!own.empty() && !used.count(own)) {
      used.insert(own);
      return own;
    }
    return fresh(fallback);
  };
  if (any_structured) {
    // Convolutional layers: every tensor is [B, dims...] (B the batch, or 1).
    struct Tensor {
      std::string name;
      Dims dims;  // without the batch axis
    };
    auto reshape = [&](const Tensor& t, const Dims& dims, const std::string& want) -> Tensor {
      if (t.dims == dims) return t;
      std::string y = fresh(want);
      if (dims.size() == 1 && batch) {
        set_int(add_node("Flatten", {t.name}, y), "axis", 1);
      } else {
        Dims target{batch ? -1 : 1};
        target.insert(target.end(), dims.begin(), dims.end());
        std::string shape = fresh(want + "_shape");
        add_int64_initializer(g, shape, target);
        add_node("Reshape", {t.name, shape}, y);
      }
      return {y, dims};
    };
    Tensor x{in_name, {}};
    if (batch || (in_shape.size() >= 2 && in_shape[0] == 1)) {
      x.dims.assign(in_shape.begin() + 1, in_shape.end());
    } else {
      x.dims = in_shape;  // reshaped to [1, ...] where an op needs it
      x = reshape(x, {n_in}, "input_flat");
    }
    auto per_channel = [](const Eigen::VectorXd& v, const Shape3& m) -> std::optional<std::vector<double>> {
      std::vector<double> out(static_cast<std::size_t>(m.channels));
      const std::int64_t p = m.positions();
      for (std::int64_t c = 0; c < m.channels; ++c) {
        out[static_cast<std::size_t>(c)] = v[c * p];
        for (std::int64_t k = 1; k < p; ++k)
          if (v[c * p + k] != out[static_cast<std::size_t>(c)]) return std::nullopt;
      }
      return out;
    };
    std::vector<Tensor> inputs{x};
    for (std::size_t l = 0; l < net.layers.size(); ++l) {
      const auto& layer = net.layers[l];
      const bool last = l + 1 == net.layers.size();
      std::vector<Tensor> outputs;
      if (layer.is_dense()) {
        if (inputs.size() != 1)
          throw InputError(fmt::format("{}: layer {} is dense but reads {} tensors", file.string(), l, inputs.size()));
        Tensor in = reshape(inputs[0], {layer.weights.cols()}, fmt::format("layer{}.flat", l));
        std::string w = name_of(layer.weight_name, fmt::format("layer{}.weight", l));
        std::string b = name_of(layer.bias_name, fmt::format("layer{}.bias", l));
        add_initializer(g, w, layer.weights, false, type);
        add_initializer(g, b, layer.bias, true, type);
        std::string y = last && out_is_matrix ? logits : fresh(fmt::format("layer{}.gemm", l));
        set_int(add_node("Gemm", {in.name, w, b}, y), "transB", 1);
        outputs.push_back({y, {layer.weights.rows()}});
      } else {
        const StructuredMap& m = *layer.structured;
        const auto& segs = m.output_segments();
        std::vector<std::vector<Tensor>> parts(segs.size());
        std::vector<onnx::NodeProto*> last_conv(segs.size(), nullptr);
        int op_count = 0;
        for (const auto& blk : m.blocks()) {
          Tensor t = inputs.at(blk.in);
          if (segs[blk.out].carry) continue;
          for (std::size_t k = 0; k < blk.ops.size(); ++k) {
            const std::string own = blk.names.empty() ? std::string() : blk.names[k];
            const std::string base = fmt::format("layer{}.op{}", l, op_count++);
            const auto& op = blk.ops[k];
            onnx::NodeProto* node = nullptr;
            if (const auto* conv = std::get_if<Conv2d>(&op)) {
              t = reshape(t, dims_of(conv->input()), base + ".in");
              const auto& W = conv->weights();
              const auto& win = conv->window();
              std::vector<double> v(static_cast<std::size_t>(W.size()));
              for (Eigen::Index r = 0; r < W.rows(); ++r)
                for (Eigen::Index c = 0; c < W.cols(); ++c) v[static_cast<std::size_t>(r * W.cols() + c)] = W(r, c);
              std::string w = name_of(own, base + ".weight");
              add_tensor(g, w, {conv->output().channels, conv->input().channels / conv->group(), win.kernel_h, win.kernel_w},
                         v, type);
              std::string y = fresh(base + ".conv");
              node = add_node("Conv", {t.name, w}, y);
              set_ints(node, "kernel_shape", {win.kernel_h, win.kernel_w});
              set_ints(node, "strides", {win.stride_h, win.stride_w});
              set_ints(node, "pads", {win.pad_top, win.pad_left, win.pad_bottom, win.pad_right});
              set_ints(node, "dilations", {win.dilation_h, win.dilation_w});
              set_int(node, "group", conv->group());
              t = {y, dims_of(conv->output())};
            } else if (const auto* pool = std::get_if<AvgPool2d>(&op)) {
              t = reshape(t, dims_of(pool->input()), base + ".in");
              const auto& win = pool->window();
              std::string y = fresh(base + ".pool");
              const bool global = win.kernel_h == pool->input().height && win.kernel_w == pool->input().width &&
                                  !win.pad_top && !win.pad_left && !win.pad_bottom && !win.pad_right;
              if (global) {
                add_node("GlobalAveragePool", {t.name}, y);
              } else {
                auto* p = add_node("AveragePool", {t.name}, y);
                set_ints(p, "kernel_shape", {win.kernel_h, win.kernel_w});
                set_ints(p, "strides", {win.stride_h, win.stride_w});
                set_ints(p, "pads", {win.pad_top, win.pad_left, win.pad_bottom, win.pad_right});
                set_int(p, "count_include_pad", pool->count_include_pad() ? 1 : 0);
              }
              t = {y, dims_of(pool->output())};
            } else if (const auto* aff = std::get_if<ChannelAffine>(&op)) {
              const Shape3 sh = aff->input();
              t = reshape(t, dims_of(sh), base + ".in");
              std::vector<double> sc(aff->scale().data(), aff->scale().data() + aff->scale().size());
              std::string sn = name_of(own.empty() ? std::string() : own + ".scale", base + ".scale");
              add_tensor(g, sn, {sh.channels, 1, 1}, sc, type);
              std::string y = fresh(base + ".mul");
              add_node("Mul", {t.name, sn}, y);
              t = {y, dims_of(sh)};
              if (!aff->shift().isZero()) {
                std::vector<double> sf(aff->shift().data(), aff->shift().data() + aff->shift().size());
                std::string fn = fresh(base + ".shift");
                add_tensor(g, fn, {sh.channels, 1, 1}, sf, type);
                std::string z = fresh(base + ".add");
                add_node("Add", {t.name, fn}, z);
                t.name = z;
              }
            } else if (const auto* perm = std::get_if<Permute>(&op)) {
              const auto axes = axis_permutation(*perm);
              if (!axes)
                throw InputError(fmt::format("{}: layer {} permutes features in a way no Transpose can write",
                                             file.string(), l));
              t = reshape(t, dims_of(perm->input()), base + ".in");
              std::string y = fresh(base + ".transpose");
              set_ints(add_node("Transpose", {t.name}, y), "perm", {0, (*axes)[0] + 1, (*axes)[1] + 1, (*axes)[2] + 1});
              t = {y, dims_of(perm->output())};
            }
            if (node && k + 1 == blk.ops.size() && !last_conv[blk.out]) last_conv[blk.out] = node;
          }
          parts[blk.out].push_back(reshape(t, dims_of(segs[blk.out].shape), fmt::format("layer{}.seg{}", l, blk.out)));
        }
        bool first = true;
        for (std::size_t j = 0; j < segs.size(); ++j) {
          if (segs[j].carry) {
            for (const auto& blk : m.blocks())
              if (blk.out == j) outputs.push_back(reshape(inputs.at(blk.in), dims_of(segs[j].shape), fmt::format("layer{}.carry{}", l, j)));
            continue;
          }
          const Shape3 sh = segs[j].shape;
          const Dims dims = dims_of(sh);
          Tensor sum;
          if (parts[j].empty())
            throw InputError(fmt::format("{}: layer {}: output segment {} is written by no operator (a constant "
                                         "map; not supported by the writer)",
                                         file.string(), l, j));
          {
            sum = parts[j][0];
            for (std::size_t k = 1; k < parts[j].size(); ++k) {
              std::string y = fresh(fmt::format("layer{}.add", l));
              add_node("Add", {sum.name, parts[j][k].name}, y);
              sum = {y, dims};
            }
          }
          const Eigen::VectorXd b = layer.bias.segment(m.output_offset(j), sh.size());
          const std::string bias_name = name_of(first ? layer.bias_name : std::string(), fmt::format("layer{}.bias{}", l, j));
          first = false;
          const auto channel_bias = per_channel(b, sh);
          if (channel_bias && last_conv[j]) {
            add_tensor(g, bias_name, {sh.channels}, *channel_bias, type);
            last_conv[j]->add_input(bias_name);
          } else if (!b.isZero()) {
            if (channel_bias) {
              add_tensor(g, bias_name, {sh.channels, 1, 1}, *channel_bias, type);
            } else {
              add_tensor(g, bias_name, dims, std::vector<double>(b.data(), b.data() + b.size()), type);
            }
            std::string y = fresh(fmt::format("layer{}.biased", l));
            add_node("Add", {sum.name, bias_name}, y);
            sum.name = y;
          } else {
            used.erase(bias_name);
          }
          outputs.push_back(sum);
        }
      }
      if (!last) {
        for (std::size_t j = 0; j < outputs.size(); ++j) {
          if (!layer.is_dense() && layer.structured->output_segments()[j].carry) continue;
          std::string r = fresh(fmt::format("layer{}.relu", l));
          add_node("Relu", {outputs[j].name}, r);
          outputs[j].name = r;
        }
      } else {
        Tensor y = outputs.at(0);
        if (y.name != logits) {
          Dims target = out_shape;
          target[0] = batch ? -1 : target[0];
          if (!batch && out_shape.size() >= 1) target = out_shape;
          if (batch) target[0] = -1;
          std::string shape = fresh("output_shape");
          add_int64_initializer(g, shape, target);
          add_node("Reshape", {y.name, shape}, logits);
        }
      }
      inputs = std::move(outputs);
    }
  } else {
    // Into a [batch, n] matrix.
    std::string x = in_name;
    const bool in_is_matrix = in_shape.size() == 2 && (batch || in_shape[0] == 1);
    if (!in_is_matrix) {
      std::string flat = fresh("input_flat");
      if (batch) {
        auto* f = add_node("Flatten", {x}, flat);
        auto* a = f->add_attribute();
        a->set_name("axis");
        a->set_type(onnx::AttributeProto::INT);
        a->set_i(1);
      } else {
        std::string shape = fresh("input_flat_shape");
        add_int64_initializer(g, shape, {1, n_in});
        add_node("Reshape", {x, shape}, flat);
      }
      x = flat;
    }
    for (std::size_t l = 0; l < net.layers.size(); ++l) {
      const auto& layer = net.layers[l];
      std::string w = name_of(layer.weight_name, fmt::format("layer{}.weight", l));
      std::string b = name_of(layer.bias_name, fmt::format("layer{}.bias", l));
      add_initializer(g, w, layer.weights, false, type);
      add_initializer(g, b, layer.bias, true, type);
      const bool last = l + 1 == net.layers.size();
      std::string y = last && out_is_matrix ? logits : fresh(fmt::format("layer{}.gemm", l));
      auto* gemm = add_node("Gemm", {x, w, b}, y);
      auto* a = gemm->add_attribute();
      a->set_name("transB");
      a->set_type(onnx::AttributeProto::INT);
      a->set_i(1);
      x = y;
      if (!last) {
        std::string r = fresh(fmt::format("layer{}.relu", l));
        add_node("Relu", {x}, r);
        x = r;
      }
    }
    if (!out_is_matrix) {
      Dims target = out_shape;
      if (batch) target[0] = -1;
      std::string shape = fresh("output_shape");
      add_int64_initializer(g, shape, target);
      add_node("Reshape", {x, shape}, logits);
    }
  }
  if (activation) {
    // On the last axis (given explicitly: opsets before 13 default to 1 and
    // coerce to 2-D there, which is the same for the last axis).
    auto* node = add_node(output_activation_name(net.output_activation), {logits}, out_name);
    auto* a = node->add_attribute();
    a->set_name("axis");
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(static_cast<std::int64_t>(out_shape.size()) - 1);
  }

  try {
    onnx::checker::check_model(model);
  } catch (const std::exception& e) {
    throw Error(ExitCode::internal, fmt::format("{}: the ONNX model leo built fails the checker: {}", file.string(), e.what()));
  }
  std::string bytes;
  if (model.ByteSizeLong() > static_cast<std::size_t>(INT_MAX) || !model.SerializeToString(&bytes))
    throw InputError(fmt::format("{}: the model is too large for ONNX (2 GiB protobuf limit)", file.string()));
  write_file_atomically(
      file, [&](std::ostream& out) { out.write(bytes.data(), static_cast<std::streamsize>(bytes.size())); },
      options.inputs);
}

}  // namespace leo
