#pragma once
// The sound back-substitution evaluator shared by CROWN, alpha-CROWN and the
// LP stage (crown.hpp, alpha.hpp, lp.hpp).
//
// Notation: layers[j] maps x_j to g_j = W_j x_j + b_j, x_{j+1} = relu(g_j),
// x_0 the input in the box. For a target layer k and an objective row a
// (a vector over the units of g_k), any choice of multipliers nu_j (one row
// vector per layer j < k, any doubles) gives, by weak duality (the Lagrangian
// of the constraints g_j = W_j x_j + b_j),
//
//   a.g_k <= sum_{j<=k} nu_j.b_j                                   (nu_k = a)
//          + max_{x in box} rho_0.x
//          + sum_{j<k} sum_i max_{g in [l_ji, u_ji]} (rho_{j+1,i} relu(g) - nu_ji g)
//
// where rho_j = nu_j W_j is the coefficient of x_j. The inner maximum over the
// ReLU graph is attained at g in {l, 0, u}, i.e. it equals the maximum over the
// triangle relaxation; CROWN's slopes, alpha-CROWN's optimised lower slopes and
// the LP's dual values are all just ways of choosing nu. The evaluation is
// sound for every nu: rho_j is enclosed in [rho^ - e, rho^ + e] with the
// rigorous error term of rounding.hpp (e from |nu_j| |W_j|), every product is
// rounded outward, and the final sum is an UpperSum. So a solver tolerance, an
// unconverged optimiser or a deliberately wrong nu can only make the bound
// weaker, never wrong.
#include <functional>
#include <vector>

#include "leo/bounds/bounds.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"

namespace leo::backsub {

// Chooses nu_j (r x n_j) given rho^_{j+1} (r x n_j): the computed coefficients
// of relu(g_j) for the r objective rows.
using Chooser = std::function<Eigen::MatrixXd(std::size_t j, const Eigen::MatrixXd& rho)>;

// Sound upper bounds of A g_k (one per row of A, r x n_k) over the box, using
// bounds[j] for j < k.
Eigen::VectorXd sound_upper(const Network& net, const Box& box, const NetworkBounds& bounds, std::size_t k,
                            const Eigen::MatrixXd& A, const Chooser& choose);

// CROWN's choice of nu_j from rho^_{j+1}: upper chord for positive rho, lower
// slope alpha (given, r x n_j, only read for unstable units) or the adaptive
// choice (1 if u >= -l else 0) when alpha is null, for negative rho.
Eigen::MatrixXd crown_nu(const Bounds& b, const Eigen::MatrixXd& rho, const Eigen::MatrixXd* alpha = nullptr);

// The adaptive lower slopes of CROWN for the bounds b, as an r x n matrix.
Eigen::MatrixXd adaptive_alpha(const Bounds& b, Eigen::Index rows);

// An observer of the multipliers behind the bounds sound_upper computes on
// this thread, for certificates (stability/certify.hpp): called after each
// call with the target layer k, the objective rows A (r x n_k), the
// multipliers nu_j actually used (r x n_j, one matrix per j < k) and the
// bounds. None by default, and then no cost; installed by ObserverScope.
using Observer = std::function<void(std::size_t k, const Eigen::MatrixXd& A, const std::vector<Eigen::MatrixXd>& nu,
                                    const Eigen::VectorXd& bound)>;
class ObserverScope {
 public:
  explicit ObserverScope(const Observer* observer);
  ~ObserverScope();
  ObserverScope(const ObserverScope&) = delete;
  ObserverScope& operator=(const ObserverScope&) = delete;

 private:
  const Observer* previous_;
};

// Rows of A for the units `units` of a layer with n units: +e_i for each, then -e_i.
Eigen::MatrixXd objective_rows(Eigen::Index n, const std::vector<Eigen::Index>& units);

}  // namespace leo::backsub
