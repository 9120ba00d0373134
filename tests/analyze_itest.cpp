// `leo analyze` end to end: ACAS Xu 1_1 on the prop_1 box, mnistfc 256x2 on
// [0,1]^784 with a time limit; JSON fields present and consistent, witnesses
// valid; bad domains exit 2 with one line.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "leo/io/onnx.hpp"
#include "support.hpp"

namespace leo {
namespace {

namespace fs = std::filesystem;

std::string acas() { return (test::models_dir() / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx").string(); }
std::string prop(int k) { return (test::models_dir() / "acasxu" / ("prop_" + std::to_string(k) + ".vnnlib")).string(); }
std::string mnist() { return (test::models_dir() / "mnistfc" / "mnist-net_256x2.onnx").string(); }

// Checks the JSON of an analysis against the network it came from.
void check_json(const nlohmann::json& j, const Network& net) {
  ASSERT_TRUE(j.contains("domain"));
  ASSERT_TRUE(j.contains("time_seconds"));
  ASSERT_TRUE(j["time_seconds"].is_number());
  ASSERT_TRUE(j.contains("layers"));
  ASSERT_TRUE(j.contains("witnesses"));
  auto widths = net.widths();
  ASSERT_EQ(j["layers"].size(), widths.size());
  std::set<std::tuple<int, int, std::string>> shown;
  for (const auto& w : j["witnesses"]) {
    ASSERT_EQ(w["input"].size(), static_cast<std::size_t>(net.inputs()));
    Eigen::VectorXd x(net.inputs());
    for (Eigen::Index i = 0; i < x.size(); ++i) x[i] = w["input"][static_cast<std::size_t>(i)].get<double>();
    auto pre = net.pre_activations(Eigen::MatrixXd(x));
    for (const auto& u : w["units"]) {
      int l = u["layer"], i = u["unit"];
      std::string sign = u["sign"];
      ASSERT_TRUE(sign == "positive" || sign == "negative");
      double g = pre[static_cast<std::size_t>(l)](i, 0);
      if (sign == "positive") {
        EXPECT_GT(g, 0);
      } else {
        EXPECT_LT(g, 0);
      }
      shown.insert({l, i, sign});
    }
  }
  for (std::size_t h = 0; h < widths.size(); ++h) {
    const auto& layer = j["layers"][h];
    int units = layer["units"];
    EXPECT_EQ(units, widths[h]);
    int a = layer["stably_active"], in = layer["stably_inactive"], un = layer["unstable"], ud = layer["undecided"];
    EXPECT_EQ(a + in + un + ud, units);
    ASSERT_EQ(layer["verdicts"].size(), static_cast<std::size_t>(units));
    int counts[4] = {0, 0, 0, 0};
    for (std::size_t i = 0; i < layer["verdicts"].size(); ++i) {
      const auto& v = layer["verdicts"][i];
      std::string status = v["status"];
      ASSERT_TRUE(v.contains("stage") && v.contains("lower") && v.contains("upper"));
      if (status == "active") {
        ++counts[0];
        EXPECT_GE(v["lower"].get<double>(), 0.0);
      } else if (status == "inactive") {
        ++counts[1];
        EXPECT_LE(v["upper"].get<double>(), 0.0);
      } else if (status == "unstable") {
        ++counts[2];
        EXPECT_TRUE(shown.count({static_cast<int>(h), static_cast<int>(i), "positive"}));
        EXPECT_TRUE(shown.count({static_cast<int>(h), static_cast<int>(i), "negative"}));
      } else {
        ASSERT_EQ(status, "undecided");
        ++counts[3];
      }
    }
    EXPECT_EQ(counts[0], a);
    EXPECT_EQ(counts[1], in);
    EXPECT_EQ(counts[2], un);
    EXPECT_EQ(counts[3], ud);
  }
}

std::vector<int> counts_of(const nlohmann::json& j) {
  std::vector<int> c;
  for (const auto& l : j["layers"])
    for (const char* k : {"stably_active", "stably_inactive", "unstable", "undecided"}) c.push_back(l[k]);
  return c;
}

TEST(AnalyzeCli, AcasXuOnProperty1) {
  auto r = test::run_leo("analyze '" + acas() + "' --vnnlib '" + prop(1) + "' --json --time-limit 60 --seed 3");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  Network net = read_onnx(acas());
  check_json(j, net);
  EXPECT_EQ(j["domain"]["lower"][0].get<double>(), 0.6);
  EXPECT_LT(j["time_seconds"].get<double>(), 60 + 30);
  EXPECT_FALSE(r.err.empty());  // progress on stderr
}

TEST(AnalyzeCli, SameSeedSameCounts) {
  // Without the solver stages nothing depends on timing.
  std::string args = "-q analyze '" + acas() + "' --vnnlib '" + prop(1) +
                     "' --json --seed 5 --stages samples,attack,ibp,crown,alpha";
  auto r1 = test::run_leo(args), r2 = test::run_leo(args);
  ASSERT_EQ(r1.exit_code, 0) << r1.err;
  ASSERT_EQ(r2.exit_code, 0) << r2.err;
  EXPECT_TRUE(r1.err.empty()) << r1.err;
  auto j1 = nlohmann::json::parse(r1.out), j2 = nlohmann::json::parse(r2.out);
  check_json(j1, read_onnx(acas()));
  EXPECT_EQ(counts_of(j1), counts_of(j2));
}

TEST(AnalyzeCli, AcasXuWholeBoxTable) {
  fs::path dir = test::temp_dir("analyze");
  fs::path box = dir / "box.txt";
  std::ofstream(box) << "-0.328422877,0.679857769\n-0.5,0.5\n-0.5,0.5\n-0.5,0.5\n-0.5,0.5\n";
  auto r = test::run_leo("-q analyze '" + acas() + "' --box-file '" + box.string() + "' --time-limit 20 --exact none");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("layer"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("unstable"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("total"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("samples"), std::string::npos) << r.out;
  fs::remove_all(dir);
}

TEST(AnalyzeCli, MnistWithTimeLimit) {
  auto r = test::run_leo("analyze '" + mnist() + "' --json --time-limit 60 --seed 1");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  nlohmann::json j = nlohmann::json::parse(r.out);
  Network net = read_onnx(mnist());
  check_json(j, net);
  EXPECT_EQ(j["domain"]["features"].get<int>(), 784);
  EXPECT_EQ(j["domain"]["upper"][0].get<double>(), 1.0);
  EXPECT_LT(j["time_seconds"].get<double>(), 60 + 30);
}

TEST(AnalyzeCli, BadDomainsExit2WithOneLine) {
  fs::path dir = test::temp_dir("analyze-bad");
  fs::path box = dir / "box.txt";
  std::ofstream(box) << "0,1\n0,1\n";
  fs::path data = dir / "data.csv";
  std::ofstream(data) << "0.5,0,0,0,0\n0.7,0,0,0,0\n";
  const std::vector<std::string> cases = {
      "--box 1,0",
      "--box 0,nan",
      "--box-file '" + box.string() + "'",
      "--vnnlib /nonexistent.vnnlib",
      "--box 0,1 --vnnlib '" + prop(1) + "'",
      "",  // no default domain for ACAS Xu
      "--vnnlib '" + prop(1) + "' --data '" + data.string() + "'",  // 0.5 is outside [0.6, 0.68]
      "--box 0,1 --stages samples,bogus",
  };
  for (const auto& c : cases) {
    auto r = test::run_leo("-q analyze '" + acas() + "' " + c);
    EXPECT_EQ(r.exit_code, 2) << c << "\n" << r.err;
    EXPECT_TRUE(r.out.empty()) << c;
    EXPECT_NE(r.err.find("leo: "), std::string::npos) << c << "\n" << r.err;
  }
  // Probe points inside the box are accepted.
  std::ofstream(data) << "0.65,0,0,0.46,-0.46\n";
  auto r = test::run_leo("-q analyze '" + acas() + "' --vnnlib '" + prop(1) + "' --data '" + data.string() +
                         "' --json --stages samples");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["domain"]["probes"].get<int>(), 1);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace leo
