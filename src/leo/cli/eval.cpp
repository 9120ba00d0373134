// `leo eval MODEL --input FILE [--output FILE] [--dtype T] [--json]`: run a model on CSV rows.
// `leo eval MODEL --data D [--dtype T] [--json]`: accuracy on a labelled data set (the test
// part of D when it has one, as `leo train` splits it).
//
// The model is evaluated in its element type (network/evaluate_float.hpp):
// float32 arithmetic for a float32 model, as ONNX Runtime runs it, double for
// a double one; `--dtype float|double` (aliases float32|float64) overrides.
// In --json, outputs that are not finite (an overflow) are the strings
// "inf", "-inf" and "nan" (JSON has no such numbers); the CSV output writes
// the same words.
//
// Inputs come from --input (a CSV file, one sample per row). Another source of
// inputs (e.g. `--data mnist|fashion-mnist|PATH` with labels, reporting
// accuracy) can be added as one more option in setup_eval: `input` then
// becomes one of several sources, checked in the returned Run.
#include <fmt/core.h>

#include <cmath>
#include <iostream>
#include <optional>
#include <nlohmann/json.hpp>
#include <sstream>

#include "leo/cli/command.hpp"
#include "leo/cli/model_io.hpp"
#include "leo/cli/outputs.hpp"
#include "leo/data/csv.hpp"
#include "leo/data/dataset.hpp"
#include "leo/io/model_file.hpp"
#include "leo/network/evaluate_float.hpp"
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
  std::string dtype;  // "" (the model's element type), float, double, float32, float64
  bool json = false;
};

// The arithmetic to evaluate `net` in: --dtype, else the model's element type
// (float32 arithmetic of convolutional layers: network/evaluate_float.hpp).
ElementType eval_arithmetic(const EvalOptions& o, const Network& net) {
  if (o.dtype.empty()) return arithmetic_of(net);
  return o.dtype == "double" || o.dtype == "float64" ? ElementType::float64 : ElementType::float32;
}

// A number for JSON: itself when finite, else "inf", "-inf" or "nan".
nlohmann::json json_number(double v) {
  if (std::isfinite(v)) return v;
  if (std::isnan(v)) return "nan";
  return v > 0 ? "inf" : "-inf";
}

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
  const ElementType type = eval_arithmetic(o, net);
  AccuracyResult r = accuracy(net, data);  // validates the data against the network
  if (type == ElementType::float32) {
    // The same count, with the outputs computed in float32 arithmetic.
    const Float32Network f32(net);
    r.correct = 0;
    for (Eigen::Index start = 0; start < data.samples(); start += 2048) {
      const Eigen::Index n = std::min<Eigen::Index>(2048, data.samples() - start);
      const Eigen::MatrixXd y = f32.evaluate(Eigen::MatrixXd(data.features.middleCols(start, n)));
      for (Eigen::Index j = 0; j < n; ++j) {
        Eigen::Index arg = 0;
        y.col(j).maxCoeff(&arg);
        if (arg == data.labels[static_cast<std::size_t>(start + j)]) ++r.correct;
      }
    }
  }
  const auto write = [&](std::ostream& out) {
    if (o.json) {
      nlohmann::json j = {{"model", o.model},         {"data", o.data},       {"set", data.name},
                          {"accuracy", r.percent()},     {"correct", r.correct}, {"samples", r.samples},
                          {"dtype", arithmetic_name(type)}};
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

// Outputs (samples x outputs) of `net` on `rows` (samples x inputs) in the
// arithmetic of `type`, in batches so that a large file does not need one
// huge activation matrix.
Eigen::MatrixXd evaluate_rows(const Network& net, const Eigen::MatrixXd& rows, ElementType type) {
  Eigen::MatrixXd result(rows.rows(), net.outputs());
  const Eigen::Index batch = 4096;
  std::optional<Float32Network> f32;
  if (type == ElementType::float32) f32.emplace(net);
  for (Eigen::Index start = 0; start < rows.rows(); start += batch) {
    const Eigen::Index n = std::min(batch, rows.rows() - start);
    const Eigen::MatrixXd X = rows.middleRows(start, n).transpose();
    result.middleRows(start, n) = (f32 ? f32->evaluate(X) : net.evaluate(X)).transpose();
  }
  return result;
}

void write_json(std::ostream& out, const EvalOptions& o, const Eigen::MatrixXd& outputs, ElementType type) {
  nlohmann::json j;
  j["model"] = o.model;
  j["input"] = o.input;
  j["dtype"] = arithmetic_name(type);
  j["rows"] = outputs.rows();
  j["outputs_per_row"] = outputs.cols();
  nlohmann::json rows = nlohmann::json::array();
  for (Eigen::Index i = 0; i < outputs.rows(); ++i) {
    nlohmann::json row = nlohmann::json::array();
    for (Eigen::Index k = 0; k < outputs.cols(); ++k) row.push_back(json_number(outputs(i, k)));
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
  app.add_option("--dtype", o->dtype,
                 "Arithmetic of the evaluation: float (float32, as ONNX Runtime runs a float32 model) or double; "
                 "aliases float32, float64 (default: the model's element type)")
      ->check(CLI::IsMember({"float", "double", "float32", "float64"}));
  app.add_option("--split-seed", o->split_seed, "Seed of the mnist train/test split (as given to leo train)");
  app.add_flag("--json", o->json,
               R"(Print {"model", "input", "dtype", "rows", "outputs_per_row", "outputs": [[...], ...]} )"
               R"((outputs that are not finite as the strings "inf", "-inf", "nan"); with --data: )"
               R"({"model", "data", "set", "accuracy" (%), "correct", "samples", "dtype"})");
  app.footer(
      "Prints one CSV row of outputs per input row (shortest decimals that read back exactly; inf, -inf, nan "
      "for outputs that are not finite), computed in the model's element type unless --dtype says otherwise. "
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
    const ElementType type = eval_arithmetic(*o, net);
    Eigen::MatrixXd outputs = evaluate_rows(net, data.rows, type);
    const auto write = [&](std::ostream& out) {
      if (o->json)
        write_json(out, *o, outputs, type);
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
