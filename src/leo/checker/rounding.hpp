#pragma once
// The checker's rounding mode (checker/check.cpp, checker/layers.cpp: both
// compiled with -frounding-math, so the compiler keeps every + and * where
// the code puts it and assumes no rounding mode).
//
// RoundUpward: while one lives, every + and * of double rounds towards +inf,
// so a sum or product computed is >= its exact value; a lower end is computed
// as -(upper end of the negated expression). The previous mode comes back
// when it goes.
#include <cfenv>

#include "leo/util/error.hpp"

namespace leo::cert {

class RoundUpward {
 public:
  RoundUpward() : old_(std::fegetround()) {
    if (std::fesetround(FE_UPWARD) != 0) throw Error(ExitCode::internal, "internal error: cannot set the rounding mode");
  }
  ~RoundUpward() { std::fesetround(old_); }
  RoundUpward(const RoundUpward&) = delete;
  RoundUpward& operator=(const RoundUpward&) = delete;

 private:
  int old_;
};

}  // namespace leo::cert
