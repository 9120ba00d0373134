// bench/paper/run end to end on its tiny `smoke` grid (two MNIST 784-10-10-10 nets, a few
// hundred SGD steps): train, eval, compress, eval again, the three analysis methods, then the
// per-network JSON, the Markdown table and the gnuplot SVGs. A second run resumes (skips all).
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "ort_check.hpp"
#include "support.hpp"

namespace leo {
namespace {
namespace fs = std::filesystem;

int run_driver(const fs::path& dir, const std::string& log, const std::string& grid = "smoke") {
  const std::string command =
      fmt::format("python3 '{}/bench/paper/run' {} --leo '{}' --out '{}/results' --models '{}/models' >'{}/{}' 2>&1",
                  LEO_SOURCE_DIR, grid, test::leo_binary().string(), dir.string(), dir.string(), dir.string(), log);
  const int status = std::system(command.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

TEST(PaperPipeline, CnnSmokeGridRunsAndRecordsRefusals) {
  // Two small CNNs: train, eval, compress, eval. Steps leo does not support
  // yet are refused (exit 2) and recorded as such; none may fail otherwise.
  const fs::path dir = test::temp_dir("paper-cnn");
  ASSERT_EQ(run_driver(dir, "first.log", "cnn-smoke"), 0) << test::read_file(dir / "first.log");
  int networks = 0;
  for (const auto& entry : fs::directory_iterator(dir / "results")) {
    if (entry.path().extension() != ".json") continue;
    ++networks;
    SCOPED_TRACE(entry.path().string());
    const auto r = nlohmann::json::parse(test::read_file(entry.path()));
    EXPECT_EQ(r["settings"]["arch"], "conv4x4s3,fc10");
    const auto& steps = r["steps"];
    for (const auto& [key, v] : steps.items()) {
      EXPECT_NE(v["status"], "failed") << key;
      if (v["status"] == "refused") {
        EXPECT_FALSE(v["message"].get<std::string>().empty()) << key;
      }
    }
    ASSERT_EQ(steps["train"]["status"], "ok");
    EXPECT_EQ(steps["eval"]["status"], "ok");
    EXPECT_GT(r["accuracy_before"].get<double>(), 30.0);  // 100 steps; chance is 10%
    ASSERT_EQ(steps["compress"]["status"], "ok") << steps["compress"]["message"];
    EXPECT_EQ(r["accuracy_before"].get<double>(), r["accuracy_after"].get<double>());
    EXPECT_LE(r["compress"]["max_abs_deviation"].get<double>(), 1e-4);
    // What bench/results/conv.md reports: CPU time and peak memory of compress, the conv
    // layer's whole channels, the analysis totals.
    EXPECT_GT(steps["compress"]["cpu_seconds"].get<double>(), 0.0);
    EXPECT_GT(steps["compress"]["peak_rss_mib"].get<double>(), 1.0);
    const auto& layers = r["compress"]["layers"];
    ASSERT_EQ(layers.size(), 2u);  // the hidden layers of conv4x4s3 (4 channels) and fc10
    EXPECT_EQ(layers[0]["whole_channels"]["channels"], 4);
    EXPECT_FALSE(layers[1].contains("whole_channels"));
    EXPECT_EQ(r["compress"]["analysis_totals"]["units"].get<int>(), layers[0]["units"].get<int>() + 10);
  }
  EXPECT_EQ(networks, 2);
  const std::string md = test::read_file(dir / "results" / "results.md");
  EXPECT_NE(md.find("| mnist | conv4x4s3,fc10 | 0.002 | 1 |"), std::string::npos) << md;
  fs::remove_all(dir);
}

TEST(PaperPipeline, SmokeGridProducesJsonTableAndPlotsAndResumes) {
  const fs::path dir = test::temp_dir("paper");
  ASSERT_EQ(run_driver(dir, "first.log"), 0) << test::read_file(dir / "first.log");
  const fs::path results = dir / "results";

  int networks = 0;
  for (const auto& entry : fs::directory_iterator(results)) {
    if (entry.path().extension() != ".json") continue;
    ++networks;
    SCOPED_TRACE(entry.path().string());
    const auto r = nlohmann::json::parse(test::read_file(entry.path()));
    // Lossless: the compressed network classifies the test set exactly as the original.
    EXPECT_EQ(r["accuracy_before"].get<double>(), r["accuracy_after"].get<double>());
    EXPECT_EQ(r["test_samples"], 2000);
    EXPECT_EQ(r["units_before"], nlohmann::json({10, 10}));
    int removed = 0, before = 0, after = 0;
    for (const auto& v : r["removed_per_layer"]) removed += v.get<int>();
    for (const auto& v : r["units_before"]) before += v.get<int>();
    for (const auto& v : r["units_after"]) after += v.get<int>();
    EXPECT_EQ(removed, before - after);
    EXPECT_NEAR(r["units_removed_percent"].get<double>(), 100.0 * removed / before, 1e-9);
    EXPECT_LE(r["max_abs_deviation"].get<double>(), 1e-4);
    for (const char* method : {"leo2020", "isa2021", "cascade"}) {
      ASSERT_TRUE(r["methods"].contains(method)) << method;
      EXPECT_GE(r["methods"][method]["time_seconds"].get<double>(), 0.0);
      EXPECT_EQ(r["methods"][method]["layers"].size(), 2u);
    }
    // Methods that finished in their time limit agree on the verdicts.
    if (r.contains("methods_agree")) {
      EXPECT_TRUE(r["methods_agree"].get<bool>());
    }
  }
  EXPECT_EQ(networks, 2);
  // Every leo command that can use several cores gets the driver's --threads (default 1), as the
  // JSON's settings.threads records: compress once ran on every core (regression).
  int commands = 0;
  for (const auto& entry : fs::directory_iterator(dir / "models")) {
    if (entry.path().extension() != ".log") continue;
    std::istringstream lines(test::read_file(entry.path()));
    for (std::string line; std::getline(lines, line);) {
      if (line.rfind("$ ", 0) != 0) continue;
      for (const char* verb : {" train ", " compress ", " analyze "}) {
        if (line.find(verb) == std::string::npos) continue;
        ++commands;
        EXPECT_NE(line.find(" --threads 1 "), std::string::npos) << line;
      }
    }
  }
  EXPECT_EQ(commands, 2 * 5);  // per network: train, compress and the three analysis methods
  // ONNX Runtime: every trained model as leo reads it, and its compressed model the same function.
  int checked = 0;
  const std::string suffix = ".smoke.compressed.onnx";
  for (const auto& entry : fs::directory_iterator(dir / "models")) {
    const std::string file = entry.path().filename().string();
    if (file.size() <= suffix.size() || file.compare(file.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const fs::path original = dir / "models" / (file.substr(0, file.size() - suffix.size()) + ".onnx");
    EXPECT_TRUE(test::ort_agrees(original, entry.path(), Box::uniform(784, 0, 1)));
    ++checked;
  }
  EXPECT_EQ(checked, 2);

  const std::string table = test::read_file(results / "results.md");
  EXPECT_NE(table.find("| mnist | 2×10 | 0.002 | 1 |"), std::string::npos) << table;
  EXPECT_NE(table.find("| mnist | 2×10 | 0 | 1 |"), std::string::npos) << table;
  EXPECT_NE(table.find("leo2020 / cascade"), std::string::npos) << table;
  for (const char* svg : {"accuracy-vs-removed-mnist.svg", "decision-time.svg"}) {
    const std::string text = test::read_file(results / svg);
    EXPECT_NE(text.find("<svg"), std::string::npos) << svg;
    EXPECT_NE(table.find(svg), std::string::npos) << svg;
  }

  // Resumable: a second run finds every result and trains nothing.
  ASSERT_EQ(run_driver(dir, "second.log"), 0) << test::read_file(dir / "second.log");
  const std::string second = test::read_file(dir / "second.log");
  EXPECT_NE(second.find("mnist-10x10-l1_0.002-s1: skipped"), std::string::npos) << second;
  EXPECT_NE(second.find("mnist-10x10-l1_0-s1: skipped"), std::string::npos) << second;
  fs::remove_all(dir);
}

// The time tables from JSON files alone (--report-only, no leo run): a network where both the baseline
// and the cascade hit the limit divides one limit by the other; its ratio once read "≥ 1.0×" and entered
// the medians. It is now shown as "both timed out" and left out; a time-out of the cascade alone gives an
// upper bound (≤), of the baseline alone a lower bound (≥).
nlohmann::json synthetic_result(int width, double l1, double baseline, bool baseline_out, double cascade,
                                bool cascade_out) {
  auto method = [](double seconds, bool out) {
    nlohmann::json layer = {{"units", 10}, {"stably_active", 1}, {"stably_inactive", 2}, {"unstable", 7},
                            {"undecided", 0}, {"decided_by", nullptr}};
    return nlohmann::json{{"time_seconds", seconds}, {"wall_seconds", seconds}, {"cpu_seconds", seconds / 2},
                          {"timed_out", out}, {"counted_seconds", seconds}, {"stably_active", 2},
                          {"stably_inactive", 4}, {"unstable", 14}, {"undecided", 0},
                          {"layers", nlohmann::json::array({layer, layer})}};
  };
  const std::string name = fmt::format("mnist-{}x{}-l1_{}-s1", width, width, l1);
  nlohmann::json layer = {{"units", width}, {"stably_active", 1}, {"stably_inactive", 2}, {"unstable", 7},
                          {"undecided", 0}};
  return {{"grid", "scaling2021"},
          {"name", name},
          {"settings", {{"data", "mnist"}, {"hidden", {width, width}}, {"l1", l1}, {"seed", 1}, {"threads", 1},
                        {"time_limit", 300.0}}},
          {"train", {{"wall_seconds", 10.0}}},
          {"accuracy_before", 95.0},
          {"accuracy_after", 95.0},
          {"units_before", {width, width}},
          {"units_after", {width - 2, width - 2}},
          {"removed_per_layer", {2, 2}},
          {"units_removed_percent", 400.0 / (2 * width)},
          {"connections_removed_percent", 1.0},
          {"max_abs_deviation", 1e-6},
          {"compress", {{"wall_seconds", 3.0}, {"layers", {layer, layer}}}},
          {"methods", {{"leo2020", method(baseline, baseline_out)}, {"isa2021", method(baseline, baseline_out)},
                       {"cascade", method(cascade, cascade_out)}}}};
}

TEST(PaperReport, ARatioOfTwoTimeOutsIsShownAsSuchAndLeftOut) {
  const fs::path dir = test::temp_dir("paper-report");
  const fs::path results = dir / "results";
  fs::create_directories(results);
  const nlohmann::json nets[] = {synthetic_result(10, 0.0002, 300, true, 300, true),   // both timed out
                                 synthetic_result(20, 0.0002, 300, true, 10, false),   // the baseline only
                                 synthetic_result(30, 0.0002, 100, false, 300, true)}; // the cascade only
  for (const auto& r : nets) std::ofstream(results / (r["name"].get<std::string>() + ".json")) << r.dump(1);
  const std::string command =
      fmt::format("python3 '{}/bench/paper/run' scaling2021 --report-only --out '{}' >'{}/log' 2>&1",
                  LEO_SOURCE_DIR, results.string(), dir.string());
  ASSERT_EQ(std::system(command.c_str()), 0) << test::read_file(dir / "log");
  const std::string md = test::read_file(results / "results.md");
  auto row = [&](const std::string& start) {
    const auto at = md.find(start);
    EXPECT_NE(at, std::string::npos) << start << "\n" << md;
    return at == std::string::npos ? std::string() : md.substr(at, md.find('\n', at) - at);
  };
  // The wall-clock table's rows (the first match of each; the CPU table follows).
  const std::string both = row("| mnist | 2×10 | 0.0002 | 1 | 6 / 20 |");
  EXPECT_NE(both.find("| both timed out | both timed out |"), std::string::npos) << both;
  EXPECT_EQ(both.find("1.0×"), std::string::npos) << both;
  EXPECT_NE(row("| mnist | 2×20 | 0.0002 | 1 | 6 / 40 |").find("| ≥ 30.0× | ≥ 30.0× |"), std::string::npos) << md;
  EXPECT_NE(row("| mnist | 2×30 | 0.0002 | 1 | 6 / 60 |").find("| ≤ 0.3× | ≤ 0.3× |"), std::string::npos) << md;
  EXPECT_NE(md.find("leo2020 / cascade over 2 networks: median 15.2×"), std::string::npos) << md;
  EXPECT_NE(md.find("1 network where both timed out left out"), std::string::npos) << md;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace leo
