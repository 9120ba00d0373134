// `leo convert IN [OUT | -o OUT] [--dtype float|double]`: ONNX <-> .nnet, ONNX -> ONNX.
#include <fmt/core.h>

#include "leo/api/leo.hpp"
#include "leo/cli/command.hpp"
#include "leo/cli/model_io.hpp"
#include "leo/cli/options.hpp"
#include "leo/cli/outputs.hpp"
#include "leo/io/model_file.hpp"

namespace leo::cli {
namespace {

struct ConvertArgs {
  std::string in;
  std::string out;
  std::string out_option;
  std::string dtype;
};

Run setup_convert(CLI::App& app) {
  auto o = std::make_shared<ConvertArgs>();
  app.add_option("IN", o->in, "Model to read (.onnx, or .nnet)")->required();
  auto* positional = app.add_option("OUT", o->out, "Model to write (the old spelling of -o OUT)");
  auto* output = app.add_option("-o,--output", o->out_option,
                                "Model to write: .nnet by extension, else ONNX (never a file IN reads)");
  positional->excludes(output);
  add_dtype_option(app, o->dtype,
                   "Element type of the written weights: float (float32) or double (float64). "
                   "Default: the element type of IN (float64 for a .nnet file not written by leo)");
  add_model_size_option(app);
  app.footer(
      ".nnet normalisation (means/ranges) is folded into the first and last layer when read; .nnet files are "
      "written with means 0 and ranges 1. The output file is written atomically: on any error it is not created.");
  return [o]() {
    const std::string out = o->out_option.empty() ? o->out : o->out_option;
    if (out.empty()) throw InputError("convert: no output given (-o OUT)");
    Outputs files;
    files.read_model(o->in);
    files.add(out);
    Network net = load_model_file(o->in, false);
    api::SaveOptions save;
    save.dtype = o->dtype.empty() ? net.input.type : api::parse_dtype(o->dtype);
    save.inputs = files.inputs();
    api::save_model(net, out, save);
    fmt::print("{} ({}) -> {} ({}, {}): {} layers, {} parameters\n", o->in, format_name(model_format(o->in)), out,
               format_name(model_format(out)), *save.dtype == ElementType::float64 ? "float64" : "float32",
               net.depth(), net.parameters());
    return 0;
  };
}

Registration reg{{"convert", "Convert a model between ONNX and .nnet", 90, setup_convert}};

}  // namespace
}  // namespace leo::cli
