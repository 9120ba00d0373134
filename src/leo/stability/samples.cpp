#include "leo/stability/samples.hpp"

#include <algorithm>

#include "leo/stability/witnesses.hpp"

namespace leo {

int sample_stage(const Network& network, Analysis& analysis, std::mt19937_64& rng, const SampleOptions& options,
                 const Deadline& deadline) {
  const Box& box = analysis.domain.box;
  const Eigen::Index n = box.size();
  const Eigen::VectorXd width = box.upper - box.lower;
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  std::bernoulli_distribution coin(0.5);
  const bool all_corners = n <= options.max_all_corners_log2;
  const std::int64_t corners = all_corners ? (std::int64_t{1} << n) : options.random_corners;
  const std::int64_t probes = analysis.domain.probes.cols();
  // Order: centre, probes, corners, random points.
  const std::int64_t total = 1 + probes + corners + options.random_points;
  const int batch = std::max(1, options.batch);

  int decided = 0;
  for (std::int64_t start = 0; start < total; start += batch) {
    if (deadline.expired() || undecided_units(analysis) == 0) break;
    const std::int64_t count = std::min<std::int64_t>(batch, total - start);
    Eigen::MatrixXd X(n, count);
    for (std::int64_t c = 0; c < count; ++c) {
      std::int64_t k = start + c;
      auto col = X.col(c);
      if (k == 0) {
        col = box.center();
      } else if (k < 1 + probes) {
        col = analysis.domain.probes.col(k - 1);
      } else if (k < 1 + probes + corners) {
        std::int64_t corner = k - 1 - probes;
        for (Eigen::Index i = 0; i < n; ++i) {
          bool up = all_corners ? ((corner >> i) & 1) != 0 : coin(rng);
          col[i] = up ? box.upper[i] : box.lower[i];
        }
      } else {
        for (Eigen::Index i = 0; i < n; ++i) col[i] = std::min(box.upper[i], box.lower[i] + width[i] * uniform(rng));
      }
    }
    decided += harvest_witnesses(network, X, analysis, Stage::samples);
  }
  return decided;
}

}  // namespace leo
