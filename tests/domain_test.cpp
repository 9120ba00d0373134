// Input domains: VNN-LIB input boxes, box files, --box specs, defaults, errors.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <fstream>

#include "leo/domain/box_file.hpp"
#include "leo/domain/probes.hpp"
#include "leo/domain/vnnlib.hpp"
#include "leo/util/error.hpp"
#include "support.hpp"

namespace leo {
namespace {

namespace fs = std::filesystem;

TEST(Vnnlib, ReadsEveryAcasXuProperty) {
  for (int p = 1; p <= 10; ++p) {
    fs::path path = test::models_dir() / "acasxu" / fmt::format("prop_{}.vnnlib", p);
    SCOPED_TRACE(path.string());
    Box box = read_vnnlib_box(path);
    ASSERT_EQ(box.size(), 5);
    EXPECT_NO_THROW(box.validate(5));
    for (Eigen::Index i = 0; i < 5; ++i) {
      EXPECT_LE(box.lower[i], box.upper[i]);
      EXPECT_GE(box.lower[i], -0.5 - 1e-9);  // the normalised ACAS Xu box is within [-0.33, 0.68] x [-0.5, 0.5]^4
      EXPECT_LE(box.upper[i], 0.700434925 + 1e-12);
    }
  }
}

TEST(Vnnlib, Property1KnownBox) {
  Box box = read_vnnlib_box(test::models_dir() / "acasxu" / "prop_1.vnnlib");
  Eigen::VectorXd lo(5), hi(5);
  lo << 0.6, -0.5, -0.5, 0.45, -0.5;
  hi << 0.679857769, 0.5, 0.5, 0.5, -0.45;
  EXPECT_EQ(box.lower, lo);
  EXPECT_EQ(box.upper, hi);
}

TEST(Vnnlib, Property4HasAFixedFeature) {
  Box box = read_vnnlib_box(test::models_dir() / "acasxu" / "prop_4.vnnlib");
  EXPECT_EQ(box.lower[2], 0.0);
  EXPECT_EQ(box.upper[2], 0.0);
}

TEST(Vnnlib, Property6UnionGivesItsHull) {
  // Two boxes that differ in X_1: [0.11140846, 0.499999896] or [-0.499999896, -0.11140846].
  Box box = read_vnnlib_box(test::models_dir() / "acasxu" / "prop_6.vnnlib");
  EXPECT_EQ(box.lower[1], -0.499999896);
  EXPECT_EQ(box.upper[1], 0.499999896);
  EXPECT_EQ(box.lower[0], -0.129289109);
  EXPECT_EQ(box.upper[0], 0.700434925);
}

TEST(Vnnlib, SyntaxVariants) {
  const char* text = R"(; comment
(declare-const X_0 Real) (declare-const X_1 Real)
(declare-const Y_0 Real)
(assert (and (>= 0.25 X_0) (<= -1 X_0)))  ; reversed operands
(assert (and (< X_1 2e-1) (> X_1 (- 0.5))))
(assert (<= Y_0 X_0))
(assert (>= Y_0 3))
)";
  Box box = parse_vnnlib_box(text, "t.vnnlib");
  EXPECT_EQ(box.lower[0], -1);
  EXPECT_EQ(box.upper[0], 0.25);
  EXPECT_EQ(box.lower[1], -0.5);
  EXPECT_EQ(box.upper[1], 0.2);
}

TEST(Vnnlib, Errors) {
  auto fails = [](const std::string& text, const std::string& expected) {
    try {
      parse_vnnlib_box(text, "bad.vnnlib");
      ADD_FAILURE() << "no error for: " << text;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find("bad.vnnlib"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  };
  fails("(declare-const X_0 Real)\n(assert (<= X_0 1))", "X_0 has no lower bound");
  fails("(declare-const X_0 Real)(declare-const X_1 Real)\n(assert (<= X_0 1))(assert (>= X_0 0))", "X_1");
  fails("(declare-const X_0 Real)\n(assert (<= X_0 1)", "missing ')'");
  fails("(declare-const X_0 Real)\n(assert (<= X_0 0))(assert (>= X_0 1))", "empty");
  fails("(declare-const X_0 Real)\n(assert (<= X_0 abc))(assert (>= X_0 0))", "not a number");
  fails("(declare-const X_0 Real)\n(assert (<= X_3 1))", "not declared");
  fails("(declare-const Y_0 Real)\n(assert (<= Y_0 1))", "no input");
  fails("(declare-const X_0 Real)\n(assert (or (<= X_0 1) (>= X_0 0)))", "no");
  fails("(declare-const X_0 Real)(declare-const X_1 Real)\n(assert (<= X_0 X_1))", "only bounds");
  EXPECT_THROW(read_vnnlib_box("/nonexistent/p.vnnlib"), InputError);
}

// Fuzzing regressions: nesting deep enough to overflow the stack of a
// recursive parser is refused with a message.
TEST(Vnnlib, DeepNestingIsAnErrorNotACrash) {
  const int depth = 100000;
  std::string text = "(declare-const X_0 Real)\n(assert " + std::string(depth, '(') + std::string(depth, ')') + ")";
  try {
    parse_vnnlib_box(text, "deep.vnnlib");
    ADD_FAILURE() << "no error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("deep.vnnlib: lists nested deeper than"), std::string::npos) << e.what();
  }
  // Reasonable nesting still reads.
  std::string nested = "(declare-const X_0 Real)\n(assert " + std::string(100, '(');
  nested.replace(nested.size() - 100, 100, "");
  for (int k = 0; k < 100; ++k) nested += "(and ";
  nested += "(<= X_0 1) (>= X_0 0)" + std::string(100, ')') + ")";
  Box box = parse_vnnlib_box(nested, "nested.vnnlib");
  EXPECT_EQ(box.lower[0], 0);
  EXPECT_EQ(box.upper[0], 1);
}

TEST(Vnnlib, ManyInputsEachWithItsOwnBounds) {
  const int n = 3000;
  std::string text;
  for (int i = 0; i < n; ++i) text += fmt::format("(declare-const X_{} Real)\n", i);
  for (int i = 0; i < n; ++i) text += fmt::format("(assert (and (>= X_{0} {0}) (<= X_{0} {1})))\n", i, i + 0.5);
  Box box = parse_vnnlib_box(text, "wide.vnnlib");
  ASSERT_EQ(box.size(), n);
  for (int i = 0; i < n; ++i) {
    EXPECT_EQ(box.lower[i], i);
    EXPECT_EQ(box.upper[i], i + 0.5);
  }
}

TEST(BoxFile, ReadsLinesAndComments) {
  fs::path dir = test::temp_dir("boxfile");
  fs::path file = dir / "box.txt";
  std::ofstream(file) << "# lo,hi\n0,1\n-0.5, 0.5\n\n2 3\n";
  Box box = read_box_file(file);
  ASSERT_EQ(box.size(), 3);
  EXPECT_EQ(box.lower, Eigen::Vector3d(0, -0.5, 2));
  EXPECT_EQ(box.upper, Eigen::Vector3d(1, 0.5, 3));
  fs::remove_all(dir);
}

TEST(BoxFile, Errors) {
  fs::path dir = test::temp_dir("boxfile");
  auto fails = [&](const std::string& content, const std::string& expected) {
    fs::path file = dir / "b.txt";
    std::ofstream(file) << content;
    try {
      read_box_file(file);
      ADD_FAILURE() << "no error for: " << content;
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(expected), std::string::npos) << e.what();
    }
  };
  fails("0,1\n1,0\n", "line 2");
  fails("0,1\n1,0\n", "empty");
  fails("0,nan\n", "NaN");
  fails("0,1,2\n", "expected 'lo,hi'");
  fails("0,x\n", "not a number");
  fails("", "no 'lo,hi' line");
  EXPECT_THROW(read_box_file(dir / "missing.txt"), InputError);
  fs::remove_all(dir);
  // Wrong feature count is caught by validate.
  Box box(Eigen::VectorXd::Zero(3), Eigen::VectorXd::Ones(3));
  EXPECT_THROW(box.validate(5), InputError);
}

TEST(BoxSpec, ParsesAndRefuses) {
  Box b = parse_box_spec("-1,2.5", 4);
  EXPECT_EQ(b.size(), 4);
  EXPECT_EQ(b.lower[3], -1);
  EXPECT_EQ(b.upper[0], 2.5);
  EXPECT_THROW(parse_box_spec("1,0", 4), InputError);
  EXPECT_THROW(parse_box_spec("nan,1", 4), InputError);
  EXPECT_THROW(parse_box_spec("0", 4), InputError);
  EXPECT_THROW(parse_box_spec("0,1,2", 4), InputError);
  EXPECT_THROW(parse_box_spec("a,b", 4), InputError);
  EXPECT_THROW(parse_box_spec("0,inf", 4), InputError);
}

TEST(DefaultBox, ImageNetsMetadataAndNone) {
  std::mt19937_64 rng(1);
  Network image = test::random_network({784, 3, 2}, rng);
  std::string why;
  auto b = default_box(image, &why);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->lower, Eigen::VectorXd::Zero(784));
  EXPECT_EQ(b->upper, Eigen::VectorXd::Ones(784));

  Network small = test::random_network({3, 4, 2}, rng);
  EXPECT_FALSE(default_box(small));
  small.metadata["nnet.input_min"] = "-1,0,0.5";
  small.metadata["nnet.input_max"] = "1 2 0.5";
  b = default_box(small, &why);
  ASSERT_TRUE(b);
  EXPECT_EQ(b->lower, Eigen::Vector3d(-1, 0, 0.5));
  EXPECT_EQ(b->upper, Eigen::Vector3d(1, 2, 0.5));
  small.metadata["nnet.input_max"] = "1";
  b = default_box(small);
  EXPECT_EQ(b->upper, Eigen::Vector3d(1, 1, 1));
  small.metadata["nnet.input_max"] = "1,2";
  EXPECT_THROW(default_box(small), InputError);
  small.metadata["nnet.input_max"] = "-5";
  EXPECT_THROW(default_box(small), InputError);  // empty box
}

TEST(Probes, RefusesPointsOutsideTheBox) {
  Box box = Box::uniform(2, 0, 1);
  Eigen::MatrixXd in(2, 2);
  in << 0, 1, 0.5, 0.25;
  EXPECT_NO_THROW(check_points_in_box(in, box, "d.csv"));
  Eigen::MatrixXd out = in;
  out(1, 1) = 1.5;
  try {
    check_points_in_box(out, box, "d.csv");
    ADD_FAILURE();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("point 1 is outside the box: feature 1"), std::string::npos) << e.what();
  }
  EXPECT_THROW(check_points_in_box(Eigen::MatrixXd::Zero(3, 1), box, "d.csv"), InputError);
}

}  // namespace
}  // namespace leo
