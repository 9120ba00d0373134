// Never overwrite an input (issue 16): no output path of any command may be a
// file the command reads: models, an ONNX model's external data, domain files,
// data and probe files, or another output. Each case is refused with exit 2
// before any work, and the input is left byte for byte as it was.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>

#include "support.hpp"

using namespace leo;
using test::run_leo;
namespace fs = std::filesystem;

namespace {

std::string q(const fs::path& p) { return fmt::format("'{}'", p.string()); }

// An IDX file of unsigned bytes with the given dimensions.
void write_idx(const fs::path& p, const std::vector<std::uint32_t>& dims, std::uint8_t fill) {
  std::ofstream out(p, std::ios::binary);
  const char magic[4] = {0, 0, 0x08, static_cast<char>(dims.size())};
  out.write(magic, 4);
  std::size_t count = 1;
  for (auto d : dims) {
    const char be[4] = {static_cast<char>(d >> 24), static_cast<char>(d >> 16), static_cast<char>(d >> 8),
                        static_cast<char>(d)};
    out.write(be, 4);
    count *= d;
  }
  for (std::size_t i = 0; i < count; ++i) out.put(static_cast<char>(dims.size() == 1 ? i % 2 : (fill + i) % 256));
}

class NeverOverwrite : public ::testing::Test {
 protected:
  void SetUp() override {
    dir = test::temp_dir("overwrite");
    acas = test::models_dir() / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx";
    fs::copy_file(test::models_dir() / "acasxu" / "prop_1.vnnlib", dir / "prop.vnnlib");
    std::ofstream(dir / "box.txt") << "0,0.1\n0,0.1\n0,0.1\n0,0.1\n0,0.1\n";
    std::ofstream(dir / "probes.csv") << "0.05,0.05,0.05,0.05,0.05\n";
    std::ofstream(dir / "d.csv") << "1,0.5,0.5\n0,0.2,0.1\n1,0.9,0.4\n0,0.1,0.3\n";
    std::ofstream(dir / "x.csv") << "0.5\n0.25\n";
  }

  // Runs `args` ({dir} expanded), expects exit 2 naming `victim` with
  // "refusing to overwrite" (or `expected`), and `victim` unchanged.
  void expect_refused(const std::string& pattern, const fs::path& victim,
                      const std::string& expected = "refusing to overwrite") {
    std::string args;
    for (std::size_t from = 0;;) {
      const std::size_t at = pattern.find("{dir}", from);
      args += pattern.substr(from, at == std::string::npos ? std::string::npos : at - from);
      if (at == std::string::npos) break;
      args += dir.string();
      from = at + 5;
    }
    SCOPED_TRACE(args);
    const bool existed = fs::exists(victim);
    const std::string before = existed ? test::read_file(victim) : "";
    auto r = run_leo("-q " + args);
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find(expected), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find('\n'), r.err.size() - 1) << r.err;
    EXPECT_EQ(fs::exists(victim), existed);
    if (existed) {
      EXPECT_EQ(test::read_file(victim), before);
    }
  }

  fs::path dir, acas;
};

// Regression (robustness case external/ok.onnx + w1.bin): convert wrote the
// model over its own external data, which then loaded garbage.
TEST_F(NeverOverwrite, ExternalDataOfTheModel) {
  const fs::path ext = dir / "external";
  fs::create_directory(ext);
  for (const char* f : {"ok.onnx", "w1.bin"})
    fs::copy_file(test::fixtures_dir() / "robustness" / "external" / f, ext / f);
  ASSERT_EQ(run_leo("-q info " + q(ext / "ok.onnx")).exit_code, 0);
  expect_refused("convert {dir}/external/ok.onnx {dir}/external/w1.bin", ext / "w1.bin");
  expect_refused("convert {dir}/external/ok.onnx -o {dir}/external/./w1.bin", ext / "w1.bin");
  expect_refused("compress {dir}/external/ok.onnx --box 0,1 -o {dir}/external/w1.bin", ext / "w1.bin");
  expect_refused("eval {dir}/external/ok.onnx --input {dir}/x.csv -o {dir}/external/w1.bin", ext / "w1.bin");
  // The model still reads as before.
  EXPECT_EQ(run_leo("-q info " + q(ext / "ok.onnx")).exit_code, 0);
}

