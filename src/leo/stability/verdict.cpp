#include "leo/stability/verdict.hpp"

namespace leo {

const char* to_string(Status status) {
  switch (status) {
    case Status::active: return "active";
    case Status::inactive: return "inactive";
    case Status::unstable: return "unstable";
    case Status::undecided: return "undecided";
  }
  return "?";
}

std::size_t LayerLayout::segment_of(Eigen::Index i) const {
  std::size_t s = 0;
  while (s + 1 < segments.size() && segments[s + 1].offset <= i) ++s;
  return s;
}

int Analysis::model_units(std::size_t layer) const {
  int n = 0;
  for (std::size_t i = 0; i < layers[layer].size(); ++i) n += !is_carry(layer, static_cast<Eigen::Index>(i));
  return n;
}

int Analysis::count_model(std::size_t layer, Status status) const {
  int n = 0;
  for (std::size_t i = 0; i < layers[layer].size(); ++i)
    if (layers[layer][i].status == status && !is_carry(layer, static_cast<Eigen::Index>(i))) ++n;
  return n;
}

int Analysis::count(std::size_t layer, Status status) const {
  int n = 0;
  for (const auto& v : layers[layer])
    if (v.status == status) ++n;
  return n;
}

}  // namespace leo
