#include "leo/compress/affine_hull.hpp"

#include <algorithm>
#include <cmath>

#include "leo/compress/rewrites.hpp"
#include "leo/util/error.hpp"

namespace leo {

AffineHull box_hull(const Box& box) {
  AffineHull hull;
  const Eigen::Index n = box.size();
  hull.point.resize(n);
  std::vector<Eigen::Index> free;
  for (Eigen::Index i = 0; i < n; ++i) {
    if (box.lower[i] == box.upper[i]) {
      hull.point[i] = box.lower[i];
    } else {
      hull.point[i] = 0.5 * (box.lower[i] + box.upper[i]);
      free.push_back(i);
    }
  }
  hull.directions = Eigen::MatrixXd::Zero(n, static_cast<Eigen::Index>(free.size()));
  for (std::size_t j = 0; j < free.size(); ++j) hull.directions(free[j], static_cast<Eigen::Index>(j)) = 1.0;
  hull.axes = std::move(free);
  return hull;
}

AffineHull next_hull(const AffineHull& input, const Eigen::MatrixXd& weights, const Eigen::VectorXd& bias,
                     const std::vector<Status>& status, double relative_tolerance) {
  const Eigen::Index n = weights.rows();
  const Eigen::Index d = input.dimension();
  std::vector<Eigen::Index> active, free;
  for (Eigen::Index i = 0; i < n; ++i) {
    const Status s = status[static_cast<std::size_t>(i)];
    if (s == Status::active) active.push_back(i);
    else if (s != Status::inactive) free.push_back(i);
  }

  AffineHull hull;
  Eigen::VectorXd g = weights * input.point + bias;
  hull.point = Eigen::VectorXd::Zero(n);
  for (Eigen::Index i : active) hull.point[i] = g[i];
  for (Eigen::Index i : free) hull.point[i] = std::max(g[i], 0.0);

  // The spread of the output is [W_A D on the active rows; e_i for each free
  // unit i]: the two blocks have disjoint rows, so its column space is the
  // column space of M = W_A D (on the active rows) plus the free units'
  // coordinate directions, and only M needs a rank decision. Its pivots are
  // those of a column-pivoted QR of the whole spread (a free column has norm
  // 1 and is orthogonal to every other column), so the threshold is taken
  // relative to the largest of M's pivots and, when there are free units, 1.
  const auto q = static_cast<Eigen::Index>(active.size());
  Eigen::Index rank = 0;
  Eigen::MatrixXd basis;  // q x rank, orthonormal
  if (q > 0 && d > 0) {
    Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(input.restrict(weights(active, Eigen::all)));
    const Eigen::Index k = std::min(q, d);
    double largest = free.empty() ? 0.0 : 1.0;
    for (Eigen::Index j = 0; j < k; ++j) largest = std::max(largest, std::abs(qr.matrixQR()(j, j)));
    while (rank < k && std::abs(qr.matrixQR()(rank, rank)) > relative_tolerance * largest) ++rank;
    // Any orthonormal basis of the same space will do: M of full row rank
    // spans every active coordinate, so those coordinates are the basis.
    if (rank == q)
      basis = Eigen::MatrixXd::Identity(q, q);
    else if (rank > 0)
      basis = qr.householderQ() * Eigen::MatrixXd::Identity(q, rank);
  }
  const auto f = static_cast<Eigen::Index>(free.size());
  hull.directions = Eigen::MatrixXd::Zero(n, rank + f);
  for (Eigen::Index m = 0; m < q; ++m)
    if (rank > 0) hull.directions.row(active[static_cast<std::size_t>(m)]).head(rank) = basis.row(m);
  for (Eigen::Index j = 0; j < f; ++j) hull.directions(free[static_cast<std::size_t>(j)], rank + j) = 1.0;
  // Coordinate directions only: no active direction, or the identity basis
  // (rank == q: the active coordinates themselves), then the free units'.
  if (rank == 0 || rank == q) {
    std::vector<Eigen::Index> axes;
    if (rank > 0) axes = active;
    axes.insert(axes.end(), free.begin(), free.end());
    hull.axes = std::move(axes);
  }
  return hull;
}

namespace {

std::vector<AffineHull> input_hulls(const Compressible& state, const Box& box, double relative_tolerance,
                                    std::size_t count) {
  const auto& layers = state.network.layers;
  for (const auto& layer : layers)
    if (!layer.is_dense())
      throw Error(ExitCode::internal, "internal error: layer_input_hulls: a structured layer (dense layers only)");
  std::vector<AffineHull> hulls;
  if (count == 0) return hulls;
  hulls.reserve(count);
  hulls.push_back(box_hull(box));
  for (std::size_t l = 0; l + 1 < count; ++l)
    hulls.push_back(next_hull(hulls.back(), layers[l].weights, layers[l].bias, state.status[l], relative_tolerance));
  return hulls;
}

}  // namespace

std::vector<AffineHull> layer_input_hulls(const Compressible& state, const Box& box, double relative_tolerance) {
  return input_hulls(state, box, relative_tolerance, state.network.layers.size());
}

std::vector<AffineHull> hidden_input_hulls(const Compressible& state, const Box& box, double relative_tolerance) {
  return input_hulls(state, box, relative_tolerance, state.status.size());
}

}  // namespace leo
