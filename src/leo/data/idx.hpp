#pragma once
// IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.
//
// Layout: two zero bytes, a type byte (0x08 u8, 0x09 i8, 0x0B i16, 0x0C i32,
// 0x0D f32, 0x0E f64), the number of dimensions, then each dimension as a
// big-endian 32-bit integer, then the values in big-endian, row-major order.
// A file starting with the gzip magic (1f 8b) is decompressed with zlib.
// Errors (InputError "FILE: ..."): wrong magic, unknown type, too few or too
// many data bytes, a corrupt gzip stream.
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace leo {

enum class IdxType : std::uint8_t { u8 = 0x08, i8 = 0x09, i16 = 0x0B, i32 = 0x0C, f32 = 0x0D, f64 = 0x0E };

struct IdxArray {
  IdxType type = IdxType::u8;
  std::vector<std::size_t> dims;  // dims[0] = number of items (images, labels)
  std::vector<double> values;     // all values, row-major, converted to double

  std::size_t items() const { return dims.empty() ? 0 : dims[0]; }
  // Values per item: the product of dims[1..].
  std::size_t item_size() const;
};

// Reads an IDX file. With max_items, only the first max_items items are
// converted (dims[0] is then at most max_items); the file is still checked
// to hold every item its header declares.
IdxArray read_idx(const std::filesystem::path& file, std::size_t max_items = SIZE_MAX);

// Parses IDX bytes already decompressed; `name` names them in errors.
IdxArray parse_idx(const std::vector<unsigned char>& bytes, const std::string& name,
                   std::size_t max_items = SIZE_MAX);

}  // namespace leo
