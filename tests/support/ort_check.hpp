#pragma once
// Cross-checks with ONNX Runtime: every model the tests make leo write
// (`leo compress`, `leo convert`, `leo train`) is run in ONNX Runtime (npm
// onnxruntime-node, driven by tests/ort/ort_eval.mjs in one node process per
// check) next to the model it came from, on points of the domain.
//
// Tolerance (float32). ONNX Runtime computes a float32 model in float32; leo
// and its compress check compute in double. Two models that compute the same
// real function (a compressed model and its original, a model and its
// conversion) still differ in float32 by rounding: each output of a dense
// layer sums n products with a relative error of up to ~n * 2^-24 of the sum
// of their magnitudes. And `leo compress` itself accepts a written model whose
// outputs differ from the original's by up to its --tolerance (default 1e-4,
// absolute). So the check allows, per output k,
//     |y_A - y_B| <= kOrtAbsoluteTolerance + kOrtRelativeTolerance * s_k,
// s_k = max(1, largest |y_k| of the original over the points):
// 1e-4 absolute (compress's own promise) + 1e-4 relative (float32 noise).
// Measured (LEO_ORT_REPORT=1) on every model the tests write: compressed
// ACAS Xu nets on their properties, mnistfc 256x2, the l1-trained example,
// converted ACAS Xu nets, trained nets: the written model in ORT against the
// original in ORT differed by at most 9.5e-7 (an output of scale 5.4, 0.15%
// of the tolerance); leo's double evaluation against ORT's float32 one by at
// most 8.3e-6 (ACAS Xu 1_1 on [-1,1]^5, output scale 6.1, 1.2% of the
// tolerance). tests/ort_itest.cpp checks that a model whose output is moved
// by 0.01 fails.
//
// A missing node or onnxruntime-node FAILS the test (never skips it), with a
// message that says to run scripts/setup.
#include <Eigen/Dense>
#include <filesystem>
#include <gtest/gtest.h>
#include <string>

#include "leo/domain/box.hpp"

namespace leo::test {

inline constexpr double kOrtAbsoluteTolerance = 1e-4;
inline constexpr double kOrtRelativeTolerance = 1e-4;
inline constexpr int kOrtDefaultPoints = 1000;

// Outputs (outputs x N) ONNX Runtime computes for an ONNX model at the points
// X (inputs x N). On failure (no node, no onnxruntime-node, ORT refuses the
// model) returns an empty matrix and sets `error`.
Eigen::MatrixXd ort_evaluate(const std::filesystem::path& model, const Eigen::MatrixXd& X, std::string* error);

// The points a check uses: the box centre, its corners (all of them up to 10
// features, else 64 random ones) and uniform random points, `count` in all
// (at least the centre and corners). Every coordinate is a float32 value
// inside the box where the box allows it (so a float32 model, a float64 model
// and leo's own evaluation all see exactly the same inputs).
Eigen::MatrixXd ort_check_points(const Box& box, int count, unsigned seed = 1);

// Runs `original` and `written` on ort_check_points(box, points): each in
// ONNX Runtime if it is ONNX, else (a .nnet file) with leo's own evaluator in
// double; when `original` is ONNX, leo's own evaluation of it is compared
// with ORT's as well (does leo read the model as ORT runs it?). Succeeds when
// every output of every pair agrees within the tolerance above (scaled by
// `tolerance_factor`); the failure names the models, the worst point, the
// output, both values and the deviation.
::testing::AssertionResult ort_agrees(const std::filesystem::path& original, const std::filesystem::path& written,
                                      const Box& box, int points = kOrtDefaultPoints,
                                      double tolerance_factor = 1.0);

// The same with a box given as one interval for every input feature (the
// feature count read from `original`).
::testing::AssertionResult ort_agrees(const std::filesystem::path& original, const std::filesystem::path& written,
                                      double lo, double hi, int points = kOrtDefaultPoints);

// The same with the domain given as leo's command-line options, e.g.
// "--box 0,1", "--vnnlib 'prop_1.vnnlib'", "--box-file 'b.txt'" (single
// quotes as the tests write them); "" means [0,1] for every feature.
::testing::AssertionResult ort_agrees(const std::filesystem::path& original, const std::filesystem::path& written,
                                      const std::string& domain_options, int points = kOrtDefaultPoints);

// For a model leo wrote from scratch (`leo train`): ONNX Runtime and leo's
// own reader compute the same outputs on the box.
::testing::AssertionResult ort_matches_leo(const std::filesystem::path& model, const Box& box,
                                           int points = kOrtDefaultPoints);

// Shorthand for the tests: EXPECT_TRUE(ort_agrees(...)).
#define LEO_EXPECT_ORT_AGREES(...) EXPECT_TRUE(::leo::test::ort_agrees(__VA_ARGS__))

}  // namespace leo::test
