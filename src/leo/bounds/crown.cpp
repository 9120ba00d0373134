#include "leo/bounds/crown.hpp"

#include <algorithm>
#include <stdexcept>

#include "leo/bounds/backsub.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/util/progress.hpp"

namespace leo {

std::vector<Eigen::Index> units_to_bound(const Network& net, const NetworkBounds& bounds, std::size_t k,
                                         bool only_unstable) {
  std::vector<Eigen::Index> units;
  const bool output = k + 1 == net.layers.size();
  for (Eigen::Index i = 0; i < net.layers[k].outputs(); ++i)
    if (output || !only_unstable || (bounds[k].lower[i] < 0 && bounds[k].upper[i] > 0)) units.push_back(i);
  return units;
}

void crown_bounds(const Network& net, const Box& box, NetworkBounds& bounds, const Deadline& deadline) {
  crown_bounds(net, box, bounds, CrownOptions{}, deadline);
}

void crown_bounds(const Network& net, const Box& box, NetworkBounds& bounds, const CrownOptions& options,
                  const Deadline& deadline) {
  if (bounds.empty()) bounds = interval_bounds(net, box);
  if (bounds.size() != net.layers.size()) throw std::invalid_argument("crown_bounds: bounds do not match the network");
  Stopwatch watch;
  Eigen::Index tightened = 0;
  const Eigen::Index per_batch = std::max<Eigen::Index>(1, options.batch_rows / 2);
  const std::size_t layers = options.last_layer < net.layers.size() ? options.last_layer + 1 : net.layers.size();
  for (std::size_t k = 0; k < layers; ++k) {
    std::vector<Eigen::Index> units = units_to_bound(net, bounds, k, options.only_unstable);
    for (std::size_t start = 0; start < units.size(); start += static_cast<std::size_t>(per_batch)) {
      if (deadline.expired()) {
        if (options.report)
          Progress::global().report("crown", "deadline reached at layer {}; {} units tightened ({:.2f}s)", k, tightened,
                                  watch.seconds());
        return;
      }
      std::vector<Eigen::Index> batch(units.begin() + static_cast<std::ptrdiff_t>(start),
                                      units.begin() + static_cast<std::ptrdiff_t>(
                                                          std::min(units.size(), start + per_batch)));
      Eigen::MatrixXd A = backsub::objective_rows(net.layers[k].outputs(), batch);
      Eigen::VectorXd up = backsub::sound_upper(
          net, box, bounds, k, A,
          [&](std::size_t j, const Eigen::MatrixXd& rho) { return backsub::crown_nu(bounds[j], rho); });
      const Eigen::Index m = static_cast<Eigen::Index>(batch.size());
      Bounds& b = bounds[k];
      for (Eigen::Index q = 0; q < m; ++q) {
        const Eigen::Index i = batch[q];
        bool c = false;
        if (up[q] < b.upper[i]) b.upper[i] = up[q], c = true;
        if (-up[m + q] > b.lower[i]) b.lower[i] = -up[m + q], c = true;
        tightened += c;
      }
    }
  }
  if (!options.report) return;
  auto c = count_stable(bounds);
  Progress::global().report("crown", "{} units tightened; {} stably active, {} stably inactive, {} unstable ({:.2f}s)",
                            tightened, c.active, c.inactive, c.unstable, watch.seconds());
}

}  // namespace leo
