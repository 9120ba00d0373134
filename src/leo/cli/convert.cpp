// `leo convert IN OUT [--dtype float|double]`: ONNX <-> .nnet, ONNX -> ONNX.
#include <fmt/core.h>

#include "leo/cli/command.hpp"
#include "leo/cli/model_io.hpp"
#include "leo/io/model_file.hpp"
#include "leo/util/atomic_file.hpp"

namespace leo::cli {
namespace {

struct ConvertOptions {
  std::string in;
  std::string out;
  std::string dtype;
};

Run setup_convert(CLI::App& app) {
  auto o = std::make_shared<ConvertOptions>();
  app.add_option("IN", o->in, "Model to read (.onnx, or .nnet)")->required();
  app.add_option("OUT", o->out, "Model to write: .nnet by extension, else ONNX (never the same file as IN)")
      ->required();
  app.add_option("--dtype", o->dtype,
                 "Element type of the written weights: float (float32) or double (float64). "
                 "Default: the element type of IN (float64 for a .nnet file not written by leo)")
      ->check(CLI::IsMember({"float", "double", "float32", "float64"}));
  add_model_size_option(app);
  app.footer(
      ".nnet normalisation (means/ranges) is folded into the first and last layer when read; .nnet files are "
      "written with means 0 and ranges 1. The output file is written atomically: on any error it is not created.");
  return [o]() {
    check_output_path(o->out, {o->in});
    Network net = load_model_file(o->in);
    ModelWriteOptions options;
    options.inputs = {o->in};
    options.type = net.input.type;
    if (o->dtype == "float" || o->dtype == "float32") options.type = ElementType::float32;
    if (o->dtype == "double" || o->dtype == "float64") options.type = ElementType::float64;
    write_model(net, o->out, options);
    fmt::print("{} ({}) -> {} ({}, {}): {} layers, {} parameters\n", o->in, format_name(model_format(o->in)), o->out,
               format_name(model_format(o->out)), options.type == ElementType::float64 ? "float64" : "float32",
               net.depth(), net.parameters());
    return 0;
  };
}

Registration reg{{"convert", "Convert a model between ONNX and .nnet", 90, setup_convert}};

}  // namespace
}  // namespace leo::cli
