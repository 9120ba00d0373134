// Bound propagation on the reference models (release build only): every
// stage is sound on random points of the domain and never looser than the
// previous one; the stable-unit counts only grow along the cascade.
#include <gtest/gtest.h>

#include <random>

#include "leo/bounds/alpha.hpp"
#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/bounds/lp.hpp"
#include "leo/domain/vnnlib.hpp"
#include "leo/io/onnx.hpp"
#include "support.hpp"

using namespace leo;

namespace {

std::vector<std::vector<bool>> undecided(const Network& net, const NetworkBounds& b) {
  std::vector<std::vector<bool>> t;
  for (std::size_t l = 0; l < net.layers.size(); ++l) {
    t.emplace_back(static_cast<std::size_t>(net.layers[l].outputs()), false);
    for (Eigen::Index i = 0; i < net.layers[l].outputs(); ++i)
      if (l + 1 == net.layers.size() || (b[l].lower[i] < 0 && b[l].upper[i] > 0)) t[l][static_cast<std::size_t>(i)] = true;
  }
  return t;
}

bool within(const NetworkBounds& inner, const NetworkBounds& outer) {
  for (std::size_t l = 0; l < inner.size(); ++l)
    if ((inner[l].lower.array() < outer[l].lower.array()).any() ||
        (inner[l].upper.array() > outer[l].upper.array()).any())
      return false;
  return true;
}

// Double forward pass with a relative slack far above its rounding error and far below any gap that matters.
long violations(const Network& net, const NetworkBounds& b, const Eigen::MatrixXd& X) {
  auto pre = net.pre_activations(X);
  long bad = 0;
  for (std::size_t l = 0; l < pre.size(); ++l)
    for (Eigen::Index j = 0; j < pre[l].cols(); ++j)
      for (Eigen::Index i = 0; i < pre[l].rows(); ++i) {
        const double g = pre[l](i, j), slack = 1e-12 * (1 + std::abs(g));
        if (g < b[l].lower[i] - slack || g > b[l].upper[i] + slack) ++bad;
      }
  return bad;
}

void cascade(const Network& net, const Box& box, bool run_lp, int points) {
  std::mt19937_64 rng(11);
  Eigen::MatrixXd X = test::random_points(box.lower, box.upper, points, rng);
  NetworkBounds ibp = interval_bounds(net, box);
  EXPECT_EQ(violations(net, ibp, X), 0);
  NetworkBounds crown = ibp;
  crown_bounds(net, box, crown);
  EXPECT_TRUE(within(crown, ibp));
  EXPECT_EQ(violations(net, crown, X), 0);
  NetworkBounds alpha = crown;
  alpha_bounds(net, box, alpha, undecided(net, alpha));
  EXPECT_TRUE(within(alpha, crown));
  EXPECT_EQ(violations(net, alpha, X), 0);
  auto ci = count_stable(ibp), cc = count_stable(crown), ca = count_stable(alpha);
  EXPECT_GE(cc.active + cc.inactive, ci.active + ci.inactive);
  EXPECT_GE(ca.active + ca.inactive, cc.active + cc.inactive);
  if (!run_lp) return;
  NetworkBounds lp = alpha;
  lp_bounds(net, box, lp, undecided(net, lp));
  EXPECT_TRUE(within(lp, alpha));
  EXPECT_EQ(violations(net, lp, X), 0);
  auto cl = count_stable(lp);
  EXPECT_GE(cl.active + cl.inactive, ca.active + ca.inactive);
}

}  // namespace

TEST(BoundsOnModels, AcasXu11Prop1) {
  const auto dir = test::models_dir() / "acasxu";
  Network net = read_onnx(dir / "ACASXU_run2a_1_1_batch_2000.onnx");
  Box box = read_vnnlib_box(dir / "prop_1.vnnlib");
  cascade(net, box, true, 20000);
  // Measured (bench/results/bounds.md): IBP 44, CROWN 53, alpha 57, LP 58 stable hidden units of 300.
  NetworkBounds b = interval_bounds(net, box);
  auto c = count_stable(b);
  EXPECT_EQ(c.active + c.inactive, 44);
}

TEST(BoundsOnModels, AcasXuWholeBoxSeveralNets) {
  const auto dir = test::models_dir() / "acasxu";
  for (const char* name : {"ACASXU_run2a_2_3_batch_2000.onnx", "ACASXU_run2a_5_9_batch_2000.onnx"}) {
    Network net = read_onnx(dir / name);
    Box box = read_vnnlib_box(dir / "prop_3.vnnlib");
    cascade(net, box, true, 20000);
  }
}

TEST(BoundsOnModels, MnistFc256x2UnitBox) {
  const auto file = test::models_dir() / "mnistfc" / "mnist-net_256x2.onnx";
  Network net = read_onnx(file);
  cascade(net, Box::uniform(net.inputs(), 0, 1), false, 2000);
}
