// The convolution, pooling and per-channel operators (network/conv.hpp)
// against an independent dense lowering: the matrix of each operator is built
// here from its definition, with plain loops over output positions, and every
// product of the library (both layouts, A and |A|, chunked or not) must agree
// with the dense product on many random shapes.
#include "leo/network/conv.hpp"

#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "leo/util/error.hpp"

namespace leo {
namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;
using testing::HasSubstr;

struct ConvCase {
  Shape3 in;
  std::int64_t out_channels = 1;
  Window2d w;
  std::int64_t group = 1;
  std::vector<double> weights;  // ONNX order O x C/g x kh x kw
  std::vector<double> bias;
};

// y[o, oh, ow] = b[o] + sum W[o, cl, i, j] x[g*C/g + cl, oh*sh - pt + i*dh, ow*sw - pl + j*dw].
MatrixXd dense_conv(const ConvCase& k) {
  const auto C = k.in.channels, H = k.in.height, W = k.in.width, O = k.out_channels;
  const auto OH = (H + k.w.pad_top + k.w.pad_bottom - (k.w.kernel_h - 1) * k.w.dilation_h - 1) / k.w.stride_h + 1;
  const auto OW = (W + k.w.pad_left + k.w.pad_right - (k.w.kernel_w - 1) * k.w.dilation_w - 1) / k.w.stride_w + 1;
  const auto Cg = C / k.group, Og = O / k.group;
  MatrixXd D = MatrixXd::Zero(O * OH * OW, C * H * W);
  for (std::int64_t o = 0; o < O; ++o)
    for (std::int64_t oh = 0; oh < OH; ++oh)
      for (std::int64_t ow = 0; ow < OW; ++ow)
        for (std::int64_t cl = 0; cl < Cg; ++cl)
          for (std::int64_t i = 0; i < k.w.kernel_h; ++i)
            for (std::int64_t j = 0; j < k.w.kernel_w; ++j) {
              const auto c = (o / Og) * Cg + cl;
              const auto h = oh * k.w.stride_h - k.w.pad_top + i * k.w.dilation_h;
              const auto x = ow * k.w.stride_w - k.w.pad_left + j * k.w.dilation_w;
              if (h < 0 || h >= H || x < 0 || x >= W) continue;
              D((o * OH + oh) * OW + ow, (c * H + h) * W + x) +=
                  k.weights[static_cast<std::size_t>(((o * Cg + cl) * k.w.kernel_h + i) * k.w.kernel_w + j)];
            }
  return D;
}

VectorXd dense_conv_bias(const ConvCase& k, Eigen::Index outputs) {
  VectorXd b(outputs);
  const auto per = outputs / k.out_channels;
  for (Eigen::Index r = 0; r < outputs; ++r) b(r) = k.bias.empty() ? 0.0 : k.bias[static_cast<std::size_t>(r / per)];
  return b;
}

// Average pool by definition: mean over the window cells inside the input,
// divided by kh*kw (count_include_pad) or by the number of those cells.
MatrixXd dense_pool(const Shape3& in, const Window2d& w, bool include_pad) {
  const auto OH = (in.height + w.pad_top + w.pad_bottom - w.kernel_h) / w.stride_h + 1;
  const auto OW = (in.width + w.pad_left + w.pad_right - w.kernel_w) / w.stride_w + 1;
  MatrixXd D = MatrixXd::Zero(in.channels * OH * OW, in.size());
  for (std::int64_t c = 0; c < in.channels; ++c)
    for (std::int64_t oh = 0; oh < OH; ++oh)
      for (std::int64_t ow = 0; ow < OW; ++ow) {
        std::vector<std::int64_t> cells;
        for (std::int64_t i = 0; i < w.kernel_h; ++i)
          for (std::int64_t j = 0; j < w.kernel_w; ++j) {
            const auto h = oh * w.stride_h - w.pad_top + i, x = ow * w.stride_w - w.pad_left + j;
            if (h >= 0 && h < in.height && x >= 0 && x < in.width) cells.push_back((c * in.height + h) * in.width + x);
          }
        const double d = include_pad ? static_cast<double>(w.kernel_h * w.kernel_w) : static_cast<double>(cells.size());
        for (auto f : cells) D((c * OH + oh) * OW + ow, f) += 1.0 / d;
      }
  return D;
}

double rel_diff(const MatrixXd& a, const MatrixXd& b) {
  EXPECT_EQ(a.rows(), b.rows());
  EXPECT_EQ(a.cols(), b.cols());
  if (a.rows() != b.rows() || a.cols() != b.cols()) return 1.0;
  return (a - b).cwiseAbs().maxCoeff() / (1.0 + b.cwiseAbs().maxCoeff());
}

MatrixXd random_matrix(std::mt19937& rng, Eigen::Index r, Eigen::Index c) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  MatrixXd m(r, c);
  for (Eigen::Index j = 0; j < c; ++j)
    for (Eigen::Index i = 0; i < r; ++i) m(i, j) = u(rng);
  return m;
}

