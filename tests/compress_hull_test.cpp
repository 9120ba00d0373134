// The affine hulls of the rewrites (compress/affine_hull.hpp) and their reuse
// (compress/rewrites.hpp `hulls`, compress/compress.hpp's rounds):
//   - next_hull spans exactly the column space of the whole spread matrix
//     [W_A D; e_free] that it used to orthonormalise in one QR (projectors
//     compared with one from an SVD of that matrix), on layers with planted
//     rank deficiencies;
//   - the three hull rewrites give the same result, bit for bit, with the
//     hulls given and without;
//   - compress() (which skips rewrites that cannot change anything and shares
//     the hulls) gives, bit for bit, what the plain rounds give;
//   - a hull whose directions are coordinate vectors (AffineHull::axes)
//     restricts rows by selecting columns, bit for bit the product it
//     replaces, and the rewrites give the same result with and without it.
#include <gtest/gtest.h>

#include <cstring>

#include "leo/compress/affine_hull.hpp"
#include "leo/compress/compress.hpp"
#include "leo/compress/rewrites.hpp"
#include "support.hpp"

using namespace leo;

namespace {

using Statuses = std::vector<std::vector<Status>>;

Eigen::MatrixXd projector(const Eigen::MatrixXd& orthonormal) { return orthonormal * orthonormal.transpose(); }

// The projector onto the column space of M, from an SVD (rank: singular
// values above 1e-9 of the largest).
Eigen::MatrixXd svd_projector(const Eigen::MatrixXd& M) {
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(M, Eigen::ComputeThinU);
  const auto& s = svd.singularValues();
  Eigen::Index rank = 0;
  while (rank < s.size() && s[rank] > 1e-9 * s[0]) ++rank;
  return projector(svd.matrixU().leftCols(rank));
}

// A layer of n units on a d-dimensional input hull; units 0..n-1 get
// statuses cycling active, active, inactive, unstable; some active rows are
// copies or combinations of others (rank deficiency).
struct Layer {
  Eigen::MatrixXd weights;
  Eigen::VectorXd bias;
  std::vector<Status> status;
};

Layer planted_layer(Eigen::Index n, Eigen::Index inputs, std::mt19937_64& rng) {
  std::normal_distribution<double> normal;
  Layer layer;
  layer.weights = Eigen::MatrixXd::NullaryExpr(n, inputs, [&] { return normal(rng); });
  layer.bias = Eigen::VectorXd::NullaryExpr(n, [&] { return normal(rng); });
  for (Eigen::Index i = 0; i < n; ++i) {
    const Status cycle[] = {Status::active, Status::active, Status::inactive, Status::unstable};
    layer.status.push_back(cycle[i % 4]);
  }
  // Active rows 4, 5 repeat rows 0, 1 (scaled); row 8 is row 0 + row 1.
  if (n > 8) {
    layer.weights.row(4) = 2.5 * layer.weights.row(0);
    layer.weights.row(5) = -0.5 * layer.weights.row(1);
    layer.weights.row(8) = layer.weights.row(0) + layer.weights.row(1);
  }
  return layer;
}

TEST(CompressHull, NextHullSpansTheWholeSpread) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 12; ++trial) {
    const Eigen::Index inputs = 3 + trial % 5, n = 9 + 2 * trial;
    Box box(Eigen::VectorXd::Zero(inputs), Eigen::VectorXd::Ones(inputs));
    if (trial % 3 == 1) box.upper[0] = 0.0;  // a pinned feature: not a direction
    AffineHull in = box_hull(box);
    if (trial % 3 == 2) {
      // An input hull of lower dimension than the inputs.
      in.directions = in.directions.leftCols(1).eval();
      in.axes->resize(1);  // still a coordinate direction
    }
    Layer layer = planted_layer(n, inputs, rng);
    AffineHull out = next_hull(in, layer.weights, layer.bias, layer.status, default_rank_tolerance);
    // The spread as it was orthonormalised before: active rows W_i D, free
    // units one coordinate column each.
    Eigen::Index free = 0;
    for (auto s : layer.status) free += s == Status::unstable;
    Eigen::MatrixXd spread = Eigen::MatrixXd::Zero(n, in.dimension() + free);
    for (Eigen::Index i = 0, f = in.dimension(); i < n; ++i) {
      if (layer.status[static_cast<std::size_t>(i)] == Status::active && in.dimension() > 0)
        spread.row(i).head(in.dimension()) = layer.weights.row(i) * in.directions;
      else if (layer.status[static_cast<std::size_t>(i)] == Status::unstable)
        spread(i, f++) = 1.0;
    }
    SCOPED_TRACE(trial);
    const Eigen::MatrixXd D = out.directions;
    EXPECT_LT((D.transpose() * D - Eigen::MatrixXd::Identity(D.cols(), D.cols())).cwiseAbs().maxCoeff(), 1e-12);
    EXPECT_LT((projector(D) - svd_projector(spread)).cwiseAbs().maxCoeff(), 1e-9);
    // The point: g(p) on active units, relu(g(p)) on free ones, 0 on inactive.
    Eigen::VectorXd g = layer.weights * in.point + layer.bias;
    for (Eigen::Index i = 0; i < n; ++i) {
      const Status s = layer.status[static_cast<std::size_t>(i)];
      EXPECT_EQ(out.point[i], s == Status::active ? g[i] : s == Status::inactive ? 0.0 : std::max(g[i], 0.0));
    }
  }
}

