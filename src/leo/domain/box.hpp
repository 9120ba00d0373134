#pragma once
// Input domains. A Domain is a box lo <= x <= hi over the network's input
// features (flattened), plus optional probe points inside it (data the user
// supplied) that the sample stage evaluates.
#include <Eigen/Dense>
#include <string>

namespace leo {

struct Box {
  Eigen::VectorXd lower;
  Eigen::VectorXd upper;

  Box() = default;
  Box(Eigen::VectorXd lo, Eigen::VectorXd hi) : lower(std::move(lo)), upper(std::move(hi)) {}
  // Every one of n features in [lo, hi].
  static Box uniform(Eigen::Index n, double lo, double hi);

  Eigen::Index size() const { return lower.size(); }
  Eigen::VectorXd center() const { return 0.5 * (lower + upper); }
  bool contains(const Eigen::VectorXd& x, double tolerance = 0.0) const;
  // Throws InputError (prefixed with `context`) when the box does not have n
  // features, a bound is NaN, or lo > hi somewhere (an empty box).
  void validate(Eigen::Index n, const std::string& context = "domain") const;
};

struct Domain {
  Box box;
  Eigen::MatrixXd probes;   // inputs x N points inside the box (may have 0 columns)
  std::string description;  // how it was given, e.g. "box [0,1]^784" or "prop_1.vnnlib"
};

}  // namespace leo