// Every product of op against the dense matrix D (and |D|), in both layouts.
template <typename Op>
void expect_products_match(const Op& op, const MatrixXd& D, std::mt19937& rng, const std::string& what) {
  SCOPED_TRACE(what);
  const MatrixXd Dabs = D.cwiseAbs();
  for (Eigen::Index N : {1, 3, 8}) {
    const MatrixXd X = random_matrix(rng, D.cols(), N), L = random_matrix(rng, D.rows(), N);
    EXPECT_LT(rel_diff(op.multiply(X), D * X), 1e-13);
    EXPECT_LT(rel_diff(op.transpose_multiply(L), D.transpose() * L), 1e-13);
    EXPECT_LT(rel_diff(op.multiply(X, Weights::absolute), Dabs * X), 1e-13);
    EXPECT_LT(rel_diff(op.transpose_multiply(L, Weights::absolute), Dabs.transpose() * L), 1e-13);
    const MatrixXd Xr = X.transpose(), Nu = L.transpose();
    EXPECT_LT(rel_diff(op.multiply_rows(Xr), Xr * D.transpose()), 1e-13);
    EXPECT_LT(rel_diff(op.transpose_multiply_rows(Nu), Nu * D), 1e-13);
    EXPECT_LT(rel_diff(op.multiply_rows(Xr, Weights::absolute), Xr * Dabs.transpose()), 1e-13);
    EXPECT_LT(rel_diff(op.transpose_multiply_rows(Nu, Weights::absolute), Nu * Dabs), 1e-13);
    // The adjoint identity <A x, l> = <x, A^T l>, sample by sample.
    const VectorXd lhs = (op.multiply(X).cwiseProduct(L)).colwise().sum();
    const VectorXd rhs = (X.cwiseProduct(op.transpose_multiply(L))).colwise().sum();
    EXPECT_LT((lhs - rhs).cwiseAbs().maxCoeff(), 1e-12 * (1.0 + D.cwiseAbs().sum()));
  }
}

ConvCase random_conv_case(std::mt19937& rng) {
  auto pick = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };
  ConvCase k;
  const std::int64_t groups[] = {1, 1, 1, 2, 3};
  k.group = groups[pick(0, 4)];
  const bool depthwise = pick(0, 5) == 0;
  k.in = {k.group * pick(1, 3), pick(1, 9), pick(1, 9)};
  if (depthwise) k.group = k.in.channels;
  k.out_channels = k.group * pick(1, 3);
  k.w.kernel_h = pick(1, 4);
  k.w.kernel_w = pick(1, 4);
  k.w.stride_h = pick(1, 3);
  k.w.stride_w = pick(1, 3);
  k.w.pad_top = pick(0, 2);
  k.w.pad_left = pick(0, 2);
  k.w.pad_bottom = pick(0, 2);
  k.w.pad_right = pick(0, 2);
  k.w.dilation_h = pick(1, 3);
  k.w.dilation_w = pick(1, 3);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  k.weights.resize(static_cast<std::size_t>(k.out_channels * (k.in.channels / k.group) * k.w.kernel_h * k.w.kernel_w));
  for (auto& v : k.weights) v = u(rng);
  if (pick(0, 3) > 0) {
    k.bias.resize(static_cast<std::size_t>(k.out_channels));
    for (auto& v : k.bias) v = u(rng);
  }
  return k;
}

bool fits(const Shape3& in, const Window2d& w) {
  return w.extent_h() <= in.height + w.pad_top + w.pad_bottom && w.extent_w() <= in.width + w.pad_left + w.pad_right;
}

