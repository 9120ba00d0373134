// Resource limits of the `leo` program (issue 7):
// - `--time-limit S` is honoured within 10% (plus a small start-up slack) by
//   every long command, on a case that would otherwise run for minutes (the
//   exact stage on ACAS Xu 1_1 over property 1 does not finish in 4 minutes),
//   and what it reports when stopped early is sound;
// - `--max-model-size` / $LEO_MAX_MODEL_SIZE refuse a model before reading it,
//   on every command that reads models.
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/resource.h>

#include <chrono>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "leo/domain/vnnlib.hpp"
#include "leo/io/model_file.hpp"
#include "leo/stability/stages.hpp"
#include "ort_check.hpp"
#include "support.hpp"

using namespace leo;
using test::run_leo;
namespace fs = std::filesystem;

namespace {

std::string q(const fs::path& p) { return fmt::format("'{}'", p.string()); }
fs::path acas11() { return test::models_dir() / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx"; }
fs::path prop1() { return test::models_dir() / "acasxu" / "prop_1.vnnlib"; }

constexpr double kLimit = 5.0;  // seconds given to each command
// Process start, reading the model and writing the result are outside the
// analysis proper; one second covers them on a loaded 2-core machine.
constexpr double kSlack = 1.0;

struct Timed {
  test::CommandResult r;
  double seconds = 0;
};

Timed timed_leo(const std::string& arguments) {
  const auto start = std::chrono::steady_clock::now();
  Timed t;
  t.r = run_leo(arguments);
  t.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return t;
}

void expect_within_limit(const Timed& t) { EXPECT_LE(t.seconds, 1.1 * kLimit + kSlack) << t.r.err; }

// 20000 random points of the box.
Eigen::MatrixXd points_in(const Box& box) {
  std::mt19937_64 rng(7);
  return test::random_points(box.lower, box.upper, 20000, rng);
}

TEST(TimeLimit, AnalyzeStopsAndKeepsOnlyProvenVerdicts) {
  Timed t = timed_leo("-q analyze " + q(acas11()) + " --vnnlib " + q(prop1()) +
                      fmt::format(" --time-limit {} --json", kLimit));
  ASSERT_EQ(t.r.exit_code, 0) << t.r.err;
  expect_within_limit(t);
  auto j = nlohmann::json::parse(t.r.out);
  EXPECT_TRUE(j["timed_out"].get<bool>());
  // Sound partial result: no unit called stable changes sign on the domain.
  Network net = read_model(acas11());
  std::vector<Eigen::MatrixXd> pre = net.pre_activations(points_in(read_vnnlib_box(prop1())));
  int undecided = 0, stable = 0;
  for (std::size_t l = 0; l < j["layers"].size(); ++l) {
    const auto& verdicts = j["layers"][l]["verdicts"];
    for (std::size_t i = 0; i < verdicts.size(); ++i) {
      const std::string status = verdicts[i]["status"];
      const auto row = pre[l].row(static_cast<Eigen::Index>(i));
      if (status == "undecided") ++undecided;
      if (status == "active") {
        EXPECT_GE(row.minCoeff(), 0.0) << "layer " << l << " unit " << i;
        ++stable;
      }
      if (status == "inactive") {
        EXPECT_LE(row.maxCoeff(), 0.0) << "layer " << l << " unit " << i;
        ++stable;
      }
    }
  }
  EXPECT_GT(undecided, 0) << "the case is meant to need more time than it got";
  EXPECT_GT(stable, 0);
}

TEST(TimeLimit, CompressStopsAndWritesAnEquivalentModel) {
  fs::path dir = test::temp_dir("limits");
  Timed t = timed_leo("-q compress " + q(acas11()) + " --vnnlib " + q(prop1()) + " -o " + q(dir / "c.onnx") +
                      fmt::format(" --time-limit {}", kLimit));
  ASSERT_EQ(t.r.exit_code, 0) << t.r.err;
  expect_within_limit(t);
  LEO_EXPECT_ORT_AGREES(acas11(), dir / "c.onnx", "--vnnlib " + q(prop1()));
  Network original = read_model(acas11()), compressed = read_model(dir / "c.onnx");
  EXPECT_LT(compressed.parameters(), original.parameters());
  Eigen::MatrixXd X = points_in(read_vnnlib_box(prop1()));
  EXPECT_LE((original.evaluate(X) - compressed.evaluate(X)).cwiseAbs().maxCoeff(), 1e-4);
  fs::remove_all(dir);
}

TEST(TimeLimit, TrainStopsAndWritesTheModelSoFar) {
  // 1000 epochs of 2x100 on the MNIST digits would take minutes.
  fs::path dir = test::temp_dir("limits-train");
  Timed t = timed_leo("-q train --data mnist --hidden 100,100 --epochs 1000 --threads 1 --seed 1 -o " +
                      q(dir / "t.onnx") + " --log " + q(dir / "t.json") + fmt::format(" --time-limit {}", kLimit));
  ASSERT_EQ(t.r.exit_code, 0) << t.r.err;
  expect_within_limit(t);
  EXPECT_NE(t.r.out.find("stopped by the time limit"), std::string::npos) << t.r.out;
  auto log = nlohmann::json::parse(std::ifstream(dir / "t.json"));
  EXPECT_TRUE(log["settings"]["stopped_by_time_limit"].get<bool>());
  const auto steps = log["settings"]["steps"].get<std::int64_t>();
  EXPECT_GT(steps, 0);
  EXPECT_LT(steps, log["settings"]["planned_steps"].get<std::int64_t>());
  // The model written is the one trained so far: a working classifier.
  EXPECT_GT(log["test_accuracy"].get<double>(), 50.0);
  Network net = read_model(dir / "t.onnx");
  EXPECT_TRUE(test::ort_matches_leo(dir / "t.onnx", Box::uniform(784, 0, 1)));
  EXPECT_EQ(net.metadata.at("leo.train.steps"), std::to_string(steps));
  fs::remove_all(dir);
}

TEST(TimeLimit, VerifyExactStopsWithoutClaimingAProof) {
  // A network and its compressed form: equal on the domain, but the MILP over
  // both (many untied units) does not close in minutes.
  fs::path dir = test::temp_dir("limits");
  ASSERT_EQ(run_leo("-q compress " + q(acas11()) + " --vnnlib " + q(prop1()) + " -o " + q(dir / "c.onnx") +
                    " --time-limit 2 --dtype double")
                .exit_code,
            0);
  LEO_EXPECT_ORT_AGREES(acas11(), dir / "c.onnx", "--vnnlib " + q(prop1()));
  Timed t = timed_leo("-q verify " + q(acas11()) + " " + q(dir / "c.onnx") + " --vnnlib " + q(prop1()) +
                      fmt::format(" --exact --time-limit {} --json", kLimit));
  expect_within_limit(t);
  ASSERT_FALSE(t.r.out.empty()) << t.r.err;
  auto j = nlohmann::json::parse(t.r.out);
  EXPECT_TRUE(j["within_tolerance"].get<bool>());
  bool complete = true;
  for (const auto& o : j["outputs"]) {
    if (!o["complete"].get<bool>()) {
      complete = false;
      EXPECT_TRUE(o["proven"].is_null() || o["proven"].get<double>() >= 0);
    }
  }
  if (!complete) {
    EXPECT_FALSE(j["proven_equivalent"].get<bool>());
    EXPECT_EQ(t.r.exit_code, 1) << "not proven is not 'equivalent'";
  }
  fs::remove_all(dir);
}

// Every stage alone, and each paper baseline, keeps a short --time-limit
// (issue 16: isa2021 took 5.75 s for 1 s, --exact network 6.2 s for 2 s) on
// models where it would run longer, and what it reports is sound (checked
// on random points of the domain).
struct StageCase {
  std::string name;
  std::string arguments;
  fs::path model;
  std::string domain;
};

void expect_limit_kept(const StageCase& c, double limit) {
  SCOPED_TRACE(c.name);
  Timed t = timed_leo(fmt::format("-q analyze {} {} {} --time-limit {} --json", q(c.model), c.domain, c.arguments,
                                  limit));
  ASSERT_EQ(t.r.exit_code, 0) << t.r.err;
  EXPECT_LE(t.seconds, 1.1 * limit + kSlack) << c.name << " took " << t.seconds << " s";
  auto j = nlohmann::json::parse(t.r.out);
  // Sound partial result: no unit called stable changes sign on the points.
  Network net = read_model(c.model);
  Box box = Box(Eigen::VectorXd::Map(j["domain"]["lower"].get<std::vector<double>>().data(), net.inputs()),
                Eigen::VectorXd::Map(j["domain"]["upper"].get<std::vector<double>>().data(), net.inputs()));
  std::mt19937_64 rng(3);
  std::vector<Eigen::MatrixXd> pre = net.pre_activations(test::random_points(box.lower, box.upper, 2000, rng));
  int undecided = 0;
  for (std::size_t l = 0; l < j["layers"].size(); ++l) {
    const auto& verdicts = j["layers"][l]["verdicts"];
    for (std::size_t i = 0; i < verdicts.size(); ++i) {
      const std::string status = verdicts[i]["status"];
      const auto row = pre[l].row(static_cast<Eigen::Index>(i));
      undecided += status == "undecided";
      if (status == "active") {
        EXPECT_GE(row.minCoeff(), 0.0) << "layer " << l << " unit " << i;
      }
      if (status == "inactive") {
        EXPECT_LE(row.maxCoeff(), 0.0) << "layer " << l << " unit " << i;
      }
    }
  }
  EXPECT_EQ(j["totals"]["undecided"].get<int>(), undecided);
  if (j["timed_out"].get<bool>()) {
    EXPECT_GT(undecided, 0);
  }
}

TEST(TimeLimit, EveryStageAndBaselineKeepsOneSecond) {
  const fs::path mnist = test::models_dir() / "mnistfc" / "mnist-net_256x4.onnx";
  const std::string acas_box = "--vnnlib " + q(prop1());
  std::vector<StageCase> cases;
  // Each stage alone on the [0, 1]^784 box of the MNIST net (bab on ACAS Xu:
  // it is for few inputs), with the interval bounds first as in the cascade.
  for (const StageInfo& info : kStages) {
    if (info.stage == Stage::bab)
      cases.push_back({"bab", "--stages ibp,bab", acas11(), acas_box});
    else
      cases.push_back({info.name, fmt::format("--stages ibp,{}", info.name), mnist, ""});
  }
  cases.push_back({"milp network", "--stages ibp,milp --exact network", mnist, ""});
  cases.push_back({"leo2020", "--baseline leo2020", mnist, ""});
  cases.push_back({"isa2021", "--baseline isa2021", mnist, ""});
  cases.push_back({"all, ACAS Xu, --threads 1000", "--threads 1000", acas11(), acas_box});
  for (const StageCase& c : cases) expect_limit_kept(c, 1.0);
  // --threads 1000 is capped at the cores: no thousand thread stacks and
  // buffers (it took 1.1 GB). The largest child so far is the measure.
  struct rusage usage {};
  ASSERT_EQ(getrusage(RUSAGE_CHILDREN, &usage), 0);
  EXPECT_LT(usage.ru_maxrss, 400 * 1024) << "KB";
}

// --max-model-size on every command that reads a model; the message names the
// file and the limit.
TEST(ModelSizeLimit, EveryCommandRefusesALargerModel) {
  fs::path dir = test::temp_dir("limits");
  const std::string model = q(acas11()), box = " --vnnlib " + q(prop1());
  const std::vector<std::string> commands = {
      "info " + model,
      "eval " + model + " --input " + q(dir / "in.csv"),
      "convert " + model + " " + q(dir / "out.nnet"),
      "analyze " + model + box,
      "compress " + model + box + " -o " + q(dir / "out.onnx"),
      "verify " + model + " " + model + box,
  };
  for (const auto& c : commands) {
    SCOPED_TRACE(c);
    auto r = run_leo("-q " + c + " --max-model-size 10k");
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("ACASXU_run2a_1_1_batch_2000.onnx: file is 55889 bytes, larger than the limit of 10240 bytes"),
              std::string::npos)
        << r.err;
    EXPECT_TRUE(r.out.empty());
  }
  EXPECT_FALSE(fs::exists(dir / "out.nnet"));
  EXPECT_FALSE(fs::exists(dir / "out.onnx"));
  // Large enough: reads.
  EXPECT_EQ(run_leo("-q info " + model + " --max-model-size 55889").exit_code, 0);
  auto bad = run_leo("-q info " + model + " --max-model-size lots");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("--max-model-size: 'lots' is not a size"), std::string::npos) << bad.err;
  fs::remove_all(dir);
}

