#pragma once
// The difference network of two networks A and B on the same inputs: one
// ReLU network J whose output units are, for every output k of A and B,
//   J_{2k}   = f_A,k(x) - f_B,k(x) - T   and   J_{2k+1} = f_B,k(x) - f_A,k(x) - T
// up to a rounding error that is bounded soundly (output_error below). Proving
// J_r <= 0 on the box with a sound method (stability/relu_split.hpp: CROWN and
// rigorous LP dual bounds per node of a ReLU-phase search) proves
// |f_A,k - f_B,k| <= T there. This is what `leo verify --exact` proves.
//
// Why one network: a compressed model and its original share almost every
// unit. J holds each unit of A once and each unit of B that is not a copy of
// an A unit; a unit of B whose row and bias are bit for bit those of an A unit
// of the same layer (on every input that is not proven 0, i.e. ignoring the
// columns of units a verdict proves stably inactive, which compression
// deletes) IS that unit in J: one relaxation for both, so the parts of the
// two networks that agree cancel exactly in J's output rows (coefficient
// w_A - w_B = 0) instead of being relaxed twice independently.
//
// Layout. With D = max(depth A, depth B), J has D layers. J hidden layer t
// holds A's hidden layer t (when A has one), then B's units of hidden layer t
// that are not shared. A network N shallower than D passes its outputs on
// through "shift" units: at J layer depth_N - 1, p = g_N - s with s a sound
// lower bound of g_N over the box minus a margin (interval arithmetic), so
// p > 0 and relu(p) = p; at later hidden layers, units copying p. J's output
// layer then uses p + s. J computes the difference only when every shift unit
// is stably active: `shift[t][i]` marks them, and the caller must check that
// their sound lower bounds are >= 0 (else J proves nothing).
//
// Near copies. A unit of B whose pre-activation differs from an unused A
// unit's by at most delta on the box (a sound bound from interval bounds of
// J's previous layer; delta at most 1e-6 of the unit's scale: e.g. a double
// model and its float32 rounding) stands for that A unit plus e = e+ - e-,
// with e+ and e- two new inputs of J in [0, delta] carried through the
// hidden layers by units copying them (relu(e) = e since e >= 0). For every
// x, the true x_B = x_A + d with |d| <= |g_B - g_A| <= delta (ReLU is
// 1-Lipschitz), so e+ = max(d, 0), e- = max(-d, 0) reproduce it: J over the
// extended box contains every true execution of A and B, and a bound proven
// on J holds for them. The near unit is then relaxed once, with A's.
//
// Exactness: every J row of a hidden layer is a copy of an A or B row (or a
// unit vector), placed on distinct J columns, so J's hidden units compute
// exactly A's and B's pre-activations. Only the output rows combine two
// numbers per J column (w_A - w_B on a shared unit; the biases b_A - b_B - T):
// each such rounded sum's error is known exactly (a two-sum), and
// output_error bounds its effect given sound bounds of J's last hidden layer.
#include <Eigen/Dense>
#include <vector>

#include "leo/bounds/bounds.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"

namespace leo {

struct JointNetwork {
  Network net;                              // J
  Box box;                                  // J's inputs: the box, then the carriers' [0, delta] (see above)
  Eigen::Index inputs = 0;                  // features of A and B: the first inputs of J
  std::vector<std::vector<char>> shift;     // per J hidden layer: the shift units (must be stably active)
  std::vector<std::vector<Status>> status;  // per J hidden layer: the verdict of the unit (from A's or B's analysis)
  std::vector<std::vector<double>> verdict_lower, verdict_upper;  // the verdicts' proven bounds (+-inf: none)
  // Per output row r: |J's rounded output row - the exact one| per column of
  // the last hidden layer (or of the input when D = 1), and for the bias.
  Eigen::MatrixXd row_error;                // rows x columns
  Eigen::VectorXd bias_error;               // rows
  Eigen::Index units_a = 0, units_b = 0, units_shared = 0;  // hidden units of A, of B, of B shared with A
  Eigen::Index units_near = 0;              // units of B standing for a near A unit plus carriers
};

// `analysis_a` / `analysis_b` may be empty (no verdicts) or hold one verdict
// per hidden unit of A / B; their verdicts must be sound on the box (those of
// the cascade are). Throws std::invalid_argument on mismatched networks.
JointNetwork joint_difference(const Network& a, const Network& b, const Analysis& analysis_a,
                              const Analysis& analysis_b, const Box& box, double tolerance);

// `bounds` (sound, one per layer of J) clamped by the verdicts of J's units
// (active: lower >= 0, inactive: upper <= 0, and the verdicts' bounds).
void apply_verdicts(const JointNetwork& joint, NetworkBounds& bounds);

// True when every shift unit's sound lower bound is >= 0.
bool shifts_hold(const JointNetwork& joint, const NetworkBounds& bounds);

// A sound upper bound of |J's output row r - the exact difference it stands
// for| over J's box, from sound `bounds` of J's layers.
double output_error(const JointNetwork& joint, const NetworkBounds& bounds, Eigen::Index r);

}  // namespace leo