TEST(Conv2d, KnownAnswer) {
  // 1x3x3 input 1..9, a 2x2 kernel [[1, 2], [3, 4]], stride 1, no pads: 1x2x2.
  Window2d w;
  w.kernel_h = w.kernel_w = 2;
  const auto conv = Conv2d::from_onnx_weights({1, 3, 3}, 1, w, 1, {1, 2, 3, 4}, {0.5});
  EXPECT_EQ(conv.output(), (Shape3{1, 2, 2}));
  VectorXd x(9);
  x << 1, 2, 3, 4, 5, 6, 7, 8, 9;
  VectorXd y = conv.forward(x);
  VectorXd expected(4);
  expected << 1 + 4 + 12 + 20 + 0.5, 2 + 6 + 15 + 24 + 0.5, 4 + 10 + 21 + 32 + 0.5, 5 + 12 + 24 + 36 + 0.5;
  EXPECT_EQ(y, expected);
  EXPECT_EQ(conv.parameters(), 5);
  EXPECT_EQ(conv.multiply_adds(), 16);
  // Stride 2, pads 1 all round: output 2x2, each output sees the corner cells.
  w.stride_h = w.stride_w = 2;
  w.pad_top = w.pad_left = w.pad_bottom = w.pad_right = 1;
  const auto padded = Conv2d::from_onnx_weights({1, 3, 3}, 1, w, 1, {1, 2, 3, 4}, {});
  EXPECT_EQ(padded.output(), (Shape3{1, 2, 2}));
  // Windows start at (-1,-1), (-1,1), (1,-1), (1,1) in input coordinates.
  expected << 4 * 1, 3 * 2 + 4 * 3, 2 * 4 + 4 * 7, 1 * 5 + 2 * 6 + 3 * 8 + 4 * 9;
  EXPECT_EQ(padded.multiply(x), expected);
}

TEST(Conv2d, RandomShapesAgreeWithTheDenseLowering) {
  std::mt19937 rng(12);
  int checked = 0, refused = 0;
  for (int t = 0; t < 200; ++t) {
    const auto k = random_conv_case(rng);
    const auto what = fmt::format("case {}: in {}x{}x{} out {} k {}x{} s {},{} p {},{},{},{} d {},{} g {}", t,
                                  k.in.channels, k.in.height, k.in.width, k.out_channels, k.w.kernel_h, k.w.kernel_w,
                                  k.w.stride_h, k.w.stride_w, k.w.pad_top, k.w.pad_left, k.w.pad_bottom, k.w.pad_right,
                                  k.w.dilation_h, k.w.dilation_w, k.group);
    if (!fits(k.in, k.w)) {
      EXPECT_THROW(Conv2d::from_onnx_weights(k.in, k.out_channels, k.w, k.group, k.weights, k.bias), InputError)
          << what;
      ++refused;
      continue;
    }
    auto conv = Conv2d::from_onnx_weights(k.in, k.out_channels, k.w, k.group, k.weights, k.bias);
    const MatrixXd D = dense_conv(k);
    ASSERT_EQ(conv.outputs(), D.rows()) << what;
    ASSERT_EQ(conv.inputs(), D.cols()) << what;
    EXPECT_LT(rel_diff(conv.to_dense(), D), 1e-15) << what;
    expect_products_match(conv, D, rng, what);
    const MatrixXd X = random_matrix(rng, D.cols(), 5);
    EXPECT_LT(rel_diff(conv.forward(X), (D * X).colwise() + dense_conv_bias(k, D.rows())), 1e-13) << what;
    // Tiny scratch budgets: one sample per chunk, and chunks that do not
    // divide the batch. Same results.
    for (Eigen::Index limit : {Eigen::Index{1}, conv.outputs() * 3 + 1}) {
      conv.scratch_limit = limit;
      expect_products_match(conv, D, rng, what + fmt::format(" scratch {}", limit));
    }
    // Sparse rows (for LP/MILP encodings) are the dense rows.
    for (Eigen::Index r = 0; r < D.rows(); r += 1 + D.rows() / 7) {
      Eigen::RowVectorXd from_sparse = Eigen::RowVectorXd::Zero(D.cols());
      Eigen::Index last = -1;
      for (const auto& [f, v] : conv.row(r)) {
        EXPECT_GT(f, last) << what;
        last = f;
        from_sparse(f) = v;
      }
      EXPECT_EQ(from_sparse, D.row(r)) << what << " row " << r;
    }
    // The rounding-error term counts bound every row's / column's nonzeros.
    for (Eigen::Index r = 0; r < D.rows(); ++r)
      EXPECT_LE((D.row(r).array() != 0).count(), conv.terms_per_output()) << what;
    for (Eigen::Index c = 0; c < D.cols(); ++c)
      EXPECT_LE((D.col(c).array() != 0).count(), conv.terms_per_input()) << what;
    ++checked;
  }
  EXPECT_GT(checked, 100);
  EXPECT_GT(refused, 5);
}

