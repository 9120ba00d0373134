#pragma once
// Shared by the libFuzzer targets: expected failures are leo::Error (a clear
// message for bad input); anything else escaping a parser is a finding.
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "leo/util/error.hpp"

namespace leo::fuzz {

// A per-process scratch file for parsers that read from a path.
inline std::filesystem::path scratch_file(const char* suffix) {
  return std::filesystem::temp_directory_path() / ("leo-fuzz-" + std::to_string(::getpid()) + suffix);
}

inline std::filesystem::path write_scratch(const std::uint8_t* data, std::size_t size, const char* suffix) {
  auto path = scratch_file(suffix);
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  return path;
}

// Runs `parse`; a leo::Error must carry a non-empty message and exit code 2.
template <typename F>
void expect_clean(F&& parse) {
  try {
    parse();
  } catch (const leo::Error& e) {
    if (std::string(e.what()).empty() || e.code() != leo::ExitCode::bad_input) {
      std::fprintf(stderr, "leo::Error without message or with the wrong code: '%s'\n", e.what());
      __builtin_trap();
    }
  }
}

}  // namespace leo::fuzz
