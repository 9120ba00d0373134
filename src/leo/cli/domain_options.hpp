#pragma once
// The input-domain options shared by `leo analyze`, `leo compress` and
// `leo verify`:
//   --box LO,HI | --box-file FILE | --vnnlib FILE   (at most one)
//   --data FILE                                     (probe points, CSV or IDX)
// Without a box option the model's default is used (domain/box_file.hpp:
// nnet.input_min/max metadata, or [0,1] for image nets); otherwise an error
// asks for one.
#include <CLI/CLI.hpp>
#include <string>

#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"

namespace leo::cli {

struct DomainOptions {
  std::string box;       // "LO,HI"
  std::string box_file;
  std::string vnnlib;
  std::string data;
};

void add_domain_options(CLI::App& app, DomainOptions& options);

// Builds and validates the domain for `network`. Throws InputError (exit 2)
// on an empty box, NaN bounds, a wrong feature count, probe points outside the
// box, or no domain given for a model without a default.
Domain make_domain(const DomainOptions& options, const Network& network);

}  // namespace leo::cli
