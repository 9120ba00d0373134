#pragma once
// Text from an input file, made safe to put in a one-line message.
#include <string>
#include <string_view>

namespace leo {

// `text` with every control character (bytes 0-31 and 127) escaped as \n, \r,
// \t or \xHH, so that a message quoting names or fields read from a file
// stays on one line and cannot move the terminal's cursor. Other bytes
// (including UTF-8) are kept.
std::string printable(std::string_view text);

}  // namespace leo
