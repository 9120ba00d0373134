#pragma once
// Bounds on the pre-activations g of every layer over a domain: bounds[l]
// holds lower/upper for layers[l] (hidden layers and the output layer).
// Every function in bounds/ that produces or tightens these is sound in
// floating point: the true real-valued g lies in [lower, upper] for every x of
// the domain (outward rounding or a rigorous error term).
#include <Eigen/Dense>
#include <vector>

namespace leo {

struct Bounds {
  Eigen::VectorXd lower;
  Eigen::VectorXd upper;
};

using NetworkBounds = std::vector<Bounds>;

}  // namespace leo
