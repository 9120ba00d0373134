#include "leo/data/idx.hpp"

#include <fmt/core.h>
#include <fmt/ranges.h>
#include <zlib.h>

#include <bit>
#include <cstring>
#include <fstream>
#include <limits>

#include "leo/util/error.hpp"

namespace leo {
namespace fs = std::filesystem;

namespace {

std::size_t type_size(IdxType type) {
  switch (type) {
    case IdxType::u8:
    case IdxType::i8:
      return 1;
    case IdxType::i16:
      return 2;
    case IdxType::i32:
    case IdxType::f32:
      return 4;
    case IdxType::f64:
      return 8;
  }
  return 0;
}

bool known_type(unsigned char t) { return t == 0x08 || t == 0x09 || t == 0x0B || t == 0x0C || t == 0x0D || t == 0x0E; }

// Big-endian unsigned integer of `n` bytes.
std::uint64_t big_endian(const unsigned char* p, std::size_t n) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

double value_at(const unsigned char* p, IdxType type) {
  switch (type) {
    case IdxType::u8:
      return static_cast<double>(p[0]);
    case IdxType::i8:
      return static_cast<double>(static_cast<std::int8_t>(p[0]));
    case IdxType::i16:
      return static_cast<double>(static_cast<std::int16_t>(static_cast<std::uint16_t>(big_endian(p, 2))));
    case IdxType::i32:
      return static_cast<double>(static_cast<std::int32_t>(static_cast<std::uint32_t>(big_endian(p, 4))));
    case IdxType::f32:
      return static_cast<double>(std::bit_cast<float>(static_cast<std::uint32_t>(big_endian(p, 4))));
    case IdxType::f64:
      return std::bit_cast<double>(big_endian(p, 8));
  }
  return 0;
}

std::vector<unsigned char> read_bytes(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw InputError(fmt::format("{}: no such file", file.string()));
  if (fs::is_directory(file, ec)) throw InputError(fmt::format("{}: is a folder, not an IDX file", file.string()));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open for reading", file.string()));
  std::vector<unsigned char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) throw InputError(fmt::format("{}: read error", file.string()));
  return bytes;
}

std::vector<unsigned char> gunzip(const std::vector<unsigned char>& compressed, const std::string& name) {
  z_stream z{};
  if (inflateInit2(&z, 15 + 16) != Z_OK) throw InputError(fmt::format("{}: cannot start gzip decompression", name));
  struct End {
    z_stream* z;
    ~End() { inflateEnd(z); }
  } end{&z};
  std::vector<unsigned char> out;
  const std::size_t chunk = std::size_t{1} << 20;
  // zlib counts in uInt: feed the input in pieces.
  std::size_t fed = 0;
  int status = Z_OK;
  while (true) {
    if (z.avail_in == 0 && fed < compressed.size()) {
      const std::size_t n = std::min<std::size_t>(compressed.size() - fed, std::numeric_limits<uInt>::max());
      z.next_in = const_cast<Bytef*>(compressed.data() + fed);
      z.avail_in = static_cast<uInt>(n);
      fed += n;
    }
    const std::size_t before = out.size();
    out.resize(before + chunk);
    z.next_out = out.data() + before;
    z.avail_out = static_cast<uInt>(chunk);
    status = inflate(&z, Z_NO_FLUSH);
    out.resize(before + (chunk - z.avail_out));
    if (status == Z_STREAM_END) break;
    if (status == Z_BUF_ERROR && z.avail_in == 0 && fed == compressed.size())
      throw InputError(fmt::format("{}: truncated gzip data (the compressed stream ends early)", name));
    if (status != Z_OK && status != Z_BUF_ERROR)
      throw InputError(fmt::format("{}: corrupt gzip data ({})", name, z.msg ? z.msg : "inflate failed"));
  }
  return out;
}

}  // namespace

std::size_t IdxArray::item_size() const {
  std::size_t n = 1;
  for (std::size_t i = 1; i < dims.size(); ++i) n *= dims[i];
  return n;
}

IdxArray parse_idx(const std::vector<unsigned char>& bytes, const std::string& name, std::size_t max_items) {
  if (bytes.size() < 4)
    throw InputError(fmt::format("{}: too short for an IDX file ({} bytes, the header alone needs 4)", name,
                                 bytes.size()));
  if (bytes[0] != 0 || bytes[1] != 0)
    throw InputError(fmt::format("{}: not an IDX file (magic {:02x} {:02x}, expected 00 00)", name, bytes[0],
                                 bytes[1]));
  if (!known_type(bytes[2]))
    throw InputError(fmt::format("{}: unknown IDX element type 0x{:02x} (expected 08, 09, 0b, 0c, 0d or 0e)", name,
                                 bytes[2]));
  IdxArray array;
  array.type = static_cast<IdxType>(bytes[2]);
  const std::size_t rank = bytes[3];
  if (rank == 0) throw InputError(fmt::format("{}: IDX header declares 0 dimensions", name));
  const std::size_t header = 4 + 4 * rank;
  if (bytes.size() < header)
    throw InputError(fmt::format("{}: truncated IDX header ({} dimensions need {} bytes, the file has {})", name, rank,
                                 header, bytes.size()));
  const std::size_t size = type_size(array.type);
  // Count the bytes with overflow checks: a corrupt header must not wrap around.
  std::size_t expected = size;
  bool overflow = false;
  for (std::size_t d = 0; d < rank; ++d) {
    std::size_t dim = static_cast<std::size_t>(big_endian(&bytes[4 + 4 * d], 4));
    array.dims.push_back(dim);
    overflow = overflow || __builtin_mul_overflow(expected, dim, &expected);
  }
  const std::size_t available = bytes.size() - header;
  if (overflow || available < expected)
    throw InputError(fmt::format("{}: truncated IDX data: the header ({}) needs {} bytes of values, the file has {}",
                                 name, fmt::join(array.dims, "x"),
                                 overflow ? std::string("more than 2^64") : std::to_string(expected), available));
  if (available > expected)
    throw InputError(fmt::format("{}: {} bytes of unexpected data after the IDX values", name, available - expected));
  const std::size_t item = array.item_size();
  if (array.dims[0] > max_items) array.dims[0] = max_items;
  const std::size_t total = array.dims[0] * item;
  array.values.resize(total);
  const unsigned char* p = bytes.data() + header;
  for (std::size_t i = 0; i < total; ++i, p += size) array.values[i] = value_at(p, array.type);
  return array;
}

IdxArray read_idx(const fs::path& file, std::size_t max_items) {
  std::vector<unsigned char> bytes = read_bytes(file);
  if (bytes.size() >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b) bytes = gunzip(bytes, file.string());
  return parse_idx(bytes, file.string(), max_items);
}

}  // namespace leo
