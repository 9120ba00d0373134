#pragma once
// Stage 1 of the cascade: evaluate many inputs of the domain in batches and
// record every sign they show (witnesses; see evidence.hpp).
//
// Inputs, in three phases: the box centre and the domain's probe points (all
// of them), the box corners (all 2^n when n <= max_all_corners_log2, else
// `random_corners` random ones), then `random_points` uniform random points.
// With stop_when_idle, on boxes of more than max_all_corners_log2 features, a
// phase of drawn points (corners, random points) ends after the first full
// batch that shows no sign an undecided unit lacked: in high dimension the
// first few hundred corners show nearly every sign sampling will ever show
// (random points concentrate near the centre), and what is left is cheaper
// for the attack stage. On small boxes every point is drawn: they cover the
// box, and the one-sided signs they keep finding spare the bab stage work. Buffers are reused from batch
// to batch (a fresh 784 x 1024 matrix per batch cost as much time in page
// faults as the products themselves).
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
  int batch = 128;               // columns per forward pass
  bool stop_when_idle = true;     // end a phase after a batch that shows nothing new
};

// Returns the number of units decided unstable.
int sample_stage(const Network& network, Analysis& analysis, std::mt19937_64& rng, const SampleOptions& options = {},
                 const Deadline& deadline = {});

}  // namespace leo
