// The structured layer map (network/structured.hpp) against a dense matrix
// assembled here block by block from each operator's own dense matrix
// (conv_test checks those against an independent lowering): every product of
// the map, in both layouts, with W and with |W|, and its sparse rows must
// agree with the dense ones; an AffineLayer holding the map must compute what
// the dense layer computes; bad maps are refused.
#include "leo/network/structured.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "leo/util/error.hpp"

namespace leo {
namespace {

using Eigen::MatrixXd;
using testing::HasSubstr;

MatrixXd random_matrix(Eigen::Index r, Eigen::Index c, std::mt19937& rng) {
  std::normal_distribution<double> d(0.0, 1.0);
  MatrixXd m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
  return m;
}

Conv2d random_conv(Shape3 in, std::int64_t out, std::int64_t k, std::int64_t stride, std::int64_t pad,
                   std::mt19937& rng) {
  Window2d w;
  w.kernel_h = w.kernel_w = k;
  w.stride_h = w.stride_w = stride;
  w.pad_top = w.pad_left = w.pad_bottom = w.pad_right = pad;
  return Conv2d(in, out, w, 1, random_matrix(out, in.channels * k * k, rng), Eigen::VectorXd());
}

MatrixXd op_dense(const StructuredMap::Op& op, Weights w) {
  MatrixXd d = std::visit([](const auto& o) { return o.to_dense(); }, op);
  return w == Weights::absolute ? MatrixXd(d.cwiseAbs()) : d;
}

// The map's matrix from the operators' matrices: sum over blocks of
// A_k ... A_1 placed at (out segment, in segment); with |A_i| for absolute.
MatrixXd assemble(const StructuredMap& map, Weights w) {
  MatrixXd D = MatrixXd::Zero(map.outputs(), map.inputs());
  for (const auto& blk : map.blocks()) {
    const auto n_in = map.input_segments()[blk.in].shape.size();
    MatrixXd chain = MatrixXd::Identity(n_in, n_in);
    for (const auto& op : blk.ops) chain = op_dense(op, w) * chain;
    D.block(map.output_offset(blk.out), map.input_offset(blk.in), chain.rows(), chain.cols()) += chain;
  }
  return D;
}

// A residual-style layer: input [x (4x6x6)], outputs [conv(x) -> BN -> avgpool (5x3x3); carry of x],
// and a second layer [h (5x3x3); x (4x6x6)] -> [conv2(h) + shortcut(x) (5x3x3)].
struct Maps {
  StructuredMap first, second;
};

Maps residual_maps(std::mt19937& rng) {
  const Shape3 x{4, 6, 6};
  Conv2d c1 = random_conv(x, 5, 3, 1, 1, rng);  // 5x6x6
  ChannelAffine bn(c1.output(), Eigen::VectorXd::Random(5), Eigen::VectorXd::Zero(5));
  Window2d pool;
  pool.kernel_h = pool.kernel_w = 2;
  pool.stride_h = pool.stride_w = 2;
  AvgPool2d ap(c1.output(), pool, false);  // 5x3x3
  StructuredMap first({{x}}, {{ap.output()}, {x, true}},
                      {StructuredMap::Block{0, 0, {c1, bn, ap}, {}}, StructuredMap::Block{0, 1, {}, {}}});
  Conv2d c2 = random_conv(ap.output(), 5, 3, 1, 1, rng);  // 5x3x3
  Conv2d sc = random_conv(x, 5, 1, 2, 0, rng);            // 5x3x3
  StructuredMap second({{ap.output()}, {x}}, {{c2.output()}},
                       {StructuredMap::Block{0, 0, {c2}, {"c2"}}, StructuredMap::Block{1, 0, {sc}, {"sc"}}});
  return {std::move(first), std::move(second)};
}

void expect_products_match(const StructuredMap& map, std::mt19937& rng) {
  for (Weights w : {Weights::plain, Weights::absolute}) {
    const MatrixXd D = assemble(map, w);
    const MatrixXd X = random_matrix(map.inputs(), 3, rng);
    const MatrixXd L = random_matrix(map.outputs(), 2, rng);
    EXPECT_TRUE(map.multiply(X, w).isApprox(D * X, 1e-12));
    EXPECT_TRUE(map.transpose_multiply(L, w).isApprox(D.transpose() * L, 1e-12));
    const MatrixXd Xr = X.transpose();
    const MatrixXd Nu = L.transpose();
    EXPECT_TRUE(map.multiply_rows(Xr, w).isApprox(Xr * D.transpose(), 1e-12));
    EXPECT_TRUE(map.transpose_multiply_rows(Nu, w).isApprox(Nu * D, 1e-12));
  }
  const MatrixXd D = assemble(map, Weights::plain);
  EXPECT_TRUE(map.to_dense().isApprox(D, 1e-12));
  for (Eigen::Index i = 0; i < map.outputs(); i += 7) {
    Eigen::RowVectorXd r = Eigen::RowVectorXd::Zero(map.inputs());
    Eigen::Index last = -1;
    for (const auto& [c, v] : map.row(i)) {
      EXPECT_GT(c, last);  // ascending, no repeats
      last = c;
      EXPECT_NE(v, 0.0);
      r(c) = v;
    }
    EXPECT_TRUE(r.isApprox(D.row(i), 1e-12) || (r - D.row(i)).norm() < 1e-12) << "row " << i;
  }
}

TEST(StructuredMap, ProductsAndRowsMatchTheAssembledMatrix) {
  std::mt19937 rng(7);
  auto maps = residual_maps(rng);
  expect_products_match(maps.first, rng);
  expect_products_match(maps.second, rng);
  EXPECT_EQ(maps.first.outputs(), 5 * 9 + 4 * 36);
  EXPECT_TRUE(maps.first.is_carry(5 * 9));
  EXPECT_FALSE(maps.first.is_carry(5 * 9 - 1));
  EXPECT_EQ(maps.first.output_segment_of(5 * 9 + 4 * 36 - 1), 1u);
  // Biases a file stores: one per channel of the non-carry segment.
  EXPECT_EQ(maps.first.bias_parameters(), 5);
  EXPECT_EQ(maps.first.weight_parameters(), 5 * 4 * 9 + 5);
}

TEST(StructuredMap, PermuteFromHwcReadsNhwcInNchwOrder) {
  const Shape3 chw{3, 2, 4};
  Permute p = Permute::from_hwc(chw);
  MatrixXd hwc(24, 1);
  for (int h = 0; h < 2; ++h)
    for (int w = 0; w < 4; ++w)
      for (int c = 0; c < 3; ++c) hwc((h * 4 + w) * 3 + c, 0) = 100 * c + 10 * h + w;
  MatrixXd y = p.multiply(hwc);
  for (int c = 0; c < 3; ++c)
    for (int h = 0; h < 2; ++h)
      for (int w = 0; w < 4; ++w) EXPECT_EQ(y(chw.index(c, h, w), 0), 100 * c + 10 * h + w);
  std::mt19937 rng(3);
  StructuredMap map({{Shape3{2, 4, 3}}}, {{chw}}, {StructuredMap::Block{0, 0, {p}, {}}});
  expect_products_match(map, rng);
}

TEST(StructuredMap, AnAffineLayerHoldingAMapComputesWhatItsDenseMatrixComputes) {
  std::mt19937 rng(11);
  auto maps = residual_maps(rng);
  AffineLayer conv_layer;
  conv_layer.structured = std::make_shared<const StructuredMap>(maps.second);
  conv_layer.bias = Eigen::VectorXd::Random(maps.second.outputs());
  AffineLayer dense_layer(maps.second.to_dense(), conv_layer.bias);
  EXPECT_FALSE(conv_layer.is_dense());
  EXPECT_EQ(conv_layer.inputs(), dense_layer.inputs());
  EXPECT_EQ(conv_layer.outputs(), dense_layer.outputs());
  const MatrixXd X = random_matrix(conv_layer.inputs(), 4, rng);
  EXPECT_TRUE(conv_layer.multiply(X).isApprox(dense_layer.multiply(X), 1e-12));
  EXPECT_TRUE(conv_layer.multiply(X, Weights::absolute).isApprox(dense_layer.multiply(X, Weights::absolute), 1e-12));
  EXPECT_TRUE(conv_layer.dense().isApprox(dense_layer.weights, 1e-12));
  // A network of the structured layer and a dense output layer evaluates as its dense twin.
  AffineLayer out(random_matrix(2, conv_layer.outputs(), rng), Eigen::VectorXd::Random(2));
  Network a({conv_layer, out}), b({dense_layer, out});
  a.validate();
  EXPECT_TRUE(a.evaluate(X).isApprox(b.evaluate(X), 1e-12));
  EXPECT_EQ(a.multiply_adds(), maps.second.multiply_adds() + out.weights.size());
  EXPECT_LT(a.parameters(), b.parameters());  // kernels, not a dense matrix
}

TEST(StructuredMap, RefusesMapsWhoseShapesDoNotChain) {
  std::mt19937 rng(5);
  const Shape3 x{2, 5, 5};
  Conv2d c = random_conv(x, 3, 3, 1, 0, rng);  // 3x3x3
  EXPECT_THAT([&] { StructuredMap({{x}}, {{Shape3{3, 5, 5}}}, {StructuredMap::Block{0, 0, {c}, {}}}, "L"); },
              testing::ThrowsMessage<InputError>(HasSubstr("L: block 0 gives 27 features")));
  EXPECT_THAT([&] { StructuredMap({{x}}, {{c.output()}}, {StructuredMap::Block{0, 1, {c}, {}}}, "L"); },
              testing::ThrowsMessage<InputError>(HasSubstr("names a segment that does not exist")));
  EXPECT_THAT([&] { StructuredMap({{Shape3{1, 5, 5}}}, {{c.output()}}, {StructuredMap::Block{0, 0, {c}, {}}}); },
              testing::ThrowsMessage<InputError>(HasSubstr("takes 50 features but is given 25")));
  EXPECT_THAT([&] { StructuredMap({{x}}, {{c.output(), true}}, {StructuredMap::Block{0, 0, {c}, {}}}); },
              testing::ThrowsMessage<InputError>(HasSubstr("writes a carry segment but is not the identity")));
  EXPECT_THAT([&] { StructuredMap({{x}}, {{x, true}}, {}); },
              testing::ThrowsMessage<InputError>(HasSubstr("carry segment 0 is written by 0 blocks")));
}

}  // namespace
}  // namespace leo
