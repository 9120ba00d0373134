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

int Analysis::count(std::size_t layer, Status status) const {
  int n = 0;
  for (const auto& v : layers[layer])
    if (v.status == status) ++n;
  return n;
}

}  // namespace leo
