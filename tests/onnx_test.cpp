// ONNX reader and writer: the reference models, hand-built models with known
// answers, round trips, bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <onnx/checker.h>

#include <fmt/core.h>

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "leo/io/model_file.hpp"
#include "leo/io/onnx.hpp"
#include "leo/util/error.hpp"
#include "onnx_builder.hpp"
#include "onnx_reference.hpp"
#include "support.hpp"

namespace leo {
namespace {
namespace fs = std::filesystem;
using test::OnnxBuilder;
using test::Storage;
using ::testing::HasSubstr;

fs::path model(const std::string& rel) { return test::models_dir() / rel; }

// Expected parameter count of a ReLU MLP from its layer sizes.
std::int64_t mlp_parameters(const std::vector<std::int64_t>& sizes) {
  std::int64_t n = 0;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) n += sizes[l] * sizes[l + 1] + sizes[l + 1];
  return n;
}

// Runs `f`, expects an InputError, returns its message.
template <class F>
std::string input_error(F f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected InputError, got: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected InputError, nothing thrown";
  return "";
}

double eval1(const Network& net, std::vector<double> x) {
  Eigen::VectorXd v = Eigen::Map<Eigen::VectorXd>(x.data(), static_cast<Eigen::Index>(x.size()));
  Eigen::VectorXd y = net.evaluate(v);
  EXPECT_EQ(y.size(), 1);
  return y[0];
}

class TempDir {
 public:
  TempDir() : path(test::temp_dir("onnx")) {}
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  fs::path path;
};

// --- the reference models --------------------------------------------------

TEST(OnnxRead, AcasXuNetsParseWithTheirShapes) {
  const auto dir = model("acasxu");
  int count = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.path().extension() != ".onnx") continue;
    ++count;
    Network net = read_onnx(e.path());
    EXPECT_EQ(net.inputs(), 5) << e.path();
    EXPECT_EQ(net.outputs(), 5) << e.path();
    EXPECT_EQ(net.widths(), (std::vector<Eigen::Index>(6, 50))) << e.path();
    const std::int64_t expected = 5 * 50 + 50 + 5 * (50 * 50 + 50) + 50 * 5 + 5;
    EXPECT_EQ(net.source_parameters, expected) << e.path();
    EXPECT_EQ(net.parameters(), expected) << e.path();  // the Sub is folded into the first layer
    EXPECT_EQ(net.input.name, "input");
    EXPECT_EQ(net.input.shape, (std::vector<std::int64_t>{1, 1, 1, 5}));
    EXPECT_EQ(net.output.name, "linear_7_Add");
    EXPECT_EQ(net.output.shape, (std::vector<std::int64_t>{1, 5}));
    EXPECT_EQ(net.opset, 8);
    EXPECT_THAT(net.producer, HasSubstr("MATLAB"));
  }
  EXPECT_EQ(count, 45);
}

TEST(OnnxRead, MnistNetsParseWithTheirShapes) {
  Network a = read_onnx(model("mnistfc/mnist-net_256x2.onnx"));
  EXPECT_EQ(a.widths(), (std::vector<Eigen::Index>{256, 256}));
  EXPECT_EQ(a.inputs(), 784);
  EXPECT_EQ(a.outputs(), 10);
  EXPECT_EQ(a.source_parameters, mlp_parameters({784, 256, 256, 10}));
  EXPECT_EQ(a.parameters(), mlp_parameters({784, 256, 256, 10}));
  EXPECT_EQ(a.input.shape, (std::vector<std::int64_t>{1, 784, 1}));
  EXPECT_EQ(a.input.name, "0");
  EXPECT_EQ(a.opset, 9);
  Network b = read_onnx(model("mnistfc/mnist-net_256x4.onnx"));
  EXPECT_EQ(b.widths(), (std::vector<Eigen::Index>{256, 256, 256, 256}));
  EXPECT_EQ(b.source_parameters, mlp_parameters({784, 256, 256, 256, 256, 10}));
}

TEST(OnnxRead, SmallNetsParse) {
  EXPECT_EQ(read_onnx(model("small/test_nano.onnx")).source_parameters, 1);
  EXPECT_EQ(read_onnx(model("small/test_tiny.onnx")).source_parameters, mlp_parameters({1, 1, 1}));
  EXPECT_EQ(read_onnx(model("small/test_small.onnx")).source_parameters, mlp_parameters({1, 2, 2, 1}));
  for (const char* f : {"small/test_sat.onnx", "small/test_unsat.onnx"}) {
    Network n = read_onnx(model(f));
    EXPECT_EQ(n.source_parameters, mlp_parameters({5, 50, 50, 50, 50, 50, 50, 5})) << f;
  }
}

TEST(OnnxRead, MaxPoolIsRefusedNamingTheNode) {
  std::string msg =
      input_error([] { read_onnx(test::fixtures_dir() / "pytorch" / "cnn_maxpool.onnx"); });
  EXPECT_THAT(msg, HasSubstr("node '/MaxPool' (MaxPool): unsupported op MaxPool"));
  EXPECT_THAT(msg, HasSubstr("cnn_maxpool.onnx"));
}

// --- known answers -----------------------------------------------------------

TEST(OnnxRead, NanoKnownAnswers) {
  // y = relu(0.5 x): the graph ends with a Relu.
  Network n = read_onnx(model("small/test_nano.onnx"));
  EXPECT_DOUBLE_EQ(eval1(n, {2.0}), 1.0);
  EXPECT_DOUBLE_EQ(eval1(n, {-2.0}), 0.0);
  EXPECT_DOUBLE_EQ(eval1(n, {0.5}), 0.25);
}

TEST(OnnxRead, TinyKnownAnswers) {
  // y = 1 * relu(1 * x + 0) + 0
  Network n = read_onnx(model("small/test_tiny.onnx"));
  EXPECT_DOUBLE_EQ(eval1(n, {3.0}), 3.0);
  EXPECT_DOUBLE_EQ(eval1(n, {-1.0}), 0.0);
}

TEST(OnnxRead, SmallKnownAnswers) {
  // h0 = relu(x + 1.5) (twice), h1 = relu(2 h0 + 2 h0 + 2.5) (twice), y = 3 h1 + 3 h1 + 3.5
  Network n = read_onnx(model("small/test_small.onnx"));
  EXPECT_DOUBLE_EQ(eval1(n, {0.0}), 54.5);
  EXPECT_DOUBLE_EQ(eval1(n, {-2.0}), 18.5);
  EXPECT_DOUBLE_EQ(eval1(n, {1.0}), 78.5);
}

// y = Gemm(relu(Gemm(x, W1, b1)), W2, b2) with x [N,2]; W1 = [[1,2],[3,4],[-1,1]] (out x in), b1 = [0.5,-1,0]
// W2 = [[1,-1,2]], b2 = [0.25]; at x = (1, 2): g1 = (5.5, 10, 1), y = 5.5 - 10 + 2 + 0.25 = -2.25
OnnxBuilder two_layer(Storage storage) {
  const bool dbl = storage == Storage::double_data;
  OnnxBuilder b({-1, 2}, {-1, 1}, 13, dbl ? onnx::TensorProto::DOUBLE : onnx::TensorProto::FLOAT);
  b.init("W1", {3, 2}, {1, 2, 3, 4, -1, 1}, storage);
  b.init("b1", {3}, {0.5, -1, 0}, storage);
  b.init("W2", {1, 3}, {1, -1, 2}, storage);
  b.init("b2", {1}, {0.25}, storage);
  OnnxBuilder::attr_int(b.node("Gemm", {"x", "W1", "b1"}, {"g1"}), "transB", 1);
  b.node("Relu", {"g1"}, {"h1"});
  OnnxBuilder::attr_int(b.node("Gemm", {"h1", "W2", "b2"}, {"y"}), "transB", 1);
  return b;
}

