// libFuzzer target: the CSV loader on arbitrary text.
#include "fuzz_support.hpp"
#include "leo/data/csv.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  leo::fuzz::expect_clean([&] {
    leo::CsvData csv = leo::parse_csv(text, "fuzz.csv");
    if (csv.lines.size() != static_cast<std::size_t>(csv.rows.rows())) __builtin_trap();
  });
  return 0;
}
