#include "leo/api/describe.hpp"

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
  j["widths"] = net.widths();
  j["hidden_units"] = net.hidden_units();
  nlohmann::json shapes = nlohmann::json::array();
  for (const auto& layer : net.layers) shapes.push_back({layer.outputs(), layer.inputs()});
  j["layer_shapes"] = shapes;
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

}  // namespace leo::api
