// `leo info MODEL [--json]`: what a model is made of.
#include <fmt/core.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "leo/api/describe.hpp"
#include "leo/network/structured.hpp"
#include "leo/cli/command.hpp"
#include "leo/cli/model_io.hpp"
#include "leo/io/model_file.hpp"
#include "leo/io/nnet.hpp"

namespace leo::cli {
namespace {

const char* type_name(ElementType t) { return t == ElementType::float64 ? "float64" : "float32"; }

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::vector<std::string> dims;
  for (auto d : shape) dims.push_back(d < 0 ? "N" : std::to_string(d));
  return fmt::format("[{}]", fmt::join(dims, ","));
}

nlohmann::json describe(const Network& net, const std::filesystem::path& file) {
  nlohmann::json j;
  j["file"] = file.string();
  j["format"] = format_name(model_format(file));
  j.update(api::describe(net));
  return j;
}

void print_text(const Network& net, const std::filesystem::path& file) {
  fmt::print("model:          {} ({})\n", file.string(), format_name(model_format(file)));
  fmt::print("producer:       {}\n", net.producer.empty() ? "(none)" : net.producer);
  if (net.opset > 0) fmt::print("opset:          {}\n", net.opset);
  fmt::print("input:          {} {} {} ({} features)\n", net.input.name, shape_text(net.input.shape),
             type_name(net.input.type), net.inputs());
  fmt::print("output:         {} {} {} ({} values)\n", net.output.name, shape_text(net.output.shape),
             type_name(net.output.type), net.outputs());
  fmt::print("layers:         {} affine, {} hidden ReLU\n", net.depth(), net.hidden_layers());
  if (net.output_activation != OutputActivation::none)
    fmt::print("activation:     {} on the last axis after the last layer (analysis acts on the logits)\n",
               output_activation_name(net.output_activation));
  // Carried units (a skip connection's value passed through a layer) are not model units: apart.
  std::vector<std::string> sizes{std::to_string(net.inputs())};
  std::int64_t hidden = 0, carry = 0;
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    const auto& layer = net.layers[l];
    const std::int64_t c = api::carried_units(layer);
    sizes.push_back(c > 0 ? fmt::format("{} (+{} carried)", layer.outputs() - c, c)
                          : std::to_string(layer.outputs()));
    if (l + 1 < net.layers.size()) hidden += layer.outputs() - c;
    carry += c;
  }
  fmt::print("widths:         {}\n", fmt::join(sizes, " -> "));
  if (carry > 0)
    fmt::print("hidden units:   {} (and {} carried for skip connections, not model units)\n", hidden, carry);
  else
    fmt::print("hidden units:   {}\n", hidden);
  bool structured = false;
  for (const auto& layer : net.layers) structured = structured || !layer.is_dense();
  if (structured) {
    const auto lines = api::layer_lines(net);
    for (std::size_t l = 0; l < lines.size(); ++l) fmt::print("layer {:<9} {}\n", fmt::format("{}:", l), lines[l]);
  }
  if (net.source_parameters >= 0 && net.source_parameters != net.parameters())
    fmt::print("parameters:     {} as stored ({} in the affine layers leo built)\n", net.source_parameters,
               net.parameters());
  else
    fmt::print("parameters:     {}\n", net.parameters());
  fmt::print("multiply-adds:  {} per input\n", net.multiply_adds());
  if (auto box = nnet_input_box(net)) {
    fmt::print("input box:      [{}] .. [{}] (from the .nnet file)\n", fmt::join(box->lower, ", "),
               fmt::join(box->upper, ", "));
  }
  if (auto d = api::stored_domain(net)) {
    if (d->lower.size() <= 8)
      fmt::print("domain:         [{}] .. [{}] (compressed for it)\n", fmt::join(d->lower, ", "),
                 fmt::join(d->upper, ", "));
    else
      fmt::print("domain:         {} features within [{}, {}] (compressed for it; --json lists every bound)\n",
                 d->lower.size(), *std::min_element(d->lower.begin(), d->lower.end()),
                 *std::max_element(d->upper.begin(), d->upper.end()));
  }
}

Run setup_info(CLI::App& app) {
  auto model = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  app.add_option("MODEL", *model, "Model file (.onnx, or .nnet)")->required();
  app.add_flag("--json", *json, "Print one JSON object instead of text");
  add_model_size_option(app);
  app.footer(
      "Prints the layers, widths, parameter count, input/output shapes, producer and opset. "
      "With --json: file, format, producer, opset, input_name, input_shape, input_type, inputs, output_name, "
      "output_shape, output_type, output_activation (none, Softmax or LogSoftmax), outputs, layers (affine layers), hidden_layers, widths, hidden_units, "
      "layer_shapes, parameters (weights and biases as stored in the file), affine_parameters, multiply_adds, "
      "input_box (.nnet bounds, if any), domain (lower, upper, description: the box a model written by leo compress "
      "was compressed for), metadata. A shape dimension of -1 is dynamic (the batch).");
  return [model, json]() {
    std::filesystem::path file = *model;
    Network net = load_model_file(file);
    if (*json)
      fmt::print("{}\n", describe(net, file).dump(2));
    else
      print_text(net, file);
    return 0;
  };
}

Registration reg{{"info", "Describe a model: layers, widths, parameters, shapes", 10, setup_info}};

}  // namespace
}  // namespace leo::cli