// A random net whose hidden layers have planted duplicates, constants and
// dependent active units, with hand-set statuses (the rewrites only read them).
Compressible planted_net(std::mt19937_64& rng, const std::vector<int>& widths, bool plant = true) {
  Network net = test::random_network(widths, rng);
  Statuses st;
  for (std::size_t l = 0; l + 1 < net.layers.size(); ++l) {
    auto& W = net.layers[l].weights;
    auto& b = net.layers[l].bias;
    const Eigen::Index n = W.rows();
    st.emplace_back();
    for (Eigen::Index i = 0; i < n; ++i)
      st.back().push_back(i % 5 == 3 ? Status::unstable : i % 7 == 6 ? Status::inactive : Status::active);
    if (plant && n > 9) {
      W.row(4) = 3.0 * W.row(1), b[4] = 3.0 * b[1];  // duplicate of 1
      W.row(9) = W.row(0) - 2.0 * W.row(2);          // dependent (active 0, 2, 9)
      W.row(7).setZero();                            // constant
    }
  }
  return Compressible(net, st);
}

void expect_same(const RewriteResult& x, const RewriteResult& y) {
  ASSERT_EQ(x.steps.size(), y.steps.size());
  ASSERT_EQ(x.state.network.layers.size(), y.state.network.layers.size());
  for (std::size_t l = 0; l < x.state.network.layers.size(); ++l) {
    const auto& a = x.state.network.layers[l];
    const auto& b = y.state.network.layers[l];
    ASSERT_EQ(a.weights.rows(), b.weights.rows());
    ASSERT_EQ(a.weights.cols(), b.weights.cols());
    EXPECT_TRUE((a.weights.array() == b.weights.array()).all()) << "layer " << l;
    EXPECT_TRUE((a.bias.array() == b.bias.array()).all()) << "layer " << l;
  }
  EXPECT_EQ(x.state.status, y.state.status);
  EXPECT_EQ(x.state.origin, y.state.origin);
  for (std::size_t k = 0; k < x.steps.size(); ++k) {
    EXPECT_EQ(x.steps[k].kind, y.steps[k].kind);
    EXPECT_EQ(x.steps[k].layer, y.steps[k].layer);
    EXPECT_EQ(x.steps[k].removed, y.steps[k].removed);
    EXPECT_EQ(x.steps[k].into, y.steps[k].into);
    EXPECT_EQ(x.steps[k].basis, y.steps[k].basis);
    EXPECT_EQ(x.steps[k].coefficient, y.steps[k].coefficient);
    EXPECT_TRUE(x.steps[k].alpha.rows() == y.steps[k].alpha.rows() &&
                x.steps[k].alpha.cols() == y.steps[k].alpha.cols() &&
                (x.steps[k].alpha.array() == y.steps[k].alpha.array()).all());
  }
}

