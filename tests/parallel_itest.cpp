// The per-unit exact stages on threads and MPI ranks (util/parallel.hpp,
// util/cluster.hpp, stability/unit_tasks.hpp), through the leo program:
// - `--threads 1` and `--threads 2` give the same JSON (times aside) on nets
//   with a real residue for the split and milp stages: witnesses found by one
//   unit's search that show other units, and CBC claims certified;
// - `mpirun -np 2` and `mpirun -np 4 --oversubscribe` give the same JSON as
//   one process, for analyze and for compress (and the same written model);
// - a rank that dies (LEO_MPI_TEST_DIE_RANK, or kill -9) or ranks that run
//   different commands give an error and a non-zero exit, and nothing on stdout;
// - under a time limit, ranks whose clocks differ (LEO_MPI_TEST_TIME_SCALE)
//   follow rank 0's: no failure, no hang, rank 0's verdicts.
// The MPI tests are skipped only when mpirun is not installed (scripts/setup
// installs it).
#include <fmt/core.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "support.hpp"

namespace leo {
namespace {

namespace fs = std::filesystem;

// The JSON without its times (keys naming seconds): what must not change.
nlohmann::json without_times(const nlohmann::json& j) {
  if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it.key().find("second") == std::string::npos) out[it.key()] = without_times(it.value());
    return out;
  }
  if (j.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& x : j) out.push_back(without_times(x));
    return out;
  }
  return j;
}

nlohmann::json parse(const test::CommandResult& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  try {
    return without_times(nlohmann::json::parse(r.out));
  } catch (const std::exception& e) {
    ADD_FAILURE() << "not JSON: " << e.what() << "\n" << r.out.substr(0, 300) << "\n" << r.err;
    return {};
  }
}

std::string model(const std::string& name) { return (test::models_dir() / name).string(); }
std::string example() { return (fs::path(LEO_SOURCE_DIR) / "examples/mnist_l1_50x2.onnx").string(); }

// Residues of a few seconds at most: the cheap stages left out so that split
// and milp have work.
const std::string kSplitMilp = "--stages ibp,split,milp";
const std::string kMilp = "--stages ibp,crown,milp";

TEST(Threads, SameVerdictsAndWitnessesOnOneAndTwoThreads) {
  struct Case {
    std::string args;
    bool claims;  // CBC claims certified by the search
  };
  const Case cases[] = {
      {example() + " " + kSplitMilp, false},
      {example() + " " + kMilp, false},
      {model("mnistfc/mnist-net_256x2.onnx") + " --vnnlib " + model("mnistfc/prop_0_0.03.vnnlib") +
           " --stages ibp,samples,attack,crown,alpha,milp",
       true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.args);
    auto one = parse(test::run_leo("analyze " + c.args + " --json -q --threads 1"));
    auto two = parse(test::run_leo("analyze " + c.args + " --json -q --threads 2"));
    EXPECT_EQ(one, two);
    EXPECT_EQ(one["totals"]["undecided"], 0);
    EXPECT_GT(one["witnesses"].size(), 0u);
    if (c.claims) {
      EXPECT_GT(one["certification"]["claims"].get<int>(), 0);
    }
  }
}

bool have_mpirun() { return std::system("command -v mpirun >/dev/null 2>&1") == 0; }

// Runs `mpirun -np K leo ARGS` (as root too) with stdout/stderr captured.
test::CommandResult mpirun(int ranks, const std::string& args, const std::string& env = "") {
  fs::path dir = test::temp_dir("mpi");
  std::string command = fmt::format(
      "{} mpirun --allow-run-as-root --oversubscribe -np {} '{}' {} >'{}' 2>'{}' </dev/null", env, ranks,
      test::leo_binary().string(), args, (dir / "out").string(), (dir / "err").string());
  int status = std::system(command.c_str());
  test::CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = test::read_file(dir / "out");
  r.err = test::read_file(dir / "err");
  fs::remove_all(dir);
  return r;
}

#define REQUIRE_MPIRUN() \
  if (!have_mpirun()) GTEST_SKIP() << "mpirun is not installed (scripts/setup installs openmpi-bin)"

TEST(Mpi, SameJsonAsOneProcessOnTwoAndFourRanks) {
  REQUIRE_MPIRUN();
  for (const std::string& stages : {kSplitMilp, kMilp}) {
    const std::string args = "analyze " + example() + " " + stages + " --json -q --threads 1";
    SCOPED_TRACE(args);
    auto single = parse(test::run_leo(args));
    EXPECT_EQ(parse(mpirun(2, args)), single);
    EXPECT_EQ(parse(mpirun(4, args)), single);
  }
}