TEST(OnnxRead, TensorStorages) {
  for (Storage s : {Storage::raw, Storage::float_data, Storage::double_data, Storage::external}) {
    TempDir dir;
    OnnxBuilder b = two_layer(s);
    Network n = read_onnx(b.save(dir.path, "m.onnx"));
    EXPECT_DOUBLE_EQ(eval1(n, {1.0, 2.0}), -2.25) << static_cast<int>(s);
    EXPECT_DOUBLE_EQ(eval1(n, {-1.0, -1.0}), 0.25) << static_cast<int>(s);  // g1 = (-2.5, -8, 0)
    EXPECT_EQ(n.input.shape, (std::vector<std::int64_t>{-1, 2}));
    EXPECT_EQ(n.source_parameters, mlp_parameters({2, 3, 1}));
    EXPECT_EQ(n.input.type, s == Storage::double_data ? ElementType::float64 : ElementType::float32);
  }
}

TEST(OnnxRead, GemmTransAAlphaBeta) {
  // x: [3,1] (one sample, fixed shape); Gemm(x, W, C, transA=1, alpha=2, beta=0.5): y = 2 x^T W + 0.5 C
  // W = [[1,0],[0,1],[1,1]] (3x2), C = [4, -4]; x = (1,2,3): x^T W = (4, 5) -> y = (8 + 2, 10 - 2) = (10, 8)
  OnnxBuilder b({3, 1}, {1, 2});
  b.init("W", {3, 2}, {1, 0, 0, 1, 1, 1});
  b.init("C", {2}, {4, -4});
  auto* g = b.node("Gemm", {"x", "W", "C"}, {"y"});
  OnnxBuilder::attr_int(g, "transA", 1);
  OnnxBuilder::attr_float(g, "alpha", 2.0f);
  OnnxBuilder::attr_float(g, "beta", 0.5f);
  TempDir dir;
  Network n = read_onnx(b.save(dir.path, "m.onnx"));
  Eigen::VectorXd y = n.evaluate(Eigen::VectorXd(Eigen::Vector3d(1, 2, 3)));
  ASSERT_EQ(y.size(), 2);
  EXPECT_DOUBLE_EQ(y[0], 10.0);
  EXPECT_DOUBLE_EQ(y[1], 8.0);
  EXPECT_EQ(n.source_parameters, 6 + 2);
  // Written back: the fixed [3,1] input is not a batch; the shapes stay as read.
  write_onnx(n, dir.path / "w.onnx");
  Network w = read_onnx(dir.path / "w.onnx");
  EXPECT_EQ(w.input.shape, (std::vector<std::int64_t>{3, 1}));
  EXPECT_EQ(w.output.shape, (std::vector<std::int64_t>{1, 2}));
  EXPECT_TRUE(w.evaluate(Eigen::VectorXd(Eigen::Vector3d(1, 2, 3))) == y);
}

TEST(OnnxRead, GemmWithTheInputAsRightFactor) {
  // x: [2,1] column; y = Gemm(W, x, transA=1) = W^T x with W = [[1,2],[3,4]] -> (x0 + 3 x1, 2 x0 + 4 x1)
  OnnxBuilder b({2, 1}, {2, 1});
  b.init("W", {2, 2}, {1, 2, 3, 4});
  OnnxBuilder::attr_int(b.node("Gemm", {"W", "x"}, {"y"}), "transA", 1);
  TempDir dir;
  Network n = read_onnx(b.save(dir.path, "m.onnx"));
  Eigen::VectorXd y = n.evaluate(Eigen::VectorXd(Eigen::Vector2d(1, -1)));
  EXPECT_DOUBLE_EQ(y[0], -2.0);
  EXPECT_DOUBLE_EQ(y[1], -2.0);
}

TEST(OnnxRead, MatMulAddWithBiasOnTheLeft) {
  // y = Add(b, MatMul(relu(Add(b0, MatMul(x, W0))), W1)); x [1,2] fixed
  // W0 = [[1,-1],[2,0]] (in x out): x W0 = (x0 + 2 x1, -x0); b0 = (0, 1); W1 = [[1],[1]]; b = (10)
  OnnxBuilder b({1, 2}, {1, 1}, 9);
  b.init("W0", {2, 2}, {1, -1, 2, 0});
  b.init("b0", {2}, {0, 1});
  b.init("W1", {2, 1}, {1, 1});
  b.init("b", {1}, {10});
  b.node("MatMul", {"x", "W0"}, {"m0"});
  b.node("Add", {"b0", "m0"}, {"a0"});
  b.node("Relu", {"a0"}, {"h"});
  b.node("MatMul", {"h", "W1"}, {"m1"});
  b.node("Add", {"b", "m1"}, {"y"});
  TempDir dir;
  Network n = read_onnx(b.save(dir.path, "m.onnx"));
  // x = (1, 2): a0 = (5, 0) -> y = 15; x = (-1, 0): a0 = (-1, 2) -> y = 12
  EXPECT_DOUBLE_EQ(eval1(n, {1, 2}), 15.0);
  EXPECT_DOUBLE_EQ(eval1(n, {-1, 0}), 12.0);
  EXPECT_EQ(n.source_parameters, mlp_parameters({2, 2, 1}));
  EXPECT_EQ(n.depth(), 2u);
}

TEST(OnnxRead, NormalisationIsFoldedIntoTheAffineLayers) {
  // y = W2 (3 * relu(W1 ((x - m) / s)) - 1) with m = (1, 2), s = (2, 4), W1 = I, W2 = [1, 1]
  // x = (5, 10): (x-m)/s = (2, 2) -> relu -> (2,2) -> *3 - 1 = (5, 5) -> y = 10
  OnnxBuilder b({-1, 2}, {-1, 1});
  b.init("m", {1, 2}, {1, 2});
  b.init("s", {2}, {2, 4});
  b.init("W1", {2, 2}, {1, 0, 0, 1});
  b.init("three", {}, {3});
  b.init("one", {1}, {1});
  b.init("W2", {2, 1}, {1, 1});
  b.node("Sub", {"x", "m"}, {"c"});
  b.node("Div", {"c", "s"}, {"n"});
  b.node("MatMul", {"n", "W1"}, {"g"});
  b.node("Relu", {"g"}, {"h"});
  b.node("Mul", {"three", "h"}, {"h3"});
  b.node("Sub", {"h3", "one"}, {"h4"});
  b.node("MatMul", {"h4", "W2"}, {"y"});
  TempDir dir;
  Network n = read_onnx(b.save(dir.path, "m.onnx"));
  EXPECT_EQ(n.depth(), 2u);
  EXPECT_DOUBLE_EQ(eval1(n, {5, 10}), 10.0);
  // x = (0, 0): (-0.5, -0.5) -> 0 -> (-1, -1) -> -2
  EXPECT_DOUBLE_EQ(eval1(n, {0, 0}), -2.0);
  // Normalisation constants are not counted; the bias-free MatMuls are.
  EXPECT_EQ(n.source_parameters, 4 + 2);
}