TEST(ModelSizeLimit, EnvironmentVariableSetsTheDefault) {
  ::setenv("LEO_MAX_MODEL_SIZE", "1K", 1);
  auto r = run_leo("-q info " + q(acas11()));
  auto overridden = run_leo("-q info " + q(acas11()) + " --max-model-size 1M");
  ::setenv("LEO_MAX_MODEL_SIZE", "huge", 1);
  auto bad = run_leo("-q info " + q(acas11()));
  ::unsetenv("LEO_MAX_MODEL_SIZE");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("larger than the limit of 1024 bytes"), std::string::npos) << r.err;
  EXPECT_EQ(overridden.exit_code, 0) << overridden.err;
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("LEO_MAX_MODEL_SIZE: 'huge' is not a size"), std::string::npos) << bad.err;
}

TEST(ModelSizeLimit, NnetAndExternalData) {
  fs::path dir = test::temp_dir("limits");
  ASSERT_EQ(run_leo("-q convert " + q(acas11()) + " " + q(dir / "a.nnet")).exit_code, 0);
  auto r = run_leo("-q info " + q(dir / "a.nnet") + " --max-model-size 1k");
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("a.nnet: file is"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("larger than the limit of 1024 bytes"), std::string::npos) << r.err;
  // external_mlp.onnx is 1297 bytes, its external weights 3020 more: the limit counts both.
  const fs::path external = test::fixtures_dir() / "pytorch" / "external_mlp.onnx";
  EXPECT_EQ(run_leo("-q info " + q(external) + " --max-model-size 5000").exit_code, 0);
  auto e = run_leo("-q info " + q(external) + " --max-model-size 2000");
  EXPECT_EQ(e.exit_code, 2);
  EXPECT_NE(e.err.find("external_mlp.onnx: "), std::string::npos) << e.err;
  EXPECT_NE(e.err.find("the model with its external data is larger than the limit of 2000 bytes"), std::string::npos)
      << e.err;
  fs::remove_all(dir);
}

}  // namespace
