#pragma once
// The check `leo compress` runs before writing: the model AS WRITTEN against
// the original, in two arithmetics.
//
// `written` is first rounded to the element type it will be stored in
// (compress/stored.hpp: a value that is not finite there is refused), and the
// check is done on, and returns, exactly that network: the caller writes
// `WrittenModelCheck::written` and nothing else. Two deviations are measured,
// each by the search of verify.hpp (probes, box centre and corners, random
// points, gradient ascent on |f - f'|) with the same seed:
//
//   in_double:   both networks' weights (the original's as read, the written
//                ones as stored) evaluated in double. This is (to double
//                rounding) the distance between the real-valued functions:
//                what `leo verify` measures and what the rewrites promise to
//                keep at zero; it catches the rounding of new (folded)
//                weights, or of a double model's weights, to the stored type.
//   as_deployed: each network evaluated in its own element type, as a runtime
//                executes the file: the original in the arithmetic of the
//                model that was read (float32 for a float32 ONNX model, as
//                ONNX Runtime runs it; double for a .nnet file), the written
//                model in the arithmetic of the type it is stored in. When
//                either is float32 the points are float32 values of the box,
//                the inputs such a runtime receives.
//
// Why the original in its own arithmetic, not in double, is the reference of
// as_deployed: the user replaces the original, as it runs today, by the
// written model, as it will run; the outputs they see change by exactly this
// difference. Comparing a float32 written model with the original evaluated
// in double would charge it for float32 rounding the original has too (and
// that the user never saw as an error). When both are double the two
// deviations are the same search and `as_deployed` is a copy of `in_double`.
//
// The check passes when both deviations are within the tolerance.
#include <Eigen/Dense>
#include <string>
#include <vector>

#include "leo/compress/compress.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"
#include "leo/verify/verify.hpp"

namespace leo {

struct WrittenModelCheck {
  Network written;                  // `written` as stored: the network to write
  ElementType original_arithmetic = ElementType::float64;
  ElementType written_arithmetic = ElementType::float64;
  VerifyResult in_double;           // see the header
  VerifyResult as_deployed;         // see the header
  double tolerance = 0;

  // Both networks double: as_deployed is in_double, one search.
  bool one_search() const {
    return original_arithmetic == ElementType::float64 && written_arithmetic == ElementType::float64;
  }
  long points_checked() const {
    return in_double.points_evaluated + (one_search() ? 0 : as_deployed.points_evaluated);
  }
  bool passed() const { return in_double.within_tolerance() && as_deployed.within_tolerance(); }
  // The larger of the two deviations, and the search that found it.
  const VerifyResult& worst() const {
    return as_deployed.max_abs_deviation > in_double.max_abs_deviation ? as_deployed : in_double;
  }
};

// Checks `written` (to be stored in `stored_type`) against `original` on the
// box, with the options' tolerance, points, gradient steps and seed (the
// options' arithmetics and `exact` are ignored). Throws NotStorable
// (compress/stored.hpp, exit code 3) when a weight or bias is not finite in
// the stored type, and InputError when the networks or the box do not match.
//
// With `analysis` (sound verdicts of the original's units on the box: the
// analysis the compression used), the double deviation is first bounded
// soundly (difference_bound, verify.hpp: CROWN on the difference network).
// When that proves it within the tolerance, in_double needs no sampling: its
// search stops after the probes, centre and corners, and
// in_double.proven_bound holds the bound (a proof over the whole box,
// stronger than any set of points; for a compression by deletions it is
// ~1e-13). Otherwise the full search runs, as without `analysis`; and always
// when both arithmetics are double (as_deployed is then that search). The
// stored-arithmetic deviation (float32 rounding of different sums) has no
// such proof and is always searched in full, except when `written` as stored
// has the original's weights bit for bit and the same arithmetic (nothing
// removed): then both deviations are 0 at every point (the same operations
// on the same inputs), proven_bound is 0 and both searches keep only their
// fixed points, with or without `analysis`.
WrittenModelCheck check_written_model(const Network& original, const Network& written, ElementType stored_type,
                                      const Box& box, const Eigen::MatrixXd& probes,
                                      const VerifyOptions& options = {}, const Analysis* analysis = nullptr);

// The check as JSON: {"max_abs_deviation" (the larger), "max_abs_deviation_double",
// "max_abs_deviation_stored", "arithmetic_original", "arithmetic_written",
// "worst_output", "worst_input", "found_by", "points_checked", "tolerance", "passed",
// "proven_bound_double" (the sound bound of the double deviation, null when none)}.
nlohmann::json to_json(const WrittenModelCheck& check);

}  // namespace leo

namespace leo {

// Compression with the check, and a fallback when the stored precision
// defeats the rewrites. Candidates, in order, each checked by
// check_written_model; the first that passes is the one to write:
//   "rewrites":       compress() with the given options;
//   "deletions only": compress() with deletions_only (every surviving weight
//                     keeps its value: no new rounding), when "rewrites"
//                     changed weights;
//   "original":       the original network unchanged, when the previous
//                     candidates changed it.
// A candidate identical to the one before is not checked again. Only a
// candidate that passes in double but fails in the stored arithmetic (as_deployed:
// float32 rounding noise of different sums) leads to the next one; one that
// fails in double (its stored weights change the function, e.g. folded
// weights rounded to float32 beyond the tolerance) ends the search: that is a
// failed check, reported as such (exit 3), not hidden behind the original.
// Why fall back at all: folds
// compute new weights whose float32 evaluation can differ from the
// original's by more than the tolerance where the inputs are large (a box
// around 1e6: each float32 input is only known to 0.06), although they are
// the same function in real arithmetic. Such a model is never written; the
// largest one that passes is. A weight that is not finite in the stored type
// (NotStorable) is not a candidate to fall back from: it is thrown, nothing is
// written (an overflowing fold says the rewrites met a model they cannot
// represent; the user decides, e.g. with --fold-layers never or --dtype double).
struct CandidateCheck {
  std::string candidate;                // "rewrites", "deletions only", "original"
  double max_abs_deviation_double = 0;  // WrittenModelCheck::in_double
  double max_abs_deviation_stored = 0;  // WrittenModelCheck::as_deployed
  bool passed = false;
};

struct CheckedCompression {
  CompressResult compression;  // the candidate chosen (or the last tried when none passed); for
                               // "original": no steps, the original's verdicts
  WrittenModelCheck check;     // its check; write check.written when check.passed()
  std::string candidate;       // its name
  std::vector<CandidateCheck> tried;  // every candidate checked, in order
  bool passed() const { return check.passed(); }
};

CheckedCompression compress_checked(const Network& original, const Analysis& analysis, const Box& box,
                                    const Eigen::MatrixXd& probes, ElementType stored_type,
                                    const CompressOptions& compress_options = {},
                                    const VerifyOptions& check_options = {});

}  // namespace leo