TEST(OnnxRead, ConsecutiveAffineOpsBecomeOneLayer) {
  OnnxBuilder b({-1, 2}, {-1, 1});
  b.init("W1", {2, 3}, {1, 2, 3, 4, 5, 6});
  b.init("b1", {3}, {1, 1, 1});
  b.init("W2", {3, 1}, {1, 0, -1});
  b.node("MatMul", {"x", "W1"}, {"m"});
  b.node("Add", {"m", "b1"}, {"a"});
  b.node("Identity", {"a"}, {"i"});
  auto* d = b.node("Dropout", {"i"}, {"d"});
  (void)d;
  b.node("MatMul", {"d", "W2"}, {"y"});
  TempDir dir;
  Network n = read_onnx(b.save(dir.path, "m.onnx"));
  EXPECT_EQ(n.depth(), 1u);
  // x = (1, 1): a = (6, 8, 10) -> y = 6 - 10 = -4
  EXPECT_DOUBLE_EQ(eval1(n, {1, 1}), -4.0);
}

TEST(OnnxRead, ViewChainWithSymbolicBatch) {
  // x [N,1,2,2] -> Reshape(x, Concat(Unsqueeze(Gather(Shape(x), 0)), [-1])) -> Gemm
  OnnxBuilder b({-1, 1, 2, 2}, {-1, 1}, 11);
  b.init("W", {1, 4}, {1, 2, 3, 4});
  b.init("bias", {1}, {0.5});
  b.init_int64("zero", {0});
  b.init_int64("minus1", {-1});
  b.node("Shape", {"x"}, {"s"});
  auto* gi = b.graph->add_initializer();
  gi->set_name("idx");
  gi->set_data_type(onnx::TensorProto::INT64);
  gi->add_int64_data(0);  // a scalar index
  b.node("Gather", {"s", "idx"}, {"n"});
  auto* u = b.node("Unsqueeze", {"n"}, {"n1"});
  auto* ax = u->add_attribute();
  ax->set_name("axes");
  ax->set_type(onnx::AttributeProto::INTS);
  ax->add_ints(0);
  OnnxBuilder::attr_int(b.node("Concat", {"n1", "minus1"}, {"shape"}), "axis", 0);
  b.node("Reshape", {"x", "shape"}, {"flat"});
  OnnxBuilder::attr_int(b.node("Gemm", {"flat", "W", "bias"}, {"y"}), "transB", 1);
  TempDir dir;
  Network n = read_onnx(b.save(dir.path, "m.onnx"));
  EXPECT_EQ(n.inputs(), 4);
  EXPECT_DOUBLE_EQ(eval1(n, {1, 1, 1, 1}), 10.5);
}

TEST(OnnxRead, OpsetsSevenToEighteen) {
  // The same network in the forms the opsets ask for: Unsqueeze/Squeeze axes as an attribute
  // (< 13) or an input (>= 13), Dropout ratio as an attribute (< 12) or an input.
  // y = [1 -1] relu(W x + b) with W = [[1,2],[3,4]], b = (0, -10); x = (1, 1): relu(3, -3) -> 3
  for (int opset : {7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18}) {
    SCOPED_TRACE(opset);
    OnnxBuilder b({-1, 2}, {-1, 1}, opset);
    b.init("W", {2, 2}, {1, 3, 2, 4});  // in x out for MatMul
    b.init("b", {2}, {0, -10});
    b.init("V", {2, 1}, {1, -1});
    b.node("MatMul", {"x", "W"}, {"m"});
    b.node("Add", {"m", "b"}, {"a"});
    b.node("Relu", {"a"}, {"h"});
    if (opset < 13) {
      auto* u = b.node("Unsqueeze", {"h"}, {"hu"});
      auto* ax = u->add_attribute();
      ax->set_name("axes");
      ax->set_type(onnx::AttributeProto::INTS);
      ax->add_ints(1);
      auto* q = b.node("Squeeze", {"hu"}, {"hs"});
      auto* ax2 = q->add_attribute();
      ax2->set_name("axes");
      ax2->set_type(onnx::AttributeProto::INTS);
      ax2->add_ints(1);
    } else {
      b.init_int64("one", {1});
      b.node("Unsqueeze", {"h", "one"}, {"hu"});
      b.node("Squeeze", {"hu", "one"}, {"hs"});
    }
    if (opset < 12) {
      OnnxBuilder::attr_float(b.node("Dropout", {"hs"}, {"d"}), "ratio", 0.5f);
    } else {
      b.init("ratio", {}, {0.5});
      b.node("Dropout", {"hs", "ratio"}, {"d"});
    }
    b.node("MatMul", {"d", "V"}, {"y"});
    TempDir dir;
    Network n = read_onnx(b.save(dir.path, "m.onnx"));
    EXPECT_EQ(n.opset, opset);
    EXPECT_EQ(n.depth(), 2u);
    EXPECT_DOUBLE_EQ(eval1(n, {1, 1}), 3.0);
    EXPECT_DOUBLE_EQ(eval1(n, {0, 3}), 6.0 - 2.0);  // relu(6, 2)
  }
}

TEST(OnnxRead, TransposeNegAndConstantNodes) {
  // x [N,2,3] -> Transpose(0,2,1) -> [N,3,2] -> Flatten -> Neg -> MatMul(c) with c from a Constant node
  // x = [[1,2,3],[4,5,6]] -> transposed rows (1,4),(2,5),(3,6) -> flat (1,4,2,5,3,6) -> negated
  // c = (1,0,0,0,0,10)^T -> y = -1 - 60 = -61
  OnnxBuilder b({-1, 2, 3}, {-1, 1});
  auto* t = b.node("Transpose", {"x"}, {"t"});
  auto* perm = t->add_attribute();
  perm->set_name("perm");
  perm->set_type(onnx::AttributeProto::INTS);
  for (int k : {0, 2, 1}) perm->add_ints(k);
  b.node("Flatten", {"t"}, {"f"});
  b.node("Neg", {"f"}, {"n"});
  auto* c = b.node("Constant", {}, {"c"});
  auto* v = c->add_attribute();
  v->set_name("value");
  v->set_type(onnx::AttributeProto::TENSOR);
  b.fill(v->mutable_t(), "c", {6, 1}, {1, 0, 0, 0, 0, 10}, Storage::float_data);
  b.node("MatMul", {"n", "c"}, {"y"});
  TempDir dir;
  Network n = read_onnx(b.save(dir.path, "m.onnx"));
  EXPECT_DOUBLE_EQ(eval1(n, {1, 2, 3, 4, 5, 6}), -61.0);
  EXPECT_EQ(n.source_parameters, 6);
}

