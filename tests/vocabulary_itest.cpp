// One option vocabulary (issue 16 section 7): the same options, ranges and
// defaults in every command, numbers checked with one short line, and the
// same JSON keys for the same facts.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "support.hpp"

using namespace leo;
using test::run_leo;
namespace fs = std::filesystem;

namespace {

const fs::path& acas() {
  static const fs::path p = test::models_dir() / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx";
  return p;
}
std::string small() { return (test::models_dir() / "small" / "test_small.onnx").string(); }

// Exit 2, one short line naming the option.
void expect_refused(const std::string& args, const std::string& option, const std::string& expected = "") {
  SCOPED_TRACE(args);
  auto r = run_leo("-q " + args);
  EXPECT_EQ(r.exit_code, 2) << r.err;
  ASSERT_FALSE(r.err.empty());
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << "more than one line: " << r.err;
  EXPECT_LT(r.err.size(), 200u) << r.err;
  EXPECT_NE(r.err.find(option), std::string::npos) << r.err;
  if (!expected.empty()) {
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
  }
}

class Vocabulary : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = test::temp_dir("vocabulary");
    std::ofstream(dir / "d.csv") << "1,0.5,0.5\n0,0.2,0.1\n1,0.9,0.4\n0,0.1,0.3\n";
  }
  std::string d() const { return (dir / "d.csv").string(); }
  std::string out(const std::string& name) const { return (dir / name).string(); }
  fs::path dir;
};

// Regression: --time-limit nan meant no limit, --tolerance nan / --lr nan /
// --lr -1 / --steps 0 / --threads -2 were accepted, --threads abc printed a
// 300-digit range.
TEST_F(Vocabulary, NumbersOutOfRangeAreRefusedInOneShortLine) {
  const std::string a = acas().string();
  expect_refused("analyze " + a + " --time-limit nan", "--time-limit", "out of range");
  expect_refused("compress " + a + " -o " + out("c.onnx") + " --time-limit inf", "--time-limit");
  expect_refused("verify " + a + " " + a + " --tolerance nan", "--tolerance");
  expect_refused("compress " + a + " -o " + out("c.onnx") + " --tolerance -1", "--tolerance");
  for (const char* cmd : {"analyze {m}", "compress {m} -o {o}", "verify {m} {m}"}) {
    std::string c = cmd;
    c.replace(c.find("{m}"), 3, a);
    if (auto at = c.find("{m}"); at != std::string::npos) c.replace(at, 3, a);
    if (auto at = c.find("{o}"); at != std::string::npos) c.replace(at, 3, out("c.onnx"));
    expect_refused(c + " --threads -2", "--threads", "out of range");
    expect_refused(c + " --threads abc", "--threads", "not a whole number");
    expect_refused(c + " --threads 99999999999999999999999", "--threads", "out of range");
    expect_refused(c + " --seed -1", "--seed");
  }
  const std::string train = "train --data " + d() + " --hidden 2 -o " + out("m.onnx");
  expect_refused(train + " --lr -1", "--lr", "out of range");
  expect_refused(train + " --lr nan", "--lr", "out of range");
  expect_refused(train + " --lr 0", "--lr", "out of range");
  expect_refused(train + " --steps 0", "--steps", "out of range");
  expect_refused(train + " --threads -2", "--threads", "out of range");
  expect_refused(train + " --momentum nan", "--momentum");
  expect_refused(train + " --time-limit nan", "--time-limit");
  EXPECT_FALSE(fs::exists(dir / "m.onnx"));
  EXPECT_FALSE(fs::exists(dir / "c.onnx"));
}

// The same options, with the same default, in every command that has them.
TEST_F(Vocabulary, SameOptionsAndDefaultsEverywhere) {
  struct Want {
    const char* command;
    std::vector<std::string> options;
  };
  const std::vector<Want> wants = {
      {"analyze", {"--threads", "--seed UINT=1", "--time-limit FLOAT=300", "--probes,--data", "--stages", "split"}},
      {"compress",
       {"--threads", "--seed UINT=1", "--time-limit FLOAT=300", "--probes,--data", "--stages", "--exact",
        "--baseline", "-o,--output", "float|double"}},
      {"verify", {"--threads", "--seed UINT=1", "--time-limit", "--probes,--data"}},
      {"train", {"--threads", "--seed UINT=1", "--time-limit", "-o,--output", "float|double", "--float64"}},
      {"convert", {"-o,--output", "float|double"}},
      {"eval", {"-o,--output"}},
  };
  for (const auto& w : wants) {
    auto r = run_leo(std::string(w.command) + " --help");
    ASSERT_EQ(r.exit_code, 0) << w.command;
    for (const auto& o : w.options) EXPECT_NE(r.out.find(o), std::string::npos) << w.command << " lacks " << o;
    if (r.out.find("--threads") != std::string::npos) {
      EXPECT_NE(r.out.find("0 = every core"), std::string::npos) << w.command;
    }
  }
}

