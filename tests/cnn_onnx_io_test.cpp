// Reading and writing CNNs (issue 12): the PyTorch fixtures
// (tests/fixtures/pytorch/cnn_*) read into structured layers evaluate as
// PyTorch did; a written CNN keeps its Conv nodes and reads back to the same
// function; every refusal names the node.
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "leo/io/model_file.hpp"
#include "leo/io/onnx.hpp"
#include "leo/network/structured.hpp"
#include "leo/util/error.hpp"
#include "cnn_builders.hpp"
#include "onnx_builder.hpp"
#include "support.hpp"

namespace leo {
namespace {

namespace fs = std::filesystem;
using Eigen::MatrixXd;

fs::path fixture(const std::string& name, const char* ext) { return test::fixtures_dir() / "pytorch" / (name + ext); }

struct Reference {
  MatrixXd X, Y;  // features x samples
};

Reference reference(const std::string& name) {
  std::ifstream in(fixture(name, ".json"));
  if (!in) throw std::runtime_error("missing fixture " + name);
  const auto j = nlohmann::json::parse(in);
  auto matrix = [](const nlohmann::json& rows) {
    MatrixXd M(static_cast<Eigen::Index>(rows[0].size()), static_cast<Eigen::Index>(rows.size()));
    for (std::size_t s = 0; s < rows.size(); ++s)
      for (std::size_t k = 0; k < rows[s].size(); ++k)
        M(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(s)) = rows[s][k].get<double>();
    return M;
  };
  return {matrix(j.at("inputs")), matrix(j.at("outputs"))};
}

using test::onnx_op_counts;

// Largest |a - b| / (1 + |b|).
double deviation(const MatrixXd& a, const MatrixXd& b) {
  return ((a - b).array().abs() / (1.0 + b.array().abs())).maxCoeff();
}

const char* const kReadable[] = {"cnn_basic",    "cnn_dilated", "cnn_zeropad",  "cnn_depthwise", "cnn_bn",
                                 "cnn_linear_bn", "cnn_avgpool", "cnn_residual", "cnn_nhwc"};

TEST(CnnOnnxRead, EveryFixtureEvaluatesAsPyTorch) {
  for (const char* name : kReadable) {
    SCOPED_TRACE(name);
    Network net;
    ASSERT_NO_THROW(net = read_onnx(fixture(name, ".onnx")));
    const Reference r = reference(name);
    ASSERT_EQ(net.inputs(), r.X.rows());
    ASSERT_EQ(net.outputs(), r.Y.rows());
    const MatrixXd Y = net.evaluate(r.X);
    EXPECT_LE(deviation(Y, r.Y), 1e-6);
    EXPECT_GT(r.Y.cwiseAbs().maxCoeff(), 1e-2);  // not trivially small
  }
}

TEST(CnnOnnxRead, ConvolutionsStayStructured) {
  // Every fixture but the BN-after-Gemm one has a structured first layer,
  // and no layer of a fixture holds a dense matrix of a convolution.
  for (const char* name : kReadable) {
    SCOPED_TRACE(name);
    const Network net = read_onnx(fixture(name, ".onnx"));
    if (std::string(name) == "cnn_linear_bn") {
      for (const auto& l : net.layers) EXPECT_TRUE(l.is_dense());
      continue;
    }
    EXPECT_FALSE(net.layers[0].is_dense());
    EXPECT_TRUE(net.layers.back().is_dense());  // the Linear head
  }
}

TEST(CnnOnnxRead, BatchNormIsFoldedIntoTheConvBeforeIt) {
  const Network net = read_onnx(fixture("cnn_bn", ".onnx"));
  ASSERT_FALSE(net.layers[0].is_dense());
  const auto& blocks = net.layers[0].structured->blocks();
  ASSERT_EQ(blocks.size(), 1u);
  ASSERT_EQ(blocks[0].ops.size(), 1u);  // the Conv, BN folded into it
  EXPECT_TRUE(std::holds_alternative<Conv2d>(blocks[0].ops[0]));
  // Layer 1: AvgPool, Pad+AvgPool? (the pool after the Relu), the Conv with its BN folded.
  const auto& b1 = net.layers[1].structured->blocks();
  ASSERT_EQ(b1.size(), 1u);
  ASSERT_EQ(b1[0].ops.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<AvgPool2d>(b1[0].ops[0]));
  EXPECT_TRUE(std::holds_alternative<Conv2d>(b1[0].ops[1]));
}

TEST(CnnOnnxRead, ResidualBlockCarriesTheReluOutput) {
  const Network net = read_onnx(fixture("cnn_residual", ".onnx"));
  // stem | c1+bn, carry stem | c2 + carried stem | fc
  ASSERT_EQ(net.layers.size(), 4u);
  const auto& m1 = *net.layers[1].structured;
  ASSERT_EQ(m1.output_segments().size(), 2u);
  EXPECT_FALSE(m1.output_segments()[0].carry);
  EXPECT_TRUE(m1.output_segments()[1].carry);
  const auto& m2 = *net.layers[2].structured;
  ASSERT_EQ(m2.input_segments().size(), 2u);
  ASSERT_EQ(m2.output_segments().size(), 1u);
  EXPECT_EQ(m2.blocks().size(), 2u);  // the Conv and the identity skip, summed
}

TEST(CnnOnnxRead, NhwcInputIsPermutedInsideTheFirstLayer) {
  const Network net = read_onnx(fixture("cnn_nhwc", ".onnx"));
  EXPECT_EQ(net.input.shape, (std::vector<std::int64_t>{-1, 6, 6, 2}));
  const auto& b = net.layers[0].structured->blocks();
  ASSERT_EQ(b.size(), 1u);
  ASSERT_EQ(b[0].ops.size(), 2u);
  EXPECT_TRUE(std::holds_alternative<Permute>(b[0].ops[0]));
  EXPECT_TRUE(std::holds_alternative<Conv2d>(b[0].ops[1]));
}

TEST(CnnOnnxRead, DeclaredConvOutputsAreBoundedByTheSizeLimit) {
  // A small file whose 1x1 Conv declares a big output (64 channels of a
  // 100x100 map, 640000 values from 64 weights): refused under a limit of
  // 250000 weights (1 MB) before the output is allocated, read under 4 MB.
  const fs::path dir = test::temp_dir("cnn_limit");
  test::OnnxBuilder b({-1, 1, 100, 100}, {-1, 640000});
  b.init("W", {64, 1, 1, 1}, std::vector<double>(64, 0.5));
  b.node("Conv", {"x", "W"}, {"h"}, "wide");
  b.node("Flatten", {"h"}, {"y"});
  const fs::path model = b.save(dir, "wide.onnx");
  try {
    read_onnx(model, {.max_file_bytes = 1000000});
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), testing::HasSubstr("node 'wide' (Conv): the operator's output would be a 640000 x 1 matrix"));
  }
  EXPECT_NO_THROW(read_onnx(model, {.max_file_bytes = 4000000}));
  fs::remove_all(dir);
}

