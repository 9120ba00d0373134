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

const char* to_string(Stage stage) {
  switch (stage) {
    case Stage::none: return "none";
    case Stage::samples: return "samples";
    case Stage::attack: return "attack";
    case Stage::ibp: return "ibp";
    case Stage::crown: return "crown";
    case Stage::alpha: return "alpha";
    case Stage::lp: return "lp";
    case Stage::bab: return "bab";
    case Stage::split: return "split";
    case Stage::milp: return "milp";
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
