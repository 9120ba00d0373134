// libFuzzer target: the ONNX reader on arbitrary bytes; a model that reads is
// written back and read again, and must give the same outputs.
#include "fuzz_support.hpp"
#include "leo/io/onnx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto path = leo::fuzz::write_scratch(data, size, ".onnx");
  leo::fuzz::expect_clean([&] {
    // A 16 MiB limit bounds what a small input may make the reader allocate
    // (4M weights), however large the dimensions it declares.
    leo::OnnxReadOptions read;
    read.max_file_bytes = std::uintmax_t{1} << 24;
    leo::Network net = leo::read_onnx(path, read);
    net.validate("fuzz.onnx");
    auto copy = leo::fuzz::scratch_file("-copy.onnx");
    leo::OnnxWriteOptions options;
    options.type = leo::ElementType::float64;
    leo::write_onnx(net, copy, options);
    leo::Network back = leo::read_onnx(copy);
    if (back.layers.size() != net.layers.size()) __builtin_trap();
    if (back.output_activation != net.output_activation) __builtin_trap();
    for (std::size_t l = 0; l < net.layers.size(); ++l)
      if (back.layers[l].weights != net.layers[l].weights || back.layers[l].bias != net.layers[l].bias)
        __builtin_trap();
  });
  return 0;
}