TEST(Conv2d, DepthwiseAndGroupedAgreeWithPerGroupConvolutions) {
  // A grouped conv is the block-diagonal stack of its groups' convolutions.
  std::mt19937 rng(3);
  Window2d w;
  w.kernel_h = 3;
  w.kernel_w = 2;
  w.pad_top = w.pad_bottom = 1;
  w.stride_w = 2;
  const Shape3 in{4, 5, 6};
  for (std::int64_t group : {2, 4}) {
    const std::int64_t O = 2 * group, Cg = 4 / group, Og = 2;
    const MatrixXd weights = random_matrix(rng, O, Cg * 6);
    const Conv2d conv(in, O, w, group, weights, VectorXd());
    const MatrixXd X = random_matrix(rng, in.size(), 4);
    const MatrixXd Y = conv.multiply(X);
    const auto per_in = in.positions() * Cg, per_out = conv.output().positions() * Og;
    for (std::int64_t g = 0; g < group; ++g) {
      const Conv2d part({Cg, 5, 6}, Og, w, 1, weights.middleRows(g * Og, Og), VectorXd());
      EXPECT_LT(rel_diff(Y.middleRows(g * per_out, per_out), part.multiply(X.middleRows(g * per_in, per_in))), 1e-14);
    }
  }
}

TEST(Conv2d, CifarLikeLayerAgreesWithTheDenseLowering) {
  // 3x16x16 -> 16x8x8, k4 s2 p1 (the first layer of the cifar nets on a
  // quarter of the image), a batch of 64 (large enough for the OpenMP
  // branches of the products), with the default scratch budget.
  std::mt19937 rng(5);
  ConvCase k;
  k.in = {3, 16, 16};
  k.out_channels = 16;
  k.w.kernel_h = k.w.kernel_w = 4;
  k.w.stride_h = k.w.stride_w = 2;
  k.w.pad_top = k.w.pad_left = k.w.pad_bottom = k.w.pad_right = 1;
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  for (int i = 0; i < 16 * 48; ++i) k.weights.push_back(u(rng));
  for (int i = 0; i < 16; ++i) k.bias.push_back(u(rng));
  const auto conv = Conv2d::from_onnx_weights(k.in, k.out_channels, k.w, 1, k.weights, k.bias);
  EXPECT_EQ(conv.output(), (Shape3{16, 8, 8}));
  const MatrixXd D = dense_conv(k);
  const MatrixXd X = random_matrix(rng, 768, 64);
  EXPECT_LT(rel_diff(conv.forward(X), (D * X).colwise() + dense_conv_bias(k, 1024)), 1e-13);
  const MatrixXd Nu = random_matrix(rng, 64, 1024);
  EXPECT_LT(rel_diff(conv.transpose_multiply_rows(Nu), Nu * D), 1e-13);
  EXPECT_LT(rel_diff(conv.transpose_multiply(Nu.transpose(), Weights::absolute), D.cwiseAbs().transpose() * Nu.transpose()), 1e-13);
}

