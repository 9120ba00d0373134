#pragma once
// A CROWN bound of one target over a node region of a ReLU-phase split, with
// optimised slopes and split multipliers (beta-CROWN style), sound in floating
// point.
//
// A node of the split search (stability/relu_split.hpp) is the box with some
// units' phases fixed; its bounds hold the splits as clamps (lower >= 0 for
// g >= 0, upper <= 0 for g <= 0). In the weak-duality bound of backsub.hpp
//
//   a.g_k <= sum_j nu_j.b_j + max_box rho_0.x
//            + sum_{j<k} sum_i max_{g in [l_ji, u_ji]} (rho_{j+1,i} relu(g) - nu_ji g)
//
// every nu is valid. Parameterised per unit of layer j < k, with P = rho_{j+1,i}:
//   unstable (l < 0 < u):  nu = s P (P >= 0, the chord s = u/(u-l)) or alpha P
//                          (P < 0, alpha in [0,1]: the optimised lower slope);
//   active (l >= 0):       nu = P + beta, beta >= 0; its term is -beta l;
//   inactive (u <= 0):     nu = -beta, beta >= 0; its term is beta u.
// beta is the multiplier of the constraint g >= l (or g <= u); for a split
// unit (l = 0 or u = 0) that is the split's constraint, as in beta-CROWN. So
// the optimum over (alpha, beta) is the triangle-relaxation LP of the node
// with its split rows (the LP of bounds/lp.hpp, SplitLp), reached by projected
// Adam on the gradient from a hand-written backward pass instead of a simplex
// solve. The best parameters seen (by the floating-point value) are turned
// into a rigorous bound by backsub::sound_upper, with outward rounding; the
// optimiser's arithmetic therefore never matters for soundness, and the
// multipliers returned are a certificate leaf of the same form as an LP's
// (docs/certificates.md, rule relu_split: nu per layer).
#include <vector>

#include "leo/bounds/bounds.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"
#include "leo/util/deadline.hpp"

namespace leo {

struct BetaOptions {
  int iterations = 20;
  double alpha_rate = 0.1;  // Adam step of the slopes
  double beta_rate = 0.05;  // Adam step of the split multipliers
  // Stop as soon as the floating-point bound is below this (the sound bound is
  // then computed and decides).
  double stop_below = -std::numeric_limits<double>::infinity();
};

// The optimiser's parameters, one entry per unit of each layer j < k; read
// only where they apply (alpha of unstable units, beta of stable ones). A
// child node starts from its parent's (warm start).
struct BetaState {
  std::vector<Eigen::VectorXd> alpha, beta;
};

struct BetaResult {
  // Sound: a.g_k <= bound for every input of the box whose pre-activations lie
  // within `bounds` (layers < k).
  double bound = std::numeric_limits<double>::infinity();
  std::vector<Eigen::VectorXd> nu;  // the multipliers behind `bound`, one per layer j < k
  // The vertex of the box that maximises the relaxed bound's linear part: a
  // candidate witness (not rigorous, to re-evaluate).
  Eigen::VectorXd input;
  BetaState state;  // best parameters (for the children)
  int iterations = 0;
  // A branching guide for splits on the first layer (k >= 1): for each unit i
  // of layer 0 that is unstable in `bounds`, the floating-point value of the
  // bound of each child of a split on i (g_0i <= 0: split_off, >= 0:
  // split_on) with the best parameters and the new split's multiplier at 0.
  // Exact for those parameters and cheap: such a split changes only nu_0i, so
  // only the unit's own terms and the box term along row i of W_0 move. Not
  // rigorous (a guide, never a proof); NaN for the other units; empty when
  // k = 0 or the bound is not finite.
  Eigen::VectorXd split_off, split_on;
};

// Maximises a.g_k over the node: `bounds` (one Bounds per layer, sound over
// the node's region, splits clamped in) for layers < k. `warm`: start from
// these parameters (else CROWN's adaptive slopes and beta = 0).
BetaResult beta_maximise(const Network& net, const Box& box, const NetworkBounds& bounds, std::size_t k,
                         const Eigen::VectorXd& a, const BetaState* warm = nullptr, const BetaOptions& options = {},
                         const Deadline& deadline = {});

}  // namespace leo
