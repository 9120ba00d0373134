// libFuzzer target: the VNN-LIB input-box reader on arbitrary text. A box
// that reads must be finite and non-empty.
#include <cmath>

#include "fuzz_support.hpp"
#include "leo/domain/vnnlib.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  leo::fuzz::expect_clean([&] {
    leo::Box box = leo::parse_vnnlib_box(text, "fuzz.vnnlib");
    if (box.lower.size() == 0 || box.lower.size() != box.upper.size()) __builtin_trap();
    for (Eigen::Index i = 0; i < box.lower.size(); ++i)
      if (!std::isfinite(box.lower[i]) || !std::isfinite(box.upper[i]) || box.lower[i] > box.upper[i])
        __builtin_trap();
  });
  return 0;
}