TEST(Conv2d, ChannelSelectionKeepsTheMapOfTheKeptChannels) {
  std::mt19937 rng(31);
  int checked = 0;
  for (int t = 0; t < 60; ++t) {
    auto k = random_conv_case(rng);
    if (k.group != 1 || !fits(k.in, k.w)) continue;
    const auto conv = Conv2d::from_onnx_weights(k.in, k.out_channels, k.w, 1, k.weights, k.bias);
    std::vector<std::int64_t> out_keep, in_keep;
    for (std::int64_t c = 0; c < k.out_channels; ++c)
      if (c % 2 == t % 2 || k.out_channels == 1) out_keep.push_back(c);
    for (std::int64_t c = 0; c < k.in.channels; ++c)
      if (c != t % k.in.channels || k.in.channels == 1) in_keep.push_back(c);
    const MatrixXd X = random_matrix(rng, conv.inputs(), 3);
    // Outputs: the kept channels' rows.
    const auto fewer_out = conv.select_output_channels(out_keep);
    const MatrixXd Y = conv.forward(X);
    const auto rows = channel_features(conv.output(), out_keep);
    ASSERT_EQ(fewer_out.outputs(), static_cast<Eigen::Index>(rows.size()));
    EXPECT_LT(rel_diff(fewer_out.forward(X), Y(rows, Eigen::all)), 1e-14);
    // Inputs: x zero on the dropped channels.
    MatrixXd Xz = MatrixXd::Zero(X.rows(), X.cols());
    const auto cols = channel_features(conv.input(), in_keep);
    Xz(cols, Eigen::all) = X(cols, Eigen::all);
    const auto fewer_in = conv.select_input_channels(in_keep);
    EXPECT_EQ(fewer_in.input().channels, static_cast<std::int64_t>(in_keep.size()));
    EXPECT_LT(rel_diff(fewer_in.forward(X(cols, Eigen::all)), conv.forward(Xz)), 1e-14);
    ++checked;
  }
  EXPECT_GT(checked, 10);
  Window2d w;
  const auto grouped = Conv2d::from_onnx_weights({2, 3, 3}, 2, w, 2, {1.0, 2.0}, {});
  EXPECT_THROW(grouped.select_output_channels({0}), leo::Error);
  const auto plain = Conv2d::from_onnx_weights({2, 3, 3}, 2, w, 1, {1.0, 2.0, 3.0, 4.0}, {});
  EXPECT_THROW(plain.select_output_channels({1, 0}), leo::Error);
  EXPECT_THROW(plain.select_input_channels({2}), leo::Error);
  EXPECT_THROW(plain.select_input_channels({}), leo::Error);
}

TEST(Conv2d, ShapeErrorsAreInputErrorsWithClearMessages) {
  Window2d w;
  w.kernel_h = w.kernel_w = 5;
  auto message = [](auto&& make) {
    try {
      make();
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  const auto ones = [](std::int64_t n) { return std::vector<double>(static_cast<std::size_t>(n), 1.0); };
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({1, 4, 4}, 1, w, 1, ones(25), {}, "net.onnx: Conv node 'c1'"); }),
              HasSubstr("net.onnx: Conv node 'c1': the kernel 5x5 is bigger than the padded input 4x4 (input 4x4, pads 0,0,0,0)"));
  w.pad_top = w.pad_bottom = w.pad_left = w.pad_right = 1;
  EXPECT_EQ(message([&] { Conv2d::from_onnx_weights({1, 4, 4}, 1, w, 1, ones(25), {}); }), "no error");
  w.dilation_h = 2;
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({1, 4, 4}, 1, w, 1, ones(25), {}); }),
              HasSubstr("the kernel 5x5 (dilated 9x5) is bigger than the padded input 6x6"));
  w = Window2d{};
  w.kernel_h = w.kernel_w = 3;
  // Weights for 2 input channels on a 3-channel input.
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({3, 8, 8}, 4, w, 1, ones(4 * 2 * 9), {}); }),
              HasSubstr("the weights expect 2 input channels (2 per group x 1 group) but the input has 3 channels"));
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({3, 8, 8}, 4, w, 2, ones(4 * 9), {}); }),
              HasSubstr("the 3 input channels are not divisible by group 2"));
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({4, 8, 8}, 3, w, 2, ones(3 * 2 * 9), {}); }),
              HasSubstr("the 3 output channels are not divisible by group 2"));
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({3, 8, 8}, 4, w, 1, ones(4 * 27), ones(3)); }),
              HasSubstr("the bias has 3 entries, expected 4"));
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({3, 8, 8}, 4, w, 1, ones(4 * 27 - 1), {}); }),
              HasSubstr("are not a whole number per output channel"));
  w.stride_w = 0;
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({3, 8, 8}, 4, w, 1, ones(4 * 27), {}); }),
              HasSubstr("strides must be positive (got 1,0)"));
  w.stride_w = 1;
  w.pad_left = -1;
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({3, 8, 8}, 4, w, 1, ones(4 * 27), {}); }),
              HasSubstr("pads must not be negative"));
  w.pad_left = 0;
  w.dilation_w = 0;
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({3, 8, 8}, 4, w, 1, ones(4 * 27), {}); }),
              HasSubstr("dilations must be positive"));
  w.dilation_w = 1;
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({0, 8, 8}, 4, w, 1, {}, {}); }),
              HasSubstr("has a dimension that is not positive"));
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({3, 8, 8}, 0, w, 1, {}, {}); }),
              HasSubstr("the number of output channels (0) is not positive"));
  auto nan = ones(4 * 27);
  nan[7] = std::nan("");
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({3, 8, 8}, 4, w, 1, nan, {}); }),
              HasSubstr("a weight or bias is NaN or infinite"));
  EXPECT_THAT(message([&] { Conv2d::from_onnx_weights({1 << 20, 1 << 20, 1 << 20}, 1, w, 1, {}, {}); }),
              HasSubstr("too large"));
  // Wrongly sized batches are a caller's bug, not an input error.
  const auto conv = Conv2d::from_onnx_weights({3, 8, 8}, 4, w, 1, ones(4 * 27), {});
  EXPECT_THROW(conv.multiply(MatrixXd::Zero(10, 2)), leo::Error);
  EXPECT_THROW(conv.transpose_multiply_rows(MatrixXd::Zero(2, 10)), leo::Error);
}

