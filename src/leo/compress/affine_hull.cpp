#include "leo/compress/affine_hull.hpp"

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
  return hull;
}

AffineHull next_hull(const AffineHull& input, const Eigen::MatrixXd& weights, const Eigen::VectorXd& bias,
                     const std::vector<Status>& status, double relative_tolerance) {
  const Eigen::Index n = weights.rows();
  const Eigen::Index d = input.dimension();
  Eigen::Index free_units = 0;
  for (auto s : status)
    if (s != Status::active && s != Status::inactive) ++free_units;

  AffineHull hull;
  Eigen::VectorXd g = weights * input.point + bias;
  hull.point = Eigen::VectorXd::Zero(n);
  Eigen::MatrixXd spread = Eigen::MatrixXd::Zero(n, d + free_units);
  Eigen::Index next_free = d;
  for (Eigen::Index i = 0; i < n; ++i) {
    switch (status[static_cast<std::size_t>(i)]) {
      case Status::active:
        hull.point[i] = g[i];
        if (d > 0) spread.row(i).head(d) = weights.row(i) * input.directions;
        break;
      case Status::inactive:
        break;
      default:
        hull.point[i] = std::max(g[i], 0.0);
        spread(i, next_free++) = 1.0;
        break;
    }
  }
  if (spread.cols() == 0 || n == 0) {
    hull.directions = Eigen::MatrixXd::Zero(n, 0);
    return hull;
  }
  Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(spread);
  qr.setThreshold(relative_tolerance);
  const Eigen::Index rank = qr.rank();
  Eigen::MatrixXd q = qr.householderQ() * Eigen::MatrixXd::Identity(n, rank);
  hull.directions = std::move(q);
  return hull;
}

std::vector<AffineHull> layer_input_hulls(const Compressible& state, const Box& box, double relative_tolerance) {
  const auto& layers = state.network.layers;
  for (const auto& layer : layers)
    if (!layer.is_dense())
      throw Error(ExitCode::internal, "internal error: layer_input_hulls: a structured layer (dense layers only)");
  std::vector<AffineHull> hulls;
  hulls.reserve(layers.size());
  hulls.push_back(box_hull(box));
  for (std::size_t l = 0; l + 1 < layers.size(); ++l)
    hulls.push_back(next_hull(hulls.back(), layers[l].weights, layers[l].bias, state.status[l], relative_tolerance));
  return hulls;
}

}  // namespace leo
