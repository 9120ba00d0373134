#include "leo/bounds/interval.hpp"

#include <stdexcept>

#include "leo/bounds/rounding.hpp"
#include "leo/util/progress.hpp"
#include "leo/util/deadline.hpp"
#include "leo/util/error.hpp"

namespace leo {

Bounds affine_interval(const AffineLayer& layer, const Eigen::VectorXd& lo, const Eigen::VectorXd& hi) {
  const Eigen::MatrixXd& W = layer.weights;
  if (lo.size() != W.cols() || hi.size() != W.cols())
    throw Error(ExitCode::internal, "internal error: affine_interval: bounds do not match the layer's inputs");
  Eigen::MatrixXd Wp = W.cwiseMax(0.0);
  Eigen::MatrixXd Wn = W.cwiseMin(0.0);
  Eigen::VectorXd upper = Wp * hi + Wn * lo + layer.bias;
  Eigen::VectorXd lower = Wp * lo + Wn * hi + layer.bias;
  Eigen::VectorXd mag_upper = Wp * hi.cwiseAbs() - Wn * lo.cwiseAbs() + layer.bias.cwiseAbs();
  Eigen::VectorXd mag_lower = Wp * lo.cwiseAbs() - Wn * hi.cwiseAbs() + layer.bias.cwiseAbs();
  const Eigen::Index n = 2 * W.cols() + 1;
  Bounds out;
  out.lower.resize(W.rows());
  out.upper.resize(W.rows());
  for (Eigen::Index i = 0; i < W.rows(); ++i) {
    out.upper[i] = rounding::sanitize_upper(rounding::add_up(upper[i], rounding::error(n, mag_upper[i])));
    out.lower[i] = rounding::sanitize_lower(rounding::add_down(lower[i], -rounding::error(n, mag_lower[i])));
  }
  return out;
}

Eigen::Index intersect_into(Bounds& bounds, const Bounds& tighter) {
  Eigen::Index changed = 0;
  for (Eigen::Index i = 0; i < bounds.lower.size(); ++i) {
    bool c = false;
    if (tighter.lower[i] > bounds.lower[i]) bounds.lower[i] = tighter.lower[i], c = true;
    if (tighter.upper[i] < bounds.upper[i]) bounds.upper[i] = tighter.upper[i], c = true;
    changed += c;
  }
  return changed;
}

namespace {
void check_box(const Network& net, const Box& box) {
  if (net.layers.empty()) throw Error(ExitCode::internal, "internal error: interval_bounds: the network has no layers");
  if (box.lower.size() != net.inputs() || box.upper.size() != net.inputs())
    throw Error(ExitCode::internal, "internal error: interval_bounds: the box does not match the network's inputs");
}
}  // namespace

void interval_tighten(const Network& net, const Box& box, NetworkBounds& bounds, std::size_t from) {
  check_box(net, box);
  if (bounds.size() != net.layers.size()) throw Error(ExitCode::internal, "internal error: interval_tighten: bounds do not match the network");
  for (std::size_t l = from; l < net.layers.size(); ++l) {
    Bounds b = l == 0 ? affine_interval(net.layers[0], box.lower, box.upper)
                      : affine_interval(net.layers[l], bounds[l - 1].lower.cwiseMax(0.0),
                                        bounds[l - 1].upper.cwiseMax(0.0));
    intersect_into(bounds[l], b);
  }
}

NetworkBounds interval_bounds(const Network& net, const Box& box) {
  check_box(net, box);
  Stopwatch watch;
  NetworkBounds bounds;
  bounds.reserve(net.layers.size());
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    Progress::global().heartbeat();
    if (l == 0)
      bounds.push_back(affine_interval(net.layers[0], box.lower, box.upper));
    else
      bounds.push_back(affine_interval(net.layers[l], bounds[l - 1].lower.cwiseMax(0.0),
                                       bounds[l - 1].upper.cwiseMax(0.0)));
  }
  auto c = count_stable(bounds);
  Progress::global().report("ibp", "{} stably active, {} stably inactive, {} unstable ({:.3f}s)", c.active,
                            c.inactive, c.unstable, watch.seconds());
  return bounds;
}

StableCount count_stable(const NetworkBounds& bounds) {
  StableCount c;
  for (std::size_t l = 0; l + 1 < bounds.size(); ++l)
    for (Eigen::Index i = 0; i < bounds[l].lower.size(); ++i) {
      if (bounds[l].lower[i] >= 0)
        ++c.active;
      else if (bounds[l].upper[i] <= 0)
        ++c.inactive;
      else
        ++c.unstable;
    }
  return c;
}

}  // namespace leo
