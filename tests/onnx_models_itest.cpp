// The whole reference model zoo through the ONNX reader, compared with a
// straightforward loop-based evaluation of each graph (tests/support/onnx_reference.hpp),
// and through a write/read round trip.
#include <gtest/gtest.h>

#include "leo/io/onnx.hpp"
#include "onnx_reference.hpp"
#include "support.hpp"

namespace leo {
namespace {
namespace fs = std::filesystem;

void compare_with_loops(const fs::path& file, double lo, double hi, int samples, std::uint64_t seed) {
  SCOPED_TRACE(file.string());
  Network net = read_onnx(file);
  std::mt19937_64 rng(seed);
  Eigen::MatrixXd X = test::random_points(Eigen::VectorXd::Constant(net.inputs(), lo),
                                          Eigen::VectorXd::Constant(net.inputs(), hi), samples, rng);
  Eigen::MatrixXd Y = net.evaluate(X);
  for (int s = 0; s < samples; ++s) {
    std::vector<double> x(X.col(s).data(), X.col(s).data() + X.rows());
    const auto ref = test::reference_eval(file, x);
    ASSERT_EQ(static_cast<Eigen::Index>(ref.size()), Y.rows());
    for (std::size_t k = 0; k < ref.size(); ++k)
      EXPECT_NEAR(Y(static_cast<Eigen::Index>(k), s), ref[k], 1e-10 * (1.0 + std::abs(ref[k])))
          << "sample " << s << " output " << k;
  }
}

TEST(OnnxModels, AcasXuAgreesWithLoopEvaluation) {
  int count = 0;
  for (const auto& e : fs::directory_iterator(test::models_dir() / "acasxu")) {
    if (e.path().extension() != ".onnx") continue;
    ++count;
    compare_with_loops(e.path(), -0.5, 0.5, 25, 100 + count);
  }
  EXPECT_EQ(count, 45);
  compare_with_loops(test::models_dir() / "small/test_sat.onnx", -0.5, 0.5, 25, 1);
  compare_with_loops(test::models_dir() / "small/test_unsat.onnx", -0.5, 0.5, 25, 2);
}

TEST(OnnxModels, MnistAndSmallNetsAgreeWithLoopEvaluation) {
  compare_with_loops(test::models_dir() / "mnistfc/mnist-net_256x2.onnx", 0.0, 1.0, 10, 3);
  compare_with_loops(test::models_dir() / "mnistfc/mnist-net_256x4.onnx", 0.0, 1.0, 10, 4);
  for (const char* f : {"small/test_nano.onnx", "small/test_tiny.onnx", "small/test_small.onnx"})
    compare_with_loops(test::models_dir() / f, -5.0, 5.0, 25, 5);
}

TEST(OnnxModels, EveryModelRoundTripsBitForBit) {
  const fs::path dir = test::temp_dir("onnx-zoo");
  std::mt19937_64 rng(9);
  for (const auto& e : fs::recursive_directory_iterator(test::models_dir())) {
    if (e.path().extension() != ".onnx" || e.path().string().find("cifar") != std::string::npos) continue;
    SCOPED_TRACE(e.path().string());
    Network a = read_onnx(e.path());
    write_onnx(a, dir / "a.onnx", {.type = ElementType::float32, .inputs = {e.path()}});
    Network b = read_onnx(dir / "a.onnx");
    ASSERT_EQ(a.depth(), b.depth());
    for (std::size_t l = 0; l < a.depth(); ++l) {
      EXPECT_TRUE(a.layers[l].weights == b.layers[l].weights);
      EXPECT_TRUE(a.layers[l].bias == b.layers[l].bias);
    }
    Eigen::MatrixXd X = test::random_points(Eigen::VectorXd::Constant(a.inputs(), -1.0),
                                            Eigen::VectorXd::Constant(a.inputs(), 1.0), 50, rng);
    EXPECT_TRUE(a.evaluate(X) == b.evaluate(X));
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace leo
