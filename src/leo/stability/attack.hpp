#pragma once
// Stage 2 of the cascade: for every undecided unit that still lacks a
// positive (negative) witness, projected sign-gradient ascent (descent) on its
// pre-activation g from several starts, clipped to the box. The second start
// is the box corner where CROWN's linear bound of the target (interval bounds
// for the relaxations) is extreme: exact for layer-0 units, a good guess for
// deeper ones. All targets of a chunk run together as the columns of one
// batched forward/backward pass; every iterate is scanned for signs any
// undecided unit lacks (evidence.hpp), and the columns whose target is
// settled are dropped from the batch. A second round (AttackOptions::deep_*)
// gives the targets of deeper layers still lacking a sign more, and better
// placed, starts.
#include <random>

#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"
#include "leo/util/deadline.hpp"

namespace leo {

struct AttackOptions {
  int starts = 3;          // per target: the box centre, the relaxation's corner, then uniform random points
  int steps = 30;          // iterations per start
  double first_step = 0.25;  // step, as a fraction of each feature's width, decaying geometrically
  double last_step = 0.005;
  int batch = 1024;        // columns per batched pass
  // A second round for the targets of layers >= 1 still lacking their sign
  // after the first (units never active, or never inactive, so far): per
  // target `deep_starts` starts, the first up to `deep_guided` of them
  // activation-guided (the witness points that activate the predecessors
  // pushing the target hardest towards the sign wanted: largest
  // sign * w * upper bound), the rest uniform random restarts; `deep_steps`
  // steps from deep_first_step (starts near a useful point: smaller steps).
  // 0 starts: no second round. With a limited deadline the round gets at
  // most half of the time left when it starts.
  int deep_starts = 8;
  int deep_guided = 4;
  int deep_steps = 50;
  double deep_first_step = 0.1;
};

// Returns the number of units decided unstable.
int attack_stage(const Network& network, Analysis& analysis, std::mt19937_64& rng, const AttackOptions& options = {},
                 const Deadline& deadline = {});

}  // namespace leo
