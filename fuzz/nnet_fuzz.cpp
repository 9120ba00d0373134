// libFuzzer target: the .nnet reader on arbitrary text.
#include "fuzz_support.hpp"
#include "leo/io/nnet.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  leo::fuzz::expect_clean([&] {
    leo::Network net = leo::parse_nnet(text, "fuzz.nnet");
    net.validate("fuzz.nnet");
    Eigen::VectorXd zero = Eigen::VectorXd::Zero(net.inputs());
    (void)net.evaluate(zero);
  });
  return 0;
}
