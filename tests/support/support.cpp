#include "support.hpp"

#include <fmt/core.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

namespace leo::test {
namespace fs = std::filesystem;

std::string read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

fs::path models_dir() {
  const char* env = std::getenv("LEO_MODELS_DIR");
  fs::path dir = env ? fs::path(env) : fs::path(LEO_REPO_MODELS_DIR);
  // A missing zoo is a broken setup, never a reason to pass: fail the test.
  std::error_code ec;
  if (!fs::is_directory(dir / "acasxu", ec))
    ADD_FAILURE() << "the model zoo is missing: no " << (dir / "acasxu")
                  << " (the repository's models/ folder, or LEO_MODELS_DIR if set)";
  return dir;
}

fs::path fixtures_dir() { return LEO_FIXTURES_DIR; }

fs::path leo_binary() { return LEO_BINARY; }

fs::path temp_dir(const std::string& name) {
  static std::mt19937_64 rng(std::random_device{}());
  fs::path dir = fs::temp_directory_path() / fmt::format("leo-test-{}-{}-{:x}", name, ::getpid(), rng());
  fs::create_directories(dir);
  return dir;
}

Network random_network(const std::vector<int>& sizes, std::mt19937_64& rng, double bias_scale) {
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<AffineLayer> layers;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    AffineLayer layer;
    layer.weights.resize(sizes[l + 1], sizes[l]);
    layer.bias.resize(sizes[l + 1]);
    double scale = 1.0 / std::sqrt(static_cast<double>(sizes[l]));
    for (Eigen::Index i = 0; i < layer.weights.size(); ++i) layer.weights.data()[i] = normal(rng) * scale;
    for (Eigen::Index i = 0; i < layer.bias.size(); ++i) layer.bias[i] = normal(rng) * bias_scale;
    layers.push_back(std::move(layer));
  }
  return Network(std::move(layers));
}

Eigen::MatrixXd random_points(const Eigen::VectorXd& lo, const Eigen::VectorXd& hi, int n, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Eigen::MatrixXd X(lo.size(), n);
  for (int j = 0; j < n; ++j)
    for (Eigen::Index i = 0; i < lo.size(); ++i) X(i, j) = lo[i] + (hi[i] - lo[i]) * u(rng);
  return X;
}

namespace {
std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

CommandResult run_leo(const std::string& arguments) {
  fs::path dir = temp_dir("run");
  std::string command = fmt::format("'{}' {} >'{}' 2>'{}' </dev/null", leo_binary().string(), arguments,
                                    (dir / "out").string(), (dir / "err").string());
  int status = std::system(command.c_str());
  CommandResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir / "out");
  r.err = slurp(dir / "err");
  fs::remove_all(dir);
  return r;
}

}  // namespace leo::test