TEST(Conv2d, SamePadsGiveCeilOutputSizes) {
  Window2d w;
  w.kernel_h = 2;
  w.kernel_w = 2;
  set_same_pads(w, 5, 5, AutoPad::same_upper);
  EXPECT_EQ(std::tie(w.pad_top, w.pad_bottom), std::make_tuple(0, 1));
  set_same_pads(w, 5, 5, AutoPad::same_lower);
  EXPECT_EQ(std::tie(w.pad_top, w.pad_bottom), std::make_tuple(1, 0));
  std::mt19937 rng(8);
  for (int t = 0; t < 200; ++t) {
    auto pick = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };
    Window2d v;
    v.kernel_h = pick(1, 5);
    v.kernel_w = pick(1, 5);
    v.stride_h = pick(1, 3);
    v.stride_w = pick(1, 3);
    v.dilation_h = pick(1, 2);
    const auto h = pick(1, 12), x = pick(1, 12);
    set_same_pads(v, h, x, t % 2 ? AutoPad::same_upper : AutoPad::same_lower);
    EXPECT_EQ(v.output_h(h), (h + v.stride_h - 1) / v.stride_h);
    EXPECT_EQ(v.output_w(x), (x + v.stride_w - 1) / v.stride_w);
    EXPECT_LE(std::abs(v.pad_top - v.pad_bottom), 1);
  }
}

TEST(AvgPool2d, RandomShapesAgreeWithTheDenseLowering) {
  std::mt19937 rng(21);
  auto pick = [&](std::int64_t lo, std::int64_t hi) { return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng); };
  int checked = 0;
  for (int t = 0; t < 200; ++t) {
    const Shape3 in{pick(1, 3), pick(1, 8), pick(1, 8)};
    Window2d w;
    w.kernel_h = pick(1, 4);
    w.kernel_w = pick(1, 4);
    w.stride_h = pick(1, 3);
    w.stride_w = pick(1, 3);
    w.pad_top = pick(0, w.kernel_h - 1);
    w.pad_bottom = pick(0, w.kernel_h - 1);
    w.pad_left = pick(0, w.kernel_w - 1);
    w.pad_right = pick(0, w.kernel_w - 1);
    const bool include_pad = pick(0, 1) == 1;
    if (!fits(in, w)) {
      EXPECT_THROW(AvgPool2d(in, w, include_pad), InputError);
      continue;
    }
    const AvgPool2d pool(in, w, include_pad);
    const MatrixXd D = dense_pool(in, w, include_pad);
    EXPECT_LT(rel_diff(pool.to_dense(), D), 1e-15);
    expect_products_match(pool, D, rng, fmt::format("pool case {}", t));
    for (Eigen::Index c = 0; c < D.cols(); ++c) EXPECT_LE((D.col(c).array() != 0).count(), pool.terms_per_input());
    ++checked;
  }
  EXPECT_GT(checked, 100);
}

TEST(AvgPool2d, GlobalIsTheChannelMean) {
  const auto pool = AvgPool2d::global({2, 3, 4});
  EXPECT_EQ(pool.output(), (Shape3{2, 1, 1}));
  VectorXd x = VectorXd::LinSpaced(24, 0, 23);
  VectorXd y = pool.forward(x);
  EXPECT_DOUBLE_EQ(y(0), 5.5);
  EXPECT_DOUBLE_EQ(y(1), 17.5);
}

