#include "leo/stability/channels.hpp"

namespace leo {

std::vector<ChannelSummary> channel_summary(const Analysis& a, std::size_t h) {
  std::vector<ChannelSummary> out;
  if (h >= a.layouts.size() || !a.layouts[h].structured()) return out;
  const auto& segments = a.layouts[h].segments;
  for (std::size_t s = 0; s < segments.size(); ++s) {
    const UnitSegment& seg = segments[s];
    if (seg.carry) continue;
    const std::int64_t positions = seg.shape.positions();
    for (std::int64_t c = 0; c < seg.shape.channels; ++c) {
      ChannelSummary sum;
      sum.segment = s;
      sum.channel = c;
      sum.positions = static_cast<int>(positions);
      for (std::int64_t p = 0; p < positions; ++p) {
        const auto unit = static_cast<std::size_t>(seg.offset + c * positions + p);
        switch (a.layers[h][unit].status) {
          case Status::inactive: ++sum.inactive; break;
          case Status::active: ++sum.active; break;
          case Status::unstable: ++sum.unstable; break;
          case Status::undecided: ++sum.undecided; break;
        }
      }
      out.push_back(sum);
    }
  }
  return out;
}

}  // namespace leo
