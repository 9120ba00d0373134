#pragma once
// What the stability analysis decides about each ReLU unit, and the evidence.
#include <Eigen/Dense>
#include <limits>
#include <string>
#include <vector>

#include "leo/domain/box.hpp"
#include "leo/stability/stages.hpp"

namespace leo {

enum class Status { active, inactive, unstable, undecided };

const char* to_string(Status status);

struct UnitVerdict {
  Status status = Status::undecided;
  Stage stage = Stage::none;  // the stage that decided it
  double lower = -std::numeric_limits<double>::infinity();  // best proven bounds on g
  double upper = std::numeric_limits<double>::infinity();
  // Evidence from witnesses (inputs re-evaluated in double): some input of the
  // domain drives g above zero / below zero. Both => unstable.
  bool seen_positive = false;
  bool seen_negative = false;
};

struct WitnessUnit {
  int layer = 0;   // hidden layer, from 0
  int unit = 0;
  bool positive = true;  // the witness drives g above zero (else below)
};

// An input of the domain, re-evaluated in double, and the units whose sign it shows.
struct Witness {
  Eigen::VectorXd input;
  std::vector<WitnessUnit> units;
};

struct StageTime {
  Stage stage;
  double seconds = 0;
  int decided = 0;
};

// How the exact stage's solver claims fared when checked by the sound
// ReLU-split search (stability/relu_split.hpp): only proven claims count.
struct Certification {
  int claims = 0;   // units CBC claimed stable
  int proven = 0;   // claims proven (the unit is marked stable)
  int refuted = 0;  // claims a re-evaluated point contradicts (CBC was wrong)
  int unknown = 0;  // claims neither proven nor refuted within the budget (unit left undecided)
  long nodes = 0;   // search nodes over all claims
  long lps = 0;     // LPs solved
  double seconds = 0;
};

struct Analysis {
  Domain domain;
  std::vector<std::vector<UnitVerdict>> layers;  // one per hidden layer
  std::vector<Witness> witnesses;
  std::vector<StageTime> stage_times;
  double time_seconds = 0;
  bool timed_out = false;
  Certification certification;

  int count(std::size_t layer, Status status) const;
  bool stable(std::size_t layer, int unit) const {
    auto s = layers[layer][unit].status;
    return s == Status::active || s == Status::inactive;
  }
};

}  // namespace leo
