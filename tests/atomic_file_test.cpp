// util/atomic_file: long destination names, and no temporary file left behind
// when the process is ended by a signal in the middle of a write.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "leo/util/atomic_file.hpp"
#include "support.hpp"

using namespace leo;
namespace fs = std::filesystem;

namespace {

std::vector<std::string> listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// Regression: the temporary name ".NAME.tmp-PID-XXXXXXXX" of a 240-byte NAME
// exceeded NAME_MAX, and the write failed with "cannot write in folder".
TEST(AtomicFile, LongNamesUpToNameMax) {
  const fs::path dir = test::temp_dir("atomic_long");
  for (std::size_t length : {200, 240, 255}) {
    const fs::path out = dir / std::string(length, 'n');
    check_output_path(out);
    write_file_atomically(out, [&](std::ostream& s) { s << "content " << length; });
    EXPECT_EQ(test::read_file(out), "content " + std::to_string(length));
  }
  EXPECT_EQ(listing(dir).size(), 3u);  // no temporary left
}

// Ends a child process with `sig` while its write is in progress; the
// destination folder must then hold only what it held before.
void expect_signal_removes_temporary(int sig) {
  const fs::path dir = test::temp_dir("atomic_signal");
  std::ofstream(dir / "before.txt") << "x";
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    write_file_atomically(dir / "out.onnx", [&](std::ostream& s) {
      s << std::string(1 << 16, 'a');
      s.flush();
      ::raise(sig);
      ::_exit(0);  // not reached: the signal ends the process
    });
    ::_exit(0);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child was not ended by the signal";
  EXPECT_EQ(WTERMSIG(status), sig);
  EXPECT_EQ(listing(dir), std::vector<std::string>{"before.txt"});
}

TEST(AtomicFile, SigtermRemovesTheTemporaryFile) { expect_signal_removes_temporary(SIGTERM); }
TEST(AtomicFile, SigintRemovesTheTemporaryFile) { expect_signal_removes_temporary(SIGINT); }

}  // namespace