// Regression: compress -o equal to its own --vnnlib, --box-file or --data file.
TEST_F(NeverOverwrite, CompressDomainAndProbeFiles) {
  const std::string a = q(acas);
  expect_refused("compress " + a + " --vnnlib {dir}/prop.vnnlib -o {dir}/prop.vnnlib", dir / "prop.vnnlib");
  expect_refused("compress " + a + " --box-file {dir}/box.txt -o {dir}/box.txt", dir / "box.txt");
  expect_refused("compress " + a + " --box 0,0.1 --data {dir}/probes.csv -o {dir}/probes.csv", dir / "probes.csv");
  expect_refused("compress " + a + " --box 0,0.1 --probes {dir}/probes.csv -o {dir}/probes.csv", dir / "probes.csv");
  // Through a symbolic link too.
  fs::create_symlink(dir / "box.txt", dir / "link.txt");
  expect_refused("compress " + a + " --box-file {dir}/box.txt -o {dir}/link.txt", dir / "box.txt");
}

// Regression: eval --data d.csv --output d.csv (and --input) overwrote the data.
TEST_F(NeverOverwrite, EvalDataAndInput) {
  const std::string m = q(test::models_dir() / "small" / "test_small.onnx");
  expect_refused("eval " + m + " --input {dir}/x.csv --output {dir}/x.csv", dir / "x.csv");
  expect_refused("eval " + m + " --input {dir}/x.csv -o {dir}/x.csv", dir / "x.csv");
  std::ofstream(dir / "t.onnx") << "";
  ASSERT_EQ(run_leo(fmt::format("-q train --data {} --hidden 2 --epochs 1 --threads 1 -o {}", q(dir / "d.csv"),
                                q(dir / "t.onnx")))
                .exit_code,
            0);
  expect_refused("eval {dir}/t.onnx --data {dir}/d.csv --output {dir}/d.csv", dir / "d.csv");
  expect_refused("eval {dir}/t.onnx --data {dir}/d.csv -o {dir}/t.onnx", dir / "t.onnx");
}

// Regression: train -o X --log X, and train -o into its own data.
TEST_F(NeverOverwrite, TrainLogDataAndIdxPair) {
  const std::string train = "train --hidden 2 --epochs 1 --threads 1 ";
  expect_refused(train + "--data {dir}/d.csv -o {dir}/m.onnx --log {dir}/m.onnx", dir / "m.onnx",
                 "given as two outputs");
  expect_refused(train + "--data {dir}/d.csv -o {dir}/d.csv", dir / "d.csv");
  expect_refused(train + "--data {dir}/d.csv -o {dir}/m.onnx --log {dir}/d.csv", dir / "d.csv");

  // An MNIST-layout folder: every one of its four files is an input.
  const fs::path idx = dir / "idx";
  fs::create_directory(idx);
  write_idx(idx / "train-images-idx3-ubyte", {6, 2, 2}, 10);
  write_idx(idx / "train-labels-idx1-ubyte", {6}, 0);
  write_idx(idx / "t10k-images-idx3-ubyte", {4, 2, 2}, 20);
  write_idx(idx / "t10k-labels-idx1-ubyte", {4}, 0);
  ASSERT_EQ(run_leo("-q " + train + "--data " + q(idx) + " -o " + q(dir / "ok.onnx")).exit_code, 0);
  for (const char* f : {"train-labels-idx1-ubyte", "train-images-idx3-ubyte", "t10k-labels-idx1-ubyte"})
    expect_refused(train + "--data {dir}/idx -o {dir}/idx/" + f, idx / f);
  // An IDX pair, and an images file whose labels file is found by name.
  expect_refused(train + "--data {dir}/idx/train-images-idx3-ubyte,{dir}/idx/train-labels-idx1-ubyte -o "
                         "{dir}/idx/train-labels-idx1-ubyte",
                 idx / "train-labels-idx1-ubyte");
  expect_refused(train + "--data {dir}/idx/train-images-idx3-ubyte -o {dir}/idx/train-labels-idx1-ubyte",
                 idx / "train-labels-idx1-ubyte");
  expect_refused(train + "--data {dir}/d.csv --test-data {dir}/idx -o {dir}/idx/t10k-images-idx3-ubyte",
                 idx / "t10k-images-idx3-ubyte");
}

TEST_F(NeverOverwrite, ConvertItself) {
  fs::copy_file(test::models_dir() / "small" / "test_small.onnx", dir / "s.onnx");
  expect_refused("convert {dir}/s.onnx {dir}/s.onnx", dir / "s.onnx");
  expect_refused("convert {dir}/s.onnx -o {dir}/../" + dir.filename().string() + "/s.onnx", dir / "s.onnx");
}

}  // namespace