TEST(Mpi, CompressWritesTheSameModelAsOneProcess) {
  REQUIRE_MPIRUN();
  fs::path dir = test::temp_dir("mpi-compress");
  const std::string common = "compress " + example() + " " + kMilp + " --json -q --threads 1 -o ";
  auto single = parse(test::run_leo(common + (dir / "one.onnx").string()));
  auto two = parse(mpirun(2, common + (dir / "two.onnx").string()));
  // The output names differ; everything else is the same.
  single.erase("output");
  two.erase("output");
  EXPECT_EQ(two, single);
  EXPECT_EQ(test::read_file(dir / "one.onnx"), test::read_file(dir / "two.onnx"));
  EXPECT_FALSE(test::read_file(dir / "two.onnx").empty());
  fs::remove_all(dir);
}

// Certificates under mpirun: the split and milp proofs travel with the task
// results (stability/unit_tasks.hpp), so rank 0 writes the certificate one
// process writes, byte for byte, and it checks.
TEST(Mpi, SameCertificateAsOneProcess) {
  REQUIRE_MPIRUN();
  fs::path dir = test::temp_dir("mpi-certificate");
  const std::string split_proofs = "--box 0,0.3 --stages ibp,split";  // one split proof, 0.2 s
  for (const std::string& stages : {split_proofs, kMilp}) {
    SCOPED_TRACE(stages);
    const std::string args = "analyze " + example() + " " + stages + " -q --threads 1 --certificate ";
    const fs::path one = dir / "one.cert", two = dir / "two.cert";
    auto r = test::run_leo(args + "'" + one.string() + "'");
    ASSERT_EQ(r.exit_code, 0) << r.err;
    auto m = mpirun(2, args + "'" + two.string() + "'");
    ASSERT_EQ(m.exit_code, 0) << m.err;
    const std::string text = test::read_file(one);
    if (stages == split_proofs) {
      EXPECT_NE(text.find("relu_split"), std::string::npos) << "the residue needs split proofs to test this";
    }
    EXPECT_EQ(test::read_file(two), text);
    auto c = test::run_leo("-q check " + example() + " '" + two.string() + "'");
    EXPECT_EQ(c.exit_code, 0) << c.err;
  }
  fs::remove_all(dir);
}

TEST(Mpi, ARankThatDiesIsAnErrorNotAResult) {
  REQUIRE_MPIRUN();
  const std::string args = "analyze " + example() + " " + kMilp + " --json -q --threads 1";
  auto r = mpirun(2, args, "LEO_MPI_TEST_DIE_RANK=1");
  EXPECT_NE(r.exit_code, 0);
  EXPECT_EQ(r.out, "");
  EXPECT_NE(r.err.find("rank 1"), std::string::npos) << r.err;
}

TEST(Mpi, ARankKilledWithSignal9IsAnErrorNotAResult) {
  REQUIRE_MPIRUN();
  fs::path dir = test::temp_dir("mpi-kill");
  // Long enough to be killed mid-run (several seconds of milp).
  const std::string args = "analyze " + model("mnistfc/mnist-net_256x2.onnx") + " --vnnlib " +
                           model("mnistfc/prop_0_0.03.vnnlib") + " --stages ibp,crown,milp --json -q --threads 1";
  const fs::path out = dir / "out", err = dir / "err", pids = dir / "pids";
  // The shell starts mpirun, finds rank 1 (by its environment), lets it run
  // for 2 s (into the analysis) and kills it.
  const std::string script = fmt::format(
      "mpirun --allow-run-as-root --oversubscribe -np 2 '{}' {} >'{}' 2>'{}' </dev/null & m=$!; "
      "for i in $(seq 100); do sleep 0.1; "
      "  for p in $(pgrep -P $m); do tr '\\0' '\\n' < /proc/$p/environ 2>/dev/null | "
      "    grep -qx OMPI_COMM_WORLD_RANK=1 && sleep 2 && kill -9 $p && echo $p >'{}' && break 2; done; done; "
      "wait $m",
      test::leo_binary().string(), args, out.string(), err.string(), pids.string());
  const fs::path file = dir / "kill.sh";
  std::ofstream(file) << script << "\n";
  int status = std::system(("bash '" + file.string() + "'").c_str());
  ASSERT_FALSE(test::read_file(pids).empty()) << "rank 1 was not found to kill";
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << test::read_file(err);
  EXPECT_EQ(test::read_file(out), "");
  EXPECT_NE(test::read_file(err).find("signal 9"), std::string::npos) << test::read_file(err);
  fs::remove_all(dir);
}

