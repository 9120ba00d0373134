// The library's entry points (api/leo.hpp): load/save by path and by bytes
// round-trip, the domain options, compress_model's result and JSON, verify.
#include <gtest/gtest.h>

#include <fstream>
#include <random>
#include <sstream>

#include "leo/api/leo.hpp"
#include "leo/io/model_file.hpp"
#include "support.hpp"

using namespace leo;
namespace fs = std::filesystem;

namespace {

Network small_net(unsigned seed = 3) {
  std::mt19937_64 rng(seed);
  return test::random_network({3, 8, 8, 2}, rng);
}

api::CompressModelOptions quick() {
  api::CompressModelOptions o;
  o.analysis.time_limit = 30;
  return o;
}

TEST(Api, BytesRoundTripBothFormats) {
  const Network net = small_net();
  for (auto type : {ElementType::float32, ElementType::float64}) {
    api::SaveOptions save;
    save.dtype = type;
    for (auto format : {ModelFormat::onnx, ModelFormat::nnet}) {
      const std::string bytes = api::save_model_bytes(net, save, format);
      ASSERT_FALSE(bytes.empty());
      Network back = api::load_model_bytes(bytes, "mem");
      ASSERT_EQ(back.widths(), net.widths());
      const double tol = type == ElementType::float64 ? 1e-15 : 1e-6;
      for (std::size_t l = 0; l < net.layers.size(); ++l) {
        EXPECT_LE((back.layers[l].weights - net.layers[l].weights).cwiseAbs().maxCoeff(), tol);
        EXPECT_LE((back.layers[l].bias - net.layers[l].bias).cwiseAbs().maxCoeff(), tol);
      }
    }
  }
}

TEST(Api, BytesEqualTheFileSaveWrites) {
  const Network net = small_net();
  const fs::path dir = test::temp_dir("api_bytes");
  api::save_model(net, dir / "m.onnx", {});
  EXPECT_EQ(test::read_file(dir / "m.onnx"), api::save_model_bytes(net, {}));
  Network a = api::load_model(dir / "m.onnx");
  Network b = api::load_model_bytes(test::read_file(dir / "m.onnx"));
  EXPECT_EQ(a.widths(), b.widths());
  EXPECT_EQ(a.layers[0].weights, b.layers[0].weights);
}

TEST(Api, BadBytesAreInputErrorsNamingTheSource) {
  try {
    api::load_model_bytes(std::string("\x08\x07\x12\x03zzz\xff\x01", 10), "upload");
    FAIL() << "accepted garbage";
  } catch (const InputError& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("upload", 0), 0u) << m;
    EXPECT_EQ(m.find("/tmp"), std::string::npos) << m;
  }
  EXPECT_THROW(api::load_model_bytes("", "x"), InputError);
  EXPECT_THROW(api::load_model_bytes("not a model\n", "x"), InputError);
}

TEST(Api, SaveRefusesAnInput) {
  const Network net = small_net();
  const fs::path dir = test::temp_dir("api_save");
  api::save_model(net, dir / "a.onnx", {});
  api::SaveOptions save;
  save.inputs = {dir / "a.onnx"};
  EXPECT_THROW(api::save_model(net, dir / "a.onnx", save), InputError);
}

TEST(Api, DomainFromEverySource) {
  const Network net = small_net();
  api::DomainOptions d;
  d.box = "-1,2";
  Domain a = api::make_domain(d, net);
  EXPECT_EQ(a.box.lower, Eigen::VectorXd::Constant(3, -1));
  EXPECT_EQ(a.box.upper, Eigen::VectorXd::Constant(3, 2));

  api::DomainOptions v;
  v.lower = {-1};
  v.upper = {2};
  EXPECT_EQ(api::make_domain(v, net).box.upper, a.box.upper);
  v.lower = {0, 0.5, -1};
  v.upper = {1, 0.5, 0};
  Domain b = api::make_domain(v, net);
  EXPECT_EQ(b.box.lower[1], 0.5);
  EXPECT_EQ(b.box.upper[2], 0);

  v.probe_points.resize(2, 3);
  v.probe_points << 0.5, 0.5, -0.5, 1, 0.5, 0;
  Domain c = api::make_domain(v, net);
  ASSERT_EQ(c.probes.rows(), 3);
  ASSERT_EQ(c.probes.cols(), 2);
  EXPECT_EQ(c.probes(0, 1), 1);

  v.probe_points(0, 0) = 3;  // outside the box
  EXPECT_THROW(api::make_domain(v, net), InputError);
  v.probe_points.resize(0, 3);
  v.upper = {1, 0.5};  // lengths differ
  EXPECT_THROW(api::make_domain(v, net), InputError);
  v.lower = {0, 0};  // wrong feature count
  EXPECT_THROW(api::make_domain(v, net), InputError);
  v.lower = {std::nan("")};
  v.upper = {1};
  EXPECT_THROW(api::make_domain(v, net), InputError);
  v.lower = {-INFINITY};
  EXPECT_THROW(api::make_domain(v, net), InputError);
  v.lower = {0};
  v.box = "0,1";  // two sources
  EXPECT_THROW(api::make_domain(v, net), InputError);
}

