#pragma once
// What the stability analysis decides about each ReLU unit, and the evidence.
#include <Eigen/Dense>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "leo/domain/box.hpp"
#include "leo/network/conv.hpp"
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

// A model (LP, MILP) an exact stage did not build because it was over the
// size limits of networks with conv layers (bounds/lp.hpp, ModelLimits): the
// units of `layer` (and later) that needed it stay undecided.
struct SkippedModel {
  Stage stage = Stage::none;
  std::size_t layer = 0;
  std::int64_t rows = 0, nonzeros = 0;              // the model's size
  std::int64_t limit_rows = 0, limit_nonzeros = 0;  // the limits
};

// Where the units of a hidden layer sit in the model, for the analysis
// output: a dense layer has no segments (units indexed flat); a structured
// (convolutional) one lists its output segments (network/structured.hpp):
// first unit, shape (units in (channel, row, column) order) and whether it is
// a carry (a value carried past a ReLU for a residual connection: not a unit
// of the model, reported apart and never in the per-channel summary).
struct UnitSegment {
  Eigen::Index offset = 0;
  Shape3 shape;
  bool carry = false;
};
struct LayerLayout {
  std::vector<UnitSegment> segments;  // empty: dense
  bool structured() const { return !segments.empty(); }
  // The segment holding unit i (structured layers only).
  std::size_t segment_of(Eigen::Index i) const;
  bool is_carry(Eigen::Index i) const { return structured() && segments[segment_of(i)].carry; }
};

struct Analysis {
  Domain domain;
  std::vector<std::vector<UnitVerdict>> layers;  // one per hidden layer
  std::vector<Witness> witnesses;
  std::vector<StageTime> stage_times;
  double time_seconds = 0;
  bool timed_out = false;
  Certification certification;
  std::vector<SkippedModel> skipped_models;
  // One per hidden layer (make_analysis fills them; missing or empty: dense).
  std::vector<LayerLayout> layouts;

  bool is_carry(std::size_t layer, Eigen::Index unit) const {
    return layer < layouts.size() && layouts[layer].is_carry(unit);
  }
  // Units of the model (carries left out) and their count by status.
  int model_units(std::size_t layer) const;
  int count_model(std::size_t layer, Status status) const;
  int carry_units(std::size_t layer) const { return static_cast<int>(layers[layer].size()) - model_units(layer); }

  int count(std::size_t layer, Status status) const;
  bool stable(std::size_t layer, int unit) const {
    auto s = layers[layer][unit].status;
    return s == Status::active || s == Status::inactive;
  }
};

}  // namespace leo
