#include "leo/bounds/crown.hpp"

#include <algorithm>
#include <stdexcept>

#include "leo/bounds/backsub.hpp"
#include "leo/bounds/driver.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/util/progress.hpp"
#include "leo/util/error.hpp"

namespace leo {

std::vector<Eigen::Index> units_to_bound(const Network& net, const NetworkBounds& bounds, std::size_t k,
                                         bool only_unstable) {
  return select_units(net, bounds, k, UnitSelection{nullptr, only_unstable});
}

void crown_bounds(const Network& net, const Box& box, NetworkBounds& bounds, const Deadline& deadline) {
  crown_bounds(net, box, bounds, CrownOptions{}, deadline);
}

void crown_bounds(const Network& net, const Box& box, NetworkBounds& bounds, const CrownOptions& options,
                  const Deadline& deadline) {
  if (bounds.empty()) bounds = interval_bounds(net, box);
  if (bounds.size() != net.layers.size()) throw Error(ExitCode::internal, "internal error: crown_bounds: bounds do not match the network");
  Stopwatch watch;
  BatchLoop loop;
  loop.batch_rows = options.batch_rows;
  loop.first_layer = options.first_layer;
  loop.last_layer = options.last_layer;
  loop.selection.only_unstable = options.only_unstable;
  const BatchLoopResult r = bound_in_batches(net, bounds, loop, deadline, [&](std::size_t k, const Eigen::MatrixXd& A) {
    return backsub::sound_upper(net, box, bounds, k, A, [&](std::size_t j, const Eigen::MatrixXd& rho) {
      return backsub::crown_nu(bounds[j], rho);
    });
  });
  const Eigen::Index tightened = r.tightened;
  if (r.stopped) {
    if (options.report)
      Progress::global().report("crown", "deadline reached at layer {}; {} units tightened ({:.2f}s)", r.stopped_at,
                                tightened, watch.seconds());
    return;
  }
  if (!options.report) return;
  auto c = count_stable(bounds);
  Progress::global().report("crown", "{} units tightened; {} stably active, {} stably inactive, {} unstable ({:.2f}s)",
                            tightened, c.active, c.inactive, c.unstable, watch.seconds());
}

}  // namespace leo