TEST(OnnxBadInput, BranchesAndNonAffineOps) {
  TempDir dir;
  {  // a skip connection from the input across a Relu: not a Relu output, cannot be carried
    OnnxBuilder b({-1, 2}, {-1, 2});
    b.init("W", {2, 2}, {1, 0, 0, 1});
    b.node("MatMul", {"x", "W"}, {"m"});
    b.node("Relu", {"m"}, {"r"});
    b.node("Add", {"r", "x"}, {"y"}, "residual");
    std::string msg = input_error([&] { read_onnx(b.save(dir.path, "r.onnx")); });
    EXPECT_THAT(msg, HasSubstr("node 'residual' (Add)"));
    EXPECT_THAT(msg, HasSubstr("skip connection from the network input"));
  }
  {  // x W + x: both read the input, one affine map (W + I) x
    OnnxBuilder b({-1, 2}, {-1, 2});
    b.init("W", {2, 2}, {1, 2, 3, 4});
    b.node("MatMul", {"x", "W"}, {"m"});
    b.node("Add", {"m", "x"}, {"y"}, "residual");
    Network n = read_onnx(b.save(dir.path, "r2.onnx"));
    ASSERT_EQ(n.layers.size(), 1u);
    EXPECT_EQ(n.layers[0].weights, (Eigen::MatrixXd(2, 2) << 2, 3, 2, 5).finished());
  }
  {  // x * x: two tensors that depend on the input
    OnnxBuilder b({-1, 2}, {-1, 2});
    b.node("Mul", {"x", "x"}, {"y"}, "square");
    std::string msg = input_error([&] { read_onnx(b.save(dir.path, "sq.onnx")); });
    EXPECT_THAT(msg, HasSubstr("square"));
    EXPECT_THAT(msg, HasSubstr("both depend on the input"));
  }
  {  // 1 / x
    OnnxBuilder b({-1, 2}, {-1, 2});
    b.init("one", {}, {1});
    b.node("Div", {"one", "x"}, {"y"}, "reciprocal");
    EXPECT_THAT(input_error([&] { read_onnx(b.save(dir.path, "d.onnx")); }), HasSubstr("not affine"));
  }
  {  // two inputs
    OnnxBuilder b({-1, 2}, {-1, 2});
    OnnxBuilder::value_info(b.graph->add_input(), "x2", {-1, 2}, onnx::TensorProto::FLOAT);
    b.node("Relu", {"x"}, {"y"});
    EXPECT_THAT(input_error([&] { read_onnx(b.save(dir.path, "i.onnx")); }), HasSubstr("2 inputs"));
  }
}

// --- round trips -------------------------------------------------------------

void expect_same_weights(const Network& a, const Network& b) {
  ASSERT_EQ(a.depth(), b.depth());
  for (std::size_t l = 0; l < a.depth(); ++l) {
    EXPECT_TRUE(a.layers[l].weights == b.layers[l].weights) << "layer " << l;
    EXPECT_TRUE(a.layers[l].bias == b.layers[l].bias) << "layer " << l;
  }
}

TEST(OnnxWrite, RoundTripsOfTheReferenceModels) {
  TempDir dir;
  std::mt19937_64 rng(7);
  for (const char* f : {"acasxu/ACASXU_run2a_1_1_batch_2000.onnx", "mnistfc/mnist-net_256x2.onnx",
                        "small/test_nano.onnx", "small/test_small.onnx", "small/test_tiny.onnx"}) {
    SCOPED_TRACE(f);
    Network a = read_onnx(model(f));
    fs::path out = dir.path / "a.onnx";
    write_onnx(a, out, {.type = ElementType::float32, .inputs = {model(f)}});
    onnx::checker::check_model(out.string());
    Network b = read_onnx(out);
    expect_same_weights(a, b);
    EXPECT_EQ(b.input.name, a.input.name);
    EXPECT_EQ(b.output.name, a.output.name);
    ASSERT_EQ(b.input.shape.size(), a.input.shape.size());
    ASSERT_EQ(b.output.shape.size(), a.output.shape.size());
    for (std::size_t k = 1; k < a.input.shape.size(); ++k) EXPECT_EQ(b.input.shape[k], a.input.shape[k]);
    if (a.input.shape.size() >= 2 && a.output.shape.size() >= 2) {
      EXPECT_EQ(b.input.shape[0], -1);  // dynamic batch
      EXPECT_EQ(b.output.shape[0], -1);
    }
    EXPECT_EQ(b.opset, std::min<std::int64_t>(a.opset, 17));  // kept (ONNX 1.12 knows opsets up to 17)
    if (!a.input.dim_params.empty() && !a.input.dim_params[0].empty() && a.input.shape[0] < 0) {
      EXPECT_EQ(b.input.dim_params.at(0), a.input.dim_params[0]);
    }
    for (std::size_t l = 0; l < a.depth(); ++l) {
      if (!a.layers[l].weight_name.empty()) {
        EXPECT_EQ(b.layers[l].weight_name, a.layers[l].weight_name);
      }
      if (!a.layers[l].bias_name.empty()) {
        EXPECT_EQ(b.layers[l].bias_name, a.layers[l].bias_name);
      }
    }
    EXPECT_EQ(b.producer.rfind("leo", 0), 0u);
    // Second trip: the same file contents.
    fs::path out2 = dir.path / "b.onnx";
    write_onnx(b, out2);
    Network c = read_onnx(out2);
    expect_same_weights(a, c);
    Eigen::MatrixXd X = test::random_points(Eigen::VectorXd::Constant(a.inputs(), -1.0),
                                            Eigen::VectorXd::Constant(a.inputs(), 1.0), 20, rng);
    EXPECT_TRUE(a.evaluate(X) == c.evaluate(X));
  }
}

// --- written models keep their identity (issue 16 section 8) ---------------

// A PyTorch-like classifier: fc1 -> Relu -> fc2 -> Softmax (or LogSoftmax),
// batch dimension "batch_size", at the given opset.
OnnxBuilder classifier(int opset, const std::string& activation) {
  OnnxBuilder b({-1, 2}, {-1, 3}, opset);
  for (auto* v : {b.graph->mutable_input(0), b.graph->mutable_output(0)})
    v->mutable_type()->mutable_tensor_type()->mutable_shape()->mutable_dim(0)->set_dim_param("batch_size");
  b.init("fc1.weight", {3, 2}, {1, 2, 3, 4, -1, 1});
  b.init("fc1.bias", {3}, {0.5, -1, 0});
  b.init("fc2.weight", {3, 3}, {1, -1, 2, 0.5, 0.25, -1, 0, 1, 1});
  b.init("fc2.bias", {3}, {0.25, 0, -0.5});
  OnnxBuilder::attr_int(b.node("Gemm", {"x", "fc1.weight", "fc1.bias"}, {"g1"}), "transB", 1);
  b.node("Relu", {"g1"}, {"h1"});
  const bool act = !activation.empty();
  OnnxBuilder::attr_int(b.node("Gemm", {"h1", "fc2.weight", "fc2.bias"}, {act ? "logits" : "y"}), "transB", 1);
  if (act) {
    auto* n = b.node(activation, {"logits"}, {"y"}, "prob");
    if (opset >= 13) OnnxBuilder::attr_int(n, "axis", -1);  // older opsets: the default axis 1 is the last
  }
  return b;
}

// The written file itself: passes the checker, and has what is asked.
onnx::ModelProto load_checked(const fs::path& p) {
  onnx::ModelProto m;
  std::ifstream in(p, std::ios::binary);
  EXPECT_TRUE(m.ParseFromIstream(&in)) << p;
  EXPECT_NO_THROW(onnx::checker::check_model(m)) << p;
  return m;
}

