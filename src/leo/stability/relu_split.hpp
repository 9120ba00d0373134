#pragma once
// Branch and bound on ReLU phases, with a bound at every leaf that is sound in
// floating point: the proof that the exact stage's claims rest on.
//
// Why: CBC (milp/cbc.hpp) answers with Clp's floating-point bounds, whose
// error is not bounded by any margin one can choose in advance. On an
// l1-trained MNIST net (weights from 3e-11 to 0.4) CBC declared a unit's MILP
// infeasible below a cutoff of 1e-5 while an input of the box gives -2.62e-6
// (tests/fixtures/milp/cbc_wrong_infeasible). So a CBC claim that a unit is
// stable is only a hint; this search proves it, or it does not count.
//
// The search proves max g_ku <= 0 (or min g_ku >= 0) for unit u of layer k over
// the box. A node is a set of splits "g_ji >= 0" / "g_ji <= 0" on units of
// layers j < k; its region is the set of inputs of the box whose phases agree.
// The regions of the two children of a node cover the node's region, so the
// leaves cover the box. In a node:
//   1. the root's sound bounds are clamped by the splits (lower >= 0 / upper
//      <= 0), re-propagated by interval arithmetic and tightened by CROWN
//      (bounds/interval.hpp, bounds/crown.hpp): all sound on the node's region.
//      Bounds that cross (lower > upper) show that the region is empty.
//   2. if the target's bound does not settle the sign, the beta-CROWN bound
//      (bounds/beta.hpp): slopes and split multipliers optimised, warm-started
//      from the parent's, then made sound by weak duality with outward
//      rounding. Its optimum is the node's triangle-relaxation LP with the
//      split rows, reached without a simplex solve.
//   3. where asked (SplitOptions::lp), and wherever every phase is fixed, the
//      triangle-relaxation LP of the node (bounds/lp.hpp, with the rows of the
//      units split to g <= 0 kept) is solved too, and its bound re-derived from
//      the duals with outward rounding (dual_upper_bound).
//   4. the input point of each bound (the box vertex of beta's linear bound,
//      the LP's point) is handed to the caller, which re-evaluates it in
//      double; a point on the wrong side refutes the claim (a witness).
//   5. otherwise a unit is split, chosen by the multipliers of the last bound
//      (choose_split: the LP point's distance from the ReLU graph weighted by
//      the unit's coefficient; else BaBSR's chord-intercept score). For a
//      target in layer 1 (every split on layer 0), by beta's exact estimates
//      of both children's bounds instead (BetaResult::split_off / split_on):
//      the split that leaves the least positive bound in its children.
// A leaf proven by beta or the LP records its multipliers nu_j (j < k): the
// same certificate leaf for both (docs/certificates.md, rule relu_split).
// A node budget and the deadline stop the search: the answer is then
// `unknown` and the caller must not claim the sign.
#include <Eigen/Dense>
#include <functional>
#include <limits>

#include "leo/bounds/bounds.hpp"
#include "leo/bounds/lp.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"
#include "leo/util/deadline.hpp"

namespace leo::cert {
struct ReluSplit;
}