// A net with a unit that is dead on the box: compress_model removes it, the
// check reports its deviation, the metadata carries the bounds, and nothing is
// written.
TEST(Api, CompressModelRemovesAndChecks) {
  Network net = small_net(5);
  net.layers[0].weights.row(2).setConstant(1);
  net.layers[0].bias[2] = -100;  // inactive on [0,1]^3
  api::DomainOptions d;
  d.box = "0,1";
  Domain domain = api::make_domain(d, net);
  api::CompressModelOptions options = quick();
  options.dtype = ElementType::float64;
  api::CompressModelResult r = api::compress_model(net, domain, options);
  EXPECT_TRUE(r.changed());
  EXPECT_LT(r.compressed.hidden_units(), net.hidden_units());
  EXPECT_LE(r.check.max_abs_deviation, options.tolerance);
  std::int64_t inactive = -1;
  for (const auto& c : r.removed())
    if (c.kind == RewriteKind::inactive_unit) inactive = c.units;
  EXPECT_GE(inactive, 1);
  EXPECT_EQ(r.compressed.metadata.at("leo.domain.lower"), "[0.0,0.0,0.0]");
  EXPECT_EQ(r.compressed.metadata.at("leo.domain.upper"), "[1.0,1.0,1.0]");

  nlohmann::json j = api::to_json(r, "in.onnx", "out.onnx");
  EXPECT_EQ(j["parameters_before"], net.parameters());
  EXPECT_EQ(j["parameters_after"], r.compressed.parameters());
  EXPECT_EQ(j["hidden_units_after"], r.compressed.hidden_units());
  EXPECT_EQ(j["removed"]["inactive_unit"], inactive);
  EXPECT_TRUE(j.contains("undecided_units"));
  EXPECT_TRUE(j["analysis"].is_object());

  // Same function: evaluate both on random points.
  std::mt19937_64 rng(1);
  Eigen::MatrixXd X = test::random_points(domain.box.lower, domain.box.upper, 200, rng);
  EXPECT_LE((net.evaluate(X) - r.compressed.evaluate(X)).cwiseAbs().maxCoeff(), 1e-9);

  VerifyResult v = api::verify(net, r.compressed, domain.box, domain.probes, {});
  EXPECT_TRUE(v.within_tolerance());
}

TEST(Api, CompressModelRejectsNaNTolerance) {
  const Network net = small_net();
  api::DomainOptions d;
  d.box = "0,1";
  api::CompressModelOptions options = quick();
  options.tolerance = std::nan("");
  EXPECT_THROW(api::compress_model(net, api::make_domain(d, net), options), InputError);
}

TEST(Api, OptionNames) {
  EXPECT_EQ(api::parse_dtype("float32"), ElementType::float32);
  EXPECT_EQ(api::parse_dtype("double"), ElementType::float64);
  EXPECT_THROW(api::parse_dtype("half"), InputError);
  AnalyzeOptions o = api::default_analyze_options();
  EXPECT_EQ(o.time_limit, api::kDefaultTimeLimit);
  api::set_analysis_choices(o, "ibp,crown", "none", "");
  EXPECT_EQ(o.stages.size(), 2u);
  EXPECT_THROW(api::set_analysis_choices(o, "ibp,nope", "none", ""), InputError);
}

}  // namespace
