// `--data mnist|fashion-mnist` as probe points of a domain: every image of the
// data set is evaluated by the sample stage, more probes never mean fewer
// units seen on both sides, and a data set of the wrong size is refused.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "leo/io/onnx.hpp"
#include "support.hpp"

namespace leo {
namespace {

std::string example() { return (test::fixtures_dir() / ".." / ".." / "examples" / "mnist_l1_50x2.onnx").string(); }

int unstable(const nlohmann::json& j) {
  int n = 0;
  for (const auto& layer : j["layers"]) n += layer["unstable"].get<int>();
  return n;
}

TEST(ProbesData, MnistDigitsAreProbePoints) {
  auto with = test::run_leo("-q analyze " + example() + " --stages samples --seed 3 --json --data mnist");
  ASSERT_EQ(with.exit_code, 0) << with.err;
  auto without = test::run_leo("-q analyze " + example() + " --stages samples --seed 3 --json");
  ASSERT_EQ(without.exit_code, 0) << without.err;
  auto j = nlohmann::json::parse(with.out);
  auto j0 = nlohmann::json::parse(without.out);
  EXPECT_NE(j["domain"]["description"].get<std::string>().find("10000 probe points from mnist"), std::string::npos)
      << j["domain"]["description"];
  EXPECT_EQ(j["domain"]["probes"].get<int>(), 10000);
  // The same random points plus the digits: a superset of sign observations.
  EXPECT_GE(unstable(j), unstable(j0));
  // Every witness drives its units the way it says (checked here in double).
  Network net = read_onnx(example());
  ASSERT_FALSE(j["witnesses"].empty());
  for (const auto& w : j["witnesses"]) {
    Eigen::VectorXd x(net.inputs());
    for (Eigen::Index i = 0; i < x.size(); ++i) x[i] = w["input"][static_cast<std::size_t>(i)].get<double>();
    auto pre = net.pre_activations(Eigen::MatrixXd(x));
    for (const auto& u : w["units"]) {
      double g = pre[u["layer"].get<std::size_t>()](u["unit"].get<int>(), 0);
      if (u["sign"] == "positive")
        EXPECT_GT(g, 0.0);
      else
        EXPECT_LT(g, 0.0);
    }
  }
}

TEST(ProbesData, DataSetOfTheWrongSizeIsRefused) {
  auto acas = (test::models_dir() / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx").string();
  auto r = test::run_leo("-q analyze " + acas + " --box 0,1 --data mnist");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("mnist: the points have 784 features but the domain has 5"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}

}  // namespace
}  // namespace leo
