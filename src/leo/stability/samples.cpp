#include "leo/stability/samples.hpp"

#include <algorithm>

#include "leo/stability/evidence.hpp"
#include "leo/util/progress.hpp"

namespace leo {

int sample_stage(const Network& network, Analysis& analysis, std::mt19937_64& rng, const SampleOptions& options,
                 const Deadline& deadline) {
  const Box& box = analysis.domain.box;
  const Eigen::Index n = box.size();
  const Eigen::VectorXd width = box.upper - box.lower;
  const Eigen::MatrixXd& probes = analysis.domain.probes;
  const bool all_corners = n <= options.max_all_corners_log2;
  const std::int64_t corners = all_corners ? (std::int64_t{1} << n) : std::max(0, options.random_corners);
  const Eigen::Index batch = std::max(1, options.batch);
  const std::size_t H = analysis.layers.size();
  // Only on high-dimensional boxes (see samples.hpp).
  const bool stop_when_idle = options.stop_when_idle && !all_corners;

  // Reused buffers: the inputs of a batch and the pre-activations of the
  // hidden layers (only up to the last layer with an undecided unit).
  Eigen::MatrixXd X(n, batch);
  std::vector<Eigen::MatrixXd> pre;
  Eigen::MatrixXd act;
  auto top_layer = [&]() -> std::size_t {  // 1 + last hidden layer with an undecided unit
    for (std::size_t h = H; h-- > 0;)
      for (const auto& v : analysis.layers[h])
        if (v.status == Status::undecided) return h + 1;
    return 0;
  };

  int decided = 0;
  // Evaluates the first `count` columns of X; returns whether they showed a
  // new sign (a new witness).
  auto evaluate = [&](Eigen::Index count) {
    const std::size_t top = top_layer();
    if (top == 0) return false;
    pre.resize(top);
    auto cols = X.leftCols(count);
    for (std::size_t h = 0; h < top; ++h) {
      const AffineLayer& layer = network.layers[h];
      pre[h].resize(layer.outputs(), count);  // a no-op but for a phase's last, short batch
      if (h == 0) {
        pre[h] = layer.multiply(cols);
      } else {
        act = pre[h - 1].cwiseMax(0.0);
        pre[h] = layer.multiply(act);
      }
      pre[h].colwise() += layer.bias;
    }
    const std::size_t before = analysis.witnesses.size();
    decided += harvest_witnesses(network, cols, pre, analysis, Stage::samples);
    return analysis.witnesses.size() > before;
  };
  auto done = [&] { return deadline.expired() || undecided_units(analysis) == 0; };

  // Runs one phase of `total` points; fill(c, k) writes point k into column c.
  auto phase = [&](std::int64_t total, bool may_stop, auto&& fill) {
    for (std::int64_t start = 0; start < total; start += batch) {
      if (done()) return;
      Progress::global().heartbeat();
      const Eigen::Index count = static_cast<Eigen::Index>(std::min<std::int64_t>(batch, total - start));
      for (Eigen::Index c = 0; c < count; ++c) fill(c, start + c);
      bool news = evaluate(count);
      if (may_stop && stop_when_idle && !news && count == batch) return;
    }
  };

  // Centre and probe points: all of them.
  phase(1 + probes.cols(), false, [&](Eigen::Index c, std::int64_t k) {
    if (k == 0)
      X.col(c) = box.center();
    else
      X.col(c) = probes.col(static_cast<Eigen::Index>(k - 1));
  });
  // Corners: 64 random bits per draw of the generator.
  const double* lo = box.lower.data();
  const double* hi = box.upper.data();
  phase(corners, true, [&](Eigen::Index c, std::int64_t k) {
    double* col = X.col(c).data();
    if (all_corners) {
      for (Eigen::Index i = 0; i < n; ++i) col[i] = ((k >> i) & 1) != 0 ? hi[i] : lo[i];
      return;
    }
    for (Eigen::Index first = 0; first < n; first += 64) {
      const std::uint64_t bits = rng();
      const Eigen::Index end = std::min<Eigen::Index>(n, first + 64);
      for (Eigen::Index i = first; i < end; ++i) col[i] = ((bits >> (i - first)) & 1) != 0 ? hi[i] : lo[i];
    }
  });
  // Uniform random points: 53 random bits per feature.
  const double* w = width.data();
  phase(std::max(0, options.random_points), true, [&](Eigen::Index c, std::int64_t) {
    double* col = X.col(c).data();
    for (Eigen::Index i = 0; i < n; ++i) {
      const double u = static_cast<double>(rng() >> 11) * 0x1.0p-53;  // in [0, 1)
      col[i] = std::min(hi[i], lo[i] + w[i] * u);
    }
  });
  return decided;
}

}  // namespace leo