TEST(CnnOnnxWrite, RoundTripKeepsTheConvolutionsAndTheFunction) {
  const fs::path dir = test::temp_dir("cnn_onnx_write");
  for (const char* name : kReadable) {
    SCOPED_TRACE(name);
    const Network net = read_onnx(fixture(name, ".onnx"));
    const fs::path out = dir / (std::string(name) + ".onnx");
    ASSERT_NO_THROW(write_onnx(net, out));
    EXPECT_NO_THROW(onnx::checker::check_model(out.string()));
    const auto before = onnx_op_counts(fixture(name, ".onnx"));
    const auto after = onnx_op_counts(out);
    auto count = [](const std::map<std::string, int>& m, const char* op) {
      auto it = m.find(op);
      return it == m.end() ? 0 : it->second;
    };
    EXPECT_EQ(count(after, "Conv"), count(before, "Conv"));
    EXPECT_EQ(count(after, "Add"), count(before, "Add"));  // the residual Add stays one Add
    EXPECT_EQ(count(after, "Transpose"), std::string(name) == "cnn_nhwc" ? 1 : 0);  // the NHWC input stays NHWC
    EXPECT_EQ(count(after, "BatchNormalization"), 0);  // folded
    const Network back = read_onnx(out);
    ASSERT_EQ(back.layers.size(), net.layers.size());
    for (std::size_t l = 0; l < net.layers.size(); ++l) EXPECT_EQ(back.layers[l].is_dense(), net.layers[l].is_dense());
    EXPECT_EQ(back.input.name, net.input.name);
    EXPECT_EQ(back.input.shape, net.input.shape);
    EXPECT_EQ(back.output.name, net.output.name);
    EXPECT_EQ(back.output.shape, net.output.shape);
    const Reference r = reference(name);
    // Weights are written in float32: folded BatchNorm weights are rounded once.
    EXPECT_LE(deviation(back.evaluate(r.X), net.evaluate(r.X)), 1e-6);
    // Written again, the model is the same file (the writer is a fixed point).
    const fs::path again = dir / (std::string(name) + "_again.onnx");
    write_onnx(back, again);
    EXPECT_EQ(test::read_file(again), test::read_file(out));
  }
  fs::remove_all(dir);
}

TEST(CnnOnnxWrite, NnetRefusesConvolutionalLayers) {
  const Network net = read_onnx(fixture("cnn_basic", ".onnx"));
  const fs::path dir = test::temp_dir("cnn_nnet_write");
  try {
    write_model(net, dir / "x.nnet");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_THAT(e.what(), testing::HasSubstr("layer 0 is convolutional; .nnet stores fully connected layers only"));
  }
  EXPECT_FALSE(fs::exists(dir / "x.nnet"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace leo
