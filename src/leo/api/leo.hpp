#pragma once
// leo as a library: the pipeline the `leo` command runs, one call per step.
//
//   #include "leo/api/leo.hpp"
//   leo::Network net = leo::api::load_model("net.onnx");
//   leo::api::DomainOptions d;  d.box = "0,1";
//   leo::Domain domain = leo::api::make_domain(d, net);
//   leo::api::CompressModelResult r = leo::api::compress_model(net, domain, {});
//   leo::api::save_model(r.compressed, "small.onnx", {});
//
// Every entry point is a pure function of its arguments (files aside): no
// globals, no printing (progress goes to util/progress.hpp's sink, which a
// front end may silence or redirect). Errors are leo::Error with an exit
// code; bad input (a bad file, box, option value or model) is leo::InputError.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "leo/api/options.hpp"
#include "leo/compress/compress.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/analysis_json.hpp"
#include "leo/stability/cascade.hpp"
#include "leo/util/error.hpp"
#include "leo/verify/check.hpp"
#include "leo/verify/verify.hpp"

namespace leo::api {

// --- models ------------------------------------------------------------------

// Reads an ONNX or .nnet file (".nnet" extension: .nnet, else ONNX) and, with
// options.validate, checks that leo can work on it. Throws InputError naming
// the file and the place.
Network load_model(const std::filesystem::path& path, const LoadOptions& options = {});

// The same from the bytes of a file: ONNX (a protobuf) or .nnet text
// (recognised by content). `name` is used in error messages. ONNX external
// data cannot be resolved from bytes (such a model is refused).
Network load_model_bytes(const std::string& bytes, const std::string& name = "<bytes>",
                         const LoadOptions& options = {});

// Writes `network` atomically (.nnet by extension, else ONNX). Never
// overwrites one of options.inputs; on failure the destination is untouched.
void save_model(const Network& network, const std::filesystem::path& path, const SaveOptions& options = {});

// The bytes save_model would write in `format`.
std::string save_model_bytes(const Network& network, const SaveOptions& options = {},
                             ModelFormat format = ModelFormat::onnx);

// --- domains -----------------------------------------------------------------

// Builds and validates the domain of `network` from the options (see
// DomainOptions). Throws InputError on more than one box source, an empty
// box, NaN or infinite bounds, a wrong feature count, probe points outside the
// box, or no box for a model without a default.
Domain make_domain(const DomainOptions& options, const Network& network);

// --- analysis ----------------------------------------------------------------

// Which ReLU units are stable over the domain (stability/cascade.hpp);
// `leo::analyze` itself, named here so that programs need one header.
using leo::analyze;
// Counts of an analysis: units in total, decided stable (active, inactive)
// and left undecided or unstable.
struct AnalysisCounts {
  std::int64_t units = 0, active = 0, inactive = 0, unstable = 0, undecided = 0;
};
AnalysisCounts count_units(const Analysis& analysis);

// --- compression -------------------------------------------------------------

// Count of units removed by one kind of rewrite.
struct RewriteCount {
  RewriteKind kind;
  std::int64_t units = 0;  // units removed (layers for layer_fold / dead_layer)
  int steps = 0;
};

struct CompressModelResult {
  Network original;        // as read (its parameter counts are the "before" of the summary)
  Network compressed;      // the network as it will be stored (weights rounded to dtype), metadata set
  ElementType dtype = ElementType::float32;
  Domain domain;
  Analysis analysis;
  CompressResult rewrite;  // the rewrite steps and the kept units' origins (of the candidate written)
  // The check of the model as written (verify/check.hpp): in double and in
  // each model's own arithmetic; `check` is the larger of the two searches.
  WrittenModelCheck stored_check;
  VerifyResult check;
  std::string candidate;              // "rewrites", "deletions only" or "original" (compress/compress.hpp)
  std::vector<CandidateCheck> tried;  // every candidate checked, in order
  double tolerance = 0;
  FoldLayers fold_layers = FoldLayers::automatic;
  double time_seconds = 0;

  bool changed() const { return rewrite.changed(); }
  // Units removed per rewrite kind, in the order of RewriteKind, kinds with no step included.
  std::vector<RewriteCount> removed() const;
};

// Analyses, rewrites and checks the model as it will be stored (weights
// rounded to the dtype, evaluated in double and in its own arithmetic):
// everything `leo compress` does but writing. When the rewritten model fails
// the check in float32, the deletions-only model and then the original are
// tried (compress_checked). Throws Error(ExitCode::check_failed) when no
// candidate is within options.tolerance or a weight is not finite in the
// dtype (nothing is returned then), InputError on bad input.
CompressModelResult compress_model(const Network& network, const Domain& domain,
                                   const CompressModelOptions& options = {});

// The object `leo compress --json` prints (input/output names as given).
nlohmann::json to_json(const CompressModelResult& result, const std::string& input_name = "",
                       const std::string& output_name = "");
// The domain as text for summaries: its description and bounds range.
std::string domain_text(const Domain& domain);

// --- equivalence -------------------------------------------------------------

// How far apart `a` and `b` are on the box (and at the probe points: one per
// column, features x N); see verify/verify.hpp. options.threads follows the
// shared vocabulary here: 0 = every core.
VerifyResult verify(const Network& a, const Network& b, const Box& box, const Eigen::MatrixXd& probes,
                    VerifyOptions options = {});
using leo::to_json;

}  // namespace leo::api
