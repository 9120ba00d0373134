#pragma once
// Checks shared by the MILP tests (milp_test, milp_itest).
#include <gtest/gtest.h>

#include "leo/bounds/bounds.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"
#include "leo/stability/verdict.hpp"

namespace leo::test {

// Interval bounds, inflated enough to be safe for these small nets (a test
// stand-in for bounds/interval.hpp).
inline NetworkBounds simple_bounds(const Network& net, const Box& box) {
  NetworkBounds out;
  Eigen::VectorXd lo = box.lower, hi = box.upper;
  for (std::size_t l = 0; l < net.depth(); ++l) {
    const auto& W = net.layers[l].weights;
    Eigen::MatrixXd Wp = W.cwiseMax(0.0), Wn = W.cwiseMin(0.0);
    Eigen::VectorXd glo = Wp * lo + Wn * hi + net.layers[l].bias;
    Eigen::VectorXd ghi = Wp * hi + Wn * lo + net.layers[l].bias;
    Eigen::VectorXd slack = 1e-9 * (glo.cwiseAbs().cwiseMax(ghi.cwiseAbs()).array() + 1.0).matrix();
    glo -= slack;
    ghi += slack;
    out.push_back({glo, ghi});
    lo = glo.cwiseMax(0.0);
    hi = ghi.cwiseMax(0.0);
  }
  return out;
}

inline Analysis fresh(const Network& net) {
  Analysis a;
  for (auto w : net.widths()) a.layers.emplace_back(static_cast<std::size_t>(w));
  return a;
}

// Every witness lies in the box and shows the signs it claims; every unstable
// unit has a positive and a negative witness.
inline void expect_witnesses_valid(const Network& net, const Box& box, const Analysis& a) {
  std::vector<std::vector<int>> pos(a.layers.size()), neg(a.layers.size());
  for (std::size_t l = 0; l < a.layers.size(); ++l) pos[l].assign(a.layers[l].size(), 0), neg[l] = pos[l];
  for (const Witness& w : a.witnesses) {
    ASSERT_EQ(w.input.size(), net.inputs());
    EXPECT_TRUE(box.contains(w.input));
    auto pre = net.pre_activations(w.input);
    for (const WitnessUnit& u : w.units) {
      double g = pre[u.layer](u.unit, 0);
      if (u.positive) {
        EXPECT_GT(g, 0.0);
        pos[u.layer][u.unit] = 1;
      } else {
        EXPECT_LT(g, 0.0);
        neg[u.layer][u.unit] = 1;
      }
    }
  }
  for (std::size_t l = 0; l < a.layers.size(); ++l)
    for (std::size_t i = 0; i < a.layers[l].size(); ++i)
      if (a.layers[l][i].status == Status::unstable) {
        EXPECT_TRUE(pos[l][i]) << "layer " << l << " unit " << i;
        EXPECT_TRUE(neg[l][i]) << "layer " << l << " unit " << i;
      }
}

// No stable verdict is contradicted by the points (columns of X).
inline void expect_not_contradicted(const Network& net, const Analysis& a, const Eigen::MatrixXd& X) {
  auto pre = net.pre_activations(X);
  for (std::size_t l = 0; l < a.layers.size(); ++l)
    for (std::size_t i = 0; i < a.layers[l].size(); ++i) {
      double mx = pre[l].row(static_cast<Eigen::Index>(i)).maxCoeff();
      double mn = pre[l].row(static_cast<Eigen::Index>(i)).minCoeff();
      if (a.layers[l][i].status == Status::inactive) {
        EXPECT_LE(mx, 0.0) << "layer " << l << " unit " << i;
      }
      if (a.layers[l][i].status == Status::active) {
        EXPECT_GE(mn, 0.0) << "layer " << l << " unit " << i;
      }
    }
}

}  // namespace leo::test
