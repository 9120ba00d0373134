// Times the two exact stability formulations (stability/exact.hpp): LEO 2020
// per-unit MILPs and the ISA 2021 network MILP, on a random 10-50-50-2 net on
// [0,1]^10 and on ACAS Xu 1_1 on prop_1's box. Each case runs from a fresh
// analysis ("none": every unit undecided) and after 1000 random samples
// ("samples", as the isa2021 baseline does), with interval and with CROWN
// big-M bounds. Prints a markdown table (bench/results/milp.md).
//
//   milp_bench [--time-limit SECONDS] [--models DIR] [--threads N]
#include <fmt/core.h>

#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>

#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/io/onnx.hpp"
#include "leo/stability/exact.hpp"

using namespace leo;

namespace {

Network random_net(std::mt19937_64& rng) {
  std::normal_distribution<double> normal(0, 1);
  std::vector<int> sizes{10, 50, 50, 2};
  std::vector<AffineLayer> layers;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    AffineLayer layer;
    layer.weights = Eigen::MatrixXd::NullaryExpr(sizes[l + 1], sizes[l], [&] { return normal(rng); }) /
                    std::sqrt(static_cast<double>(sizes[l]));
    layer.bias = Eigen::VectorXd::NullaryExpr(sizes[l + 1], [&] { return 0.3 * normal(rng); });
    layers.push_back(layer);
  }
  return Network(layers);
}

void sample(const Network& net, const Box& box, Analysis& a, int n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0, 1);
  Eigen::MatrixXd X(box.size(), n);
  for (int k = 0; k < n; ++k)
    for (Eigen::Index j = 0; j < box.size(); ++j) X(j, k) = box.lower[j] + (box.upper[j] - box.lower[j]) * u(rng);
  auto pre = net.pre_activations(X);
  for (int k = 0; k < n; ++k) {
    Witness w;
    for (std::size_t l = 0; l < a.layers.size(); ++l)
      for (std::size_t i = 0; i < a.layers[l].size(); ++i) {
        UnitVerdict& v = a.layers[l][i];
        double g = pre[l](static_cast<Eigen::Index>(i), k);
        if (g > 0 && !v.seen_positive) v.seen_positive = true, w.units.push_back({int(l), int(i), true});
        if (g < 0 && !v.seen_negative) v.seen_negative = true, w.units.push_back({int(l), int(i), false});
        if (v.seen_positive && v.seen_negative && v.status == Status::undecided)
          v.status = Status::unstable, v.stage = Stage::samples;
      }
    if (!w.units.empty()) w.input = X.col(k), a.witnesses.push_back(w);
  }
}

void run(const std::string& name, const Network& net, const Box& box, double limit, int threads) {
  std::mt19937_64 rng(1);
  NetworkBounds ibp = interval_bounds(net, box);
  NetworkBounds crown = ibp;
  crown_bounds(net, box, crown);
  for (const char* bounds_name : {"interval", "crown"}) {
    const NetworkBounds& bounds = std::strcmp(bounds_name, "interval") == 0 ? ibp : crown;
    for (int samples : {0, 1000}) {
      for (int method = 0; method < 2; ++method) {
        Analysis a;
        for (auto w : net.widths()) a.layers.emplace_back(static_cast<std::size_t>(w));
        std::mt19937_64 srng(2);
        if (samples) sample(net, box, a, samples, srng);
        ExactOptions o;
        o.deadline = Deadline(limit);
        o.threads = threads;
        std::clock_t c0 = std::clock();
        Stopwatch watch;
        if (method == 0)
          exact_per_unit(net, box, bounds, a, o);
        else
          exact_network(net, box, bounds, a, o);
        double wall = watch.seconds(), cpu = double(std::clock() - c0) / CLOCKS_PER_SEC;
        int act = 0, inact = 0, unst = 0, und = 0;
        for (std::size_t l = 0; l < a.layers.size(); ++l)
          act += a.count(l, Status::active), inact += a.count(l, Status::inactive),
              unst += a.count(l, Status::unstable), und += a.count(l, Status::undecided);
        fmt::print("| {} | {} | {} | {} | {:.2f} | {:.2f} | {} | {} | {} | {} | {} |\n", name, bounds_name,
                   samples ? "1000 samples" : "none", method == 0 ? "per-unit" : "network", wall, cpu, act, inact,
                   unst, und, a.timed_out ? "yes" : "no");
        std::fflush(stdout);
      }
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  double limit = 300;
  int threads = 1;
  std::filesystem::path models = LEO_REPO_MODELS_DIR;
  for (int k = 1; k + 1 < argc; k += 2) {
    std::string arg = argv[k];
    if (arg == "--time-limit") limit = std::stod(argv[k + 1]);
    if (arg == "--models") models = argv[k + 1];
    if (arg == "--threads") threads = std::stoi(argv[k + 1]);
  }
  fmt::print("| network | big-M bounds | before | formulation | wall s | cpu s | active | inactive | unstable | "
             "undecided | timed out |\n|---|---|---|---|---|---|---|---|---|---|---|\n");
  std::mt19937_64 rng(2020);
  Network net = random_net(rng);
  run("random 10-50-50-2 on [0,1]^10", net, Box::uniform(10, 0, 1), limit, threads);
  auto acas = models / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx";
  if (std::filesystem::exists(acas)) {
    Network a = read_onnx(acas);
    // prop_1's input box (acasxu/prop_1.vnnlib).
    Eigen::VectorXd lo(5), hi(5);
    lo << 0.6, -0.5, -0.5, 0.45, -0.5;
    hi << 0.679857769, 0.5, 0.5, 0.5, -0.45;
    run("ACAS Xu 1_1, prop_1", a, Box(lo, hi), limit, threads);
  }
  return 0;
}