TEST(CompressHull, RewritesWithTheHullsGivenAreTheSame) {
  std::mt19937_64 rng(11);
  int changed = 0;
  for (int trial = 0; trial < 8; ++trial) {
    Compressible start = planted_net(rng, {6, 14, 12, 10, 3});
    const Box box(Eigen::VectorXd::Constant(6, -1.0), Eigen::VectorXd::Ones(6));
    const double tol = default_rank_tolerance;
    const auto hulls = hidden_input_hulls(start, box, tol);
    const auto all = layer_input_hulls(start, box, tol);
    ASSERT_EQ(hulls.size(), start.status.size());
    for (std::size_t h = 0; h < hulls.size(); ++h) {
      EXPECT_TRUE(hulls[h].point == all[h].point && hulls[h].directions == all[h].directions);
    }
    SCOPED_TRACE(trial);
    auto c1 = fold_constant_units(start, box, tol), c2 = fold_constant_units(start, box, tol, &hulls);
    expect_same(c1, c2);
    auto m1 = merge_duplicate_units(start, box, tol), m2 = merge_duplicate_units(start, box, tol, &hulls);
    expect_same(m1, m2);
    auto d1 = fold_dependent_active_units(start, box, tol), d2 = fold_dependent_active_units(start, box, tol, &hulls);
    expect_same(d1, d2);
    changed += c1.changed() + m1.changed() + d1.changed();
  }
  EXPECT_GE(changed, 16);  // the planted units were found: the reuse was exercised after changes
}

// Bit for bit, the sign of zeros included.
bool same_bits(const Eigen::MatrixXd& x, const Eigen::MatrixXd& y) {
  return x.rows() == y.rows() && x.cols() == y.cols() &&
         std::memcmp(x.data(), y.data(), sizeof(double) * static_cast<std::size_t>(x.size())) == 0;
}

bool directions_are_axes(const AffineHull& hull) {
  if (!hull.axes || static_cast<Eigen::Index>(hull.axes->size()) != hull.dimension()) return false;
  for (Eigen::Index j = 0; j < hull.dimension(); ++j) {
    Eigen::VectorXd e = Eigen::VectorXd::Zero(hull.directions.rows());
    e[(*hull.axes)[static_cast<std::size_t>(j)]] = 1.0;
    if (!(hull.directions.col(j).array() == e.array()).all()) return false;
  }
  return true;
}

TEST(CompressHull, CoordinateHullsRestrictBySelectingColumnsBitForBit) {
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal;
  // A box of 40 features, 3 of them fixed (no direction).
  Eigen::VectorXd lo = Eigen::VectorXd::Zero(40), hi = Eigen::VectorXd::Ones(40);
  for (int i : {2, 17, 33}) hi[i] = lo[i];
  const AffineHull box = box_hull(Box(lo, hi));
  ASSERT_TRUE(directions_are_axes(box));
  EXPECT_EQ(box.dimension(), 37);
  Eigen::MatrixXd W = Eigen::MatrixXd::NullaryExpr(30, 40, [&] { return normal(rng); });
  W(3, 5) = -0.0, W(4, 6) = 0.0, W(7, 2) = -0.0, W.row(9).setConstant(-0.0);
  const Eigen::MatrixXd product = W * box.directions;
  EXPECT_TRUE(same_bits(box.restrict(W), product));
  for (int i : {0, 3, 9}) {
    const Eigen::RowVectorXd row_product = W.row(i) * box.directions;
    EXPECT_TRUE(same_bits(box.restrict(W.row(i)), row_product)) << i;
  }
  // next_hull of a layer whose active rows have full rank: the active and
  // free coordinates are the directions.
  std::vector<Status> status;
  for (int i = 0; i < 30; ++i) status.push_back(i % 3 == 0 ? Status::unstable : i % 5 == 1 ? Status::inactive : Status::active);
  const AffineHull full = next_hull(box, W, Eigen::VectorXd::Zero(30), status, default_rank_tolerance);
  ASSERT_TRUE(directions_are_axes(full));
  Eigen::MatrixXd V = Eigen::MatrixXd::NullaryExpr(12, 30, [&] { return normal(rng); });
  V(1, 4) = -0.0;
  const Eigen::MatrixXd next_product = V * full.directions;
  EXPECT_TRUE(same_bits(full.restrict(V), next_product));
  // Dependent active rows: an orthonormal basis, no axes; restrict is the product.
  Eigen::MatrixXd D = W;
  D.row(8) = D.row(2) + D.row(4);  // 2, 4, 8 active
  const AffineHull deficient = next_hull(box, D, Eigen::VectorXd::Zero(30), status, default_rank_tolerance);
  EXPECT_FALSE(deficient.axes.has_value());
  const Eigen::MatrixXd deficient_product = V * deficient.directions;
  EXPECT_TRUE(same_bits(deficient.restrict(V), deficient_product));
  // Nothing stable: only the free units' coordinates.
  const AffineHull loose = next_hull(box, W, Eigen::VectorXd::Zero(30), std::vector<Status>(30, Status::unstable),
                                     default_rank_tolerance);
  EXPECT_TRUE(directions_are_axes(loose));
  EXPECT_EQ(loose.dimension(), 30);
}

