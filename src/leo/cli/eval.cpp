// `leo eval MODEL --input FILE [--output FILE] [--json]`: run a model on CSV rows.
// `leo eval MODEL --data D [--json]`: accuracy on a labelled data set (the test
// part of D when it has one, as `leo train` splits it).
//
// Inputs come from --input (a CSV file, one sample per row). Another source of
// inputs (e.g. `--data mnist|fashion-mnist|PATH` with labels, reporting
// accuracy) can be added as one more option in setup_eval: `input` then
// becomes one of several sources, checked in the returned Run.
#include <fmt/core.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "leo/cli/command.hpp"
#include "leo/cli/model_io.hpp"
#include "leo/cli/outputs.hpp"
#include "leo/data/csv.hpp"
#include "leo/data/dataset.hpp"
#include "leo/io/model_file.hpp"
#include "leo/train/train.hpp"
#include "leo/util/atomic_file.hpp"
#include "leo/util/error.hpp"

namespace leo::cli {
namespace {

struct EvalOptions {
  std::string model;
  std::string input;
  std::string output;
  std::string data;
  std::uint64_t split_seed = 0;
  bool json = false;
};

int run_accuracy(const EvalOptions& o) {
  if (!o.input.empty()) throw InputError("eval: give either --input or --data, not both");
  Outputs files;
  files.read_model(o.model);
  files.read_data(o.data);
  if (!o.output.empty()) files.add(o.output);
  Network net = load_model_file(o.model);
  DataOptions data_options;
  data_options.split_seed = o.split_seed;
  DataSplit split = load_data(o.data, data_options);
  const Dataset& data = split.test ? *split.test : split.train;
  const AccuracyResult r = accuracy(net, data);
  const auto write = [&](std::ostream& out) {
    if (o.json) {
      nlohmann::json j = {{"model", o.model},     {"data", o.data},       {"set", data.name},
                          {"accuracy", r.percent()}, {"correct", r.correct}, {"samples", r.samples}};
      out << j.dump() << "\n";
    } else {
      out << fmt::format("accuracy {:.2f}% ({} of {}) on {}\n", r.percent(), r.correct, r.samples, data.name);
    }
  };
  if (o.output.empty()) {
    write(std::cout);
    std::cout.flush();
  } else {
    write_file_atomically(o.output, write, files.inputs());
  }
  return 0;
}

// Outputs (samples x outputs) of `net` on `rows` (samples x inputs), in
// batches so that a large file does not need one huge activation matrix.
Eigen::MatrixXd evaluate_rows(const Network& net, const Eigen::MatrixXd& rows) {
  Eigen::MatrixXd result(rows.rows(), net.outputs());
  const Eigen::Index batch = 4096;
  for (Eigen::Index start = 0; start < rows.rows(); start += batch) {
    const Eigen::Index n = std::min(batch, rows.rows() - start);
    result.middleRows(start, n) = net.evaluate(Eigen::MatrixXd(rows.middleRows(start, n).transpose())).transpose();
  }
  return result;
}

void write_json(std::ostream& out, const EvalOptions& o, const Eigen::MatrixXd& outputs) {
  nlohmann::json j;
  j["model"] = o.model;
  j["input"] = o.input;
  j["rows"] = outputs.rows();
  j["outputs_per_row"] = outputs.cols();
  nlohmann::json rows = nlohmann::json::array();
  for (Eigen::Index i = 0; i < outputs.rows(); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (Eigen::Index k = 0; k < outputs.cols(); ++k) row.push_back(outputs(i, k));
    rows.push_back(std::move(row));
  }
  j["outputs"] = std::move(rows);
  out << j.dump() << "\n";
}

Run setup_eval(CLI::App& app) {
  auto o = std::make_shared<EvalOptions>();
  app.add_option("MODEL", o->model, "Model file (.onnx, or .nnet)")->required();
  app.add_option("--input", o->input, "CSV file, one sample per row (an optional non-numeric header line is skipped)");
  app.add_option("-o,--output", o->output, "Write the outputs to this file instead of stdout (never a file read)");
  app.add_option("--data", o->data,
                 "Report the accuracy on labelled data instead: mnist, fashion-mnist or a path, as for `leo train` "
                 "(its test part when it has one)");
  add_model_size_option(app);
  app.add_option("--split-seed", o->split_seed, "Seed of the mnist train/test split (as given to leo train)");
  app.add_flag("--json", o->json,
               R"(Print {"model", "input", "rows", "outputs_per_row", "outputs": [[...], ...]}; with --data: )"
               R"({"model", "data", "set", "accuracy" (%), "correct", "samples"})");
  app.footer(
      "Prints one CSV row of outputs per input row (shortest decimals that read back exactly). "
      "Exit code 2 when a row does not have as many columns as the model has inputs.");
  return [o]() {
    if (!o->data.empty()) return run_accuracy(*o);
    if (o->input.empty()) throw InputError("eval: no inputs given (use --input FILE or --data D)");
    Outputs files;
    files.read_model(o->model);
    files.read(o->input);
    if (!o->output.empty()) files.add(o->output);
    Network net = load_model_file(o->model);
    CsvData data = read_csv(o->input);
    if (data.rows.cols() != net.inputs())
      throw InputError(fmt::format("{}: line {} has {} columns but {} takes {} inputs", o->input, data.lines.front(),
                                   data.rows.cols(), o->model, net.inputs()));
    Eigen::MatrixXd outputs = evaluate_rows(net, data.rows);
    const auto write = [&](std::ostream& out) {
      if (o->json)
        write_json(out, *o, outputs);
      else
        write_csv_matrix(out, outputs);
    };
    if (o->output.empty()) {
      write(std::cout);
      std::cout.flush();
    } else {
      write_file_atomically(o->output, write, files.inputs());
    }
    return 0;
  };
}

Registration reg{{"eval", "Run a model on CSV inputs, print the outputs as CSV", 20, setup_eval}};

}  // namespace
}  // namespace leo::cli