TEST(AvgPool2d, Errors) {
  Window2d w;
  w.kernel_h = w.kernel_w = 2;
  w.pad_top = 2;
  EXPECT_THROW(AvgPool2d({1, 4, 4}, w, true), InputError);  // pad >= kernel
  w.pad_top = 0;
  w.dilation_h = 2;
  EXPECT_THROW(AvgPool2d({1, 4, 4}, w, true), InputError);
  w.dilation_h = 1;
  w.kernel_h = 5;
  EXPECT_THROW(AvgPool2d({1, 4, 4}, w, true), InputError);
}

TEST(ChannelAffine, BatchNormFormulaAndProducts) {
  std::mt19937 rng(4);
  const Shape3 shape{3, 2, 2};
  VectorXd gamma(3), beta(3), mean(3), var(3);
  gamma << 1.5, -0.5, 2.0;
  beta << 0.1, 0.2, -0.3;
  mean << 0.0, 1.0, -2.0;
  var << 4.0, 0.25, 1.0;
  const auto bn = ChannelAffine::batch_norm(shape, gamma, beta, mean, var, 1e-5);
  VectorXd x = random_matrix(rng, 12, 1).col(0);
  VectorXd y = bn.forward(x);
  for (int c = 0; c < 3; ++c)
    for (int p = 0; p < 4; ++p)
      EXPECT_NEAR(y(c * 4 + p), (x(c * 4 + p) - mean(c)) / std::sqrt(var(c) + 1e-5) * gamma(c) + beta(c), 1e-14);
  expect_products_match(bn, bn.to_dense(), rng, "bn");
  MatrixXd expected = MatrixXd::Zero(12, 12);
  for (int r = 0; r < 12; ++r) expected(r, r) = bn.scale()(r / 4);
  EXPECT_EQ(bn.to_dense(), expected);
  var(1) = -1.0;
  EXPECT_THROW(ChannelAffine::batch_norm(shape, gamma, beta, mean, var, 1e-5), InputError);
  var(1) = 1.0;
  EXPECT_THROW(ChannelAffine::batch_norm({4, 2, 2}, gamma, beta, mean, var, 1e-5), InputError);
  mean(0) = std::numeric_limits<double>::infinity();
  EXPECT_THROW(ChannelAffine::batch_norm(shape, gamma, beta, mean, var, 1e-5), InputError);
}

TEST(ChannelAffine, FoldIntoConvAndDenseKeepsTheMap) {
  std::mt19937 rng(9);
  for (int t = 0; t < 50; ++t) {
    auto k = random_conv_case(rng);
    if (!fits(k.in, k.w)) continue;
    const auto conv = Conv2d::from_onnx_weights(k.in, k.out_channels, k.w, k.group, k.weights, k.bias);
    const auto C = conv.output().channels;
    const VectorXd var = random_matrix(rng, C, 1).col(0).cwiseAbs();
    const auto bn = ChannelAffine::batch_norm(conv.output(), random_matrix(rng, C, 1).col(0),
                                              random_matrix(rng, C, 1).col(0), random_matrix(rng, C, 1).col(0), var,
                                              1e-3);
    const Conv2d folded = fold(conv, bn);
    EXPECT_EQ(folded.output(), conv.output());
    const MatrixXd X = random_matrix(rng, conv.inputs(), 4);
    EXPECT_LT(rel_diff(folded.forward(X), bn.forward(conv.forward(X))), 1e-12);
    // A wrongly shaped BN is refused.
    const auto other = ChannelAffine({C + 1, conv.output().height, conv.output().width}, VectorXd::Ones(C + 1),
                                     VectorXd::Zero(C + 1));
    EXPECT_THROW(fold(conv, other), InputError);
  }
  // Dense layer followed by a BN over a 2x3x1 reshaping of its 6 outputs.
  AffineLayer layer{random_matrix(rng, 6, 4), random_matrix(rng, 6, 1).col(0)};
  const ChannelAffine bn({2, 3, 1}, VectorXd::LinSpaced(2, -1.5, 2.0), VectorXd::LinSpaced(2, 0.5, 0.25));
  const AffineLayer folded = fold(layer, bn);
  const MatrixXd X = random_matrix(rng, 4, 7);
  EXPECT_LT(rel_diff((folded.weights * X).colwise() + folded.bias,
                     bn.forward((layer.weights * X).colwise() + layer.bias)),
            1e-14);
  EXPECT_THROW(fold(layer, ChannelAffine({5, 1, 1}, VectorXd::Ones(5), VectorXd::Zero(5))), InputError);
}

}  // namespace
}  // namespace leo
