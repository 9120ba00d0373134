#include "leo/stability/unit_tasks.hpp"

#include <cstring>

namespace leo::unit_tasks {

std::vector<Eigen::MatrixXd> examine(const Network& net, const Analysis& a, const Eigen::VectorXd& x,
                                     std::vector<Eigen::VectorXd>& keep) {
  std::vector<Eigen::MatrixXd> pre = net.pre_activations(Eigen::MatrixXd(x));
  if (!x.allFinite() || !a.domain.box.contains(x)) return pre;
  const std::size_t H = std::min(a.layers.size(), pre.size());
  for (std::size_t h = 0; h < H; ++h)
    for (std::size_t i = 0; i < a.layers[h].size(); ++i) {
      const UnitVerdict& v = a.layers[h][i];
      if (v.status != Status::undecided) continue;
      const double g = pre[h](static_cast<Eigen::Index>(i), 0);
      if ((g > 0 && !v.seen_positive) || (g < 0 && !v.seen_negative)) {
        keep.push_back(x);
        return pre;
      }
    }
  return pre;
}

std::uint64_t fingerprint(std::string_view stage, std::size_t layer, const std::vector<std::size_t>& units,
                          const Analysis& a, const NetworkBounds& bounds) {
  Fingerprint f;
  f.add(stage).add(layer).add(units.size());
  for (std::size_t u : units) f.add(u);
  for (const auto& l : a.layers)
    for (const UnitVerdict& v : l)
      f.add(static_cast<std::uint64_t>(v.status) * 4 + v.seen_positive * 2 + v.seen_negative);
  auto add_bits = [&](double d) {
    std::uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    f.add(bits);
  };
  for (std::size_t j = 0; j <= layer && j < bounds.size(); ++j)
    for (Eigen::Index i = 0; i < bounds[j].lower.size(); ++i) add_bits(bounds[j].lower[i]), add_bits(bounds[j].upper[i]);
  return f.value;
}

// The tree as numbers: layer, unit, side (1 upper, 0 lower), bound, node
// count; per node layer + 1 (0: a leaf), unit + 1, multiplier vectors; per
// vector its entries, then index and value of each. Every index is below
// 2^53, so it is exact as a double.
void append_tree(TaskResult& out, const cert::ReluSplit& t) {
  auto n = [&](double x) { out.push_back(x); };
  n(t.layer), n(t.unit), n(t.side == cert::Side::upper ? 1 : 0), n(t.bound), n(static_cast<double>(t.nodes.size()));
  for (const cert::PhaseNode& node : t.nodes) {
    n(node.layer + 1), n(node.unit + 1), n(static_cast<double>(node.nu.size()));
    for (const cert::SparseVector& v : node.nu) {
      n(static_cast<double>(v.index.size()));
      for (std::size_t q = 0; q < v.index.size(); ++q) n(static_cast<double>(v.index[q])), n(v.value[q]);
    }
  }
}

cert::ReluSplit Reader::tree() {
  cert::ReluSplit t;
  t.layer = static_cast<int>(count());
  t.unit = static_cast<int>(count());
  t.side = count() == 1 ? cert::Side::upper : cert::Side::lower;
  t.bound = number();
  t.nodes.resize(static_cast<std::size_t>(count()));
  for (cert::PhaseNode& node : t.nodes) {
    node.layer = static_cast<int>(count()) - 1;
    node.unit = static_cast<int>(count()) - 1;
    node.nu.resize(static_cast<std::size_t>(count()));
    for (cert::SparseVector& v : node.nu) {
      const long entries = count();
      for (long q = 0; q < entries; ++q) {
        v.index.push_back(count());
        v.value.push_back(number());
      }
    }
  }
  return t;
}

}  // namespace leo::unit_tasks
