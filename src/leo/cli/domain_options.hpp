#pragma once
// The input-domain options shared by `leo analyze`, `leo compress` and
// `leo verify`, filled into api::DomainOptions (api/options.hpp):
//   --box LO,HI | --box-file FILE | --vnnlib FILE   (at most one)
//   --probes FILE (alias --data)                    (probe points, CSV or IDX)
// Without a box option the model's default is used (domain/box_file.hpp:
// nnet.input_min/max metadata, or [0,1] for image nets); otherwise an error
// asks for one. The domain itself is built by api::make_domain.
#include <CLI/CLI.hpp>

#include "leo/api/options.hpp"

namespace leo::cli {

using api::DomainOptions;

void add_domain_options(CLI::App& app, DomainOptions& options);

}  // namespace leo::cli
