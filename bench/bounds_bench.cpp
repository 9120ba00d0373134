// Timing of the bound propagation stages (bounds/): IBP, CROWN, alpha-CROWN
// and LP (each stage starts from the previous one's bounds), on
//   mnist:   mnistfc 256x2 over [0,1]^784 (a random 784-256-256-10 net when
//            models/ is missing),
//   acasxu:  ACAS Xu 1_1 on prop_1's input box.
// Counters: stable = hidden units proven stable after the stage; unstable =
// the rest. Results: bench/results/bounds.md.
// Run: build/bench/bounds_bench [--benchmark_filter=...]
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <random>

#include "leo/bounds/alpha.hpp"
#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/bounds/lp.hpp"
#include "leo/domain/vnnlib.hpp"
#include "leo/io/onnx.hpp"

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

// The repository's models/ folder, or $LEO_MODELS_DIR.
const std::filesystem::path models = std::getenv("LEO_MODELS_DIR") ? std::getenv("LEO_MODELS_DIR") : LEO_REPO_MODELS_DIR;

const Case& mnist() {
  static const Case c = [] {
    const auto file = models / "mnistfc" / "mnist-net_256x2.onnx";
    Network net = std::filesystem::exists(file) ? read_onnx(file) : random_net({784, 256, 256, 10}, 1);
    return Case{net, Box::uniform(784, 0.0, 1.0)};
  }();
  return c;
}

const Case& acasxu() {
  static const Case c = [] {
    const auto file = models / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx";
    if (!std::filesystem::exists(file)) return Case{random_net({5, 50, 50, 50, 50, 50, 50, 5}, 2), Box::uniform(5, -0.5, 0.5)};
    Network net = read_onnx(file);
    return Case{net, read_vnnlib_box(models / "acasxu" / "prop_1.vnnlib")};
  }();
  return c;
}

const Case& pick(benchmark::State& state) { return state.range(0) == 0 ? mnist() : acasxu(); }

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
  const Case& c = pick(state);
  NetworkBounds b;
  for (auto _ : state) b = interval_bounds(c.net, c.box);
  count(state, b);
}
BENCHMARK(BM_Ibp)->ArgName("acasxu")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_Crown(benchmark::State& state) {
  const Case& c = pick(state);
  const NetworkBounds ibp = interval_bounds(c.net, c.box);
  NetworkBounds b;
  for (auto _ : state) {
    b = ibp;
    crown_bounds(c.net, c.box, b);
  }
  count(state, b);
}
BENCHMARK(BM_Crown)->ArgName("acasxu")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

void BM_Alpha(benchmark::State& state) {
  const Case& c = pick(state);
  NetworkBounds crown = interval_bounds(c.net, c.box);
  crown_bounds(c.net, c.box, crown);
  const auto targets = undecided(c.net, crown, 1 << 30);
  NetworkBounds b;
  for (auto _ : state) {
    b = crown;
    alpha_bounds(c.net, c.box, b, targets, AlphaOptions{.iterations = 20});
  }
  count(state, b);
}
BENCHMARK(BM_Alpha)->ArgName("acasxu")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(1);

// LP (sign-only mode, the default) on every unit alpha left undecided and on the outputs.
void BM_Lp(benchmark::State& state) {
  const Case& c = pick(state);
  NetworkBounds alpha = interval_bounds(c.net, c.box);
  crown_bounds(c.net, c.box, alpha);
  alpha_bounds(c.net, c.box, alpha, undecided(c.net, alpha, 1 << 30));
  const auto targets = undecided(c.net, alpha, 1 << 30);
  NetworkBounds b;
  for (auto _ : state) {
    b = alpha;
    lp_bounds(c.net, c.box, b, targets);
  }
  count(state, b);
}
BENCHMARK(BM_Lp)->ArgName("acasxu")->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
