#pragma once
// Reading and writing numbers in text files (.nnet, CSV) exactly and without
// locale surprises: std::from_chars / std::to_chars.
#include <optional>
#include <string>
#include <string_view>

namespace leo {

// Parses the whole of `text` (after trimming spaces and tabs) as a decimal
// floating-point number: "1", "-2.5e-3", "+4", "inf", "nan". Returns nothing
// when it is empty or not entirely a number. Correctly rounded.
std::optional<double> parse_double(std::string_view text);

// Parses the whole of `text` (trimmed) as a decimal integer.
std::optional<long long> parse_integer(std::string_view text);

// The shortest decimal text that reads back (parse_double, strtod) as exactly
// the same double: "0.1", "1e-07", "-0", "inf", "nan".
std::string format_double(double value);

// `text` without leading and trailing spaces, tabs and carriage returns.
std::string_view trim(std::string_view text);

}  // namespace leo
