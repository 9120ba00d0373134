#pragma once
// The per-channel summary of a convolutional layer's verdicts (issue 12,
// `leo analyze` table and --json): for each channel of each output segment
// that is not a carry, how many positions are stably inactive, stably
// active, unstable and undecided, and whether the whole channel is stable
// (all positions inactive, or all active): what channel removal can use.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "leo/stability/verdict.hpp"

namespace leo {

struct ChannelSummary {
  std::size_t segment = 0;
  std::int64_t channel = 0;
  int positions = 0;
  int inactive = 0, active = 0, unstable = 0, undecided = 0;
  bool whole_inactive() const { return positions > 0 && inactive == positions; }
  bool whole_active() const { return positions > 0 && active == positions; }
};

// One entry per channel of the model segments of hidden layer h, segment by
// segment; empty for a dense layer.
std::vector<ChannelSummary> channel_summary(const Analysis& a, std::size_t h);

}  // namespace leo
