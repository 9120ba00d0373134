// Timing of the bound propagation stages (bounds/): IBP, CROWN, alpha-CROWN
// and LP, on a random 784-256-256-10 network over [0,1]^784. Counters:
// stable = hidden units proven stable after the stage; unstable = the rest.
// Run: build/bench/bounds_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <random>

#include "leo/bounds/alpha.hpp"
#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/bounds/lp.hpp"

using namespace leo;

namespace {

struct Case {
  Network net;
  Box box;
};

Network random_net(const std::vector<int>& sizes, unsigned seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<AffineLayer> layers;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    AffineLayer layer{Eigen::MatrixXd(sizes[l + 1], sizes[l]), Eigen::VectorXd(sizes[l + 1])};
    const double scale = 1.0 / std::sqrt(static_cast<double>(sizes[l]));
    for (Eigen::Index i = 0; i < layer.weights.size(); ++i) layer.weights.data()[i] = normal(rng) * scale;
    for (Eigen::Index i = 0; i < layer.bias.size(); ++i) layer.bias[i] = normal(rng) * 0.1;
    layers.push_back(std::move(layer));
  }
  return Network(std::move(layers));
}

const Case& random_784() {
  static const Case c{random_net({784, 256, 256, 10}, 1), Box::uniform(784, 0.0, 1.0)};
  return c;
}

void count(benchmark::State& state, const NetworkBounds& b) {
  auto c = count_stable(b);
  state.counters["stable"] = static_cast<double>(c.active + c.inactive);
  state.counters["unstable"] = static_cast<double>(c.unstable);
}

// Flags every unstable hidden unit and every output unit (at most `limit` per layer).
std::vector<std::vector<bool>> undecided(const Network& net, const NetworkBounds& b, Eigen::Index limit) {
  std::vector<std::vector<bool>> t;
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    t.emplace_back(static_cast<std::size_t>(net.layers[l].outputs()), false);
    Eigen::Index n = 0;
    for (Eigen::Index i = 0; i < net.layers[l].outputs() && n < limit; ++i)
      if (l + 1 == net.layers.size() || (b[l].lower[i] < 0 && b[l].upper[i] > 0)) t[l][static_cast<std::size_t>(i)] = true, ++n;
  }
  return t;
}

void BM_Ibp(benchmark::State& state) {
  const Case& c = random_784();
  NetworkBounds b;
  for (auto _ : state) b = interval_bounds(c.net, c.box);
  count(state, b);
}
BENCHMARK(BM_Ibp)->Unit(benchmark::kMillisecond);

void BM_Crown(benchmark::State& state) {
  const Case& c = random_784();
  const NetworkBounds ibp = interval_bounds(c.net, c.box);
  NetworkBounds b;
  for (auto _ : state) {
    b = ibp;
    crown_bounds(c.net, c.box, b);
  }
  count(state, b);
}
BENCHMARK(BM_Crown)->Unit(benchmark::kMillisecond);

void BM_Alpha(benchmark::State& state) {
  const Case& c = random_784();
  NetworkBounds crown = interval_bounds(c.net, c.box);
  crown_bounds(c.net, c.box, crown);
  const auto targets = undecided(c.net, crown, 1 << 30);
  NetworkBounds b;
  for (auto _ : state) {
    b = crown;
    alpha_bounds(c.net, c.box, b, targets, AlphaOptions{.iterations = static_cast<int>(state.range(0))});
  }
  count(state, b);
}
BENCHMARK(BM_Alpha)->Arg(20)->Unit(benchmark::kMillisecond)->Iterations(1);

// LP on the first state.range(0) undecided units per layer (full LP on every unit takes minutes).
void BM_Lp(benchmark::State& state) {
  const Case& c = random_784();
  NetworkBounds crown = interval_bounds(c.net, c.box);
  crown_bounds(c.net, c.box, crown);
  const auto targets = undecided(c.net, crown, state.range(0));
  NetworkBounds b;
  for (auto _ : state) {
    b = crown;
    lp_bounds(c.net, c.box, b, targets, LpOptions{.stop_at_sign = false});
  }
  count(state, b);
  state.counters["lp_units"] = static_cast<double>(state.range(0));
}
BENCHMARK(BM_Lp)->Arg(8)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
