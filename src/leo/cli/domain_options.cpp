#include "leo/cli/domain_options.hpp"

#include <fmt/core.h>

#include <filesystem>

#include "leo/domain/box_file.hpp"
#include "leo/domain/probes.hpp"
#include "leo/domain/vnnlib.hpp"
#include "leo/util/error.hpp"

namespace leo::cli {

void add_domain_options(CLI::App& app, DomainOptions& options) {
  auto* box = app.add_option("--box", options.box, "Every input feature in [LO,HI], e.g. --box 0,1")
                  ->type_name("LO,HI")
                  ->group("Input domain");
  auto* file = app.add_option("--box-file", options.box_file, "One 'lo,hi' line per input feature")
                   ->type_name("FILE")
                   ->group("Input domain");
  auto* vnn = app.add_option("--vnnlib", options.vnnlib,
                             "The input box of a VNN-LIB property (its X_i bounds; output constraints are ignored)")
                  ->type_name("FILE")
                  ->group("Input domain");
  box->excludes(file)->excludes(vnn);
  file->excludes(vnn);
  app.add_option("--data", options.data,
                 "Probe points (CSV, one sample per row, IDX, or mnist / fashion-mnist: every image of that data "
                 "set), checked to lie in the box and evaluated first")
      ->type_name("FILE")
      ->group("Input domain");
}

Domain make_domain(const DomainOptions& options, const Network& network) {
  const Eigen::Index n = network.inputs();
  Domain d;
  if (!options.box.empty()) {
    d.box = parse_box_spec(options.box, n, "--box");
    d.description = fmt::format("box [{}]^{}", options.box, n);
    d.box.validate(n, "--box");
  } else if (!options.box_file.empty()) {
    d.box = read_box_file(options.box_file);
    d.description = fmt::format("box file {}", options.box_file);
    d.box.validate(n, options.box_file);
  } else if (!options.vnnlib.empty()) {
    d.box = read_vnnlib_box(options.vnnlib);
    d.description = fmt::format("input box of {}", options.vnnlib);
    d.box.validate(n, options.vnnlib);
  } else {
    std::string description;
    auto box = default_box(network, &description);
    if (!box)
      throw InputError(fmt::format("the model has no default input domain ({} inputs, not an image net, no "
                                   "nnet.input_min/max metadata): give one with --box LO,HI, --box-file FILE or "
                                   "--vnnlib FILE",
                                   n));
    d.box = std::move(*box);
    d.description = description;
  }
  if (!options.data.empty()) {
    d.probes = read_probe_points(options.data, d.box);
    d.description += fmt::format(", {} probe points from {}", d.probes.cols(), options.data);
  }
  return d;
}

}  // namespace leo::cli