TEST(OnnxWrite, KeepsOpsetNamesBatchNameAndSoftmax) {
  TempDir dir;
  std::mt19937_64 rng(11);
  for (int opset : {7, 9, 11, 12, 13, 15, 17})
    for (const std::string activation : {"", "Softmax", "LogSoftmax"}) {
      SCOPED_TRACE(fmt::format("opset {} {}", opset, activation));
      const fs::path src = classifier(opset, activation).save(dir.path, "c.onnx");
      Network a = read_onnx(src);
      EXPECT_EQ(a.opset, opset);
      EXPECT_EQ(a.layers[0].weight_name, "fc1.weight");
      EXPECT_EQ(a.layers[1].bias_name, "fc2.bias");
      EXPECT_EQ(a.input.dim_params.at(0), "batch_size");
      EXPECT_EQ(a.output.dim_params.at(0), "batch_size");
      const OutputActivation want = activation == "Softmax"      ? OutputActivation::softmax
                                    : activation == "LogSoftmax" ? OutputActivation::log_softmax
                                                                 : OutputActivation::none;
      EXPECT_EQ(a.output_activation, want);

      const fs::path out = dir.path / "w.onnx";
      write_onnx(a, out);
      const onnx::ModelProto m = load_checked(out);
      ASSERT_EQ(m.opset_import_size(), 1);
      EXPECT_EQ(m.opset_import(0).version(), opset);
      std::vector<std::string> names;
      for (const auto& t : m.graph().initializer()) names.push_back(t.name());
      EXPECT_EQ(names, (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}));
      EXPECT_EQ(m.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "batch_size");
      EXPECT_EQ(m.graph().output(0).type().tensor_type().shape().dim(0).dim_param(), "batch_size");
      const auto& last = m.graph().node(m.graph().node_size() - 1);
      EXPECT_EQ(last.op_type(), activation.empty() ? "Gemm" : activation);

      // Read back: the same identity and the same outputs.
      Network b = read_onnx(out);
      EXPECT_EQ(b.opset, opset);
      EXPECT_EQ(b.layers[0].weight_name, "fc1.weight");
      EXPECT_EQ(b.layers[0].bias_name, "fc1.bias");
      EXPECT_EQ(b.layers[1].weight_name, "fc2.weight");
      EXPECT_EQ(b.input.dim_params.at(0), "batch_size");
      EXPECT_EQ(b.output_activation, want);
      Eigen::MatrixXd X = test::random_points(Eigen::VectorXd::Constant(2, -2.0), Eigen::VectorXd::Constant(2, 2.0),
                                              16, rng);
      EXPECT_TRUE(a.evaluate(X) == b.evaluate(X));
      EXPECT_TRUE(a.logits(X) == b.logits(X));
    }
}

TEST(OnnxWrite, NewestOpsetAndDefaultsForNetworksBuiltInCode) {
  TempDir dir;
  std::mt19937_64 rng(5);
  Network a = test::random_network({3, 4, 2}, rng);
  a.layers[1].weight_name = "head.weight";  // one named layer, the rest default
  write_onnx(a, dir.path / "a.onnx");
  onnx::ModelProto m = load_checked(dir.path / "a.onnx");
  EXPECT_EQ(m.opset_import(0).version(), 13);
  std::vector<std::string> names;
  for (const auto& t : m.graph().initializer()) names.push_back(t.name());
  EXPECT_EQ(names, (std::vector<std::string>{"layer0.weight", "layer0.bias", "head.weight", "layer1.bias"}));
  EXPECT_EQ(m.graph().input(0).type().tensor_type().shape().dim(0).dim_param(), "batch");
  // A name taken twice falls back to the default for the second.
  a.layers[0].weight_name = "head.weight";
  write_onnx(a, dir.path / "b.onnx");
  m = load_checked(dir.path / "b.onnx");
  EXPECT_EQ(m.graph().initializer(0).name(), "head.weight");
  EXPECT_EQ(m.graph().initializer(2).name(), "layer1.weight");
  // Opset 18 (read, but newer than the linked ONNX knows) is written as 17.
  a.opset = 18;
  write_onnx(a, dir.path / "c.onnx");
  EXPECT_EQ(load_checked(dir.path / "c.onnx").opset_import(0).version(), 17);
}

TEST(OnnxRead, SoftmaxIsEvaluatedOnTheLastAxis) {
  TempDir dir;
  Network s = read_onnx(classifier(13, "Softmax").save(dir.path, "s.onnx"));
  Network l = read_onnx(classifier(13, "LogSoftmax").save(dir.path, "l.onnx"));
  Network n = read_onnx(classifier(13, "").save(dir.path, "n.onnx"));
  Eigen::VectorXd x(2);
  x << 0.5, -1.0;
  const Eigen::VectorXd z = n.evaluate(x);
  EXPECT_TRUE(s.logits(Eigen::MatrixXd(x)) == Eigen::MatrixXd(z));
  const Eigen::VectorXd p = s.evaluate(x), q = l.evaluate(x);
  const double sum = z.array().exp().sum();
  for (int k = 0; k < 3; ++k) {
    EXPECT_NEAR(p[k], std::exp(z[k]) / sum, 1e-15);
    EXPECT_NEAR(q[k], z[k] - std::log(sum), 1e-14);
  }
  EXPECT_NEAR(p.sum(), 1.0, 1e-15);
  // Large logits do not overflow.
  Eigen::MatrixXd big(3, 1);
  big << 1000, 999, -1000;
  s.apply_output_activation(big);
  EXPECT_NEAR(big(0, 0), 1 / (1 + std::exp(-1.0)), 1e-15);
  // Groups along the last axis of a rank-3 output: [N, 2, 3] softmaxes each row of 3.
  std::mt19937_64 rng(1);
  Network g = test::random_network({2, 6}, rng);
  g.output.shape = {-1, 2, 3};
  g.output_activation = OutputActivation::softmax;
  const Eigen::VectorXd y = g.evaluate(Eigen::VectorXd(x));
  EXPECT_NEAR(y.head(3).sum(), 1.0, 1e-15);
  EXPECT_NEAR(y.tail(3).sum(), 1.0, 1e-15);
}

TEST(OnnxBadInput, SoftmaxOnlyLastAndOnTheLastAxis) {
  TempDir dir;
  {
    OnnxBuilder b = classifier(13, "Softmax");
    b.graph->mutable_node(3)->set_output(0, "p");
    b.node("Relu", {"p"}, {"y"}, "after");
    EXPECT_THAT(input_error([&] { read_onnx(b.save(dir.path, "m.onnx")); }),
                HasSubstr("node 'after' (Relu): Relu after Softmax: leo reads a Softmax or LogSoftmax only as the last op"));
  }
  {
    OnnxBuilder b = classifier(13, "LogSoftmax");
    b.graph->mutable_node(3)->mutable_attribute(0)->set_i(0);
    EXPECT_THAT(input_error([&] { read_onnx(b.save(dir.path, "m.onnx")); }),
                HasSubstr("node 'prob' (LogSoftmax): LogSoftmax on axis 0"));
  }
}

TEST(OnnxWrite, Float64RoundTripKeepsDoubles) {
  TempDir dir;
  std::mt19937_64 rng(3);
  Network a = test::random_network({7, 5, 4, 3}, rng);
  a.metadata["source"] = "random";
  write_onnx(a, dir.path / "d.onnx", {.type = ElementType::float64, .inputs = {}});
  onnx::checker::check_model((dir.path / "d.onnx").string());
  Network b = read_onnx(dir.path / "d.onnx");
  expect_same_weights(a, b);
  EXPECT_EQ(b.input.type, ElementType::float64);
  EXPECT_EQ(b.metadata.at("source"), "random");
  // float32: every weight rounded to nearest float.
  write_onnx(a, dir.path / "f.onnx");
  Network c = read_onnx(dir.path / "f.onnx");
  ASSERT_EQ(c.depth(), a.depth());
  for (std::size_t l = 0; l < a.depth(); ++l)
    EXPECT_TRUE(c.layers[l].weights == a.layers[l].weights.cast<float>().cast<double>());
  EXPECT_EQ(c.input.type, ElementType::float32);
}

TEST(OnnxWrite, RefusesToOverwriteItsInput) {
  TempDir dir;
  Network a = read_onnx(model("small/test_tiny.onnx"));
  fs::path p = dir.path / "t.onnx";
  write_onnx(a, p);
  const auto before = fs::file_size(p);
  std::string msg = input_error([&] { write_onnx(a, p, {.inputs = {p}}); });
  EXPECT_THAT(msg, HasSubstr("overwrite"));
  EXPECT_EQ(fs::file_size(p), before);
}

