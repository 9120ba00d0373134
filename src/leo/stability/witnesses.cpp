#include "leo/stability/witnesses.hpp"

#include <algorithm>

namespace leo {

Analysis make_analysis(const Network& network, const Domain& domain) {
  Analysis a;
  a.domain = domain;
  for (Eigen::Index w : network.widths()) a.layers.emplace_back(static_cast<std::size_t>(w));
  return a;
}

int undecided_units(const Analysis& a) {
  int n = 0;
  for (const auto& layer : a.layers)
    for (const auto& v : layer)
      if (v.status == Status::undecided) ++n;
  return n;
}

int harvest_witnesses(const Network& network, const Eigen::Ref<const Eigen::MatrixXd>& X,
                      const std::vector<Eigen::MatrixXd>& pre, Analysis& a, Stage stage) {
  const std::size_t H = a.layers.size();
  const std::size_t scanned = std::min(H, pre.size());  // pre may stop at a lower layer
  // Quick exit when nothing is needed.
  bool any = false;
  for (std::size_t h = 0; h < H && !any; ++h)
    for (const auto& v : a.layers[h])
      if (v.status == Status::undecided && !(v.seen_positive && v.seen_negative)) {
        any = true;
        break;
      }
  if (!any) return 0;

  int decided = 0;
  for (Eigen::Index b = 0; b < X.cols(); ++b) {
    // Does this column show a sign some undecided unit lacks?
    bool useful = false;
    for (std::size_t h = 0; h < scanned && !useful; ++h) {
      const auto& layer = a.layers[h];
      for (std::size_t i = 0; i < layer.size(); ++i) {
        const UnitVerdict& v = layer[i];
        if (v.status != Status::undecided) continue;
        double g = pre[h](static_cast<Eigen::Index>(i), b);
        if ((g > 0 && !v.seen_positive) || (g < 0 && !v.seen_negative)) {
          useful = true;
          break;
        }
      }
    }
    if (!useful) continue;
    Eigen::VectorXd x = X.col(b);
    if (!a.domain.box.contains(x)) continue;
    // Re-evaluate this input on its own, in float64.
    std::vector<Eigen::MatrixXd> single = network.pre_activations(Eigen::MatrixXd(x));
    Witness w;
    for (std::size_t h = 0; h < H; ++h) {
      auto& layer = a.layers[h];
      for (std::size_t i = 0; i < layer.size(); ++i) {
        UnitVerdict& v = layer[i];
        if (v.status != Status::undecided) continue;
        double g = single[h](static_cast<Eigen::Index>(i), 0);
        bool pos = g > 0 && !v.seen_positive;
        bool neg = g < 0 && !v.seen_negative;
        if (!pos && !neg) continue;
        if (pos) v.seen_positive = true;
        if (neg) v.seen_negative = true;
        w.units.push_back({static_cast<int>(h), static_cast<int>(i), pos});
        if (v.seen_positive && v.seen_negative) {
          v.status = Status::unstable;
          v.stage = stage;
          ++decided;
        }
      }
    }
    if (!w.units.empty()) {
      w.input = std::move(x);
      a.witnesses.push_back(std::move(w));
    }
  }
  return decided;
}

int harvest_witnesses(const Network& network, const Eigen::MatrixXd& X, Analysis& a, Stage stage) {
  return harvest_witnesses(network, X, network.pre_activations(X), a, stage);
}

}  // namespace leo