TEST(Mpi, RanksRunningDifferentCommandsIsAnError) {
  REQUIRE_MPIRUN();
  // MPMD: rank 1 analyses another box, so its units differ from rank 0's.
  fs::path dir = test::temp_dir("mpi-mpmd");
  const std::string base = "analyze " + example() + " " + kMilp + " --json -q --threads 1";
  const std::string command = fmt::format(
      "mpirun --allow-run-as-root --oversubscribe -np 1 '{0}' {1} : -np 1 '{0}' {1} --box 0,0.5 >'{2}' 2>'{3}' "
      "</dev/null",
      test::leo_binary().string(), base, (dir / "out").string(), (dir / "err").string());
  int status = std::system(command.c_str());
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  EXPECT_EQ(test::read_file(dir / "out"), "");
  EXPECT_NE(test::read_file(dir / "err").find("has another network or domain than rank 0"), std::string::npos)
      << test::read_file(dir / "err");
  fs::remove_all(dir);
}

// Every verdict a time-limited run decided is the one the full run decided
// (a time limit costs verdicts, never changes one).
void expect_agrees_with(const nlohmann::json& cut, const nlohmann::json& full) {
  ASSERT_EQ(cut["layers"].size(), full["layers"].size());
  for (std::size_t h = 0; h < full["layers"].size(); ++h) {
    const auto &a = cut["layers"][h]["verdicts"], &b = full["layers"][h]["verdicts"];
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t i = 0; i < a.size(); ++i)
      if (a[i]["status"] != "undecided") {
        EXPECT_EQ(a[i]["status"], b[i]["status"]) << "layer " << h << " unit " << i;
      }
  }
}

// Issue #15 §5 regression: under a time limit the ranks used to decide by
// their own clocks (stage shares, out-of-time checks between layers and
// passes), reach the distributed steps with different task lists and fail
// ("rank 1 works on other tasks than rank 0"), or hang when one rank skipped
// a step. Now rank 0's state and clock rule (stability/sync.hpp).
// LEO_MPI_TEST_TIME_SCALE=R:F gives rank R a time limit F times the one given,
// a deterministic stand-in for a starved rank.
TEST(Mpi, ASkewedClockOnAnotherRankChangesNothing) {
  REQUIRE_MPIRUN();
  // Rank 1 (or 3) believes its 30 s are 30 ms; rank 0 has all the time it
  // needs, so the run is the one of a single process without a limit.
  const std::string args = "analyze " + example() + " " + kSplitMilp + " --json -q --threads 1";
  auto single = parse(test::run_leo(args));
  ASSERT_EQ(single["stages"][1]["stage"], "split");
  ASSERT_GT(single["stages"][1]["decided"].get<int>(), 0);  // distributed steps took place
  for (int ranks : {2, 4}) {
    SCOPED_TRACE(ranks);
    auto r = mpirun(ranks, args + " --time-limit 30",
                    fmt::format("LEO_MPI_TIMEOUT=25 LEO_MPI_TEST_TIME_SCALE={}:0.001", ranks - 1));
    EXPECT_EQ(parse(r), single) << r.err;
  }
  // The same for compress: the same model written.
  fs::path dir = test::temp_dir("mpi-skew");
  const std::string common = "compress " + example() + " " + kSplitMilp + " --json -q --threads 1 -o ";
  auto one = parse(test::run_leo(common + (dir / "one.onnx").string()));
  auto two = parse(mpirun(2, common + (dir / "two.onnx").string() + " --time-limit 30",
                          "LEO_MPI_TIMEOUT=25 LEO_MPI_TEST_TIME_SCALE=1:0.001"));
  one.erase("output");
  two.erase("output");
  EXPECT_EQ(two, one);
  EXPECT_EQ(test::read_file(dir / "one.onnx"), test::read_file(dir / "two.onnx"));
  EXPECT_FALSE(test::read_file(dir / "two.onnx").empty());
  fs::remove_all(dir);
}

TEST(Mpi, RankZerosClockDecidesWhenTheRunStops) {
  REQUIRE_MPIRUN();
  // Rank 0's 30 s are 3 ms: it stops early, and the others must stop with it
  // (they used to go on into a step rank 0 skipped, and wait there).
  const std::string args = "analyze " + example() + " " + kSplitMilp + " --json -q --threads 1";
  auto full = parse(test::run_leo(args));
  for (int ranks : {2, 4}) {
    SCOPED_TRACE(ranks);
    auto r = mpirun(ranks, args + " --time-limit 30", "LEO_MPI_TIMEOUT=25 LEO_MPI_TEST_TIME_SCALE=0:0.0001");
    auto cut = parse(r);
    expect_agrees_with(cut, full);
    EXPECT_EQ(cut["timed_out"], true);
    EXPECT_GT(cut["totals"]["undecided"].get<int>(), 0);
  }
}

TEST(Mpi, OnlyAnalyzeAndCompressRunDistributed) {
  REQUIRE_MPIRUN();
  auto r = mpirun(2, "info " + example());
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("only analyze and compress"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace leo
