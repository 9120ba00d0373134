#pragma once
// Affine sets that contain every value a layer's input can take on the domain.
//
// The linear-dependence rewrite (docs/design.md §1, rewrite 2) needs the rank of a
// set of rows *restricted to the inputs the layer really receives*, not the
// rank of the raw matrix. If x^{l} only ever lies in {p + D t}, a row w acts
// on it as w p + (w D) t, so two units whose restricted forms (w D, g(p)) are
// dependent are dependent on the domain even when their raw rows are not.
//
// The hulls computed here are supersets of the true affine hulls (so every
// linear relation found on them holds on the domain):
//   x^0 : the box; a feature with lo == hi is a constant, not a direction;
//   x^l : a stably active unit contributes the affine image w D of the previous
//         hull, a stably inactive unit the constant 0, and every other unit
//         (unstable, undecided) one free direction of its own.
// Directions are orthonormalised by a column-pivoted QR; a direction whose
// pivot is below `relative_tolerance` times the largest is dropped.
#include <Eigen/Dense>
#include <optional>
#include <vector>

#include "leo/domain/box.hpp"
#include "leo/stability/verdict.hpp"

namespace leo {

struct Compressible;

struct AffineHull {
  Eigen::VectorXd point;       // a point of the set
  Eigen::MatrixXd directions;  // orthonormal columns: the set is point + span(directions)
  // Set when every direction is a coordinate vector: directions.col(j) is
  // e_{axes[j]} (the box's hull; next_hull's when the active rows have full
  // rank or none). Lets restrict() select columns instead of multiplying.
  std::optional<std::vector<Eigen::Index>> axes;

  Eigen::Index dimension() const { return directions.cols(); }

  // W D: rows acting on the hull's directions (W has one column per
  // coordinate of the set). Without `axes`, the product W * directions as
  // written. With `axes`, W's columns at those coordinates, -0.0 made +0.0:
  // bit for bit that product, each of whose entries is one term w * 1 and
  // terms w' * 0 accumulated onto +0 as BLAS's gemm and gemv do (Eigen's
  // coefficient-wise product of tiny matrices, rows + coordinates +
  // dimension < 20, may give -0.0 where w is -0.0: a zero either way),
  // without its rows x coordinates x dimension multiply-adds.
  template <typename Derived>
  Eigen::Matrix<double, Derived::RowsAtCompileTime, Eigen::Dynamic> restrict(
      const Eigen::MatrixBase<Derived>& W) const {
    if (!axes || static_cast<Eigen::Index>(axes->size()) != directions.cols()) return W * directions;
    return W(Eigen::all, *axes).array() + 0.0;  // x + 0.0: -0.0 becomes +0.0, every other x stays
  }
};

// The box as an affine set: its centre and one unit direction per feature
// whose interval is not a single point.
AffineHull box_hull(const Box& box);

// The hull of a hidden layer's output, given the hull of its input, the
// layer's weights/bias and its units' statuses.
AffineHull next_hull(const AffineHull& input, const Eigen::MatrixXd& weights, const Eigen::VectorXd& bias,
                     const std::vector<Status>& status, double relative_tolerance);

// hulls[l] contains every input x^l of layers[l] (l = 0 .. depth-1) over the box.
std::vector<AffineHull> layer_input_hulls(const Compressible& state, const Box& box, double relative_tolerance);

// The same for the hidden layers only: hulls[h] (h = 0 .. hidden layers - 1)
// is layer_input_hulls(...)[h], bit for bit; the output layer's input is not
// computed (what the rewrites of compress/rewrites.hpp read).
std::vector<AffineHull> hidden_input_hulls(const Compressible& state, const Box& box, double relative_tolerance);

}  // namespace leo
