// Compression that stays convolutional (compress/channels.hpp, the structured
// path of compress/compress.hpp), the float32 evaluation of structured layers
// (network/evaluate_float.hpp), the stored-precision check on them
// (verify/check.hpp) and verify's refusal of what it cannot do yet.
//
// The CNNs are built here with channels whose verdicts are known by
// construction (all weights <= 0 on a nonnegative input and a negative bias:
// inactive at every position; a large positive bias: active), and the
// verdicts are then taken from interval arithmetic with a margin through the
// layers' own products (|W| for radii), checked on the sample points too.
// Every compressed network is compared with its original on 100,000 random
// points of the box.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>

#include "leo/compress/channels.hpp"
#include "leo/compress/compress.hpp"
#include "leo/compress/stored.hpp"
#include "leo/network/evaluate_float.hpp"
#include "leo/network/structured.hpp"
#include "leo/verify/check.hpp"
#include "leo/verify/verify.hpp"
#include "cnn_builders.hpp"
#include "stability_check.hpp"
#include "support.hpp"

using namespace leo;

namespace {

using Eigen::MatrixXd;
using Eigen::VectorXd;
using Statuses = std::vector<std::vector<Status>>;
using Segment = StructuredMap::Segment;
using Block = StructuredMap::Block;

MatrixXd random_matrix(Eigen::Index r, Eigen::Index c, std::mt19937& rng) {
  std::normal_distribution<double> d(0.0, 1.0);
  MatrixXd m(r, c);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = d(rng);
  return m;
}

// A conv with random weights; the channels in `negative` get weights <= 0.
Conv2d conv(Shape3 in, std::int64_t out, std::int64_t k, std::int64_t stride, std::int64_t pad, std::mt19937& rng,
            const std::vector<int>& negative = {}, std::int64_t group = 1) {
  MatrixXd w = random_matrix(out, in.channels / group * k * k, rng);
  for (int c : negative) w.row(c) = -w.row(c).cwiseAbs();
  return test::conv2d(in, out, k, stride, pad, std::move(w), group);
}

using test::channel_bias;
using test::analysis_of;
using test::interval_statuses;
using test::square_window;
using test::structured_layer;

// The verdicts hold at n random points of the box.
void expect_verdicts_hold(const Network& net, const Statuses& st, const Box& box, int n = 20000) {
  std::mt19937_64 rng(9);
  const MatrixXd X = test::random_points(box.lower, box.upper, n, rng);
  const auto pre = net.pre_activations(X);
  for (std::size_t h = 0; h < st.size(); ++h)
    for (std::size_t i = 0; i < st[h].size(); ++i) {
      const auto row = pre[h].row(static_cast<Eigen::Index>(i));
      if (st[h][i] == Status::inactive) {
        ASSERT_LE(row.maxCoeff(), 0.0) << h << ":" << i;
      }
      if (st[h][i] == Status::active) {
        ASSERT_GE(row.minCoeff(), 0.0) << h << ":" << i;
      }
    }
}

// Largest |f_a - f_b| / max(1, |f_a|) over n random points of the box
// (100k; 10k in the sanitizer build, see test::repetitions).
double max_deviation(const Network& a, const Network& b, const Box& box, int n = test::repetitions(100000, 10)) {
  std::mt19937_64 rng(3);
  double worst = 0;
  for (int done = 0; done < n; done += 10000) {
    const MatrixXd X = test::random_points(box.lower, box.upper, std::min(10000, n - done), rng);
    const MatrixXd ya = a.evaluate(X), yb = b.evaluate(X);
    worst = std::max(worst, ((ya - yb).array().abs() / ya.array().abs().cwiseMax(1.0)).maxCoeff());
  }
  return worst;
}

Box unit_box(Eigen::Index n) { return Box(VectorXd::Zero(n), VectorXd::Ones(n)); }

const StructuredMap& map_of(const Network& net, std::size_t l) { return *net.layers[l].structured; }

// conv(2->4, 3x3 pad 1) -> BN -> avgpool 2x2 | BN -> conv(4->3, 3x3 pad 1) | dense 27->5 | dense 5->2,
// on [0,1]^(2x6x6). Channels 1 and 3 of the first layer are inactive
// everywhere; channel 0 of the second is active everywhere (large bias),
// channel 1 inactive; the dense layer's unit 4 is inactive.
Network chain_cnn(std::mt19937& rng) {
  const Shape3 x{2, 6, 6};
  Conv2d c0 = conv(x, 4, 3, 1, 1, rng, {1, 3});
  ChannelAffine bn0(c0.output(), VectorXd::Constant(4, 0.5) + VectorXd::LinSpaced(4, 0, 1), VectorXd::Zero(4));
  AvgPool2d pool(c0.output(), square_window(2, 2, 0), false);  // 4x3x3
  VectorXd b0(4);
  b0 << 0.3, -0.5, 0.2, -0.1;
  AffineLayer l0 = structured_layer({{x}}, {{pool.output()}}, {Block{0, 0, {c0, bn0, pool}, {"c0", "bn0", "pool"}}},
                              channel_bias(pool.output(), b0));
  ChannelAffine bn1(pool.output(), VectorXd::Constant(4, 1.5), VectorXd::Zero(4));
  Conv2d c1 = conv(pool.output(), 3, 3, 1, 1, rng, {0, 1});
  // Channel 1 of c1: weights <= 0 on inputs >= 0 and a negative bias:
  // inactive. Channel 0: weights >= 0 and a positive bias: active.
  MatrixXd w1 = c1.weights();
  w1.row(0) = -w1.row(0);
  c1 = Conv2d(c1.input(), 3, c1.window(), 1, w1, VectorXd());
  VectorXd b1(3);
  b1 << 0.1, -0.2, 0.1;
  AffineLayer l1 = structured_layer({{pool.output()}}, {{c1.output()}}, {Block{0, 0, {bn1, c1}, {"bn1", "c1"}}},
                              channel_bias(c1.output(), b1));
  MatrixXd w2 = random_matrix(5, 27, rng);
  VectorXd b2 = VectorXd::Constant(5, 0.1);
  w2.row(4) = -w2.row(4).cwiseAbs();
  b2[4] = -1.0;
  AffineLayer l2(w2, b2);
  AffineLayer l3(random_matrix(2, 5, rng), VectorXd::Zero(2));
  Network net({l0, l1, l2, l3});
  net.validate();
  return net;
}

TEST(Channels, CompressedChainCnnEqualsTheOriginalOn100kPoints) {
  std::mt19937 rng(1);
  const Network net = chain_cnn(rng);
  const Box box = unit_box(net.inputs());
  const Statuses st = interval_statuses(net, box);
  expect_verdicts_hold(net, st, box);
  // What the construction promises, as the analysis sees it.
  for (int c : {1, 3})
    for (int p = 0; p < 9; ++p) ASSERT_EQ(st[0][static_cast<std::size_t>(c * 9 + p)], Status::inactive);
  for (int p = 0; p < 9; ++p) ASSERT_EQ(st[1][static_cast<std::size_t>(9 + p)], Status::inactive);
  for (int p = 0; p < 9; ++p) ASSERT_EQ(st[1][static_cast<std::size_t>(p)], Status::active);
  ASSERT_EQ(st[2][4], Status::inactive);

  const CompressResult r = compress(Compressible(net, st), box);
  const Network& out = r.network();
  out.validate();
  EXPECT_LE(max_deviation(net, out, box), 1e-12);
  // Channels removed, the next layers shrink accordingly; the layers stay structured.
  ASSERT_EQ(out.depth(), 4u);
  ASSERT_FALSE(out.layers[0].is_dense());
  ASSERT_FALSE(out.layers[1].is_dense());
  EXPECT_EQ(map_of(out, 0).output_segments()[0].shape, (Shape3{2, 3, 3}));
  EXPECT_EQ(map_of(out, 1).input_segments()[0].shape, (Shape3{2, 3, 3}));
  EXPECT_EQ(std::get<Conv2d>(map_of(out, 1).blocks()[0].ops[1]).input().channels, 2);
  EXPECT_EQ(std::get<ChannelAffine>(map_of(out, 1).blocks()[0].ops[0]).scale().size(), 2);
  EXPECT_EQ(map_of(out, 1).output_segments()[0].shape, (Shape3{2, 3, 3}));
  EXPECT_EQ(out.layers[2].weights.cols(), 18);  // the dense layer after Flatten loses channel 1's columns
  EXPECT_EQ(out.widths(), (std::vector<Eigen::Index>{18, 18, 4}));
  // Names of the operators are kept for the writer.
  EXPECT_EQ(map_of(out, 0).blocks()[0].names, (std::vector<std::string>{"c0", "bn0", "pool"}));
  // The kept-unit map: the original units of the kept channels.
  const auto kept = r.kept_units();
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_EQ(kept[0].units.front(), 0);
  EXPECT_EQ(kept[0].units[9], 18);  // channel 2
  EXPECT_EQ(kept[1].units[9], 18);
  // Steps: whole channels, then the dense unit of the tail (its layer index in the whole network).
  int channels = 0;
  bool tail_unit = false;
  for (const auto& s : r.steps) {
    channels += s.channels;
    tail_unit |= s.kind == RewriteKind::inactive_unit && s.layer == 2 && s.units == 1;
  }
  EXPECT_EQ(channels, 3);
  EXPECT_TRUE(tail_unit);
  // Stable units that stay: channel 0 of the second layer (active at every
  // position) and whatever else interval arithmetic proved in kept channels.
  const StableKept k = r.stable_kept();
  std::int64_t expected = 0;
  for (std::size_t h = 0; h < 2; ++h)
    for (auto s : r.state.status[h]) expected += s == Status::active || s == Status::inactive;
  EXPECT_EQ(k.units, expected);
  EXPECT_GE(k.units, 9);
  EXPECT_GE(k.channels, 1);
  // Parameters and multiply-adds go down.
  EXPECT_LT(out.parameters(), net.parameters());
  EXPECT_LT(out.multiply_adds(), net.multiply_adds());
}

TEST(Channels, StableAtOnlySomePositionsStaysAndIsCounted) {
  // One conv channel inactive at the border only: zero padding lowers its
  // sum there. conv(1->2, 3x3 pad 1) on [0.5,1]^(1x4x4), all-positive kernel
  // on channel 0, bias -(sum of weights)*0.8: the interior sees 9 inputs
  // >= 0.5 ... at corners only 4.
  const Shape3 x{1, 4, 4};
  MatrixXd w = MatrixXd::Constant(2, 9, 1.0);
  w.row(1).setConstant(-1.0);
  Conv2d c(x, 2, square_window(3, 1, 1), 1, w, VectorXd());
  VectorXd b(2);
  b << -4.2, -0.1;  // channel 0: corners (4 inputs <= 4) inactive, interior (9 inputs >= 4.5) active
  AffineLayer l0 = structured_layer({{x}}, {{c.output()}}, {Block{0, 0, {c}, {}}}, channel_bias(c.output(), b));
  AffineLayer l1(MatrixXd::Ones(1, 32), VectorXd::Zero(1));
  Network net({l0, l1});
  const Box box(VectorXd::Constant(16, 0.5), VectorXd::Ones(16));
  const Statuses st = interval_statuses(net, box);
  expect_verdicts_hold(net, st, box);
  int inactive0 = 0, active0 = 0;
  for (int p = 0; p < 16; ++p) {
    inactive0 += st[0][static_cast<std::size_t>(p)] == Status::inactive;
    active0 += st[0][static_cast<std::size_t>(p)] == Status::active;
  }
  ASSERT_GT(inactive0, 0);
  ASSERT_GT(active0, 0);
  const CompressResult r = compress(Compressible(net, st), box);
  // Channel 1 (inactive everywhere) goes; channel 0 (stable, mixed) stays whole.
  EXPECT_EQ(map_of(r.network(), 0).output_segments()[0].shape, (Shape3{1, 4, 4}));
  EXPECT_EQ(r.network().layers[1].weights.cols(), 16);
  EXPECT_EQ(r.stable_kept().units, inactive0 + active0);
  EXPECT_EQ(r.stable_kept().channels, 1);
  EXPECT_LE(max_deviation(net, r.network(), box, 20000), 1e-12);
}

// x0 = relu(conv0(x)) (3x4x4) | [h = conv_a(x0) (4x4x4); carry x0] | conv_b(h) + shortcut(x0) (3x4x4) | dense 48->2.
// Channel 2 of x0 is inactive but read by the carry; channel 1 of h is
// inactive; channel 0 of the Add's output is inactive (bias -1000).
Network residual_cnn(std::mt19937& rng, bool identity_shortcut) {
  const Shape3 x{2, 4, 4}, s{3, 4, 4}, hs{4, 4, 4};
  Conv2d c0 = conv(x, 3, 3, 1, 1, rng, {2});
  AffineLayer l0 = structured_layer({{x}}, {{s}}, {Block{0, 0, {c0}, {}}},
                              channel_bias(s, (VectorXd(3) << 0.1, 0.2, -0.3).finished()));
  Conv2d ca = conv(s, 4, 3, 1, 1, rng, {1});
  VectorXd b1 = VectorXd::Zero(hs.size() + s.size());
  b1.head(hs.size()) = channel_bias(hs, (VectorXd(4) << 0.1, -0.5, 0.2, 0.0).finished());
  AffineLayer l1 = structured_layer({{s}}, {{hs}, {s, true}}, {Block{0, 0, {ca}, {"ca"}}, Block{0, 1, {}, {}}}, b1);
  Conv2d cb = conv(hs, 3, 3, 1, 1, rng);
  std::vector<Block> blocks{Block{0, 0, {cb}, {"cb"}}};
  if (identity_shortcut)
    blocks.push_back(Block{1, 0, {}, {}});
  else
    blocks.push_back(Block{1, 0, {conv(s, 3, 1, 1, 0, rng)}, {"sc"}});
  AffineLayer l2 = structured_layer({{hs}, {s}}, {{s}}, std::move(blocks),
                              channel_bias(s, (VectorXd(3) << -1000.0, 0.1, 0.2).finished()));
  AffineLayer l3(random_matrix(2, 48, rng), VectorXd::Zero(2));
  Network net({l0, l1, l2, l3});
  net.validate();
  return net;
}

TEST(Channels, ResidualCarryKeepsWhatALaterReaderNeedsAndEqualsTheOriginalOn100kPoints) {
  for (bool identity : {true, false}) {
    SCOPED_TRACE(identity ? "identity shortcut" : "conv shortcut");
    std::mt19937 rng(4);
    const Network net = residual_cnn(rng, identity);
    const Box box = unit_box(net.inputs());
    const Statuses st = interval_statuses(net, box);
    expect_verdicts_hold(net, st, box);
    for (int p = 0; p < 16; ++p) {
      ASSERT_EQ(st[0][static_cast<std::size_t>(32 + p)], Status::inactive);  // x0 channel 2
      ASSERT_EQ(st[1][static_cast<std::size_t>(16 + p)], Status::inactive);  // h channel 1
      ASSERT_EQ(st[2][static_cast<std::size_t>(p)], Status::inactive);       // Add channel 0
    }
    const CompressResult r = compress(Compressible(net, st), box);
    const Network& out = r.network();
    out.validate();
    EXPECT_LE(max_deviation(net, out, box), 1e-12);
    // x0's channel 2 is read by the carry: it stays, in x0 and in the carry.
    EXPECT_EQ(map_of(out, 0).output_segments()[0].shape, (Shape3{3, 4, 4}));
    EXPECT_EQ(map_of(out, 1).output_segments()[1].shape, (Shape3{3, 4, 4}));
    EXPECT_TRUE(map_of(out, 1).output_segments()[1].carry);
    // h's channel 1: written by conv_a, read by conv_b only: removed.
    EXPECT_EQ(map_of(out, 1).output_segments()[0].shape, (Shape3{3, 4, 4}));
    EXPECT_EQ(map_of(out, 2).input_segments()[0].shape, (Shape3{3, 4, 4}));
    // The Add's channel 0: removed only when every summand can drop it.
    EXPECT_EQ(map_of(out, 2).output_segments()[0].shape.channels, identity ? 3 : 2);
    EXPECT_EQ(out.layers[3].weights.cols(), identity ? 48 : 32);
  }
}

TEST(Channels, ConstantChannelsAreFoldedIntoTheNextBiasWhereItStaysPerChannel) {
  // conv(1->3) whose channel 1 has zero weights and bias 0.7 (constant 0.7),
  // channel 2 zero weights and bias -0.4 (constant 0); then a conv with pad
  // 0 (the constant's contribution is the same at every position: folded)
  // or pad 1 (it is not: the channel stays), then dense.
  for (int pad : {0, 1}) {
    SCOPED_TRACE(pad);
    std::mt19937 rng(8);
    const Shape3 x{1, 5, 5};
    MatrixXd w = random_matrix(3, 9, rng);
    w.row(1).setZero();
    w.row(2).setZero();
    Conv2d c0(x, 3, square_window(3, 1, 1), 1, w, VectorXd());
    AffineLayer l0 = structured_layer({{x}}, {{c0.output()}}, {Block{0, 0, {c0}, {}}},
                                channel_bias(c0.output(), (VectorXd(3) << 0.1, 0.7, -0.4).finished()));
    Conv2d c1 = conv(c0.output(), 2, 3, 1, pad, rng);
    AffineLayer l1 = structured_layer({{c0.output()}}, {{c1.output()}}, {Block{0, 0, {c1}, {}}},
                                channel_bias(c1.output(), VectorXd::Constant(2, 0.05)));
    AffineLayer l2(random_matrix(2, c1.output().size(), rng), VectorXd::Zero(2));
    Network net({l0, l1, l2});
    const Box box = unit_box(25);
    // No verdicts needed for a constant: all undecided.
    Statuses st;
    for (auto n : net.widths()) st.emplace_back(static_cast<std::size_t>(n), Status::undecided);
    const CompressResult r = compress(Compressible(net, st), box);
    EXPECT_LE(max_deviation(net, r.network(), box, 20000), 1e-12);
    // Channel 2 (constant 0) is folded either way; channel 1 (0.7) only with pad 0.
    EXPECT_EQ(map_of(r.network(), 0).output_segments()[0].shape.channels, pad == 0 ? 1 : 2);
    // Each output channel of the next layer keeps one bias value.
    const VectorXd& b = r.network().layers[1].bias;
    const auto P = c1.output().positions();
    for (int o = 0; o < 2; ++o) EXPECT_EQ(b.segment(o * P, P).maxCoeff(), b.segment(o * P, P).minCoeff());
    // Deletions only: nothing is folded.
    CompressOptions only;
    only.deletions_only = true;
    EXPECT_EQ(map_of(compress(Compressible(net, st), box, only).network(), 0).output_segments()[0].shape.channels, 3);
  }
}

TEST(Channels, AChannelReadingOnlyConstantInputsIsFoldedThoughItsKernelIsNotZero) {
  // conv(1->2, pad 1): channel 0 random, channel 1 zero kernel and bias 0.7
  // (the constant 0.7; not foldable into the next conv: its padding makes the
  // contribution differ at the border). conv(2->2, pad 1): channel 0 reads
  // only channel 1 (its kernel on channel 0 is zero), so its pre-activation
  // is constant on the domain, different per position; channel 1 reads both.
  // Then dense: channel 0 of the second conv is folded into the dense bias.
  std::mt19937 rng(12);
  const Shape3 x{1, 5, 5};
  MatrixXd w0 = random_matrix(2, 9, rng);
  w0.row(1).setZero();
  Conv2d c0(x, 2, square_window(3, 1, 1), 1, w0, VectorXd());
  AffineLayer l0 = structured_layer({{x}}, {{c0.output()}}, {Block{0, 0, {c0}, {}}},
                              channel_bias(c0.output(), (VectorXd(2) << 0.1, 0.7).finished()));
  MatrixXd w1 = random_matrix(2, 18, rng);  // row o: input channel 0's 3x3 kernel, then channel 1's
  w1.row(0).head(9).setZero();
  w1.row(0).tail(9) = w1.row(0).tail(9).cwiseAbs();  // g >= 0.05 > 0: stably active too
  Conv2d c1(c0.output(), 2, square_window(3, 1, 1), 1, w1, VectorXd());
  AffineLayer l1 = structured_layer({{c0.output()}}, {{c1.output()}}, {Block{0, 0, {c1}, {}}},
                              channel_bias(c1.output(), VectorXd::Constant(2, 0.05)));
  AffineLayer l2(random_matrix(3, c1.output().size(), rng), VectorXd::Zero(3));
  const Network net({l0, l1, l2});
  const Box box = unit_box(25);
  for (bool with_verdicts : {false, true}) {
    SCOPED_TRACE(with_verdicts ? "interval verdicts" : "all undecided");
    Statuses st;
    if (with_verdicts) {
      st = interval_statuses(net, box);
      expect_verdicts_hold(net, st, box);
    } else {
      for (auto n : net.widths()) st.emplace_back(static_cast<std::size_t>(n), Status::undecided);
    }
    const CompressResult r = compress(Compressible(net, st), box);
    EXPECT_LE(max_deviation(net, r.network(), box, 20000), 1e-12);
    // The first layer keeps both channels (the constant one is read through padding).
    EXPECT_EQ(map_of(r.network(), 0).output_segments()[0].shape.channels, 2);
    // The second loses channel 0 (constant), keeps channel 1 (it reads a varying channel).
    EXPECT_EQ(map_of(r.network(), 1).output_segments()[0].shape.channels, 1);
    EXPECT_EQ(r.network().layers[2].weights.cols(), 25);
    int folded = 0;
    for (const auto& step : r.steps)
      if (step.kind == RewriteKind::constant_channel) {
        EXPECT_EQ(step.layer, 1);
        folded += step.channels;
      }
    EXPECT_EQ(folded, 1);
  }
  // A weight of 1e-30 on the varying channel makes channel 0 vary: it stays.
  MatrixXd w1b = w1;
  w1b(0, 4) = 1e-30;
  Network varying = net;
  varying.layers[1].structured = std::make_shared<const StructuredMap>(
      map_of(net, 1).input_segments(), map_of(net, 1).output_segments(),
      std::vector<Block>{Block{0, 0, {Conv2d(c0.output(), 2, square_window(3, 1, 1), 1, w1b, VectorXd())}, {}}});
  Statuses none;
  for (auto n : varying.widths()) none.emplace_back(static_cast<std::size_t>(n), Status::undecided);
  const CompressResult kept = compress(Compressible(varying, none), box);
  EXPECT_EQ(map_of(kept.network(), 1).output_segments()[0].shape.channels, 2);
}

TEST(Channels, GroupedConvolutionsKeepTheirChannels) {
  // conv(2->4) | depthwise conv (group 4) | dense: channel 1 of the first is
  // inactive but the depthwise reader cannot drop an input channel alone.
  std::mt19937 rng(5);
  const Shape3 x{2, 4, 4};
  Conv2d c0 = conv(x, 4, 3, 1, 1, rng, {1});
  AffineLayer l0 = structured_layer({{x}}, {{c0.output()}}, {Block{0, 0, {c0}, {}}},
                              channel_bias(c0.output(), (VectorXd(4) << 0.1, -0.5, 0.1, 0.1).finished()));
  Conv2d dw = conv(c0.output(), 4, 3, 1, 1, rng, {}, 4);
  AffineLayer l1 = structured_layer({{c0.output()}}, {{dw.output()}}, {Block{0, 0, {dw}, {}}},
                              channel_bias(dw.output(), VectorXd::Constant(4, 0.1)));
  AffineLayer l2(random_matrix(2, 64, rng), VectorXd::Zero(2));
  Network net({l0, l1, l2});
  const Box box = unit_box(32);
  const Statuses st = interval_statuses(net, box);
  for (int p = 0; p < 16; ++p) ASSERT_EQ(st[0][static_cast<std::size_t>(16 + p)], Status::inactive);
  const CompressResult r = compress(Compressible(net, st), box);
  EXPECT_EQ(map_of(r.network(), 0).output_segments()[0].shape.channels, 4);
  EXPECT_LE(max_deviation(net, r.network(), box, 20000), 1e-12);
}

TEST(Channels, ADeadConvLayerMakesTheNetworkConstant) {
  std::mt19937 rng(6);
  const Shape3 x{1, 4, 4};
  Conv2d c0 = conv(x, 2, 3, 1, 1, rng, {0, 1});
  AffineLayer l0 = structured_layer({{x}}, {{c0.output()}}, {Block{0, 0, {c0}, {}}},
                              channel_bias(c0.output(), VectorXd::Constant(2, -0.5)));
  AffineLayer l1(random_matrix(3, 32, rng), VectorXd::LinSpaced(3, 1, 3));
  Network net({l0, l1});
  const Box box = unit_box(16);
  const CompressResult r = compress(Compressible(net, interval_statuses(net, box)), box);
  EXPECT_TRUE(r.state.constant());
  EXPECT_LE(max_deviation(net, r.network(), box, 20000), 1e-12);
  // A network of one structured layer is not "constant".
  AffineLayer only = l0;
  EXPECT_FALSE(Compressible(Network({only}), Statuses{}).constant());
}

TEST(Channels, Float32EvaluationOfStructuredLayersMatchesTheDenseTwin) {
  std::mt19937 rng(2);
  const Network net = chain_cnn(rng);
  Network twin = net;
  for (auto& layer : twin.layers)
    if (!layer.is_dense()) layer = AffineLayer(layer.dense(), layer.bias);
  std::mt19937_64 prng(1);
  const Box box = unit_box(net.inputs());
  const MatrixXd X = test::random_points(box.lower, box.upper, 500, prng);
  const MatrixXd a = Float32Network(net).evaluate(X), b = Float32Network(twin).evaluate(X);
  const MatrixXd exact = net.evaluate(MatrixXd(X.cast<float>().cast<double>()));
  // Both are float32 evaluations: within float32 rounding of each other and of double.
  EXPECT_LE((a - b).cwiseAbs().maxCoeff(), 1e-4 * std::max(1.0, exact.cwiseAbs().maxCoeff()));
  EXPECT_LE((a - exact).cwiseAbs().maxCoeff(), 1e-4 * std::max(1.0, exact.cwiseAbs().maxCoeff()));
  EXPECT_GT((a - exact).cwiseAbs().maxCoeff(), 0.0);  // it is float arithmetic
  // Every value it returns is a float.
  EXPECT_TRUE((a.cast<float>().cast<double>().array() == a.array()).all());
}

TEST(Channels, StoredNetworkRoundsOperatorWeightsToFloat32) {
  std::mt19937 rng(3);
  const Network net = chain_cnn(rng);
  const Network stored = stored_network(net, ElementType::float32);
  const auto& c = std::get<Conv2d>(map_of(stored, 0).blocks()[0].ops[0]);
  const auto& original = std::get<Conv2d>(map_of(net, 0).blocks()[0].ops[0]);
  EXPECT_TRUE((c.weights().cast<float>().cast<double>().array() == c.weights().array()).all());
  EXPECT_FALSE((c.weights().array() == original.weights().array()).all());
  const auto& bn = std::get<ChannelAffine>(map_of(stored, 0).blocks()[0].ops[1]);
  EXPECT_TRUE((bn.scale().cast<float>().cast<double>().array() == bn.scale().array()).all());
  // A kernel weight beyond float's range is refused, naming the layer.
  Network big = net;
  auto blocks = map_of(net, 0).blocks();
  MatrixXd w = std::get<Conv2d>(blocks[0].ops[0]).weights();
  w(0, 0) = 1e300;
  const auto& c0 = std::get<Conv2d>(blocks[0].ops[0]);
  blocks[0].ops[0] = Conv2d(c0.input(), c0.output().channels, c0.window(), 1, w, VectorXd());
  big.layers[0].structured = std::make_shared<const StructuredMap>(map_of(net, 0).input_segments(),
                                                                   map_of(net, 0).output_segments(), blocks);
  EXPECT_THAT([&] { stored_network(big, ElementType::float32); },
              testing::ThrowsMessage<NotStorable>(testing::HasSubstr("layer 0: Conv weight")));
  EXPECT_NO_THROW(stored_network(big, ElementType::float64));
}

TEST(Channels, TheCheckBeforeWritingWorksOnStructuredLayers) {
  std::mt19937 rng(1);
  Network net = chain_cnn(rng);
  net.input.type = ElementType::float32;
  const Box box = unit_box(net.inputs());
  const Statuses st = interval_statuses(net, box);
  VerifyOptions o;
  o.random_points = 2000;
  o.gradient_steps = 10;
  o.gradient_starts = 2;
  const CheckedCompression c =
      compress_checked(net, analysis_of(st), box, MatrixXd(net.inputs(), 0), ElementType::float32, {}, o);
  EXPECT_TRUE(c.passed());
  EXPECT_EQ(c.candidate, "rewrites");
  EXPECT_FALSE(c.check.one_search());
  EXPECT_LE(c.check.in_double.max_abs_deviation, 1e-5);
  EXPECT_LE(c.check.as_deployed.max_abs_deviation, 1e-4);
  EXPECT_EQ(map_of(c.check.written, 0).output_segments()[0].shape.channels, 2);
  // Weights as written: float32 values.
  const auto& cw = std::get<Conv2d>(map_of(c.check.written, 1).blocks()[0].ops[1]).weights();
  EXPECT_TRUE((cw.cast<float>().cast<double>().array() == cw.array()).all());
}

TEST(Channels, VerifySearchesStructuredNetworksAndRefusesTheExactStage) {
  std::mt19937 rng(1);
  const Network net = chain_cnn(rng);
  const Box box = unit_box(net.inputs());
  // Gradients through the structured layers equal the dense twin's.
  Network twin = net;
  for (auto& layer : twin.layers)
    if (!layer.is_dense()) layer = AffineLayer(layer.dense(), layer.bias);
  std::mt19937_64 prng(2);
  const MatrixXd X = test::random_points(box.lower, box.upper, 7, prng);
  const MatrixXd C = random_matrix(2, 7, rng);
  EXPECT_TRUE(input_gradients(net, X, C).isApprox(input_gradients(twin, X, C), 1e-10));
  // A search finds the difference of a changed bias.
  Network other = net;
  other.layers[3].bias[1] += 0.01;
  VerifyOptions o;
  o.random_points = 500;
  o.gradient_steps = 5;
  VerifyResult v = verify_equivalence(net, other, box, MatrixXd(net.inputs(), 0), o);
  EXPECT_NEAR(v.max_abs_deviation, 0.01, 1e-12);
  o.exact = true;
  o.tolerance = 0.1;
  EXPECT_THAT([&] { verify_equivalence(net, twin, box, MatrixXd(net.inputs(), 0), o); },
              testing::ThrowsMessage<InputError>(testing::HasSubstr("convolutional layers are not supported")));
}

}  // namespace