TEST_F(Vocabulary, CompressTakesTheAnalysisOptionsAndReportsUndecided) {
  const std::string args = "-q compress " + small() + " --box 0,1 -o " + out("s.onnx") +
                           " --threads 1 --stages ibp --exact none --dtype float32 --seed 7 --time-limit 20";
  auto r = run_leo(args);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("undecided"), std::string::npos) << r.out;
  auto j = run_leo(args + " --json");
  ASSERT_EQ(j.exit_code, 0) << j.err;
  auto json = nlohmann::json::parse(j.out);
  EXPECT_EQ(json["dtype"], "float");
  EXPECT_TRUE(json.contains("undecided_units"));
  // Only the ibp stage ran.
  for (const auto& layer : json["analysis"]["layers"])
    for (const auto& [stage, n] : layer["decided_by"].items()) EXPECT_EQ(stage, "ibp");
  // parameters_before (compress) is what info calls parameters.
  auto info = run_leo("info --json " + small());
  ASSERT_EQ(info.exit_code, 0);
  EXPECT_EQ(json["parameters_before"], nlohmann::json::parse(info.out)["parameters"]);
  EXPECT_FALSE(json.contains("params_before"));
  auto b = run_leo("-q compress " + small() + " --box 0,1 -o " + out("b.onnx") + " --baseline leo2020 --json");
  ASSERT_EQ(b.exit_code, 0) << b.err;
}

TEST_F(Vocabulary, OutputSpellings) {
  // convert: -o and the old positional OUT.
  ASSERT_EQ(run_leo("-q convert " + small() + " -o " + out("a.nnet") + " --dtype float64").exit_code, 0);
  ASSERT_EQ(run_leo("-q convert " + small() + " " + out("b.nnet")).exit_code, 0);
  EXPECT_TRUE(fs::exists(dir / "a.nnet"));
  EXPECT_TRUE(fs::exists(dir / "b.nnet"));
  // eval: -o
  std::ofstream(dir / "x.csv") << "0.5\n";
  auto e = run_leo("-q eval " + small() + " --input " + out("x.csv") + " -o " + out("y.csv"));
  ASSERT_EQ(e.exit_code, 0) << e.err;
  EXPECT_TRUE(fs::exists(dir / "y.csv"));
  // train: --dtype double and the --float64 alias give float64 weights.
  for (const char* flag : {"--dtype double", "--float64"}) {
    auto t = run_leo(fmt::format("-q train --data {} --hidden 2 --epochs 1 --threads 1 {} -o {}", d(), flag,
                                 out("t.onnx")));
    ASSERT_EQ(t.exit_code, 0) << t.err;
    auto info = run_leo("info --json " + out("t.onnx"));
    EXPECT_EQ(nlohmann::json::parse(info.out)["input_type"], "float64") << flag;
  }
  expect_refused("train --data " + d() + " --hidden 2 --dtype double --float64 -o " + out("t2.onnx"), "--float64");
}

// Every error is one line: control characters in names given on the command
// line are printed escaped (cli/main.cpp), as those read from files are.
TEST_F(Vocabulary, ErrorsAreOneLineWhateverTheNames) {
  auto r = run_leo("info \"$(printf 'evil\\nname\\033[31m.onnx')\"");
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
  EXPECT_NE(r.err.find("evil\\nname\\x1b[31m.onnx: no such file"), std::string::npos) << r.err;
  // Parse errors too: one line with the hint.
  auto p = run_leo("analyze --no-such-option");
  EXPECT_EQ(p.exit_code, 2);
  EXPECT_EQ(p.err.find('\n'), p.err.size() - 1) << p.err;
}

}  // namespace
