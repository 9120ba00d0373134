#pragma once
// Each subcommand lives in its own file of cli/ and registers itself here:
//
//   namespace { leo::cli::Registration reg{{"info", "Describe a model", 10, setup_info}}; }
//
// `setup` adds the subcommand's options to `app` and returns the function that
// runs it after parsing (returning the exit code). Errors are thrown as
// leo::Error; main() prints them as one line and exits with their code.
#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

namespace leo::cli {

using Run = std::function<int()>;

struct CommandSpec {
  std::string name;
  std::string description;
  int order = 100;  // position in `leo --help`
  std::function<Run(CLI::App& app)> setup;
};

std::vector<CommandSpec>& registry();

struct Registration {
  explicit Registration(CommandSpec spec) { registry().push_back(std::move(spec)); }
};

}  // namespace leo::cli
