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
#include <vector>

#include "leo/domain/box.hpp"
#include "leo/stability/verdict.hpp"

namespace leo {

struct Compressible;

struct AffineHull {
  Eigen::VectorXd point;       // a point of the set
  Eigen::MatrixXd directions;  // orthonormal columns: the set is point + span(directions)

  Eigen::Index dimension() const { return directions.cols(); }
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
