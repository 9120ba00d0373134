// How far the deep units of a net are from a proof (issue #15's row "mnistfc
// 256x4 on prop_1_0.05: <= 50 undecided within 120 s"). Runs the cascade
// without its two exact stages (ibp, samples, attack, crown, alpha, lp: what
// split starts from), then gives K undecided units of each layer >= --from
// one ReLU-phase search each (stability/relu_split.hpp prove_sign, the
// split stage's search) with a budget far above the split stage's: --nodes
// nodes and --seconds of wall clock per unit. The units tried are the ones
// nearest a decision: the smallest bound on the side no point has shown.
// Prints a markdown table: what each search reached, in how many nodes and
// seconds. One thread (the search of one unit is sequential).
//
//   deep_units_bench MODEL VNNLIB [--from LAYER] [--units K] [--nodes N] [--seconds S]
#include <fmt/core.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/domain/vnnlib.hpp"
#include "leo/io/model_file.hpp"
#include "leo/stability/cascade.hpp"
#include "leo/stability/evidence.hpp"
#include "leo/stability/relu_split.hpp"
#include "leo/util/deadline.hpp"
#include "leo/util/parallel.hpp"

using namespace leo;

int main(int argc, char** argv) {
  if (argc < 3) {
    fmt::print(stderr, "usage: deep_units_bench MODEL VNNLIB [--from LAYER] [--units K] [--nodes N] [--seconds S]\n");
    return 2;
  }
  std::size_t from = 2;
  int per_layer = 2;
  long nodes = 200000;
  double seconds = 60;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--from")) from = std::stoul(argv[i + 1]);
    if (!std::strcmp(argv[i], "--units")) per_layer = std::stoi(argv[i + 1]);
    if (!std::strcmp(argv[i], "--nodes")) nodes = std::stol(argv[i + 1]);
    if (!std::strcmp(argv[i], "--seconds")) seconds = std::stod(argv[i + 1]);
  }
  const Network net = read_model(argv[1]);
  Domain domain;
  domain.box = read_vnnlib_box(argv[2]);
  AnalyzeOptions options;
  options.stages = parse_stages("ibp,samples,attack,crown,alpha,lp");
  options.threads = 1;
  Stopwatch cascade;
  const Analysis a = analyze(net, domain, options);
  fmt::print("cascade without split and milp: {} units undecided, {:.1f} s\n\n", undecided_units(a),
             cascade.seconds());
  NetworkBounds b = interval_bounds(net, domain.box);
  crown_bounds(net, domain.box, b);
  b = tightened_bounds(b, a);

  fmt::print("| layer | unit | side tried | bound to beat | result | nodes | LPs | seconds |\n");
  fmt::print("|---|---|---|---|---|---:|---:|---:|\n");
  for (std::size_t h = from; h < a.layers.size(); ++h) {
    // (distance to a decision, unit, nonpositive)
    std::vector<std::tuple<double, Eigen::Index, bool>> open;
    for (std::size_t i = 0; i < a.layers[h].size(); ++i) {
      const UnitVerdict& v = a.layers[h][i];
      if (v.status != Status::undecided) continue;
      if (!v.seen_positive) open.emplace_back(v.upper, static_cast<Eigen::Index>(i), true);
      else if (!v.seen_negative) open.emplace_back(-v.lower, static_cast<Eigen::Index>(i), false);
    }
    std::sort(open.begin(), open.end());
    for (int k = 0; k < per_layer && k < static_cast<int>(open.size()); ++k) {
      const auto [gap, unit, nonpositive] = open[static_cast<std::size_t>(k)];
      SplitOptions split;
      split.max_nodes = nodes;
      split.deadline = Deadline(seconds);
      Stopwatch watch;
      SplitResult r;
      // OpenBLAS on one thread, as the split stage runs it.
      run_on_threads(1, 1, [&](std::size_t) {
        r = prove_sign(net, domain.box, b, h, unit, nonpositive, split, [&](const Eigen::VectorXd& x) {
          const double g = net.pre_activations(Eigen::MatrixXd(x))[h](unit, 0);
          return nonpositive ? g > 0 : g < 0;
        });
      });
      const char* result = r.status == SplitResult::Status::proven    ? "proven"
                           : r.status == SplitResult::Status::refuted ? "refuted (a point)"
                                                                      : "unknown";
      fmt::print("| {} | {} | {} | {} {:.3g} | {} | {} | {} | {:.1f} |\n", h, unit,
                 nonpositive ? "inactive" : "active", nonpositive ? "upper" : "lower",
                 nonpositive ? gap : -gap, result, r.nodes, r.lps, watch.seconds());
      std::fflush(stdout);
    }
  }
  return 0;
}
