#pragma once
// Stage 1 of the cascade: evaluate many inputs of the domain in batches and
// record every sign they show (witnesses; see witnesses.hpp).
//
// Inputs: the box centre, its corners (all 2^n when n <= max_all_corners_log2,
// else `random_corners` random ones), `random_points` uniform random points,
// and the domain's probe points.
#include <cstdint>
#include <random>

#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"
#include "leo/util/deadline.hpp"

namespace leo {

struct SampleOptions {
  int max_all_corners_log2 = 12;  // all corners when n <= this (4096 corners)
  int random_corners = 1024;
  int random_points = 4096;
  int batch = 1024;               // columns per forward pass
};

// Returns the number of units decided unstable.
int sample_stage(const Network& network, Analysis& analysis, std::mt19937_64& rng, const SampleOptions& options = {},
                 const Deadline& deadline = {});

}  // namespace leo
