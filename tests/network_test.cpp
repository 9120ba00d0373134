#include <gtest/gtest.h>

#include "leo/network/evaluate_float.hpp"
#include "leo/network/network.hpp"
#include "leo/util/error.hpp"
#include "support.hpp"

using namespace leo;

TEST(Network, HandComputedOutput) {
  // 2 -> 2 -> 1: g1 = [x0 - x1, x0 + x1 - 1], y = 2 relu(g1_0) - relu(g1_1) + 0.5
  AffineLayer l1{Eigen::MatrixXd{{1, -1}, {1, 1}}, Eigen::VectorXd{{0, -1}}};
  AffineLayer l2{Eigen::MatrixXd{{2, -1}}, Eigen::VectorXd{{0.5}}};
  Network net({l1, l2});
  EXPECT_EQ(net.inputs(), 2);
  EXPECT_EQ(net.outputs(), 1);
  EXPECT_EQ(net.hidden_units(), 2);
  EXPECT_EQ(net.parameters(), 6 + 3);
  Eigen::MatrixXd X{{3, 0, 1}, {1, 2, 1}};
  Eigen::MatrixXd Y = net.evaluate(X);
  // x=(3,1): g=(2,3) -> 4-3+.5 = 1.5 ; x=(0,2): g=(-2,1) -> -1+.5=-.5 ; x=(1,1): g=(0,1) -> -0.5
  EXPECT_DOUBLE_EQ(Y(0, 0), 1.5);
  EXPECT_DOUBLE_EQ(Y(0, 1), -0.5);
  EXPECT_DOUBLE_EQ(Y(0, 2), -0.5);
  EXPECT_DOUBLE_EQ(net.evaluate(Eigen::VectorXd{{3, 1}})[0], 1.5);
  auto pre = net.pre_activations(X);
  ASSERT_EQ(pre.size(), 2u);
  EXPECT_DOUBLE_EQ(pre[0](0, 1), -2);
}

TEST(Network, BatchAgreesWithSingle) {
  std::mt19937_64 rng(7);
  Network net = test::random_network({5, 8, 8, 3}, rng);
  Eigen::MatrixXd X = test::random_points(Eigen::VectorXd::Constant(5, -1), Eigen::VectorXd::Constant(5, 1), 50, rng);
  Eigen::MatrixXd Y = net.evaluate(X);
  for (int j = 0; j < 50; ++j) EXPECT_LT((net.evaluate(Eigen::VectorXd(X.col(j))) - Y.col(j)).norm(), 1e-12);
}

TEST(Network, ValidateRefusesBadShapesAndNaN) {
  std::mt19937_64 rng(1);
  Network net = test::random_network({3, 4, 2}, rng);
  EXPECT_NO_THROW(net.validate());
  Network bad = net;
  bad.layers[1].weights.resize(2, 5);
  bad.layers[1].weights.setZero();
  EXPECT_THROW(bad.validate(), InputError);
  bad = net;
  bad.layers[0].weights(1, 1) = std::nan("");
  EXPECT_THROW(bad.validate(), InputError);
  bad = net;
  bad.layers[1].bias[0] = INFINITY;
  EXPECT_THROW(bad.validate(), InputError);
  EXPECT_THROW(Network().validate(), InputError);
}

// A trailing Softmax/LogSoftmax: evaluate() applies it, logits() does not,
// and the float32 evaluation applies it too (eval and checks pair the two).
TEST(Network, OutputActivationInDoubleAndFloat) {
  std::mt19937_64 rng(4);
  Network net = test::random_network({3, 5, 4}, rng);
  const Eigen::MatrixXd X = test::random_points(Eigen::VectorXd::Constant(3, -1.0), Eigen::VectorXd::Constant(3, 1.0),
                                                7, rng);
  const Eigen::MatrixXd z = net.evaluate(X);
  net.output_activation = OutputActivation::softmax;
  EXPECT_TRUE(net.logits(X) == z);
  const Eigen::MatrixXd p = net.evaluate(X);
  for (Eigen::Index j = 0; j < X.cols(); ++j) {
    EXPECT_NEAR(p.col(j).sum(), 1.0, 1e-15);
    const double sum = z.col(j).array().exp().sum();
    for (Eigen::Index i = 0; i < 4; ++i) EXPECT_NEAR(p(i, j), std::exp(z(i, j)) / sum, 1e-15);
    EXPECT_LT((p.col(j) - net.evaluate(Eigen::VectorXd(X.col(j)))).norm(), 1e-12);
  }
  const Eigen::MatrixXd pf = Float32Network(net).evaluate(X);
  EXPECT_LT((pf - p).cwiseAbs().maxCoeff(), 1e-6);
  net.output_activation = OutputActivation::log_softmax;
  const Eigen::MatrixXd q = net.evaluate(X);
  for (Eigen::Index j = 0; j < X.cols(); ++j) EXPECT_NEAR(q.col(j).array().exp().sum(), 1.0, 1e-14);
  EXPECT_LT((Float32Network(net).evaluate(X) - q).cwiseAbs().maxCoeff(), 1e-5);
}
