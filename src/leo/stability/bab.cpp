#include "leo/stability/bab.hpp"

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <memory>

#include "leo/bounds/crown.hpp"
#include "leo/checker/certificate.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/stability/evidence.hpp"
#include "leo/util/progress.hpp"

namespace leo {

namespace {

struct Unit {
  std::size_t layer;
  Eigen::Index unit;
};

struct Node {
  Box box;
  std::shared_ptr<const NetworkBounds> bounds;  // sound on this box (its parent's)
  std::vector<int> open;                        // indices into the unit list
  int depth = 0;
  int id = 0;                                   // in the recorded tree (BabOptions::tree)
};

// A recorded split: node id -> (feature, point, child ids); feature -1: a leaf.
struct Recorded {
  int dim = -1;
  double point = 0;
  int low = -1, high = -1;
};

cert::InputSplit preorder(const std::vector<Recorded>& nodes) {
  cert::InputSplit tree;
  std::vector<int> stack{0};
  while (!stack.empty()) {
    const Recorded& r = nodes[static_cast<std::size_t>(stack.back())];
    stack.pop_back();
    tree.nodes.push_back({r.dim, r.point});
    if (r.dim >= 0) {
      stack.push_back(r.high);
      stack.push_back(r.low);
    }
  }
  return tree;
}

// env = envelope of env and b (max of uppers, min of lowers).
void widen(NetworkBounds& env, const NetworkBounds& b) {
  for (std::size_t l = 0; l < env.size(); ++l) {
    env[l].upper = env[l].upper.cwiseMax(b[l].upper);
    env[l].lower = env[l].lower.cwiseMin(b[l].lower);
  }
}

// Pre-activations and their Jacobians (d g / d x) of the hidden layers at x.
void linearise(const Network& net, const Eigen::VectorXd& x0, std::vector<Eigen::VectorXd>& g,
               std::vector<Eigen::MatrixXd>& J) {
  const std::size_t H = net.hidden_layers();
  g.resize(H);
  J.resize(H);
  Eigen::VectorXd x = x0;
  Eigen::MatrixXd T = Eigen::MatrixXd::Identity(x0.size(), x0.size());
  for (std::size_t l = 0; l < H; ++l) {
    const AffineLayer& layer = net.layers[l];
    g[l] = layer.multiply(x).col(0) + layer.bias;
    J[l] = layer.multiply(T);
    x = g[l].cwiseMax(0.0);
    T = (g[l].array() > 0).cast<double>().matrix().asDiagonal() * J[l];
  }
}

}  // namespace

int bab_stage(const Network& network, NetworkBounds& bounds, Analysis& analysis, const BabOptions& options,
              const Deadline& deadline, BabStats* stats) {
  BabStats local;
  BabStats& st = stats ? *stats : local;
  st = {};
  const Box& root = analysis.domain.box;
  const Eigen::Index n = network.inputs();
  Progress& progress = Progress::global();
  if (n > options.max_inputs) {
    progress.report("bab", "skipped: {} inputs (input splitting is for at most {})", n, options.max_inputs);
    return 0;
  }
  const std::size_t H = network.hidden_layers();
  std::vector<Unit> units;
  for (std::size_t h = 0; h < H; ++h)
    for (std::size_t i = 0; i < analysis.layers[h].size(); ++i)
      if (analysis.layers[h][i].status == Status::undecided) units.push_back({h, static_cast<Eigen::Index>(i)});
  if (units.empty()) return 0;

  const Deadline own(options.seconds);
  auto expired = [&] { return deadline.expired() || own.expired(); };
  std::vector<long> opened(units.size(), 0);  // nodes in which each unit was open
  auto undecided = [&](int u) {
    return (options.max_unit_nodes < 0 || opened[u] <= options.max_unit_nodes) &&
           analysis.layers[units[u].layer][static_cast<std::size_t>(units[u].unit)].status == Status::undecided;
  };
  auto open_in = [&](int u, const NetworkBounds& b) {
    const Bounds& lb = b[units[u].layer];
    return undecided(u) && lb.lower[units[u].unit] < 0 && lb.upper[units[u].unit] > 0;
  };

  NetworkBounds env = bounds;
  for (Bounds& b : env) {
    b.upper.setConstant(-std::numeric_limits<double>::infinity());
    b.lower.setConstant(std::numeric_limits<double>::infinity());
  }
  const Eigen::VectorXd root_width = root.upper - root.lower;

  std::deque<Node> queue;
  {
    Node r{root, std::make_shared<const NetworkBounds>(bounds), {}, 0, 0};
    for (int u = 0; u < static_cast<int>(units.size()); ++u) r.open.push_back(u);
    queue.push_back(std::move(r));
  }
  CrownOptions crown;
  crown.report = false;
  int unstable = 0;
  long stuck = 0;
  int max_depth = 0;
  Stopwatch watch;
  double next_report = 2.0;
  std::vector<Eigen::VectorXd> g;
  std::vector<Eigen::MatrixXd> J;
  std::vector<Recorded> recorded(1);

  while (!queue.empty()) {
    if (st.nodes >= options.max_nodes || expired()) break;
    progress.heartbeat();
    Node node = std::move(queue.front());
    queue.pop_front();
    std::erase_if(node.open, [&](int u) { return !undecided(u); });
    if (node.open.empty()) {
      widen(env, *node.bounds);
      ++st.leaves;
      continue;
    }
    // Bounds on this sub-box, starting from the parent's.
    NetworkBounds nb = *node.bounds;
    interval_tighten(network, node.box, nb, 0);
    std::size_t last = 0;
    for (int u : node.open) last = std::max(last, units[u].layer);
    crown.last_layer = last;
    crown_bounds(network, node.box, nb, crown, deadline);
    ++st.nodes;
    max_depth = std::max(max_depth, node.depth);
    std::erase_if(node.open, [&](int u) { return !open_in(u, nb); });
    for (int u : node.open) ++opened[u];
    if (node.open.empty()) {
      widen(env, nb);
      ++st.leaves;
      continue;
    }

    // Witnesses: the centre, and the linearised maximiser / minimiser of some
    // open units (corners of the sub-box).
    const Eigen::VectorXd centre = node.box.center();
    linearise(network, centre, g, J);
    const int k = std::min<int>(options.attack_units, static_cast<int>(node.open.size()));
    Eigen::MatrixXd X(n, 1 + 2 * k);
    X.col(0) = centre;
    const std::size_t offset = static_cast<std::size_t>(st.nodes) % node.open.size();
    for (int q = 0; q < k; ++q) {
      const Unit& un = units[node.open[(offset + static_cast<std::size_t>(q)) % node.open.size()]];
      for (Eigen::Index j = 0; j < n; ++j) {
        double d = J[un.layer](un.unit, j);
        X(j, 1 + 2 * q) = d > 0 ? node.box.upper[j] : (d < 0 ? node.box.lower[j] : centre[j]);
        X(j, 2 + 2 * q) = d > 0 ? node.box.lower[j] : (d < 0 ? node.box.upper[j] : centre[j]);
      }
    }
    unstable += harvest_witnesses(network, X, analysis, Stage::bab);
    std::erase_if(node.open, [&](int u) { return !undecided(u); });
    if (node.open.empty()) {
      widen(env, nb);
      ++st.leaves;
      continue;
    }

    // Branch on the feature with the largest influence on the open units.
    Eigen::VectorXd score = Eigen::VectorXd::Zero(n);
    const Eigen::VectorXd width = node.box.upper - node.box.lower;
    for (int u : node.open) {
      const Unit& un = units[u];
      double range = nb[un.layer].upper[un.unit] - nb[un.layer].lower[un.unit];
      if (!(range > 0) || !std::isfinite(range)) continue;
      score += (J[un.layer].row(un.unit).transpose().cwiseAbs().cwiseProduct(width)) / range;
    }
    Eigen::Index best = -1;
    double best_score = 0;
    for (Eigen::Index j = 0; j < n; ++j) {
      double mid = node.box.lower[j] + 0.5 * width[j];
      if (!(mid > node.box.lower[j] && mid < node.box.upper[j])) continue;  // cannot be split
      double s = score[j] > 0 ? score[j] : 1e-300 * (root_width[j] > 0 ? width[j] / root_width[j] : 0.0);
      if (best < 0 || s > best_score) best = j, best_score = s;
    }
    if (best < 0) {  // a point-sized box: nothing left to split
      widen(env, nb);
      ++stuck;
      continue;
    }
    const double mid = node.box.lower[best] + 0.5 * width[best];
    auto shared = std::make_shared<const NetworkBounds>(std::move(nb));
    Node left{node.box, shared, node.open, node.depth + 1, 0};
    Node right{node.box, shared, std::move(node.open), node.depth + 1, 0};
    if (options.tree) {
      left.id = static_cast<int>(recorded.size());
      right.id = left.id + 1;
      recorded[static_cast<std::size_t>(node.id)] = {static_cast<int>(best), mid, left.id, right.id};
      recorded.resize(recorded.size() + 2);
    }
    left.box.upper[best] = mid;
    right.box.lower[best] = mid;
    queue.push_back(std::move(left));
    queue.push_back(std::move(right));

    if (watch.seconds() > next_report) {
      next_report = watch.seconds() + 2.0;
      progress.report("bab", "{} nodes, {} queued, depth {}, {} unstable so far", st.nodes, queue.size(), max_depth,
                      unstable);
    }
  }
  // Nodes not bounded: leaves with their parent's bounds.
  for (const Node& node : queue) widen(env, *node.bounds);
  st.frontier = static_cast<long>(queue.size()) + stuck;
  st.complete = st.frontier == 0;
  if (options.tree) *options.tree = preorder(recorded);
  for (std::size_t l = 0; l < bounds.size(); ++l) intersect_into(bounds[l], env[l]);
  int stable = apply_bounds(analysis, bounds, Stage::bab);
  progress.report("bab", "{} nodes ({} leaves, {} left open, depth {}): {} stable, {} unstable ({:.2f}s)", st.nodes,
                  st.leaves, st.frontier, max_depth, stable, unstable, watch.seconds());
  return stable + unstable;
}

}  // namespace leo