// --- bad input ---------------------------------------------------------------

TEST(OnnxBadInput, TruncatedFile) {
  TempDir dir;
  std::ifstream in(model("mnistfc/mnist-net_256x2.onnx"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::path p = dir.path / "truncated.onnx";
  std::ofstream(p, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  std::string msg = input_error([&] { read_onnx(p); });
  EXPECT_THAT(msg, HasSubstr("truncated.onnx"));
  EXPECT_THAT(msg, HasSubstr("does not parse"));
  // Cut anywhere: always a clean InputError naming the file, never a crash.
  for (std::size_t cut : {std::size_t{1}, std::size_t{10}, std::size_t{100}, bytes.size() / 3, bytes.size() - 1}) {
    fs::path q = dir.path / "cut.onnx";
    std::ofstream(q, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(cut));
    EXPECT_THAT(input_error([&] { read_onnx(q); }), HasSubstr("cut.onnx")) << cut;
  }
}

TEST(OnnxBadInput, NotOnnx) {
  TempDir dir;
  fs::path p = dir.path / "text.onnx";
  std::ofstream(p) << "this is not a neural network, just text\n";
  std::string msg = input_error([&] { read_onnx(p); });
  EXPECT_THAT(msg, HasSubstr("text.onnx"));
  EXPECT_THAT(msg, HasSubstr("not an ONNX model"));
  fs::path e = dir.path / "empty.onnx";
  std::ofstream(e).flush();
  EXPECT_THAT(input_error([&] { read_onnx(e); }), HasSubstr("not an ONNX model"));
  EXPECT_THAT(input_error([&] { read_onnx(dir.path / "missing.onnx"); }), HasSubstr("no such file"));
}

TEST(OnnxBadInput, MissingInitializer) {
  OnnxBuilder b({-1, 2}, {-1, 1});
  b.node("Gemm", {"x", "W_missing"}, {"y"}, "dense");
  TempDir dir;
  std::string msg = input_error([&] { read_onnx(b.save(dir.path, "m.onnx")); });
  EXPECT_THAT(msg, HasSubstr("W_missing"));
  EXPECT_THAT(msg, HasSubstr("dense"));
  EXPECT_THAT(msg, HasSubstr("missing initializer"));
}

TEST(OnnxBadInput, ShapeMismatch) {
  OnnxBuilder b({-1, 2}, {-1, 1});
  b.init("W1", {3, 2}, {1, 2, 3, 4, 5, 6});
  b.init("W2", {1, 4}, {1, 2, 3, 4});
  OnnxBuilder::attr_int(b.node("Gemm", {"x", "W1"}, {"g"}), "transB", 1);
  b.node("Relu", {"g"}, {"h"});
  OnnxBuilder::attr_int(b.node("Gemm", {"h", "W2"}, {"y"}, "second"), "transB", 1);
  TempDir dir;
  std::string msg = input_error([&] { read_onnx(b.save(dir.path, "m.onnx")); });
  EXPECT_THAT(msg, HasSubstr("shape mismatch"));
  EXPECT_THAT(msg, HasSubstr("second"));
  // A declared output shape that disagrees with the graph.
  OnnxBuilder c({-1, 2}, {-1, 7});
  c.init("W1", {3, 2}, {1, 2, 3, 4, 5, 6});
  OnnxBuilder::attr_int(c.node("Gemm", {"x", "W1"}, {"y"}), "transB", 1);
  EXPECT_THAT(input_error([&] { read_onnx(c.save(dir.path, "c.onnx")); }), HasSubstr("shape mismatch"));
}

TEST(OnnxBadInput, NanAndInfiniteWeights) {
  for (double bad : {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    OnnxBuilder b({-1, 2}, {-1, 1});
    b.init("W", {1, 2}, {1, bad});
    OnnxBuilder::attr_int(b.node("Gemm", {"x", "W"}, {"y"}), "transB", 1);
    TempDir dir;
    std::string msg = input_error([&] { read_onnx(b.save(dir.path, "nan.onnx")); });
    EXPECT_THAT(msg, HasSubstr("NaN or infinite"));
    EXPECT_THAT(msg, HasSubstr("nan.onnx"));
  }
}

TEST(OnnxBadInput, UnknownOp) {
  OnnxBuilder b({-1, 2}, {-1, 2});
  b.node("Sigmoid", {"x"}, {"y"}, "squash");
  TempDir dir;
  std::string msg = input_error([&] { read_onnx(b.save(dir.path, "m.onnx")); });
  EXPECT_THAT(msg, HasSubstr("Sigmoid"));
  EXPECT_THAT(msg, HasSubstr("squash"));
}

TEST(OnnxRead, EveryListedOpIsDispatched) {
  // The list and the dispatch come from one table: no listed op is refused as
  // unsupported (each fails here only for want of inputs or attributes).
  TempDir dir;
  ASSERT_GE(onnx_supported_ops().size(), 20u);
  for (const auto& op : onnx_supported_ops()) {
    OnnxBuilder b({-1, 2}, {-1, 2});
    b.node(op, {}, {"y"}, "n");
    const std::string msg = input_error([&] { read_onnx(b.save(dir.path, "m.onnx")); });
    EXPECT_THAT(msg, ::testing::Not(HasSubstr("unsupported op"))) << op;
    EXPECT_THAT(msg, HasSubstr("node 'n' (" + op + ")")) << op;
  }
  const std::string msg = input_error([&] {
    OnnxBuilder b({-1, 2}, {-1, 2});
    b.node("Softplus", {"x"}, {"y"});
    read_onnx(b.save(dir.path, "m.onnx"));
  });
  for (const auto& op : onnx_supported_ops()) EXPECT_THAT(msg, HasSubstr(op));
}

// --- attributes are read by their type (issue 16 section 2) -----------------

TEST(OnnxBadInput, AttributesOfTheWrongTypeAreRefusedNamingTheNode) {
  const fs::path dir = test::fixtures_dir() / "robustness" / "onnx";
  // alpha stored as INT used to read as 0 (a constant network).
  std::string msg = input_error([&] { read_onnx(dir / "gemm_alpha_int.onnx"); });
  EXPECT_THAT(msg, HasSubstr("gemm_alpha_int.onnx: node "));
  EXPECT_THAT(msg, HasSubstr("(Gemm): attribute 'alpha' has type INT; Gemm needs FLOAT"));
  // transB stored as FLOAT used to be ignored.
  msg = input_error([&] { read_onnx(dir / "gemm_transB_float.onnx"); });
  EXPECT_THAT(msg, HasSubstr("(Gemm): attribute 'transB' has type FLOAT; Gemm needs INT"));

  TempDir tmp;
  auto refused = [&](OnnxBuilder& b) { return input_error([&] { read_onnx(b.save(tmp.path, "m.onnx")); }); };
  {  // An unnamed node is named by its index.
    OnnxBuilder b({-1, 2, 3}, {-1, 6});
    OnnxBuilder::attr_float(b.node("Flatten", {"x"}, {"y"}), "axis", 1.0f);
    b.graph->mutable_node(0)->clear_name();
    EXPECT_THAT(refused(b), HasSubstr("node #0 (Flatten): attribute 'axis' has type FLOAT; Flatten needs INT"));
  }
  {  // perm as one INT instead of INTS.
    OnnxBuilder b({-1, 2, 3}, {-1, 3, 2});
    OnnxBuilder::attr_int(b.node("Transpose", {"x"}, {"y"}, "t"), "perm", 0);
    EXPECT_THAT(refused(b), HasSubstr("node 't' (Transpose): attribute 'perm' has type INT; Transpose needs INTS"));
  }
  {  // Constant's value_int stored as FLOAT.
    OnnxBuilder b({-1, 2}, {-1, 2});
    OnnxBuilder::attr_float(b.node("Constant", {}, {"k"}, "c"), "value_int", 2.0f);
    b.node("Mul", {"x", "k"}, {"y"});
    EXPECT_THAT(refused(b), HasSubstr("node 'c' (Constant): attribute 'value_int' has type FLOAT"));
  }
  {  // The same attributes with the right types read fine (and alpha is applied).
    OnnxBuilder b({-1, 2}, {-1, 1});
    b.init("W", {1, 2}, {1, 2});
    auto* g = b.node("Gemm", {"x", "W"}, {"y"});
    OnnxBuilder::attr_int(g, "transB", 1);
    OnnxBuilder::attr_float(g, "alpha", 3.0f);
    Network net = read_onnx(b.save(tmp.path, "ok.onnx"));
    EXPECT_DOUBLE_EQ(eval1(net, {1, 1}), 9.0);
  }
}

// --- memory follows the size limit, not declared dimensions (section 5) ----

TEST(OnnxBadInput, DeclaredDimensionsAreBoundedByTheSizeLimit) {
  // 73 bytes declaring 15,000 features: an identity output layer of 15,000^2.
  const fs::path relu = test::fixtures_dir() / "robustness" / "onnx" / "relu_15000.onnx";
  std::string msg = input_error([&] { read_onnx(relu, {.max_file_bytes = 1024}); });
  EXPECT_THAT(msg, HasSubstr("size limit of 1024 bytes"));
  EXPECT_EQ(msg.find('\n'), std::string::npos);

  TempDir dir;
  {  // 40,000 features at the default limit (2 GiB): 1.6e9 weights > 2^29.
    OnnxBuilder b({-1, 40000}, {-1, 40000});
    b.node("Relu", {"x"}, {"h"});
    b.node("Relu", {"h"}, {"y"});
    msg = input_error([&] { read_onnx(b.save(dir.path, "wide.onnx")); });
    EXPECT_THAT(msg, HasSubstr("40000 x 40001 matrix"));
    EXPECT_THAT(msg, HasSubstr("size limit of 2147483648 bytes"));
  }
  {  // A Transpose of a weightless 10,000-feature input would be a dense 10^4 x 10^4 matrix.
    OnnxBuilder b({-1, 100, 100}, {-1, 100, 100});
    auto* t = b.node("Transpose", {"x"}, {"y"}, "swap");
    auto* a = t->add_attribute();
    a->set_name("perm");
    a->set_type(onnx::AttributeProto::INTS);
    for (int k : {0, 2, 1}) a->add_ints(k);
    msg = input_error([&] { read_onnx(b.save(dir.path, "tr.onnx"), {.max_file_bytes = 1 << 20}); });
    EXPECT_THAT(msg, HasSubstr("node 'swap' (Transpose): the layer would be a 10000 x 10000 matrix"));
  }
  {  // An input wider than the limit allows weights (a scaling stores one).
    OnnxBuilder b({-1, 1000}, {-1, 1000});
    b.init("s", {}, {2.0});
    b.node("Mul", {"x", "s"}, {"y"});
    msg = input_error([&] { read_onnx(b.save(dir.path, "in.onnx"), {.max_file_bytes = 3000}); });
    EXPECT_THAT(msg, HasSubstr("input 'x' has 1000 features"));
  }
  // Models with stored weights read within a limit of their own size.
  for (const char* m : {"small/test_small.onnx", "acasxu/ACASXU_run2a_1_1_batch_2000.onnx"}) {
    const auto size = fs::file_size(model(m));
    EXPECT_NO_THROW(read_onnx(model(m), {.max_file_bytes = size})) << m;
  }
}

// --- messages: one line, names from the file escaped (section 4 of the cases) --

TEST(OnnxBadInput, ControlCharactersInNamesAreEscaped) {
  const fs::path evil = test::fixtures_dir() / "robustness" / "onnx" / "evilname.onnx";
  const std::string msg = input_error([&] { read_onnx(evil); });
  EXPECT_EQ(msg.find('\n'), std::string::npos) << msg;
  EXPECT_THAT(msg, HasSubstr("evil\\nsecond line\\rthird"));
  EXPECT_THAT(msg, HasSubstr("(Conv)"));
  for (char c : msg) EXPECT_TRUE(static_cast<unsigned char>(c) >= 32) << msg;
}

TEST(OnnxBadInput, EmptyGraph) {
  OnnxBuilder b({-1, 2}, {-1, 2});
  TempDir dir;
  EXPECT_THAT(input_error([&] { read_onnx(b.save(dir.path, "m.onnx")); }), HasSubstr("empty"));
}

TEST(OnnxBadInput, ExternalDataOutsideTheFolder) {
  TempDir dir;
  fs::create_directories(dir.path / "model");
  OnnxBuilder b = two_layer(Storage::external);
  b.external_file = "../weights.bin";
  b.external_bytes.clear();
  b.graph->clear_initializer();
  b.init("W1", {3, 2}, {1, 2, 3, 4, -1, 1}, Storage::external);
  b.init("b1", {3}, {0.5, -1, 0}, Storage::external);
  b.init("W2", {1, 3}, {1, -1, 2}, Storage::external);
  b.init("b2", {1}, {0.25}, Storage::external);
  fs::path p = b.save(dir.path / "model", "m.onnx");
  ASSERT_TRUE(fs::exists(dir.path / "weights.bin"));
  std::string msg = input_error([&] { read_onnx(p); });
  EXPECT_THAT(msg, HasSubstr("outside the model's folder"));
  // An absolute path too.
  b.external_file = (dir.path / "weights.bin").string();
  b.graph->clear_initializer();
  b.external_bytes.clear();
  b.init("W1", {3, 2}, {1, 2, 3, 4, -1, 1}, Storage::external);
  b.init("b1", {3}, {0.5, -1, 0}, Storage::external);
  b.init("W2", {1, 3}, {1, -1, 2}, Storage::external);
  b.init("b2", {1}, {0.25}, Storage::external);
  b.external_bytes.clear();  // do not rewrite the data file
  fs::path q = b.save(dir.path / "model", "abs.onnx");
  EXPECT_THAT(input_error([&] { read_onnx(q); }), HasSubstr("outside the model's folder"));
}

// --- the files a model read touches -----------------------------------------

TEST(ModelFiles, ExternalDataFilesAreListedResolved) {
  const fs::path dir = test::fixtures_dir() / "robustness" / "external";
  const auto files = files_read_by_model(dir / "ok.onnx");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_TRUE(fs::equivalent(files[0], dir / "ok.onnx"));
  EXPECT_TRUE(fs::equivalent(files[1], dir / "w1.bin"));
  for (const auto& f : files) EXPECT_TRUE(f.is_absolute()) << f;
  // The reader reads exactly these files: the model loads.
  EXPECT_NO_THROW(read_onnx(dir / "ok.onnx"));
}

TEST(ModelFiles, EachExternalFileOnceAcrossInitializersAndConstants) {
  TempDir dir;
  fs::create_directories(dir.path / "m" / "data");
  OnnxBuilder b = two_layer(Storage::external);
  b.external_file = "data/../data/w.bin";  // resolved: data/w.bin
  b.external_bytes.clear();
  b.graph->clear_initializer();
  b.init("W1", {3, 2}, {1, 2, 3, 4, -1, 1}, Storage::external);
  b.init("b1", {3}, {0.5, -1, 0}, Storage::external);
  b.init("W2", {1, 3}, {1, -1, 2}, Storage::external);
  b.init("b2", {1}, {0.25}, Storage::external);
  // A Constant node whose tensor names a second file (never read by the lister).
  auto* c = b.graph->add_node();
  c->set_op_type("Constant");
  c->add_output("unused");
  auto* a = c->add_attribute();
  a->set_name("value");
  a->set_type(onnx::AttributeProto::TENSOR);
  auto* t = a->mutable_t();
  t->set_data_type(onnx::TensorProto::FLOAT);
  t->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = t->add_external_data();
  loc->set_key("location");
  loc->set_value("other.bin");
  const fs::path p = b.save(dir.path / "m", "m.onnx");
  const auto files = files_read_by_model(p);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0], fs::weakly_canonical(p));
  EXPECT_EQ(files[1], fs::weakly_canonical(dir.path / "m" / "data" / "w.bin"));
  EXPECT_EQ(files[2], fs::weakly_canonical(dir.path / "m" / "other.bin"));  // need not exist
}

TEST(ModelFiles, ModelsWithoutExternalDataAndUnparsableFiles) {
  EXPECT_EQ(files_read_by_model(model("small/test_small.onnx")).size(), 1u);
  TempDir dir;
  std::ofstream(dir.path / "junk.onnx") << "not a model";
  const auto junk = files_read_by_model(dir.path / "junk.onnx");
  ASSERT_EQ(junk.size(), 1u);
  EXPECT_EQ(junk[0], fs::weakly_canonical(dir.path / "junk.onnx"));
  std::ofstream(dir.path / "n.nnet") << "x";
  EXPECT_EQ(files_read_by_model(dir.path / "n.nnet").size(), 1u);
  // A relative name resolves against the working directory.
  EXPECT_TRUE(files_read_by_model("some/rel.onnx")[0].is_absolute());
}

TEST(OnnxBadInput, FileLargerThanTheLimit) {
  std::string msg = input_error([] { read_onnx(model("small/test_small.onnx"), {.max_file_bytes = 16}); });
  EXPECT_THAT(msg, HasSubstr("larger than the limit"));
}

TEST(OnnxBadInput, UnsupportedOpset) {
  OnnxBuilder b({-1, 2}, {-1, 2}, 6);
  b.node("Relu", {"x"}, {"y"});
  TempDir dir;
  EXPECT_THAT(input_error([&] { read_onnx(b.save(dir.path, "m.onnx")); }), HasSubstr("opset 6"));
}

// --- leo against a loop-based evaluation of the graph -------------------------

TEST(OnnxRead, AgreesWithLoopEvaluationOnHandBuiltModels) {
  TempDir dir;
  std::mt19937_64 rng(11);
  OnnxBuilder b = two_layer(Storage::raw);
  fs::path p = b.save(dir.path, "m.onnx");
  Network n = read_onnx(p);
  Eigen::MatrixXd X = test::random_points(Eigen::VectorXd::Constant(2, -3.0), Eigen::VectorXd::Constant(2, 3.0), 50, rng);
  for (int j = 0; j < X.cols(); ++j) {
    std::vector<double> x(X.col(j).data(), X.col(j).data() + X.rows());
    auto ref = test::reference_eval(p, x);
    Eigen::VectorXd y = n.evaluate(Eigen::VectorXd(X.col(j)));
    ASSERT_EQ(static_cast<Eigen::Index>(ref.size()), y.size());
    for (std::size_t k = 0; k < ref.size(); ++k) EXPECT_NEAR(y[static_cast<Eigen::Index>(k)], ref[k], 1e-12);
  }
}

// --- PyTorch-exported models (tests/fixtures/pytorch, made by make_fixtures.py) --

struct TorchFixture {
  const char* name;
  std::size_t depth;  // affine layers after folding
};

TEST(OnnxRead, PyTorchModelsMatchPyTorchAndLoopEvaluation) {
  const TorchFixture fixtures[] = {{"flatten_mlp", 3},         {"view_mlp", 2},    {"normalised_mlp", 3},
                                   {"matmul_mlp", 2},          {"external_mlp", 3}, {"dropout_mlp", 2},
                                   {"dropout_opset10_mlp", 2}};
  for (const auto& f : fixtures) {
    SCOPED_TRACE(f.name);
    const fs::path onnx_file = test::fixtures_dir() / "pytorch" / (std::string(f.name) + ".onnx");
    std::ifstream in(test::fixtures_dir() / "pytorch" / (std::string(f.name) + ".json"));
    ASSERT_TRUE(in) << "missing fixture";
    const auto j = nlohmann::json::parse(in);
    Network net = read_onnx(onnx_file);
    EXPECT_EQ(net.depth(), f.depth);
    EXPECT_EQ(net.opset, j.at("opset").get<std::int64_t>());
    EXPECT_EQ(net.input.name, "input");
    EXPECT_EQ(net.output.name, "output");
    EXPECT_EQ(net.input.shape[0], -1);  // exported with a dynamic batch axis
    const auto& xs = j.at("inputs");
    const auto& ys = j.at("outputs");
    ASSERT_EQ(xs.size(), ys.size());
    Eigen::MatrixXd X(net.inputs(), static_cast<Eigen::Index>(xs.size()));
    for (std::size_t s = 0; s < xs.size(); ++s) {
      ASSERT_EQ(static_cast<Eigen::Index>(xs[s].size()), net.inputs());
      for (std::size_t k = 0; k < xs[s].size(); ++k) X(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(s)) = xs[s][k];
    }
    Eigen::MatrixXd Y = net.evaluate(X);
    for (std::size_t s = 0; s < ys.size(); ++s) {
      ASSERT_EQ(static_cast<Eigen::Index>(ys[s].size()), net.outputs());
      std::vector<double> x(xs[s].begin(), xs[s].end());
      const auto ref = test::reference_eval(onnx_file, x);
      for (std::size_t k = 0; k < ys[s].size(); ++k) {
        const double y = Y(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(s));
        const double torch = ys[s][k];
        // PyTorch computed in float32: a few float32 ulps of the magnitudes involved.
        EXPECT_NEAR(y, torch, 1e-5 * (1.0 + std::abs(torch))) << "sample " << s << " output " << k;
        // The loop-based evaluation in double differs from leo only by the folding's rounding.
        EXPECT_NEAR(y, ref[k], 1e-12 * (1.0 + std::abs(ref[k]))) << "sample " << s << " output " << k;
      }
    }
    // And back out through the writer.
    TempDir dir;
    write_onnx(net, dir.path / "w.onnx");
    Network back = read_onnx(dir.path / "w.onnx");
    ASSERT_EQ(back.depth(), net.depth());
    for (std::size_t l = 0; l < net.depth(); ++l)  // float32 rounding of the (possibly folded) doubles
      EXPECT_TRUE(back.layers[l].weights == net.layers[l].weights.cast<float>().cast<double>());
    EXPECT_TRUE(back.evaluate(X).isApprox(Y, 1e-6));
    EXPECT_EQ(back.input.shape, net.input.shape);
    EXPECT_EQ(back.output.shape, net.output.shape);
  }
}

}  // namespace
}  // namespace leo