namespace leo {

class CertificateRecorder;

struct SplitOptions {
  long max_nodes = 2000;  // nodes bounded (LP or not); the root counts
  Deadline deadline;
  // A node LP over these limits (networks with conv layers) is not built: the
  // search then bounds its nodes by CROWN alone (still sound, weaker).
  ModelLimits limits{};
  // Optimiser iterations of the beta-CROWN bound at each node (bounds/beta.hpp;
  // twice as many at the root; 0: none).
  int beta_iterations = 20;
  // Solve the node's LP (Clp) where the beta bound does not settle the node.
  bool lp = true;
  // When set and the search proves the side, its tree is recorded here
  // (certificates, stability/certify.hpp): preorder, with the LP multipliers
  // of the leaves the LP settled.
  cert::ReluSplit* tree = nullptr;
};

struct SplitResult {
  enum class Status { proven, refuted, unknown };
  Status status = Status::unknown;
  // proven: a sound bound of the target over the box, on the proven side
  // (max g <= bound <= 0, or min g >= bound >= 0).
  double bound = std::numeric_limits<double>::quiet_NaN();
  long nodes = 0;  // nodes bounded
  long lps = 0;    // LPs solved
  long betas = 0;  // beta-CROWN bounds computed
};

// Called with the input of each node's LP point (clipped to the box). Returns
// true when the point, re-evaluated in double by the caller, shows the target
// on the side the search tries to exclude: the search stops (refuted).
using SplitPointCheck = std::function<bool(const Eigen::VectorXd& input)>;

// Proves g[layer][unit] <= 0 (nonpositive = true: stably inactive) or >= 0
// (false: stably active) over the box, by the search above. `bounds` (one
// Bounds per layer of the network) must be sound over the box.
SplitResult prove_sign(const Network& net, const Box& box, const NetworkBounds& bounds, std::size_t layer,
                       Eigen::Index unit, bool nonpositive, const SplitOptions& options = {},
                       const SplitPointCheck& check = {});

// Stage "split" of the cascade (after lp, before milp): for each undecided
// unit of the hidden layers after the first, in layer order, prove_sign on
// each side not yet seen, with a small node budget, then once more with a
// large budget for the units still undecided, and, when asked, once every
// layer had these two passes, a last sweep with a very large budget for the
// units still undecided (bounded by the stage's time); the nodes' points are
// harvested as witnesses (evidence.hpp) for every unit they show. The units
// of a layer are independent tasks (util/parallel.hpp, unit_tasks.hpp), run
// `threads` at a time and shared out among MPI ranks; each works from the
// evidence known when its layer starts, and the results are merged in unit
// order, so the verdicts do not depend on threads or ranks. A proven
// side tightens `bounds` (upper <= bound <= 0, or lower >= bound >= 0), which
// decides the unit (apply_bounds) and, layer by layer, tightens the search for
// later layers. Units it cannot settle in budget are left to the MILP.
struct SplitStageOptions {
  long unit_nodes = 64;        // nodes per unit and side, first pass
  long hard_unit_nodes = 1024;  // second pass, for the units the first left undecided (<= unit_nodes: none)
  // Third pass, for the units the second left undecided, once every layer had
  // the first two: at most last_unit_nodes per unit, and at most
  // last_pass_nodes (<= 0: no cap) shared among the units of the layer left
  // for it, so that a few hard units get the time and a layer with many gets
  // no pass (per-unit budget <= hard_unit_nodes: skipped). Measured on
  // mnistfc 256x2 prop_1_0.05 (bench/results/residue.md, "hard"): its last
  // three units need 1173-7543 nodes with the first-layer branching of
  // prove_sign; before that branching, 16384 nodes proved none of them.
  long last_unit_nodes = 16384;
  long last_pass_nodes = 49152;
  int beta_iterations = 20;     // SplitOptions::beta_iterations
  // SplitOptions::beta_iterations of the last pass: in its deep trees each
  // node continues its parent's optimisation (warm start), so fewer
  // iterations per node pay (measured: the same node counts, 1.5x cheaper nodes).
  int last_beta_iterations = 8;
  bool lp = false;              // SplitOptions::lp (measured: beta alone decides as much, 4x cheaper)
  double seconds = 0;    // wall clock for the stage (<= 0: none); the deadline applies too
  // A layer whose LP (layers before it) is over these limits is skipped: its
  // units stay undecided (networks with conv layers only, docs/cnn.md).
  ModelLimits limits{};
  CertificateRecorder* recorder = nullptr;  // records each proof (stability/certify.hpp)
  int threads = 1;       // units searched at once
  // Called before the units of layer h >= 1 are searched, once the proofs of
  // the layers before are in `bounds` and `analysis`: the caller may
  // re-tighten layer h from them (sound bounds, intersected; the cascade runs
  // alpha-CROWN there). None: nothing.
  std::function<void(std::size_t h)> before_layer{};
};

// Returns the units decided (stable or unstable).
int split_stage(const Network& net, const Box& box, NetworkBounds& bounds, Analysis& analysis,
                const SplitStageOptions& options = {}, const Deadline& deadline = {});

}  // namespace leo
