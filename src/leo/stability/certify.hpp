#pragma once
// Certificates of the stability analysis (docs/certificates.md): while the
// cascade runs, a CertificateRecorder keeps the evidence each stage's bounds
// rest on, in the checker's own format (checker/certificate.hpp), as an
// ordered replay:
//   - a computed interval bound (first use of interval bounds), and the crown
//     stage: a "propagate" step (the checker recomputes the numbers itself);
//   - the alpha and lp stages: a "linear" step, one claim per bound side the
//     stage tightened, with the multipliers nu that backsub::sound_upper used
//     for it (observed through backsub::ObserverScope);
//   - the bab stage: its tree of input bisections ("input_split");
//   - the split stage and the proofs of the milp stage's claims: each proven
//     side's tree of ReLU-phase splits, with the LP multipliers of the leaves
//     that needed the LP ("relu_split").
// make_certificate() then adds the verdicts and, for each unstable unit, one
// witness of each sign. Recording is off unless AnalyzeOptions::certificate
// points to a recorder: the stages then pay nothing.
#include <map>
#include <tuple>

#include "leo/bounds/backsub.hpp"
#include "leo/bounds/bounds.hpp"
#include "leo/checker/certificate.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"

namespace leo {

class CertificateRecorder {
 public:
  CertificateRecorder();
  void propagate(bool crown);
  // Around a bound stage that tightens bounds by sound_upper (alpha, lp): the
  // observer is installed from begin_linear to end_linear, which emits one
  // claim per hidden-unit bound that got tighter than in `before`.
  void begin_linear(const NetworkBounds& before);
  void end_linear(const NetworkBounds& after);
  void input_split(cert::InputSplit tree);
  void relu_split(cert::ReluSplit claim);

  const std::vector<cert::Step>& steps() const { return steps_; }
  // Bound sides tightened by a stage without recorded multipliers (should be
  // 0; the checker will then fail on what depends on them).
  long missing() const { return missing_; }

 private:
  struct Seen {
    double value;  // the bound of max a.g
    std::vector<cert::SparseVector> nu;
  };
  std::vector<cert::Step> steps_;
  NetworkBounds before_;
  std::map<std::tuple<std::size_t, Eigen::Index, int>, Seen> seen_;  // (layer, unit, side 0 upper / 1 lower)
  backsub::Observer observer_;
  std::unique_ptr<backsub::ObserverScope> scope_;
  long missing_ = 0;
};

// The certificate of `analysis` (of `network` over analysis.domain.box).
cert::Certificate make_certificate(const Network& network, const Analysis& analysis, const CertificateRecorder& recorder);

}  // namespace leo
