#pragma once
// Every file leo writes goes through here: the content is written to a
// temporary file in the destination's folder (".NAME.tmp-PID-RANDOM", NAME
// shortened to stay within NAME_MAX), flushed, then renamed over the
// destination. A SIGINT/SIGTERM/SIGHUP meanwhile removes the temporary file. On any failure the destination is untouched and the temporary
// file is removed. Writing over one of the inputs is refused.
#include <filesystem>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace leo {

// Throws InputError when `destination` is the same file as one of `inputs`
// (after resolving links), its folder does not exist, is a folder itself, or
// no file can be created in its folder (checked by creating and removing a
// probe file): commands call it before their work, so a bad destination is
// refused at once.
void check_output_path(const std::filesystem::path& destination,
                       const std::vector<std::filesystem::path>& inputs = {});

// A temporary file that exists for the lifetime of this object: SIGINT,
// SIGTERM and SIGHUP remove it before ending the process as the signal says
// (handlers are installed on first use, only for signals whose disposition is
// still the default, so a host program's own handlers are kept). Up to 32 at
// once; more are removed by their owners only. Used for every temporary file
// of write_file_atomically and check_output_path.
class LiveTemporary {
 public:
  explicit LiveTemporary(const std::filesystem::path& path);
  ~LiveTemporary();
  LiveTemporary(const LiveTemporary&) = delete;
  LiveTemporary& operator=(const LiveTemporary&) = delete;

 private:
  int slot_ = -1;
};

// Calls `write` with a stream to a temporary file, then renames it to
// `destination`. Throws InputError (naming the destination) when the folder is
// not writable or the write fails; the destination is then untouched.
void write_file_atomically(const std::filesystem::path& destination,
                           const std::function<void(std::ostream&)>& write,
                           const std::vector<std::filesystem::path>& inputs = {});

}  // namespace leo