TEST(CompressHull, RewritesGiveTheSameWithoutTheAxes) {
  std::mt19937_64 rng(23);
  int with_axes = 0, changed = 0;
  for (int trial = 0; trial < 6; ++trial) {
    SCOPED_TRACE(trial);
    const int inputs = trial % 2 ? 6 : 30;
    Compressible start = trial % 3 == 2 ? planted_net(rng, {inputs, 20, 16, 3}, false)
                                        : planted_net(rng, {inputs, 24, 18, 12, 3});
    const Box box(Eigen::VectorXd::Constant(inputs, -1.0), Eigen::VectorXd::Ones(inputs));
    const double tol = default_rank_tolerance;
    const auto hulls = hidden_input_hulls(start, box, tol);
    auto products = hulls;  // the same hulls, restricting by products
    for (auto& h : products) {
      with_axes += h.axes.has_value();
      h.axes.reset();
    }
    auto c1 = fold_constant_units(start, box, tol, &hulls), c2 = fold_constant_units(start, box, tol, &products);
    expect_same(c1, c2);
    auto m1 = merge_duplicate_units(start, box, tol, &hulls), m2 = merge_duplicate_units(start, box, tol, &products);
    expect_same(m1, m2);
    auto d1 = fold_dependent_active_units(start, box, tol, &hulls),
         d2 = fold_dependent_active_units(start, box, tol, &products);
    expect_same(d1, d2);
    changed += c1.changed() + m1.changed() + d1.changed();
  }
  EXPECT_GT(with_axes, 6);  // the box's hull each time, and full-rank layers' too
  EXPECT_GE(changed, 8);
}

// The rounds of compress.hpp, run plainly: every rewrite every round.
CompressResult plain_rounds(const Compressible& start, const Box& box) {
  CompressResult result;
  result.state = start;
  auto apply = [&](RewriteResult r) {
    if (!r.changed()) return false;
    result.state = std::move(r.state);
    for (auto& s : r.steps) result.steps.push_back(std::move(s));
    return true;
  };
  bool changed = true;
  while (changed && !result.state.status.empty()) {
    ++result.rounds;
    changed = false;
    if (apply(collapse_dead_layer(result.state))) break;
    changed |= apply(remove_inactive_units(result.state));
    if (result.state.status.empty()) break;
    changed |= apply(remove_zero_outgoing(result.state));
    if (result.state.status.empty()) break;
    changed |= apply(fold_constant_units(result.state, box));
    if (result.state.status.empty()) break;
    changed |= apply(merge_duplicate_units(result.state, box));
    if (result.state.status.empty()) break;
    changed |= apply(fold_dependent_active_units(result.state, box));
    if (result.state.status.empty()) break;
    changed |= apply(fold_stable_layers(result.state, FoldLayers::automatic));
  }
  return result;
}

TEST(CompressHull, CompressEqualsThePlainRounds) {
  std::mt19937_64 rng(5);
  for (int trial = 0; trial < 8; ++trial) {
    Compressible start = planted_net(rng, {5, 16, 13, 11, 2});
    const Box box(Eigen::VectorXd::Zero(5), Eigen::VectorXd::Ones(5));
    SCOPED_TRACE(trial);
    CompressResult fast = compress(start, box), plain = plain_rounds(start, box);
    EXPECT_EQ(fast.rounds, plain.rounds);
    EXPECT_GE(plain.steps.size(), 3u);
    expect_same(RewriteResult{fast.state, fast.steps}, RewriteResult{plain.state, plain.steps});
  }
}

}  // namespace
