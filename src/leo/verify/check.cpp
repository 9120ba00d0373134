#include "leo/verify/check.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <optional>

#include "leo/compress/stored.hpp"
#include "leo/network/evaluate_float.hpp"
#include "leo/util/progress.hpp"

namespace leo {

namespace {

bool same_weights(const Network& a, const Network& b) {
  if (a.layers.size() != b.layers.size()) return false;
  for (std::size_t l = 0; l < a.layers.size(); ++l) {
    const auto& x = a.layers[l];
    const auto& y = b.layers[l];
    if (!x.is_dense() || !y.is_dense()) {
      // Structured layers: the same operators (rewrites that leave a layer
      // alone keep its map) and the same bias; otherwise counted as different.
      if (x.structured != y.structured || x.bias.size() != y.bias.size() || !(x.bias.array() == y.bias.array()).all())
        return false;
      continue;
    }
    if (x.weights.rows() != y.weights.rows() || x.weights.cols() != y.weights.cols() ||
        x.bias.size() != y.bias.size())
      return false;
    if (!(x.weights.array() == y.weights.array()).all() || !(x.bias.array() == y.bias.array()).all()) return false;
  }
  return true;
}

}  // namespace

WrittenModelCheck check_written_model(const Network& original, const Network& written, ElementType stored_type,
                                      const Box& box, const Eigen::MatrixXd& probes, const VerifyOptions& options,
                                      const Analysis* analysis) {
  WrittenModelCheck check;
  check.written = stored_network(written, stored_type);
  check.original_arithmetic = arithmetic_of(original);
  check.written_arithmetic = stored_type;
  check.tolerance = options.tolerance;

  // A trailing Softmax/LogSoftmax is kept as it was: analysis and rewrites act
  // on the logits, so the logits are compared (equal logits give equal
  // probabilities, and softmax moves no output by more than the logits move).
  Network a = original, b = check.written;
  if (a.output_activation == b.output_activation) a.output_activation = b.output_activation = OutputActivation::none;

  VerifyOptions o = options;
  o.exact = false;
  o.arithmetic_a = o.arithmetic_b = ElementType::float64;
  // A sound bound first (see the header): when it holds, the double search
  // keeps only its fixed points (probes, centre, corners).
  double proven = std::numeric_limits<double>::infinity();
  // The same weights in the same arithmetic: the same operations on the same
  // inputs, so the same outputs at every point (a model where nothing was
  // removed, written back). Both deviations are 0; each search keeps only
  // its fixed points.
  const bool identical = check.original_arithmetic == check.written_arithmetic &&
                         a.output_activation == b.output_activation && same_weights(a, b);
  if (identical) proven = 0;
  // Both double: as_deployed is this same search, in the arithmetic the
  // models run in; it stays a full search.
  const bool one_search = check.original_arithmetic == ElementType::float64 &&
                          check.written_arithmetic == ElementType::float64;
  if (!identical && analysis && !one_search && analysis->layers.size() + 1 == a.layers.size()) {
    box.validate(a.inputs());
    proven = difference_bound(a, b, *analysis, box);
    Progress::global().report("check", "in double: |f - f'| <= {:.3g} proven by CROWN on the difference network",
                              proven);
  }
  VerifyOptions od = o;
  if (proven <= options.tolerance) od.random_points = 0, od.gradient_steps = 0;
  check.in_double = verify_equivalence(a, b, box, probes, od);
  if (proven <= options.tolerance) check.in_double.proven_bound = proven;
  Progress::global().report("check", "in double: max |f - f'| = {:.3g}", check.in_double.max_abs_deviation);
  if (one_search) {
    check.as_deployed = check.in_double;
  } else {
    o.arithmetic_a = check.original_arithmetic;
    o.arithmetic_b = check.written_arithmetic;
    // The double difference proven ~0: its gradients are noise; follow the
    // stored arithmetic's (VerifyOptions::gradients_in_arithmetic).
    o.gradients_in_arithmetic = proven <= options.tolerance;
    if (identical) o.random_points = 0, o.gradient_steps = 0;
    check.as_deployed = verify_equivalence(a, b, box, probes, o);
    Progress::global().report("check", "as stored ({} vs {} arithmetic): max |f - f'| = {:.3g}",
                              arithmetic_name(check.original_arithmetic), arithmetic_name(check.written_arithmetic),
                              check.as_deployed.max_abs_deviation);
  }
  return check;
}


CheckedCompression compress_checked(const Network& original, const Analysis& analysis, const Box& box,
                                    const Eigen::MatrixXd& probes, ElementType stored_type,
                                    const CompressOptions& compress_options, const VerifyOptions& check_options) {
  const Compressible start(original, analysis);
  // The candidates in order, each built only when the ones before it failed
  // (the rewrites are most of compress's time on wide nets).
  CompressOptions deletions = compress_options;
  deletions.deletions_only = true;
  const std::pair<const char*, std::function<CompressResult()>> candidates[] = {
      {"rewrites", [&] { return compress(start, box, compress_options); }},
      {"deletions only", [&] { return compress(start, box, deletions); }},
      {"original",
       [&] {
         CompressResult unchanged;
         unchanged.state = start;
         return unchanged;
       }},
  };
  CheckedCompression out;
  std::optional<CompressResult> previous;  // the last candidate checked
  for (const auto& [name, build] : candidates) {
    CompressResult result = build();
    if (previous && same_weights(previous->network(), result.network())) continue;
    if (!out.tried.empty())
      Progress::global().report("check", "the {} model failed the check: trying the {} one", out.tried.back().candidate, name);
    WrittenModelCheck check =
        check_written_model(original, result.network(), stored_type, box, probes, check_options, &analysis);
    out.tried.push_back({name, check.in_double.max_abs_deviation, check.as_deployed.max_abs_deviation, check.passed()});
    const bool passed = check.passed(), in_double_ok = check.in_double.within_tolerance();
    if (out.candidate.empty() || passed) {
      // Keep the first candidate's check as the one to report when none passes.
      out.compression = result;
      out.check = std::move(check);
      out.candidate = name;
    }
    previous = std::move(result);
    if (passed) break;
    // Only arithmetic noise is a reason to fall back: a candidate whose
    // weights, as stored, already change the function (in double) is a
    // failure to report, not to paper over with a smaller rewrite.
    if (!in_double_ok) break;
  }
  return out;
}

nlohmann::json to_json(const WrittenModelCheck& c) {
  const VerifyResult& w = c.worst();
  nlohmann::json j;
  j["max_abs_deviation"] = w.max_abs_deviation;
  j["max_abs_deviation_double"] = c.in_double.max_abs_deviation;
  j["max_abs_deviation_stored"] = c.as_deployed.max_abs_deviation;
  j["arithmetic_original"] = arithmetic_name(c.original_arithmetic);
  j["arithmetic_written"] = arithmetic_name(c.written_arithmetic);
  j["worst_output"] = w.worst_output;
  j["worst_input"] = std::vector<double>(w.worst_input.data(), w.worst_input.data() + w.worst_input.size());
  j["found_by"] = w.found_by;
  j["points_checked"] = c.points_checked();
  j["tolerance"] = c.tolerance;
  j["passed"] = c.passed();
  j["proven_bound_double"] =
      std::isfinite(c.in_double.proven_bound) ? nlohmann::json(c.in_double.proven_bound) : nlohmann::json(nullptr);
  return j;
}

}  // namespace leo
