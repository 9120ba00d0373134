#include "leo/util/atomic_file.hpp"

#include <fmt/core.h>
#include <limits.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <mutex>
#include <random>

#include "leo/util/error.hpp"

namespace leo {
namespace fs = std::filesystem;

namespace {
fs::path folder_of(const fs::path& destination) {
  fs::path folder = destination.parent_path();
  return folder.empty() ? fs::path(".") : folder;
}

// A fresh hidden name beside the destination, ".NAME.tmp-PID-RANDOM", with
// NAME cut so that the whole stays within NAME_MAX bytes (a destination name
// of 240 bytes is fine; its temporary name would not be).
fs::path temporary_beside(const fs::path& destination) {
  std::random_device rd;
  const std::string suffix = fmt::format(".tmp-{}-{:08x}", ::getpid(), rd());
  std::string name = destination.filename().string();
  const std::size_t room = NAME_MAX - 1 - suffix.size();
  if (name.size() > room) name.resize(room);
  return folder_of(destination) / ("." + name + suffix);
}

// The temporary files that exist right now, removed by the handler of
// SIGINT / SIGTERM / SIGHUP before the signal is raised again (so that the
// process still ends as the signal says). Fixed slots of absolute paths: the
// handler only reads them and calls unlink, which is async-signal-safe.
struct LiveSlot {
  std::atomic<int> state{0};  // 0 free, 1 being filled, 2 holds a live path
  char path[PATH_MAX] = {};
};
constexpr int kLiveSlots = 32;
LiveSlot live[kLiveSlots];

extern "C" void remove_live_temporaries(int signal_number) {
  for (auto& slot : live)
    if (slot.state.load() == 2) ::unlink(slot.path);
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

// Installs the handler once, for each signal whose disposition is still the
// default (a host program's own handler, e.g. Python's SIGINT, is kept).
void install_signal_handlers() {
  static std::once_flag once;
  std::call_once(once, [] {
    for (int sig : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction old{};
      if (::sigaction(sig, nullptr, &old) != 0 || old.sa_handler != SIG_DFL) continue;
      struct sigaction action{};
      action.sa_handler = remove_live_temporaries;
      sigemptyset(&action.sa_mask);
      ::sigaction(sig, &action, nullptr);
    }
  });
}
}  // namespace

LiveTemporary::LiveTemporary(const fs::path& path) {
  install_signal_handlers();
  std::error_code ec;
  const std::string absolute = fs::absolute(path, ec).string();
  if (ec || absolute.size() >= PATH_MAX) return;  // not registered: removed by the destructor only
  for (int i = 0; i < kLiveSlots; ++i) {
    int expected = 0;
    if (!live[i].state.compare_exchange_strong(expected, 1)) continue;
    std::memcpy(live[i].path, absolute.c_str(), absolute.size() + 1);
    live[i].state.store(2);  // published only once the path is complete
    slot_ = i;
    return;
  }
}

LiveTemporary::~LiveTemporary() {
  if (slot_ >= 0) live[slot_].state.store(0);
}

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
    LiveTemporary registered(probe);
    {
      std::ofstream out(probe, std::ios::binary | std::ios::trunc);
      created = static_cast<bool>(out);
    }
    fs::remove(probe, ec);
  }
  if (!created)
    throw InputError(fmt::format("{}: cannot write in folder {}", destination.string(), folder.string()));
}

void write_file_atomically(const fs::path& destination, const std::function<void(std::ostream&)>& write,
                           const std::vector<fs::path>& inputs) {
  check_output_path(destination, inputs);
  const fs::path folder = folder_of(destination);
  const fs::path temporary = temporary_beside(destination);
  LiveTemporary registered(temporary);  // outlives `cleanup`: registered until the file is gone
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
