// The checker's flattening of structured layers (checker/layers.hpp) against
// the network's own dense matrix (AffineLayer::dense(), built by the
// operators' products): two independent readings of the same layer. Every
// coefficient of the network's matrix lies in the checker's interval, an
// entry the checker leaves out is 0 there, a convolution's weights are
// copied exactly (lo == hi), and AvgPool's 1/d is a proper interval around
// the exact 1/d.
#include <gtest/gtest.h>

#include <cmath>

#include "leo/checker/layers.hpp"
#include "leo/io/model_file.hpp"
#include "leo/network/structured.hpp"
#include "support.hpp"

namespace leo {
namespace {

bool only_convs(const AffineLayer& l) {
  for (const auto& b : l.structured->blocks())
    for (const auto& op : b.ops)
      if (!std::holds_alternative<Conv2d>(op) && !std::holds_alternative<Permute>(op)) return false;
  return true;
}

TEST(CheckerLayers, FlattenedFixturesEncloseTheNetworksDenseMatrix) {
  int structured = 0, pooled = 0;
  for (const std::string name : {"cnn_basic", "cnn_bn", "cnn_avgpool", "cnn_residual", "cnn_nhwc", "cnn_zeropad",
                                 "cnn_depthwise", "cnn_dilated", "cnn_linear_bn"}) {
    SCOPED_TRACE(name);
    const Network net = read_model(test::fixtures_dir() / "pytorch" / (name + ".onnx"));
    for (std::size_t k = 0; k < net.layers.size(); ++k) {
      const AffineLayer& l = net.layers[k];
      if (l.is_dense()) continue;
      ++structured;
      const Eigen::MatrixXd D = l.dense();
      const cert::IntervalRows R = cert::interval_rows(l, "test");
      ASSERT_EQ(R.rows, D.rows());
      ASSERT_EQ(R.cols, D.cols());
      const bool exact = only_convs(l);
      Eigen::MatrixXd covered = Eigen::MatrixXd::Zero(D.rows(), D.cols());
      for (Eigen::Index r = 0; r < R.rows; ++r)
        for (Eigen::Index e = R.begin(r); e < R.end(r); ++e) {
          const auto t = static_cast<std::size_t>(e);
          const Eigen::Index c = R.col[t];
          if (e > R.begin(r)) {
            ASSERT_LT(R.col[t - 1], c) << "ascending columns";
          }
          covered(r, c) = 1;
          if (exact) {
            EXPECT_EQ(R.lo[t], D(r, c)) << k << " " << r << " " << c;
            EXPECT_EQ(R.hi[t], D(r, c)) << k << " " << r << " " << c;
          } else {
            // The network's product rounds; a hair of slack for its rounding only.
            const double slack = 1e-15 * (1 + std::abs(D(r, c)));
            EXPECT_LE(R.lo[t], D(r, c) + slack) << k << " " << r << " " << c;
            EXPECT_GE(R.hi[t], D(r, c) - slack) << k << " " << r << " " << c;
            EXPECT_LE(R.hi[t] - R.lo[t], 1e-12 * (1 + std::abs(D(r, c))));
          }
        }
      for (Eigen::Index r = 0; r < D.rows(); ++r)
        for (Eigen::Index c = 0; c < D.cols(); ++c)
          if (covered(r, c) == 0) {
            EXPECT_EQ(D(r, c), 0.0) << k << " " << r << " " << c;
          }
      for (const auto& b : l.structured->blocks())
        for (const auto& op : b.ops) pooled += std::holds_alternative<AvgPool2d>(op);
    }
  }
  EXPECT_GE(structured, 9);
  EXPECT_GE(pooled, 1);
}

TEST(CheckerLayers, AveragePoolingOfNineIsAProperIntervalAroundOneNinth) {
  const Shape3 in{1, 3, 3};
  AffineLayer layer;
  layer.structured = std::make_shared<const StructuredMap>(
      std::vector<StructuredMap::Segment>{{in, false}}, std::vector<StructuredMap::Segment>{{Shape3{1, 1, 1}, false}},
      std::vector<StructuredMap::Block>{{0, 0, {AvgPool2d::global(in)}, {}}});
  layer.bias = Eigen::VectorXd::Zero(1);
  const cert::IntervalRows R = cert::interval_rows(layer, "test");
  ASSERT_EQ(R.rows, 1);
  ASSERT_EQ(R.entries(), 9u);
  for (std::size_t e = 0; e < 9; ++e) {
    EXPECT_LT(R.lo[e], R.hi[e]);
    // 9 lo <= 1 <= 9 hi exactly: fma rounds once, so the sign of 9x - 1 is kept.
    EXPECT_LE(std::fma(9.0, R.lo[e], -1.0), 0.0);
    EXPECT_GE(std::fma(9.0, R.hi[e], -1.0), 0.0);
    EXPECT_EQ(std::nextafter(R.lo[e], 1.0), R.hi[e]) << "the two doubles around 1/9";
  }
}

}  // namespace
}  // namespace leo
