#include "leo/util/printable.hpp"

#include <fmt/core.h>

namespace leo {

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c >= 32 && c != 127) {
      out.push_back(ch);
      continue;
    }
    switch (c) {
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default: out += fmt::format("\\x{:02x}", c); break;
    }
  }
  return out;
}

}  // namespace leo
