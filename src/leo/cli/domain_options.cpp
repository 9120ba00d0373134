#include "leo/cli/domain_options.hpp"

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
  app.add_option("--probes,--data", options.probes,
                 "Unlabelled probe points (CSV, one sample per row, IDX, or mnist / fashion-mnist: every image of "
                 "that data set), checked to lie in the box and evaluated first. --data is the old spelling")
      ->type_name("FILE")
      ->group("Input domain");
}

}  // namespace leo::cli
