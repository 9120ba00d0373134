// The regression test of the CBC defect (tests/fixtures/milp/cbc_wrong_infeasible):
// on an l1-trained MNIST net, CBC claimed unit 64 of hidden layer 1 stably
// active although an input of [0,1]^784 gives it -2.62e-6. CBC's claims are now
// checked by the sound ReLU-split search (stability/relu_split.hpp).
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "leo/bounds/crown.hpp"
#include "leo/bounds/interval.hpp"
#include "leo/io/model_file.hpp"
#include "leo/stability/relu_split.hpp"
#include "support.hpp"

namespace leo {
namespace {

const std::filesystem::path kDir = test::fixtures_dir() / "milp" / "cbc_wrong_infeasible";

Eigen::VectorXd witness() {
  std::ifstream f(kDir / "witness.csv");
  Eigen::VectorXd x(784);
  for (int i = 0; i < 784; ++i) {
    char comma;
    f >> x[i];
    if (i < 783) f >> comma;
  }
  EXPECT_TRUE(f) << "witness.csv";
  return x;
}

TEST(CbcDefect, WitnessShowsUnit64Negative) {
  Network net = read_model((kDir / "model.onnx").string());
  auto pre = net.pre_activations(Eigen::MatrixXd(witness()));
  EXPECT_LT(pre[1](64, 0), -2e-6);
  EXPECT_GT(pre[1](64, 0), -3e-6);
}

// The search refutes CBC's wrong claim with a point and proves the right one
// (unit 75 stably inactive, which the analyses find) with a bound <= 0 that no
// sample contradicts.
TEST(CbcDefect, SearchRefutesTheWrongClaimAndProvesTheRightOne) {
  Network net = read_model((kDir / "model.onnx").string());
  Box box = Box::uniform(784, 0, 1);
  NetworkBounds b = interval_bounds(net, box);
  crown_bounds(net, box, b);
  Eigen::VectorXd shown;
  auto check_negative = [&](const Eigen::VectorXd& x) {
    if (net.pre_activations(Eigen::MatrixXd(x))[1](64, 0) >= 0) return false;
    shown = x;
    return true;
  };
  SplitResult wrong = prove_sign(net, box, b, 1, 64, /*nonpositive=*/false, {}, check_negative);
  EXPECT_EQ(wrong.status, SplitResult::Status::refuted);
  ASSERT_EQ(shown.size(), 784);
  EXPECT_TRUE((shown.array() >= 0).all() && (shown.array() <= 1).all());

  SplitResult right = prove_sign(net, box, b, 1, 75, /*nonpositive=*/true, {}, [&](const Eigen::VectorXd& x) {
    return net.pre_activations(Eigen::MatrixXd(x))[1](75, 0) > 0;
  });
  ASSERT_EQ(right.status, SplitResult::Status::proven);
  EXPECT_LE(right.bound, 0.0);
  std::mt19937_64 rng(1);
  double max = net.pre_activations(Eigen::MatrixXd(witness()))[1](75, 0);
  for (int batch = 0; batch < 10; ++batch) {
    Eigen::MatrixXd X = test::random_points(box.lower, box.upper, 10000, rng);
    max = std::max(max, net.pre_activations(X)[1].row(75).maxCoeff());
  }
  EXPECT_LE(max, right.bound);
}

// `leo analyze` with the full cascade and with the leo2020 baseline (where CBC
// made the wrong claim): unit 64 is not stable, the witness contradicts no
// verdict, the two agree on every unit, and the certification counts add up.
TEST(CbcDefect, AnalyzeNoLongerClaimsTheUnit) {
  Network net = read_model((kDir / "model.onnx").string());
  auto pre = net.pre_activations(Eigen::MatrixXd(witness()));
  std::vector<nlohmann::json> runs;
  for (const char* extra : {"", "--baseline leo2020"}) {
    auto r = test::run_leo("-q analyze " + (kDir / "model.onnx").string() + " --json --seed 1 --threads 1 " + extra);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    nlohmann::json j = nlohmann::json::parse(r.out);
    SCOPED_TRACE(extra);
    EXPECT_NE(j["layers"][1]["verdicts"][64]["status"], "active");
    for (std::size_t h = 0; h < 2; ++h)
      for (std::size_t i = 0; i < 100; ++i) {
        std::string s = j["layers"][h]["verdicts"][i]["status"];
        double g = pre[h](static_cast<Eigen::Index>(i), 0);
        if (s == "active") {
          EXPECT_GE(g, 0) << h << " " << i;
        }
        if (s == "inactive") {
          EXPECT_LE(g, 0) << h << " " << i;
        }
      }
    const auto& c = j["certification"];
    EXPECT_EQ(c["claims"].get<int>(), c["proven"].get<int>() + c["refuted"].get<int>() + c["unknown"].get<int>());
    runs.push_back(std::move(j));
  }
  for (std::size_t h = 0; h < 2; ++h)
    for (std::size_t i = 0; i < 100; ++i) {
      std::string a = runs[0]["layers"][h]["verdicts"][i]["status"], b = runs[1]["layers"][h]["verdicts"][i]["status"];
      if (a != "undecided" && b != "undecided") {
        EXPECT_EQ(a, b) << h << " " << i;
      }
    }
}

}  // namespace
}  // namespace leo
