#include "leo/bounds/driver.hpp"

#include <algorithm>

#include "leo/bounds/backsub.hpp"
#include "leo/util/progress.hpp"

namespace leo {

std::vector<Eigen::Index> select_units(const Network& net, const NetworkBounds& bounds, std::size_t k,
                                       const UnitSelection& selection) {
  std::vector<Eigen::Index> units;
  const bool output = k + 1 == net.layers.size();
  const std::vector<bool>* flags = nullptr;
  if (selection.targets) {
    if (k >= selection.targets->size()) return units;
    flags = &(*selection.targets)[k];
  }
  for (Eigen::Index i = 0; i < net.layers[k].outputs(); ++i) {
    if (flags && (i >= static_cast<Eigen::Index>(flags->size()) || !(*flags)[static_cast<std::size_t>(i)])) continue;
    if (output || !selection.only_unstable || (bounds[k].lower[i] < 0 && bounds[k].upper[i] > 0)) units.push_back(i);
  }
  return units;
}

Eigen::Index batch_doubles(const Network& net, std::size_t k, bool all_layers) {
  Eigen::Index widest = 1, sum = 0;
  for (std::size_t j = 0; j <= k && j < net.layers.size(); ++j) {
    widest = std::max({widest, net.layers[j].inputs(), net.layers[j].outputs()});
    sum += net.layers[j].inputs() + net.layers[j].outputs();
  }
  return 8 * widest + (all_layers ? 8 * sum : 0);
}

Eigen::Index rows_per_batch(const Network& net, std::size_t k, const BatchLoop& loop) {
  const Eigen::Index budget = loop.memory_doubles / std::max<Eigen::Index>(1, batch_doubles(net, k, loop.all_layers));
  const Eigen::Index rows = std::min(std::max<Eigen::Index>(2, loop.batch_rows), budget);
  return std::max<Eigen::Index>(2, rows - rows % 2);
}

BatchLoopResult bound_in_batches(const Network& net, NetworkBounds& bounds, const BatchLoop& loop,
                                 const Deadline& deadline, const BatchBound& bound,
                                 const std::function<void(std::size_t, std::size_t)>& on_layer) {
  BatchLoopResult result;
  const std::size_t layers = loop.last_layer < net.layers.size() ? loop.last_layer + 1 : net.layers.size();
  for (std::size_t k = loop.first_layer; k < layers; ++k) {
    const std::vector<Eigen::Index> units = select_units(net, bounds, k, loop.selection);
    const auto per_batch = static_cast<std::size_t>(rows_per_batch(net, k, loop) / 2);
    for (std::size_t start = 0; start < units.size(); start += per_batch) {
      if (deadline.expired()) {
        result.stopped = true;
        result.stopped_at = k;
        return result;
      }
      Progress::global().heartbeat();
      const std::vector<Eigen::Index> batch(units.begin() + static_cast<std::ptrdiff_t>(start),
                                            units.begin() + static_cast<std::ptrdiff_t>(
                                                                std::min(units.size(), start + per_batch)));
      const Eigen::MatrixXd A = backsub::objective_rows(net.layers[k].outputs(), batch);
      const Eigen::VectorXd up = bound(k, A);
      const auto m = static_cast<Eigen::Index>(batch.size());
      Bounds& b = bounds[k];
      for (Eigen::Index q = 0; q < m; ++q) {
        const Eigen::Index i = batch[static_cast<std::size_t>(q)];
        bool changed = false;
        if (up[q] < b.upper[i]) b.upper[i] = up[q], changed = true;
        if (-up[m + q] > b.lower[i]) b.lower[i] = -up[m + q], changed = true;
        result.tightened += changed;
      }
      result.bounded += m;
    }
    if (on_layer && !units.empty()) on_layer(k, units.size());
  }
  return result;
}

}  // namespace leo
