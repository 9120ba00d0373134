#pragma once
// The certificate checker: re-derives every claim of a certificate
// (checker/certificate.hpp, docs/certificates.md) from the model, with
// outward-rounded arithmetic, and shares no code with the analysis (this
// folder includes only util/, network/ and domain/).
//
// Arithmetic. Every computation runs with the FPU rounding towards +infinity
// (<cfenv> FE_UPWARD, set for the duration of check() and restored after;
// this folder is compiled with -frounding-math so the compiler keeps it). A
// sum or product computed that way is >= its exact real value, so an upper
// bound is computed as it is written and a lower bound as -(upper bound of
// the negated expression). No Eigen product or BLAS call is used: plain loops
// over the weights, so no other thread and no library computes a number the
// checker relies on.
//
// Invariant: the checker holds certified bounds lo <= g <= hi for every hidden
// unit, valid for every input of the box (initially -inf, +inf). Each step of
// the certificate tightens them by one rule, each rule sound for any numbers
// the certificate gives (weak duality, covering trees); a claimed bound is
// accepted only when the checker's own recomputation is at least as tight.
// At the end each verdict must follow: a stable unit from the sign of its
// certified bounds, an unstable one from two witnesses re-evaluated with
// interval arithmetic inside the box.
#include <array>
#include <string>

#include <nlohmann/json.hpp>

#include "leo/checker/certificate.hpp"
#include "leo/network/network.hpp"
#include "leo/util/error.hpp"

namespace leo::cert {

// A claim that does not hold: exit code 1. The message names the step, the
// layer, the unit, the field, the claimed value and what was recomputed.
class CheckFailure : public Error {
 public:
  explicit CheckFailure(const std::string& message) : Error(static_cast<ExitCode>(1), message) {}
};

struct CheckSummary {
  long propagate_steps = 0;
  long linear_claims = 0;
  long input_split_trees = 0;
  long input_split_nodes = 0;
  long relu_split_claims = 0;
  long relu_split_nodes = 0;
  long stable_units = 0;      // verdicts a / i confirmed
  long unstable_units = 0;    // verdicts u confirmed by two witnesses
  long undecided_units = 0;   // verdicts ? (no claim)
  long witness_signs = 0;     // signs re-evaluated
  long compress_fates = 0;    // removed units whose fate names a proven verdict (i, f)
  long compress_other = 0;    // removed units whose fate is "other" (zero outgoing, constant, duplicate)
  long rewrites_replayed = 0;          // rewrites re-derived from the original (with --compressed)
  double max_residual_ratio = 0;       // largest dropped identity residual / magnitude of the unit it changes
  bool compressed_checked = false;     // the compressed model was re-derived and every weight found in its enclosure
  double seconds = 0;
};

// Checks `cert` against `network` (the model the certificate claims to be
// of: dense and structured layers alike, the latter flattened into interval
// rows, checker/layers.hpp). Throws InputError (exit 2) when the certificate
// is of another model or domain, or does not fit the network's shapes;
// CheckFailure (exit 1) at the first claim that fails.
//
// With `compressed` (a compress certificate only): the model the compression
// wrote. The checker replays the certificate's rewrites, in order, from the
// original's weights and the proven verdicts, in interval arithmetic
// enclosing every double evaluation of each rewrite; each rewrite must rest
// on proven facts (certified signs; identities whose residual on the domain
// the checker bounds itself, see docs/certificates.md), and every weight and
// bias of `compressed` must lie in its replayed enclosure rounded to the
// stored type. Anything else, a rewrite it cannot re-derive included, is a
// CheckFailure naming the rewrite or the weight.
CheckSummary check(const Network& network, const Certificate& cert, const Network* compressed = nullptr);

// What `leo check --json` prints for a certificate that holds: "valid", the
// claims checked per kind, the compress replay, the domain, the time.
nlohmann::json to_json(const Certificate& cert, const CheckSummary& summary);

}  // namespace leo::cert
