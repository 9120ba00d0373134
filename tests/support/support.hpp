#pragma once
// Helpers shared by the tests: paths to the reference models and fixtures,
// random networks, running the leo program.
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "leo/network/network.hpp"

namespace leo::test {

// The repository's models/ folder, or $LEO_MODELS_DIR. A missing folder
// fails the calling test (never skips it).
std::filesystem::path models_dir();
// tests/fixtures in the source tree.
std::filesystem::path fixtures_dir();
// The built `leo` program.
std::filesystem::path leo_binary();
// A fresh empty folder under the system temp dir, removed by the caller if wanted.
std::filesystem::path temp_dir(const std::string& name);
// The whole content of a file, bytes as they are ("" when it cannot be read).
std::string read_file(const std::filesystem::path& file);

// A random network with the given sizes (sizes[0] inputs, sizes.back() outputs),
// Gaussian weights scaled 1/sqrt(fan_in), biases Gaussian * bias_scale.
Network random_network(const std::vector<int>& sizes, std::mt19937_64& rng, double bias_scale = 0.1);

// How often a test repeats work that only adds more of the same evidence
// (random nets, sample points): `n` in the release build, n / divisor (at
// least 1) in the sanitizer build, which checks memory and undefined
// behaviour, not statistics, and runs 5-20x slower. The release build runs
// the full count in the same CI run.
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kSanitized = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(undefined_behavior_sanitizer)
inline constexpr bool kSanitized = true;
#else
inline constexpr bool kSanitized = false;
#endif
#else
inline constexpr bool kSanitized = false;
#endif
constexpr int repetitions(int n, int divisor) { return kSanitized ? (n / divisor > 0 ? n / divisor : 1) : n; }

// Uniform random points in [lo, hi] per feature, inputs x n.
Eigen::MatrixXd random_points(const Eigen::VectorXd& lo, const Eigen::VectorXd& hi, int n, std::mt19937_64& rng);

struct CommandResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};
// Runs the leo program with the arguments (a shell command line, already quoted).
CommandResult run_leo(const std::string& arguments);

}  // namespace leo::test
