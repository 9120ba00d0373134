// The ONNX Runtime cross-check itself (tests/support/ort_check.hpp,
// tests/ort/ort_eval.mjs): ORT runs the reference models as leo reads them,
// the check fails on a model that differs, names the worst point, and fails
// (never skips) when node or onnxruntime-node is missing.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>

#include "leo/domain/vnnlib.hpp"
#include "leo/io/model_file.hpp"
#include "ort_check.hpp"
#include "support.hpp"

namespace leo {
namespace {
namespace fs = std::filesystem;

fs::path example_model() { return fs::path(LEO_SOURCE_DIR) / "examples" / "mnist_l1_50x2.onnx"; }

// Sets an environment variable for the scope of one test.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (had_)
      ::setenv(name_, old_.c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::string old_;
  bool had_ = false;
};

TEST(OrtCheck, PointsCoverTheBoxInFloat32) {
  Box box(Eigen::VectorXd{{0.6, -0.5, -0.5, 0.45, -0.5}}, Eigen::VectorXd{{0.679857769, 0.5, 0.5, 0.5, -0.45}});
  Eigen::MatrixXd X = test::ort_check_points(box, 1000);
  ASSERT_GE(X.cols(), 1000);
  ASSERT_EQ(X.rows(), 5);
  for (Eigen::Index j = 0; j < X.cols(); ++j)
    for (Eigen::Index i = 0; i < 5; ++i) {
      EXPECT_GE(X(i, j), box.lower[i]);
      EXPECT_LE(X(i, j), box.upper[i]);
      EXPECT_EQ(X(i, j), static_cast<double>(static_cast<float>(X(i, j))));
    }
  // The centre and the 32 corners (as float32 values just inside the box) come first.
  for (int c = 1; c <= 32; ++c)
    for (Eigen::Index i = 0; i < 5; ++i) {
      const double corner = ((c - 1) >> i) & 1 ? box.upper[i] : box.lower[i];
      EXPECT_LE(std::abs(X(i, c) - corner), 1e-7 * std::max(1.0, std::abs(corner)));
    }
}

TEST(OrtCheck, OrtRunsTheReferenceModelsAsLeoReadsThem) {
  // Every input layout leo reads: [1,1,1,5] (ACAS Xu, one point per run),
  // [1,784,1] (mnistfc), [N,784] (the example), [1] (test_nano).
  const fs::path models = test::models_dir();
  EXPECT_TRUE(test::ort_matches_leo(models / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx",
                                    read_vnnlib_box(models / "acasxu" / "prop_1.vnnlib")));
  EXPECT_TRUE(test::ort_matches_leo(models / "acasxu" / "ACASXU_run2a_4_5_batch_2000.onnx",
                                    Box::uniform(5, -0.5, 0.5)));
  EXPECT_TRUE(test::ort_matches_leo(models / "mnistfc" / "mnist-net_256x2.onnx", Box::uniform(784, 0, 1)));
  EXPECT_TRUE(test::ort_matches_leo(example_model(), Box::uniform(784, 0, 1)));
  EXPECT_TRUE(test::ort_matches_leo(models / "small" / "test_nano.onnx", Box::uniform(1, -1, 1)));
  EXPECT_TRUE(test::ort_matches_leo(models / "small" / "test_small.onnx", Box::uniform(1, -1, 1)));
}

TEST(OrtCheck, ADifferentModelFailsAndTheWorstPointIsNamed) {
  const fs::path dir = test::temp_dir("ort");
  Network net = read_model(example_model());
  // Output 3 moved by 0.01 everywhere.
  Network changed = net;
  changed.layers.back().bias[3] += 0.01;
  write_model(changed, dir / "changed.onnx");
  auto r = test::ort_agrees(example_model(), dir / "changed.onnx", Box::uniform(784, 0, 1));
  ASSERT_FALSE(r);
  const std::string message = r.message();
  EXPECT_NE(message.find("mnist_l1_50x2.onnx"), std::string::npos) << message;
  EXPECT_NE(message.find("changed.onnx"), std::string::npos) << message;
  EXPECT_NE(message.find("at output 3, point"), std::string::npos) << message;
  EXPECT_NE(message.find("x = ["), std::string::npos) << message;

  // The same weights written in double: the same function, within float32 rounding.
  write_model(net, dir / "double.onnx", ModelWriteOptions{ElementType::float64, {}});
  EXPECT_TRUE(test::ort_agrees(example_model(), dir / "double.onnx", Box::uniform(784, 0, 1)));
  // Fewer than 1,000 points is refused.
  EXPECT_FALSE(test::ort_agrees(example_model(), dir / "double.onnx", Box::uniform(784, 0, 1), 10));
  fs::remove_all(dir);
}

TEST(OrtCheck, MissingOnnxRuntimeFailsWithTheFix) {
  const fs::path model = test::models_dir() / "small" / "test_nano.onnx";
  {
    ScopedEnv env("LEO_NPM_DIR", "/nonexistent/npm");
    auto r = test::ort_matches_leo(model, Box::uniform(1, -1, 1));
    ASSERT_FALSE(r);
    EXPECT_NE(std::string(r.message()).find("scripts/setup"), std::string::npos) << r.message();
  }
  {
    ScopedEnv env("LEO_NODE", "/nonexistent/node");
    auto r = test::ort_matches_leo(model, Box::uniform(1, -1, 1));
    ASSERT_FALSE(r);
    EXPECT_NE(std::string(r.message()).find("scripts/setup"), std::string::npos) << r.message();
  }
}

}  // namespace
}  // namespace leo
