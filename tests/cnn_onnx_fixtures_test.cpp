// The PyTorch-exported CNN fixtures (tests/fixtures/pytorch/cnn_*, made by
// make_cnn_fixtures.py) against the operator library (network/conv.hpp).
//
// Each fixture must pass libonnx's checker and carry the ops its JSON lists.
// The models made of the linear ops leo is to support (Conv, BatchNormalization,
// AveragePool, GlobalAveragePool, Pad, Flatten, Reshape, Transpose, Gemm, Add)
// and Relu are evaluated here by a small interpreter of the ONNX graph that
// reads the initializers with the ONNX protobuf API and does every linear step
// with conv.hpp's operators; its outputs must agree with PyTorch's, recorded in
// the JSON. This validates the fixtures and the operators against PyTorch at
// once (a wrong stride, pad, dilation, group, divisor or BN formula shows as
// errors of order 0.1; PyTorch's float32 rounding stays below 1e-7).
#include <fmt/core.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "leo/network/conv.hpp"
#include "support.hpp"

namespace leo {
namespace {

namespace fs = std::filesystem;
using Eigen::MatrixXd;

fs::path fixture(const std::string& name, const char* ext) { return test::fixtures_dir() / "pytorch" / (name + ext); }

onnx::ModelProto load(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  onnx::ModelProto m;
  if (!in || !m.ParseFromIstream(&in)) throw std::runtime_error("cannot parse " + path.string());
  return m;
}

// A tensor value of the graph: float data (features x batch, the features of
// one sample in row-major order of dims[1..]) or an int64 constant.
struct Value {
  std::vector<std::int64_t> dims;  // dims[0] is the batch for float values
  MatrixXd data;
  std::vector<std::int64_t> ints;
  bool is_int = false;
};

std::vector<double> floats_of(const onnx::TensorProto& t) {
  std::vector<double> v;
  if (t.data_type() != onnx::TensorProto::FLOAT) throw std::runtime_error(t.name() + ": not float");
  if (t.has_raw_data()) {
    std::vector<float> f(t.raw_data().size() / sizeof(float));
    std::memcpy(f.data(), t.raw_data().data(), f.size() * sizeof(float));
    v.assign(f.begin(), f.end());
  } else {
    v.assign(t.float_data().begin(), t.float_data().end());
  }
  return v;
}

std::vector<std::int64_t> ints_of(const onnx::TensorProto& t) {
  if (t.data_type() != onnx::TensorProto::INT64) throw std::runtime_error(t.name() + ": not int64");
  if (t.has_raw_data()) {
    std::vector<std::int64_t> v(t.raw_data().size() / sizeof(std::int64_t));
    std::memcpy(v.data(), t.raw_data().data(), v.size() * sizeof(std::int64_t));
    return v;
  }
  return {t.int64_data().begin(), t.int64_data().end()};
}

Value constant(const onnx::TensorProto& t) {
  Value v;
  v.dims.assign(t.dims().begin(), t.dims().end());
  if (t.data_type() == onnx::TensorProto::INT64) {
    v.is_int = true;
    v.ints = ints_of(t);
  } else {
    const auto f = floats_of(t);
    v.data = Eigen::Map<const Eigen::VectorXd>(f.data(), static_cast<Eigen::Index>(f.size()));
  }
  return v;
}

const onnx::AttributeProto* attribute(const onnx::NodeProto& n, const std::string& name) {
  for (const auto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}
std::vector<std::int64_t> ints_attr(const onnx::NodeProto& n, const std::string& name, std::vector<std::int64_t> def) {
  const auto* a = attribute(n, name);
  return a ? std::vector<std::int64_t>(a->ints().begin(), a->ints().end()) : def;
}
std::int64_t int_attr(const onnx::NodeProto& n, const std::string& name, std::int64_t def) {
  const auto* a = attribute(n, name);
  return a ? a->i() : def;
}
double float_attr(const onnx::NodeProto& n, const std::string& name, double def) {
  const auto* a = attribute(n, name);
  return a ? a->f() : def;
}

Shape3 map_shape(const Value& v) {
  if (v.dims.size() == 4) return {v.dims[1], v.dims[2], v.dims[3]};
  if (v.dims.size() == 2) return {v.dims[1], 1, 1};
  throw std::runtime_error("not a feature map");
}

Window2d window_of(const onnx::NodeProto& n, std::int64_t kh, std::int64_t kw) {
  Window2d w;
  w.kernel_h = kh;
  w.kernel_w = kw;
  const auto strides = ints_attr(n, "strides", {1, 1});
  const auto pads = ints_attr(n, "pads", {0, 0, 0, 0});
  const auto dilations = ints_attr(n, "dilations", {1, 1});
  w.stride_h = strides[0];
  w.stride_w = strides[1];
  w.pad_top = pads[0];
  w.pad_left = pads[1];
  w.pad_bottom = pads[2];
  w.pad_right = pads[3];
  w.dilation_h = dilations[0];
  w.dilation_w = dilations[1];
  if (int_attr(n, "ceil_mode", 0) != 0) throw std::runtime_error("ceil_mode");
  if (attribute(n, "auto_pad") && attribute(n, "auto_pad")->s() != "NOTSET") throw std::runtime_error("auto_pad");
  return w;
}

// Evaluates the graph on X (the input's features x N) with conv.hpp's operators.
MatrixXd evaluate(const onnx::ModelProto& m, const MatrixXd& X, std::vector<std::int64_t> input_dims) {
  std::map<std::string, Value> values;
  for (const auto& t : m.graph().initializer()) values[t.name()] = constant(t);
  input_dims[0] = X.cols();
  values[m.graph().input(0).name()] = Value{input_dims, X, {}, false};
  const auto N = X.cols();
  for (const auto& n : m.graph().node()) {
    auto in = [&](int k) -> const Value& { return values.at(n.input(k)); };
    const auto& op = n.op_type();
    Value out;
    if (op == "Constant") {
      out = constant(attribute(n, "value")->t());
    } else if (op == "Conv") {
      const auto& x = in(0);
      const auto& w = in(1);
      const auto O = w.dims[0];
      std::vector<double> weights(w.data.data(), w.data.data() + w.data.size()), bias;
      if (n.input_size() > 2) bias.assign(in(2).data.data(), in(2).data.data() + in(2).data.size());
      const auto conv = Conv2d::from_onnx_weights(map_shape(x), O, window_of(n, w.dims[2], w.dims[3]),
                                                  int_attr(n, "group", 1), weights, bias, n.name());
      out.dims = {N, O, conv.output().height, conv.output().width};
      out.data = conv.forward(x.data);
    } else if (op == "BatchNormalization") {
      const auto& x = in(0);
      const auto bn = ChannelAffine::batch_norm(map_shape(x), in(1).data.col(0), in(2).data.col(0), in(3).data.col(0),
                                                in(4).data.col(0), float_attr(n, "epsilon", 1e-5), n.name());
      out.dims = x.dims;
      out.data = bn.forward(x.data);
    } else if (op == "Relu") {
      out.dims = in(0).dims;
      out.data = in(0).data.cwiseMax(0.0);
    } else if (op == "AveragePool") {
      const auto k = ints_attr(n, "kernel_shape", {});
      const AvgPool2d pool(map_shape(in(0)), window_of(n, k[0], k[1]), int_attr(n, "count_include_pad", 0) != 0,
                           n.name());
      out.dims = {N, pool.output().channels, pool.output().height, pool.output().width};
      out.data = pool.forward(in(0).data);
    } else if (op == "GlobalAveragePool") {
      const auto pool = AvgPool2d::global(map_shape(in(0)), n.name());
      out.dims = {N, pool.output().channels, 1, 1};
      out.data = pool.forward(in(0).data);
    } else if (op == "Pad") {
      // Constant zero padding of the two spatial axes (NCHW).
      const auto& x = in(0);
      const auto pads = in(1).ints;
      if (int_attr(n, "mode", 0) != 0 || pads.size() != 8 || pads[0] || pads[1] || pads[4] || pads[5])
        throw std::runtime_error("Pad: only spatial constant pads");
      if (n.input_size() > 2 && !n.input(2).empty() && in(2).data.size() && in(2).data(0) != 0.0)
        throw std::runtime_error("Pad: non-zero value");
      const Shape3 s = map_shape(x);
      const Shape3 t{s.channels, s.height + pads[2] + pads[6], s.width + pads[3] + pads[7]};
      out.dims = {N, t.channels, t.height, t.width};
      out.data = MatrixXd::Zero(t.size(), N);
      for (std::int64_t c = 0; c < s.channels; ++c)
        for (std::int64_t h = 0; h < s.height; ++h)
          for (std::int64_t w = 0; w < s.width; ++w)
            out.data.row(t.index(c, h + pads[2], w + pads[3])) = x.data.row(s.index(c, h, w));
    } else if (op == "Flatten" || op == "Reshape") {
      if (op == "Reshape") {
        const auto shape = in(1).ints;
        if (shape.size() != 2 || (shape[0] != -1 && shape[0] != N) || shape[1] != in(0).data.rows())
          throw std::runtime_error("Reshape: only to [batch, features]");
      } else if (int_attr(n, "axis", 1) != 1) {
        throw std::runtime_error("Flatten: axis");
      }
      out.dims = {N, in(0).data.rows()};
      out.data = in(0).data;
    } else if (op == "Gemm") {
      if (int_attr(n, "transA", 0) != 0) throw std::runtime_error("Gemm: transA");
      const auto& w = in(1);
      Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> W(
          w.data.data(), w.dims[0], w.dims[1]);
      MatrixXd Wm = int_attr(n, "transB", 0) ? MatrixXd(W) : MatrixXd(W.transpose());
      out.data = float_attr(n, "alpha", 1.0) * (Wm * in(0).data);
      if (n.input_size() > 2) out.data.colwise() += float_attr(n, "beta", 1.0) * in(2).data.col(0);
      out.dims = {N, Wm.rows()};
    } else if (op == "Add") {
      if (in(0).dims != in(1).dims) throw std::runtime_error("Add: shapes differ");
      out.dims = in(0).dims;
      out.data = in(0).data + in(1).data;
    } else if (op == "Transpose") {
      // NHWC -> NCHW only.
      if (ints_attr(n, "perm", {}) != std::vector<std::int64_t>{0, 3, 1, 2}) throw std::runtime_error("Transpose");
      const auto& x = in(0);
      const Shape3 t{x.dims[3], x.dims[1], x.dims[2]};
      out.dims = {N, t.channels, t.height, t.width};
      out.data.resize(t.size(), N);
      for (std::int64_t h = 0; h < t.height; ++h)
        for (std::int64_t w = 0; w < t.width; ++w)
          for (std::int64_t c = 0; c < t.channels; ++c)
            out.data.row(t.index(c, h, w)) = x.data.row((h * t.width + w) * t.channels + c);
    } else {
      throw std::runtime_error("unsupported op " + op);
    }
    values[n.output(0)] = std::move(out);
  }
  return values.at(m.graph().output(0).name()).data;
}

struct CnnFixture {
  const char* name;
  bool chain;  // made of the ops the interpreter above evaluates
};
const CnnFixture kFixtures[] = {{"cnn_basic", true},     {"cnn_dilated", true},  {"cnn_zeropad", false},
                                {"cnn_depthwise", true}, {"cnn_bn", true},       {"cnn_linear_bn", true},
                                {"cnn_avgpool", true},   {"cnn_residual", true}, {"cnn_nhwc", true},
                                {"cnn_maxpool", false}};

nlohmann::json reference(const std::string& name) {
  std::ifstream in(fixture(name, ".json"));
  if (!in) throw std::runtime_error("missing fixture " + name);
  return nlohmann::json::parse(in);
}

TEST(CnnFixtures, PassTheOnnxCheckerAndListTheirOps) {
  for (const auto& f : kFixtures) {
    SCOPED_TRACE(f.name);
    const auto path = fixture(f.name, ".onnx");
    EXPECT_NO_THROW(onnx::checker::check_model(path.string()));
    EXPECT_LT(fs::file_size(path), 8000u);
    const auto m = load(path);
    const auto j = reference(f.name);
    std::vector<std::string> ops;
    for (const auto& n : m.graph().node()) ops.push_back(n.op_type());
    EXPECT_EQ(ops, j.at("ops").get<std::vector<std::string>>());
    EXPECT_EQ(m.graph().input(0).name(), "input");
    EXPECT_EQ(m.graph().output(0).name(), "output");
    EXPECT_EQ(j.at("inputs").size(), j.at("outputs").size());
  }
}

TEST(CnnFixtures, ChainsEvaluatedWithTheOperatorsMatchPyTorch) {
  int chains = 0;
  for (const auto& f : kFixtures) {
    if (!f.chain) continue;
    SCOPED_TRACE(f.name);
    const auto m = load(fixture(f.name, ".onnx"));
    const auto j = reference(f.name);
    const auto& xs = j.at("inputs");
    const auto& ys = j.at("outputs");
    const auto features = static_cast<Eigen::Index>(xs[0].size());
    MatrixXd X(features, static_cast<Eigen::Index>(xs.size()));
    for (std::size_t s = 0; s < xs.size(); ++s)
      for (Eigen::Index k = 0; k < features; ++k) X(k, static_cast<Eigen::Index>(s)) = xs[s][static_cast<std::size_t>(k)];
    MatrixXd Y;
    ASSERT_NO_THROW(Y = evaluate(m, X, j.at("input_shape").get<std::vector<std::int64_t>>()));
    ASSERT_EQ(Y.cols(), X.cols());
    double worst = 0.0;
    for (std::size_t s = 0; s < ys.size(); ++s) {
      ASSERT_EQ(static_cast<Eigen::Index>(ys[s].size()), Y.rows());
      for (std::size_t k = 0; k < ys[s].size(); ++k) {
        const double torch = ys[s][k];
        const double err = std::abs(Y(static_cast<Eigen::Index>(k), static_cast<Eigen::Index>(s)) - torch);
        EXPECT_LE(err, 1e-6 * (1.0 + std::abs(torch))) << "sample " << s << " output " << k;
        worst = std::max(worst, err);
      }
    }
    // The outputs are not trivially small (the check could not pass by accident).
    EXPECT_GT(Eigen::Map<const Eigen::VectorXd>(Y.data(), Y.size()).cwiseAbs().maxCoeff(), 1e-2);
    RecordProperty(std::string(f.name) + "_max_error", fmt::format("{:.2e}", worst));
    ++chains;
  }
  EXPECT_EQ(chains, 8);
}

TEST(CnnFixtures, MaxPoolAndTheComputedPadsAreNotChains) {
  // What the interpreter refuses is what a reader must handle otherwise (MaxPool:
  // refuse naming node and op; cnn_zeropad: fold the pads computation).
  for (const char* name : {"cnn_maxpool", "cnn_zeropad"}) {
    const auto j = reference(name);
    MatrixXd X = MatrixXd::Zero(static_cast<Eigen::Index>(j.at("inputs")[0].size()), 1);
    EXPECT_THROW(evaluate(load(fixture(name, ".onnx")), X, j.at("input_shape").get<std::vector<std::int64_t>>()),
                 std::runtime_error)
        << name;
  }
}

}  // namespace
}  // namespace leo
