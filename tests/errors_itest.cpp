// The rows of docs/errors.md for analyze, compress, verify and train (and
// the options they share): each case is one row of the catalogue, run
// through the `leo` program. Every error is one line `leo: ...` naming the
// file or option, with its exit code, nothing on stdout and no output file.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <fstream>

#include "support.hpp"

using namespace leo;
using test::run_leo;
namespace fs = std::filesystem;

namespace {

struct Row {
  std::string arguments;  // {dir}: a scratch folder with the files below; {acas}, {prop1}: the zoo
  int code;
  std::string message;  // part of the one-line message
};

TEST(ErrorCatalogue, AnalyzeCompressVerifyTrain) {
  const fs::path dir = test::temp_dir("errors");
  const fs::path acasxu = test::models_dir() / "acasxu";
  std::ofstream(dir / "box2.txt") << "0,1\n0,1\n";
  std::ofstream(dir / "outside.csv") << "0.5,0,0,0,0\n";
  std::ofstream(dir / "unbalanced.vnnlib") << "(declare-const X_0 Real)\n(assert (<= X_0 1)\n";
  std::ofstream(dir / "deep.vnnlib") << "(declare-const X_0 Real)\n(assert " << std::string(1000, '(')
                                     << std::string(1000, ')') << ")\n";
  std::ofstream(dir / "d.csv") << "1,0.5,0.5\n0,0.2,0.1\n";
  std::ofstream(dir / "d1.csv") << "1,0.5\n";
  std::ofstream(dir / "bad.csv") << "0,0.5\n1,abc\n";
  std::ofstream(dir / "label.csv") << "0.5,0.5\n";

  const std::vector<Row> rows = {
      // domain options (analyze, compress, verify)
      {"analyze {acas} --box 1,0", 2, "--box: the box is empty: lo 1 > hi 0"},
      {"analyze {acas} --box 0,nan", 2, "--box: a bound is NaN"},
      {"analyze {acas} --box 0", 2, "--box: expected 'lo,hi', got '0'"},
      {"analyze {acas} --box-file {dir}/box2.txt", 2, "box2.txt: the box has 2 features but the network takes 5 inputs"},
      {"analyze {acas} --box-file {dir}/missing.txt", 2, "missing.txt: cannot read the file"},
      {"analyze {acas} --vnnlib {dir}/unbalanced.vnnlib", 2, "unbalanced.vnnlib: unbalanced '(': missing ')' (line 2)"},
      {"analyze {acas} --vnnlib {dir}/deep.vnnlib", 2, "deep.vnnlib: lists nested deeper than 256 levels (line 2)"},
      {"analyze {acas} --vnnlib {dir}/missing.vnnlib", 2, "missing.vnnlib: cannot read the file"},
      {"analyze {acas} --box 0,1 --vnnlib {prop1}", 2, "--box excludes --vnnlib"},
      {"analyze {acas}", 2, "the model has no default input domain (5 inputs"},
      {"analyze {acas} --vnnlib {prop1} --data {dir}/outside.csv", 2,
       "outside.csv: point 0 is outside the box: feature 0 is 0.5 but the box allows [0.6, 0.679857769]"},
      // analysis options (analyze, compress)
      {"analyze {acas} --box 0,1 --stages samples,bogus", 2, "--stages: unknown stage 'bogus'"},
      {"analyze {acas} --box 0,1 --exact bogus", 2, "--exact: unknown method 'bogus'"},
      {"analyze {acas} --box 0,1 --baseline bogus", 2, "--baseline: unknown baseline 'bogus'"},
      {"analyze {acas} --box 0,1 --time-limit -1", 2, "--time-limit: -1 is out of range (expected a number in [0, 1000000000])"},
      {"analyze {acas} --box 0,1 --max-model-size 1k", 2, "file is 55889 bytes, larger than the limit of 1024 bytes"},
      {"analyze {acas} --box 0,1 --max-model-size 1x", 2, "--max-model-size: '1x' is not a size"},
      // compress
      {"compress {acas} --box 0,1 -o {acas}", 2, "refusing to overwrite an input file"},
      {"compress {acas} --box 0,1 -o {dir}/no/c.onnx", 2, "c.onnx: folder " },
      {"compress {acas} --box 0,1 -o {dir}", 2, "is a folder, not a file"},
      {"compress {acas} --box 0,1 -o /proc/c.onnx", 2, "/proc/c.onnx: cannot write in folder /proc"},
      {"compress {acas} --box 0,1 -o {dir}/c.onnx --fold-layers bogus", 2,
       "--fold-layers: expected auto, always or never, got 'bogus'"},
      {"compress {dir}/missing.onnx --box 0,1 -o {dir}/c.onnx", 2, "missing.onnx: no such file"},
      // verify
      {"verify {acas} {mnist} --box 0,1", 2, "mnist-net_256x2.onnx: takes 784 inputs but"},
      {"verify {acas} {acas} --box 0,1 --tolerance -1", 2, "--tolerance: -1 is out of range (expected a number >= 0)"},
      // train
      {"train --data {dir}/d.csv --hidden 4,x -o {dir}/m.onnx", 2, "--hidden 4,x: expected positive layer widths"},
      {"train --data {dir}/d.csv --hidden 4 --optimizer rmsprop -o {dir}/m.onnx", 2,
       "--optimizer rmsprop: expected sgd or adam"},
      {"train --data {dir}/missing.csv --hidden 4 -o {dir}/m.onnx", 2, "missing.csv: no such file or folder"},
      {"train --data {dir}/d.csv --hidden 4 --batch 0 -o {dir}/m.onnx", 2, "--batch: 0 is out of range (expected a whole number from 1 to"},
      {"train --data {dir}/d.csv --hidden 4 --l1 -1 -o {dir}/m.onnx", 2, "--l1: -1 is out of range (expected a number >= 0)"},
      {"train --data {dir}/d.csv --test-data {dir}/d1.csv --hidden 4 -o {dir}/m.onnx", 2,
       "d1.csv: 1 features but the training data has 2"},
      {"train --data {dir}/bad.csv --hidden 4 -o {dir}/m.onnx", 2, "bad.csv: line 2, column 2: 'abc' is not a number"},
      {"train --data {dir}/label.csv --hidden 4 -o {dir}/m.onnx", 2,
       "label.csv: data row 1: the label (first column) is 0.5, not a class number"},
      {"train --data {dir}/d.csv --hidden 4 -o {dir}/d.csv", 2, "d.csv: refusing to overwrite an input file"},
      {"train --data {dir}/d.csv --hidden 4 -o {dir}/no/m.onnx", 2, "m.onnx: folder "},
      {"train --data {dir}/d.csv --hidden 4 -o {dir}/m.onnx --log {dir}/m.onnx", 2, "m.onnx: given as two outputs"},
      {"train --data {dir}/d.csv --hidden 4 --lr nan -o {dir}/m.onnx", 2, "--lr: nan is out of range"},
      // the shared vocabulary
      {"analyze {acas} --box 0,1 --threads abc", 2, "--threads: 'abc' is not a whole number (expected from 0 to 1024)"},
      {"convert {acas}", 2, "convert: no output given (-o OUT)"},
  };
  auto expand = [&](std::string s) {
    auto replace = [&](const std::string& key, const std::string& value) {
      for (std::size_t at; (at = s.find(key)) != std::string::npos;) s.replace(at, key.size(), value);
    };
    replace("{dir}", dir.string());
    replace("{acas}", (acasxu / "ACASXU_run2a_1_1_batch_2000.onnx").string());
    replace("{prop1}", (acasxu / "prop_1.vnnlib").string());
    replace("{mnist}", (test::models_dir() / "mnistfc" / "mnist-net_256x2.onnx").string());
    return s;
  };
  const std::string data_before = "1,0.5,0.5\n0,0.2,0.1\n";
  for (const Row& row : rows) {
    SCOPED_TRACE(row.arguments);
    auto r = run_leo("-q " + expand(row.arguments));
    EXPECT_EQ(r.exit_code, row.code) << r.err;
    EXPECT_EQ(r.err.rfind("leo: ", 0), 0u) << r.err;
    EXPECT_NE(r.err.find(row.message), std::string::npos) << "expected '" << row.message << "' in: " << r.err;
    EXPECT_TRUE(r.out.empty()) << r.out;
    EXPECT_FALSE(fs::exists(dir / "c.onnx"));
    EXPECT_FALSE(fs::exists(dir / "m.onnx"));
  }
  std::ifstream in(dir / "d.csv");
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_EQ(data, data_before) << "train wrote over its data";
  fs::remove_all(dir);
}

}  // namespace
