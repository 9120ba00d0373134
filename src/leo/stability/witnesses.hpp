#pragma once
// Turning evaluated inputs into witnesses of instability.
//
// Convention: a witness shows sign "positive" for unit i of hidden layer h when
// g_i^h(x) > 0 and "negative" when g_i^h(x) < 0, both strictly, as computed by
// a fresh float64 evaluation of that one input (Network::pre_activations). A
// value of exactly 0 shows nothing. A unit with a positive and a negative
// witness is unstable.
#include <Eigen/Dense>
#include <cstddef>

#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"

namespace leo {

// An Analysis with one undecided verdict per hidden unit of `network`.
Analysis make_analysis(const Network& network, const Domain& domain);

// True when unit (h, i) is undecided and still lacks a witness of sign `positive`.
inline bool needs_witness(const Analysis& a, std::size_t h, Eigen::Index i, bool positive) {
  const UnitVerdict& v = a.layers[h][static_cast<std::size_t>(i)];
  return v.status == Status::undecided && !(positive ? v.seen_positive : v.seen_negative);
}

// Number of units still undecided.
int undecided_units(const Analysis& a);

// Scans the columns of X (inputs of the domain; `pre` their pre-activations,
// as from network.pre_activations(X), possibly only the first layers) for signs that undecided units still
// lack. Each useful column is re-evaluated on its own in float64; the signs it
// confirms are recorded as one Witness in `a.witnesses`, the seen_* flags set,
// and a unit seen both ways becomes unstable, decided by `stage`. Columns
// outside the domain's box are skipped. Returns the number of units that
// became unstable.
int harvest_witnesses(const Network& network, const Eigen::Ref<const Eigen::MatrixXd>& X,
                      const std::vector<Eigen::MatrixXd>& pre, Analysis& a, Stage stage);

// Same, evaluating X itself.
int harvest_witnesses(const Network& network, const Eigen::MatrixXd& X, Analysis& a, Stage stage);

}  // namespace leo
