// libFuzzer target: the IDX loader, on raw bytes and (through a file) on
// gzip streams.
#include "fuzz_support.hpp"
#include "leo/data/idx.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::vector<unsigned char> bytes(data, data + size);
  leo::fuzz::expect_clean([&] {
    leo::IdxArray a = leo::parse_idx(bytes, "fuzz.idx");
    if (a.values.size() != a.items() * a.item_size()) __builtin_trap();
  });
  auto path = leo::fuzz::write_scratch(data, size, ".idx.gz");
  leo::fuzz::expect_clean([&] { (void)leo::read_idx(path, 1000); });
  return 0;
}
