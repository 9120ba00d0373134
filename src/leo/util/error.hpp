#pragma once
// Errors that reach the user. Every user-facing failure is a leo::Error with an
// exit code; the CLI prints `leo: <message>` on one line and exits with it.
#include <stdexcept>
#include <string>

namespace leo {

enum class ExitCode : int {
  ok = 0,
  not_equivalent = 1,   // leo verify: the two networks differ beyond tolerance
  bad_input = 2,        // malformed/unsupported model, bad domain, bad options
  check_failed = 3,     // leo compress: the result failed its deviation check
  internal = 4,         // a bug in leo or a solver failure we could not recover from
};

class Error : public std::runtime_error {
 public:
  Error(ExitCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ExitCode code() const { return code_; }

 private:
  ExitCode code_;
};

// Bad user input: a file that cannot be read, a model leo does not support,
// an empty box, ... The message names the file and the place.
class InputError : public Error {
 public:
  explicit InputError(const std::string& message) : Error(ExitCode::bad_input, message) {}
};

}  // namespace leo
