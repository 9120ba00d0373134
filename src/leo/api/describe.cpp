#include "leo/api/describe.hpp"

#include <fmt/core.h>
#include <fmt/ranges.h>

#include <variant>

#include "leo/network/structured.hpp"

#include "leo/io/nnet.hpp"

namespace leo::api {

std::optional<StoredDomain> stored_domain(const Network& net) {
  auto lo = net.metadata.find("leo.domain.lower"), hi = net.metadata.find("leo.domain.upper");
  if (lo == net.metadata.end() || hi == net.metadata.end()) return std::nullopt;
  StoredDomain d;
  try {
    d.lower = nlohmann::json::parse(lo->second).get<std::vector<double>>();
    d.upper = nlohmann::json::parse(hi->second).get<std::vector<double>>();
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
  if (d.lower.size() != d.upper.size()) return std::nullopt;
  if (auto text = net.metadata.find("leo.domain"); text != net.metadata.end()) d.description = text->second;
  return d;
}

nlohmann::json describe(const Network& net) {
  auto type_name = [](ElementType t) { return t == ElementType::float64 ? "float64" : "float32"; };
  nlohmann::json j;
  j["producer"] = net.producer;
  j["opset"] = net.opset;
  j["input_name"] = net.input.name;
  j["input_shape"] = net.input.shape;
  j["input_type"] = type_name(net.input.type);
  j["inputs"] = net.inputs();
  j["output_name"] = net.output.name;
  j["output_shape"] = net.output.shape;
  j["output_type"] = type_name(net.output.type);
  j["output_activation"] = output_activation_name(net.output_activation);
  j["outputs"] = net.outputs();
  j["layers"] = net.depth();
  j["hidden_layers"] = net.hidden_layers();
  // Units of the model: carried units (a skip connection's value passed
  // through a layer, network/structured.hpp) are reported apart.
  std::vector<Eigen::Index> widths, carried;
  std::int64_t hidden = 0, carried_total = 0;
  for (std::size_t l = 0; l + 1 < net.layers.size(); ++l) {
    const std::int64_t c = carried_units(net.layers[l]);
    widths.push_back(net.layers[l].outputs() - c);
    carried.push_back(c);
    hidden += net.layers[l].outputs() - c;
    carried_total += c;
  }
  j["widths"] = widths;
  j["hidden_units"] = hidden;
  if (carried_total > 0) {
    j["carried_widths"] = carried;
    j["carried_units"] = carried_total;
  }
  nlohmann::json shapes = nlohmann::json::array();
  for (const auto& layer : net.layers) shapes.push_back({layer.outputs(), layer.inputs()});
  j["layer_shapes"] = shapes;
  j["layer_details"] = describe_layers(net);
  j["parameters"] = net.source_parameters >= 0 ? net.source_parameters : net.parameters();
  j["affine_parameters"] = net.parameters();
  j["multiply_adds"] = net.multiply_adds();
  if (auto box = nnet_input_box(net)) {
    j["input_box"] = {{"lower", std::vector<double>(box->lower.data(), box->lower.data() + box->lower.size())},
                      {"upper", std::vector<double>(box->upper.data(), box->upper.data() + box->upper.size())}};
  }
  if (auto d = stored_domain(net))
    j["domain"] = {{"lower", d->lower}, {"upper", d->upper}, {"description", d->description}};
  j["metadata"] = net.metadata;
  return j;
}

namespace {

std::vector<std::int64_t> dims3(const Shape3& s) { return {s.channels, s.height, s.width}; }
std::string text3(const Shape3& s) { return fmt::format("{}x{}x{}", s.channels, s.height, s.width); }

nlohmann::json op_json(const StructuredMap::Op& op, const std::string& name) {
  nlohmann::json j;
  j["name"] = name;
  std::visit(
      [&](const auto& o) {
        j["input"] = dims3(o.input());
        j["output"] = dims3(o.output());
      },
      op);
  auto window = [&](const Window2d& w) {
    j["kernel"] = {w.kernel_h, w.kernel_w};
    j["stride"] = {w.stride_h, w.stride_w};
    j["pads"] = {w.pad_top, w.pad_left, w.pad_bottom, w.pad_right};
    j["dilation"] = {w.dilation_h, w.dilation_w};
  };
  if (const auto* c = std::get_if<Conv2d>(&op)) {
    j["op"] = "Conv";
    window(c->window());
    j["group"] = c->group();
  } else if (const auto* p = std::get_if<AvgPool2d>(&op)) {
    j["op"] = "AveragePool";
    window(p->window());
    j["count_include_pad"] = p->count_include_pad();
  } else if (std::holds_alternative<ChannelAffine>(op)) {
    j["op"] = "ChannelAffine";
  } else {
    j["op"] = "Transpose";
  }
  return j;
}

std::string op_text(const StructuredMap::Op& op) {
  auto window = [](const Window2d& w) {
    std::string t = fmt::format("{}x{}", w.kernel_h, w.kernel_w);
    if (w.stride_h != 1 || w.stride_w != 1) t += fmt::format(" stride {},{}", w.stride_h, w.stride_w);
    if (w.pad_top || w.pad_left || w.pad_bottom || w.pad_right)
      t += fmt::format(" pad {},{},{},{}", w.pad_top, w.pad_left, w.pad_bottom, w.pad_right);
    if (w.dilation_h != 1 || w.dilation_w != 1) t += fmt::format(" dilation {},{}", w.dilation_h, w.dilation_w);
    return t;
  };
  if (const auto* c = std::get_if<Conv2d>(&op))
    return fmt::format("Conv {} -> {} channels {}{}", c->input().channels, c->output().channels, window(c->window()),
                       c->group() != 1 ? fmt::format(" group {}", c->group()) : std::string());
  if (const auto* p = std::get_if<AvgPool2d>(&op)) return fmt::format("AveragePool {}", window(p->window()));
  if (std::holds_alternative<ChannelAffine>(op)) return "ChannelAffine (BatchNormalization)";
  return "Transpose";
}

}  // namespace

std::int64_t carried_units(const AffineLayer& layer) { return layer.carried_outputs(); }

nlohmann::json describe_layers(const Network& net) {
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& layer : net.layers) {
    nlohmann::json j;
    j["inputs"] = layer.inputs();
    j["outputs"] = layer.outputs();
    if (layer.is_dense()) {
      j["kind"] = "dense";
      layers.push_back(j);
      continue;
    }
    const StructuredMap& m = *layer.structured;
    j["kind"] = "conv";
    std::int64_t carry = 0;
    nlohmann::json in = nlohmann::json::array(), out = nlohmann::json::array();
    for (const auto& s : m.input_segments()) in.push_back({{"shape", dims3(s.shape)}});
    for (const auto& s : m.output_segments()) {
      out.push_back({{"shape", dims3(s.shape)}, {"carry", s.carry}});
      if (s.carry) carry += s.shape.size();
    }
    j["carry_units"] = carry;
    j["segments_in"] = in;
    j["segments_out"] = out;
    nlohmann::json blocks = nlohmann::json::array();
    for (const auto& b : m.blocks()) {
      nlohmann::json ops = nlohmann::json::array();
      for (std::size_t k = 0; k < b.ops.size(); ++k) ops.push_back(op_json(b.ops[k], b.names.empty() ? "" : b.names[k]));
      blocks.push_back({{"in", b.in}, {"out", b.out}, {"ops", ops}});
    }
    j["blocks"] = blocks;
    layers.push_back(j);
  }
  return layers;
}

std::vector<std::string> layer_lines(const Network& net) {
  std::vector<std::string> lines;
  for (const auto& layer : net.layers) {
    if (layer.is_dense()) {
      lines.push_back(fmt::format("dense {} -> {}", layer.inputs(), layer.outputs()));
      continue;
    }
    const StructuredMap& m = *layer.structured;
    std::vector<std::string> ins, outs, ops;
    for (const auto& s : m.input_segments()) ins.push_back(text3(s.shape));
    for (const auto& s : m.output_segments()) outs.push_back(text3(s.shape) + (s.carry ? " (carry)" : ""));
    for (const auto& b : m.blocks()) {
      std::vector<std::string> chain;
      for (const auto& op : b.ops) chain.push_back(op_text(op));
      if (chain.empty()) chain.push_back(m.output_segments()[b.out].carry ? "carry" : "identity (skip)");
      ops.push_back(fmt::format("{}", fmt::join(chain, ", ")));
    }
    lines.push_back(fmt::format("conv  {} -> {}: {}", fmt::join(ins, " + "), fmt::join(outs, " + "),
                                fmt::join(ops, "; ")));
  }
  return lines;
}

}  // namespace leo::api
