#include "leo/util/atomic_file.hpp"

#include <fmt/core.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <random>

#include "leo/util/error.hpp"

namespace leo {
namespace fs = std::filesystem;

namespace {
fs::path folder_of(const fs::path& destination) {
  fs::path folder = destination.parent_path();
  return folder.empty() ? fs::path(".") : folder;
}

// A fresh hidden name beside the destination.
fs::path temporary_beside(const fs::path& destination) {
  std::random_device rd;
  return folder_of(destination) / fmt::format(".{}.tmp-{}-{:08x}", destination.filename().string(), ::getpid(), rd());
}
}  // namespace

void check_output_path(const fs::path& destination, const std::vector<fs::path>& inputs) {
  if (destination.empty()) throw InputError("no output file given");
  std::error_code ec;
  for (const auto& input : inputs) {
    if (fs::exists(destination, ec) && fs::exists(input, ec) && fs::equivalent(destination, input, ec))
      throw InputError(fmt::format("{}: refusing to overwrite an input file", destination.string()));
  }
  fs::path folder = destination.parent_path();
  if (folder.empty()) folder = ".";
  if (!fs::is_directory(folder, ec))
    throw InputError(fmt::format("{}: folder {} does not exist", destination.string(), folder.string()));
  if (fs::is_directory(destination, ec))
    throw InputError(fmt::format("{}: is a folder, not a file", destination.string()));
  // A folder where no file can be created (read-only, no permission, /proc) is
  // refused now, before the command does its work, by creating a probe file.
  const fs::path probe = temporary_beside(destination);
  bool created = false;
  {
    std::ofstream out(probe, std::ios::binary | std::ios::trunc);
    created = static_cast<bool>(out);
  }
  fs::remove(probe, ec);
  if (!created)
    throw InputError(fmt::format("{}: cannot write in folder {}", destination.string(), folder.string()));
}

void write_file_atomically(const fs::path& destination, const std::function<void(std::ostream&)>& write,
                           const std::vector<fs::path>& inputs) {
  check_output_path(destination, inputs);
  const fs::path folder = folder_of(destination);
  const fs::path temporary = temporary_beside(destination);
  struct Cleanup {
    fs::path path;
    bool active = true;
    ~Cleanup() {
      if (active) {
        std::error_code ec;
        fs::remove(path, ec);
      }
    }
  } cleanup{temporary};
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    if (!out) throw InputError(fmt::format("{}: cannot write in folder {}", destination.string(), folder.string()));
    write(out);
    out.flush();
    if (!out) throw InputError(fmt::format("{}: write failed", destination.string()));
    out.close();
    if (out.fail()) throw InputError(fmt::format("{}: write failed", destination.string()));
  }
  std::error_code ec;
  fs::rename(temporary, destination, ec);
  if (ec) throw InputError(fmt::format("{}: cannot replace file: {}", destination.string(), ec.message()));
  cleanup.active = false;
}

}  // namespace leo
