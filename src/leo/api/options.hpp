#pragma once
// The options of leo's entry points (api/leo.hpp): plain structs with the
// defaults every front end shares. The command line (cli/) fills them from its
// flags, the Python bindings from keyword arguments; neither keeps defaults of
// its own.
#include <Eigen/Dense>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "leo/compress/compress.hpp"
#include "leo/io/model_file.hpp"
#include "leo/stability/cascade.hpp"
#include "leo/verify/verify.hpp"

namespace leo::api {

// The defaults of the vocabulary shared by every command (README "Options").
inline constexpr std::uint64_t kDefaultSeed = 1;
// Wall-clock budget of analyze and compress when none is given: units not
// decided by then are kept (compression lost, never correctness). 0 = none.
inline constexpr double kDefaultTimeLimit = 300;
// Threads: 0 = every core of the machine (the default), else that many.
inline constexpr int kDefaultThreads = 0;
inline constexpr int kMaxThreads = 1024;

struct LoadOptions {
  // Models larger than this (ONNX: counting its external data) are refused
  // before they are read.
  std::uintmax_t max_bytes = ModelReadOptions::kDefaultMaxModelBytes;
  // Check that the model is a ReLU network leo can work on (Network::validate).
  bool validate = true;
};

// The input domain: at most one of box / lower+upper / box_file / vnnlib;
// none = the model's default (nnet.input_min/max metadata, or [0,1] for image
// nets). Probe points (points of the domain evaluated first, unlabelled) come
// from a file, a matrix, or both.
struct DomainOptions {
  std::string box;              // "LO,HI": every feature in [LO, HI]
  std::vector<double> lower;    // per-feature bounds (or one value each: every feature)
  std::vector<double> upper;
  std::filesystem::path box_file;  // one "lo,hi" line per feature
  std::filesystem::path vnnlib;    // the X_i bounds of a VNN-LIB property
  std::filesystem::path probes;    // CSV or IDX file, or mnist / fashion-mnist
  Eigen::MatrixXd probe_points;    // one point per ROW (N x features); 0 rows: none

  // The files this domain reads (box_file, vnnlib, probes), for the rule
  // that no output may overwrite an input.
  std::vector<std::filesystem::path> files() const;
};

// The analysis options by name, as the command line and the bindings give
// them: stages "all" or "samples,ibp,...", exact "per-unit" | "network" |
// "none", baseline "" | "leo2020" | "isa2021" (overrides stages and exact).
// Fills `options` (stability/cascade.hpp); throws InputError on a bad name.
void set_analysis_choices(AnalyzeOptions& options, const std::string& stages, const std::string& exact,
                          const std::string& baseline);

// Defaults of analyze through the API: the shared seed, threads and budget.
AnalyzeOptions default_analyze_options();

// Element type of written weights: "float" / "float32" or "double" /
// "float64". Throws InputError naming `what` otherwise.
ElementType parse_dtype(const std::string& text, const std::string& what = "--dtype");
const char* dtype_name(ElementType type);  // "float" or "double"

struct CompressModelOptions {
  AnalyzeOptions analysis = default_analyze_options();
  CompressOptions rewrite;                   // fold_layers, rank tolerance
  std::optional<ElementType> dtype;          // of the result's weights; none: as the input
  double tolerance = default_equivalence_tolerance;  // largest deviation the check accepts
  int check_points = 10000;                  // random points of the check
  // The seed of the analysis samples and the check: analysis.seed.
};

struct SaveOptions {
  // Element type of the written weights; none: the network's input type.
  std::optional<ElementType> dtype;
  // Files never to overwrite (save_model refuses them).
  std::vector<std::filesystem::path> inputs;
};

}  // namespace leo::api
