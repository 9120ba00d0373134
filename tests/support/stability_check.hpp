#pragma once
// Checks of a stability Analysis shared by the tests: witnesses valid, no
// stable verdict contradicted by random points.
#include <random>

#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"

namespace leo::test {

// An analysis with these verdicts (statuses[h][i] for unit i of hidden layer
// h; no bounds, no witnesses): for tests of what consumes verdicts.
Analysis analysis_of(const std::vector<std::vector<Status>>& statuses);

// Every witness lies in the box and, re-evaluated, shows the signs it claims;
// every unstable unit has a positive and a negative witness. Adds gtest
// failures otherwise.
void expect_valid_witnesses(const Network& network, const Analysis& analysis);

// No stable verdict contradicted by the points (columns of X): an inactive
// unit never has g > 0, an active one never g < 0. Adds gtest failures.
void expect_not_contradicted(const Network& network, const Analysis& analysis, const Eigen::MatrixXd& X);

// The same with `samples` uniform random points of the analysis' box, in batches.
void expect_not_contradicted(const Network& network, const Analysis& analysis, int samples, std::mt19937_64& rng);

}  // namespace leo::test
