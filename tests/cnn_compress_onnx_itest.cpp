// Compression of CNNs read from ONNX and written back as ONNX (issue 12 §4),
// end to end through the library: the PyTorch fixtures
// (tests/fixtures/pytorch/cnn_*) with one channel of their first conv layer
// made inactive by construction (zero kernel row, bias -0.5: its
// pre-activation is -0.5 everywhere), verdicts from interval arithmetic
// through the layers' products, compress_checked (the check before writing,
// float32), the written model: Conv nodes kept, the ONNX checker passes,
// same input/output names and shapes, the function unchanged on random
// points, and ONNX Runtime agrees with the original.
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <fstream>
#include <map>
#include <random>

#include "leo/io/model_file.hpp"
#include "leo/network/structured.hpp"
#include "leo/verify/check.hpp"
#include "cnn_builders.hpp"
#include "onnx_builder.hpp"
#include "ort_check.hpp"
#include "stability_check.hpp"
#include "support.hpp"

namespace leo {
namespace {

namespace fs = std::filesystem;
using Eigen::MatrixXd;
using Eigen::VectorXd;

using test::onnx_op_counts;

// Interval verdicts (tests/support/cnn_builders.hpp) as an analysis.
Analysis interval_analysis(const Network& net, const Box& box) {
  return test::analysis_of(test::interval_statuses(net, box));
}

// Channel 0 of the first layer's output segment 0: every block writing it
// gets a zero kernel row, its units bias -0.5. False when a writer does not
// end in a Conv (nothing planted).
bool plant_inactive_channel(Network& net) {
  AffineLayer& layer = net.layers[0];
  if (layer.is_dense()) return false;
  const StructuredMap& m = *layer.structured;
  auto blocks = m.blocks();
  for (auto& blk : blocks) {
    if (blk.out != 0) continue;
    std::size_t k = blk.ops.size();
    while (k > 0 && (std::holds_alternative<AvgPool2d>(blk.ops[k - 1]) ||
                     std::holds_alternative<ChannelAffine>(blk.ops[k - 1])))
      --k;
    if (k == 0 || !std::holds_alternative<Conv2d>(blk.ops[k - 1])) return false;
    const Conv2d& c = std::get<Conv2d>(blk.ops[k - 1]);
    MatrixXd w = c.weights();
    w.row(0).setZero();
    blk.ops[k - 1] = Conv2d(c.input(), c.output().channels, c.window(), c.group(), w, c.bias());
  }
  const auto P = m.output_segments()[0].shape.positions();
  const auto first = m.output_offset(0);
  layer.structured =
      std::make_shared<const StructuredMap>(m.input_segments(), m.output_segments(), std::move(blocks));
  layer.bias.segment(first, P).setConstant(-0.5);
  return true;
}

TEST(CnnCompressOnnx, FixturesWithAnInactiveChannelCompressKeepTheirConvNodesAndOrtAgrees) {
  const fs::path dir = test::temp_dir("cnn_compress_onnx");
  int removed_somewhere = 0;
  for (const std::string name : {"cnn_basic", "cnn_bn", "cnn_avgpool", "cnn_residual", "cnn_nhwc", "cnn_zeropad",
                                 "cnn_depthwise", "cnn_dilated"}) {
    SCOPED_TRACE(name);
    Network net = read_model(test::fixtures_dir() / "pytorch" / (name + ".onnx"));
    ASSERT_TRUE(plant_inactive_channel(net));
    const fs::path in = dir / (name + "_in.onnx"), out = dir / (name + "_out.onnx");
    write_model(net, in);
    const Network original = read_model(in);
    const Box box(VectorXd::Zero(original.inputs()), VectorXd::Ones(original.inputs()));
    const Analysis analysis = interval_analysis(original, box);
    ASSERT_EQ(analysis.layers[0][static_cast<std::size_t>(original.layers[0].structured->output_offset(0))].status,
              Status::inactive);
    VerifyOptions o;
    o.random_points = 2000;
    o.gradient_steps = 10;
    o.gradient_starts = 2;
    const CheckedCompression c = compress_checked(original, analysis, box, MatrixXd(original.inputs(), 0),
                                                  ElementType::float32, {}, o);
    ASSERT_TRUE(c.passed()) << c.check.in_double.max_abs_deviation << " " << c.check.as_deployed.max_abs_deviation;
    write_model(c.check.written, out);

    EXPECT_NO_THROW(onnx::checker::check_model(out.string()));
    const auto ops_in = onnx_op_counts(in), ops_out = onnx_op_counts(out);
    EXPECT_GT(ops_out.at("Conv"), 0);
    EXPECT_EQ(ops_out.at("Conv"), ops_in.at("Conv"));
    const Network back = read_model(out);
    EXPECT_EQ(back.input.name, original.input.name);
    EXPECT_EQ(back.input.shape, original.input.shape);
    EXPECT_EQ(back.output.name, original.output.name);
    EXPECT_EQ(back.output.shape, original.output.shape);
    int channels = 0;
    for (const auto& s : c.compression.steps) channels += s.channels;
    removed_somewhere += channels > 0;
    if (channels > 0) {
      EXPECT_LT(back.hidden_units(), original.hidden_units());
    }
    EXPECT_LE(back.parameters(), original.parameters());
    // The function as written, in double, against the original's.
    std::mt19937_64 rng(5);
    const MatrixXd X = test::random_points(box.lower, box.upper, 20000, rng);
    EXPECT_LE((back.evaluate(X) - original.evaluate(X)).cwiseAbs().maxCoeff(), 1e-4);
    LEO_EXPECT_ORT_AGREES(in, out, box, 1000);
  }
  // The chains without a carry or a depthwise reader lose the channel.
  EXPECT_GE(removed_somewhere, 4);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace leo
