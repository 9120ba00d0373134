#pragma once
// Rigorous floating-point error terms for the sound bound computations in
// bounds/. No rounding modes are changed anywhere: every result is computed in
// the default round-to-nearest mode (by Eigen/BLAS, in any summation order,
// with or without FMA) and then widened by an a-posteriori error term that
// holds for every summation order:
//
//   for s = sum_{i=1..n} a_i b_i (a_i, b_i doubles, products exact reals),
//   |fl(s) - s| <= gamma_n * sum |a_i||b_i| + 2 n eta,
//   gamma_n = n u / (1 - n u), u = 2^-53, eta = 2^-1074 (underflow term),
//
// (Higham, Accuracy and Stability of Numerical Algorithms, §3.1; the
// underflow term covers each product rounding to a subnormal). The magnitude
// M = sum |a_i||b_i| is itself computed in floating point (M^ >= (1 - gamma_n) M
// - n eta, all terms non-negative), so the term used is
//
//   err(n, M^) = k_n * M^ + 4 (n + 1) eta,  k_n = 1.02 (n + 1) u >= gamma_n / (1 - gamma_n)
//
// for n u < 1e-3 (n < 9e12); the 2% slack also covers the rounding of
// k_n * M^ itself. A final scalar x^ = fl(a + b) is made an upper (lower)
// bound of the exact a + b with nextafter towards +inf (-inf): round to nearest
// errs by at most half an ulp, nextafter moves a whole ulp.
#include <Eigen/Dense>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>

namespace leo::rounding {

inline constexpr double unit_roundoff = 0x1p-53;
inline constexpr double eta = std::numeric_limits<double>::denorm_min();
inline constexpr double inf = std::numeric_limits<double>::infinity();

// k_n of the header comment, for a sum of n products.
inline double factor(Eigen::Index n) { return 1.02 * static_cast<double>(n + 1) * unit_roundoff; }
// err(n, M^) of the header comment (elementwise for arrays).
inline double error(Eigen::Index n, double magnitude) {
  return factor(n) * magnitude + 4.0 * static_cast<double>(n + 1) * eta;
}
template <typename Derived>
Eigen::ArrayXXd error(Eigen::Index n, const Eigen::ArrayBase<Derived>& magnitude) {
  return magnitude * factor(n) + 4.0 * static_cast<double>(n + 1) * eta;
}

// One step up / down: an upper (lower) bound of any exact real that rounded to
// x. Same results as std::nextafter(x, +-inf) (tested), by stepping the bit
// pattern: libm's nextafter was a fifth of the time of the bound stages.
inline double up(double x) {
  if (!(x < inf)) return x;  // +inf, NaN
  if (x == 0.0) return eta;  // +0 and -0
  auto bits = std::bit_cast<std::uint64_t>(x);
  return std::bit_cast<double>(x > 0 ? bits + 1 : bits - 1);
}
inline double down(double x) { return -up(-x); }
// Upper / lower bounds of exact a + b, a * b.
inline double add_up(double a, double b) { return up(a + b); }
inline double add_down(double a, double b) { return down(a + b); }
inline double mul_up(double a, double b) { return up(a * b); }
inline double mul_down(double a, double b) { return down(a * b); }

// NaN (from inf - inf or 0 * inf when bounds blew up) becomes the trivial bound.
inline double sanitize_upper(double x) { return std::isnan(x) ? inf : x; }
inline double sanitize_lower(double x) { return std::isnan(x) ? -inf : x; }

// Accumulates an upper bound of an exact sum of terms. Each added term is
// either an exact double, or the rounded product of two doubles (add_product),
// or already an upper bound of its exact part (add). The result covers the
// rounding of the products and of the summation.
class UpperSum {
 public:
  void add(double term) {
    sum_ += term;
    magnitude_ += std::abs(term);
    ++n_;
  }
  void add_product(double a, double b) { add(a * b); }
  // NaN terms (an overflow somewhere) make the sum +inf: never a finite wrong bound.
  double value() const {
    double s = add_up(sum_, error(n_, magnitude_));
    return sanitize_upper(s);
  }

 private:
  double sum_ = 0.0;
  double magnitude_ = 0.0;
  Eigen::Index n_ = 0;
};

}  // namespace leo::rounding
