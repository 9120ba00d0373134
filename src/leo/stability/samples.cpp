#include "leo/stability/samples.hpp"

#include <algorithm>
#include <functional>

#include "leo/stability/witnesses.hpp"

namespace leo {

int sample_stage(const Network& network, Analysis& analysis, std::mt19937_64& rng, const SampleOptions& options,
                 const Deadline& deadline) {
  const Box& box = analysis.domain.box;
  const Eigen::Index n = box.size();
  const Eigen::VectorXd width = box.upper - box.lower;
  const Eigen::MatrixXd& probes = analysis.domain.probes;
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const bool all_corners = n <= options.max_all_corners_log2;
  const std::int64_t corners = all_corners ? (std::int64_t{1} << n) : std::max(0, options.random_corners);
  const Eigen::Index batch = std::max(1, options.batch);
  const std::size_t H = analysis.layers.size();

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
        pre[h].noalias() = layer.weights * cols;
      } else {
        act = pre[h - 1].cwiseMax(0.0);
        pre[h].noalias() = layer.weights * act;
      }
      pre[h].colwise() += layer.bias;
    }
    const std::size_t before = analysis.witnesses.size();
    decided += harvest_witnesses(network, cols, pre, analysis, Stage::samples);
    return analysis.witnesses.size() > before;
  };
  auto done = [&] { return deadline.expired() || undecided_units(analysis) == 0; };

  // Runs one phase of `total` points; fill(c, k) writes point k into column c.
  auto phase = [&](std::int64_t total, bool may_stop, const std::function<void(Eigen::Index, std::int64_t)>& fill) {
    for (std::int64_t start = 0; start < total; start += batch) {
      if (done()) return;
      const Eigen::Index count = static_cast<Eigen::Index>(std::min<std::int64_t>(batch, total - start));
      for (Eigen::Index c = 0; c < count; ++c) fill(c, start + c);
      bool news = evaluate(count);
      if (may_stop && options.stop_when_idle && !news && count == batch) return;
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
  phase(corners, true, [&](Eigen::Index c, std::int64_t k) {
    std::uint64_t bits = 0;
    for (Eigen::Index i = 0; i < n; ++i) {
      bool up;
      if (all_corners) {
        up = ((k >> i) & 1) != 0;
      } else {
        if (i % 64 == 0) bits = rng();
        up = ((bits >> (i % 64)) & 1) != 0;
      }
      X(i, c) = up ? box.upper[i] : box.lower[i];
    }
  });
  // Uniform random points.
  phase(std::max(0, options.random_points), true, [&](Eigen::Index c, std::int64_t) {
    for (Eigen::Index i = 0; i < n; ++i) X(i, c) = std::min(box.upper[i], box.lower[i] + width[i] * uniform(rng));
  });
  return decided;
}

}  // namespace leo
