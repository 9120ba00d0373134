#include "leo/bounds/interval.hpp"

#include <cmath>
#include <stdexcept>

#include "leo/bounds/rounding.hpp"
#include "leo/network/structured.hpp"
#include "leo/util/progress.hpp"
#include "leo/util/deadline.hpp"
#include "leo/util/error.hpp"

namespace leo {

namespace {

// The structured form: g in W m + b +- |W| r for x in [m - r, m + r], which
// equals W+ hi + W- lo (upper) and W+ lo + W- hi (lower) in exact
// arithmetic, with only the layer's products (network/network.hpp). m^ is the
// rounded midpoint and r^ >= max(hi - m^, m^ - lo) is rounded up, so the box
// [m^ - r^, m^ + r^] holds [lo, hi]. The three products and the sum with b
// are enclosed by err(n + 3, M^), M^ = |W||m^| + |W| r^ + |b|, n at most
// terms_per_output() products per entry.
Bounds structured_interval(const AffineLayer& layer, const Eigen::VectorXd& lo, const Eigen::VectorXd& hi) {
  const Eigen::Index in = lo.size();
  Eigen::VectorXd m(in), r(in);
  for (Eigen::Index j = 0; j < in; ++j) {
    if (!std::isfinite(lo[j]) || !std::isfinite(hi[j])) {
      m[j] = 0.0;
      r[j] = rounding::inf;
      continue;
    }
    m[j] = 0.5 * lo[j] + 0.5 * hi[j];  // no overflow
    r[j] = std::max(rounding::up(hi[j] - m[j]), rounding::up(m[j] - lo[j]));
  }
  const Eigen::VectorXd centre = layer.multiply(m).col(0);
  const Eigen::VectorXd radius = layer.multiply(r, Weights::absolute).col(0);
  const Eigen::VectorXd mag_centre = layer.multiply(m.cwiseAbs(), Weights::absolute).col(0);
  const Eigen::Index n = layer.terms_per_output() + 3;
  Bounds out;
  out.lower.resize(layer.outputs());
  out.upper.resize(layer.outputs());
  for (Eigen::Index i = 0; i < layer.outputs(); ++i) {
    const double e = rounding::error(n, mag_centre[i] + radius[i] + std::abs(layer.bias[i]));
    const double c = centre[i] + layer.bias[i];
    // A NaN (inf - inf, 0 * inf) becomes the trivial bound.
    out.upper[i] = rounding::sanitize_upper(rounding::add_up(rounding::up(c + radius[i]), e));
    out.lower[i] = rounding::sanitize_lower(rounding::add_down(rounding::down(c - radius[i]), -e));
  }
  // Carry units (network/structured.hpp) are g = x_j + b_i, one input each:
  // their bounds are exact (no product, one rounded sum at most), so a carry
  // of a post-ReLU value (lo >= 0, b = 0) is proven stably active here.
  const StructuredMap& map = *layer.structured;
  for (const auto& blk : map.blocks()) {
    if (!blk.ops.empty() || !map.output_segments()[blk.out].carry) continue;
    const Eigen::Index from = map.input_offset(blk.in), to = map.output_offset(blk.out);
    for (Eigen::Index k = 0; k < map.output_segments()[blk.out].shape.size(); ++k) {
      const double b = layer.bias[to + k];
      const double lower = b == 0.0 ? lo[from + k] : rounding::add_down(lo[from + k], b);
      const double upper = b == 0.0 ? hi[from + k] : rounding::add_up(hi[from + k], b);
      out.lower[to + k] = std::max(out.lower[to + k], rounding::sanitize_lower(lower));
      out.upper[to + k] = std::min(out.upper[to + k], rounding::sanitize_upper(upper));
    }
  }
  return out;
}

}  // namespace

Bounds affine_interval(const AffineLayer& layer, const Eigen::VectorXd& lo, const Eigen::VectorXd& hi) {
  if (lo.size() != layer.inputs() || hi.size() != layer.inputs())
    throw Error(ExitCode::internal, "internal error: affine_interval: bounds do not match the layer's inputs");
  if (!layer.is_dense()) return structured_interval(layer, lo, hi);
  const Eigen::MatrixXd& W = layer.weights;
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
