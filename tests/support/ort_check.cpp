#include "ort_check.hpp"

#include <fmt/core.h>
#include <fmt/format.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "leo/domain/box_file.hpp"
#include "leo/domain/vnnlib.hpp"
#include "leo/io/model_file.hpp"
#include "leo/network/network.hpp"
#include "support.hpp"

namespace leo::test {
namespace fs = std::filesystem;

namespace {

const char* const kSetupHint = "run scripts/setup: it installs Debian's nodejs and onnxruntime-node into third_party/npm";

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// The node program: $LEO_NODE, else node or nodejs on the PATH ("" if none).
std::string node_program() {
  if (const char* env = std::getenv("LEO_NODE"); env && *env) return env;
  for (const char* name : {"node", "nodejs"}) {
    std::string probe = fmt::format("command -v {} >/dev/null 2>&1", name);
    if (std::system(probe.c_str()) == 0) return name;
  }
  return "";
}

void put_u64(std::string& s, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) s += static_cast<char>((v >> (8 * i)) & 0xff);
}
std::uint64_t get_u64(const std::string& s, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | static_cast<unsigned char>(s[at + i]);
  return v;
}
void put_f64(std::string& s, double x) {
  std::uint64_t v;
  std::memcpy(&v, &x, 8);
  put_u64(s, v);
}
double get_f64(const std::string& s, std::size_t at) {
  std::uint64_t v = get_u64(s, at);
  double x;
  std::memcpy(&x, &v, 8);
  return x;
}

void write_points(const fs::path& file, const Eigen::MatrixXd& X) {
  std::string s = "LEOPTS01";
  put_u64(s, static_cast<std::uint64_t>(X.cols()));
  put_u64(s, static_cast<std::uint64_t>(X.rows()));
  for (Eigen::Index j = 0; j < X.cols(); ++j)
    for (Eigen::Index i = 0; i < X.rows(); ++i) put_f64(s, X(i, j));
  std::ofstream(file, std::ios::binary) << s;
}

// Outputs x N, or an error.
bool read_outputs(const fs::path& file, Eigen::Index n, Eigen::MatrixXd& Y, std::string* error) {
  std::string s = slurp(file);
  if (s.size() < 24 || s.compare(0, 8, "LEOOUT01") != 0) {
    *error = fmt::format("{}: not a LEOOUT01 file", file.string());
    return false;
  }
  auto rows = static_cast<Eigen::Index>(get_u64(s, 8)), k = static_cast<Eigen::Index>(get_u64(s, 16));
  if (rows != n || s.size() != 24 + 8 * static_cast<std::size_t>(rows * k)) {
    *error = fmt::format("{}: {} points x {} outputs in {} bytes, expected {} points", file.string(), rows, k,
                         s.size(), n);
    return false;
  }
  Y.resize(k, n);
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index i = 0; i < k; ++i) Y(i, j) = get_f64(s, 24 + 8 * static_cast<std::size_t>(j * k + i));
  return true;
}

// Runs ort_eval.mjs once on several models. Returns false with `error` set on any failure.
bool run_ort(const std::vector<fs::path>& models, const Eigen::MatrixXd& X, std::vector<Eigen::MatrixXd>& outputs,
             std::string* error) {
  const std::string node = node_program();
  if (node.empty()) {
    *error = fmt::format("node (Debian package nodejs) is not installed: {}", kSetupHint);
    return false;
  }
  const fs::path script = fs::path(LEO_SOURCE_DIR) / "tests" / "ort" / "ort_eval.mjs";
  const fs::path dir = temp_dir("ort");
  write_points(dir / "points.bin", X);
  std::string command = fmt::format("{} {} {}", shell_quote(node), shell_quote(script.string()),
                                    shell_quote((dir / "points.bin").string()));
  for (std::size_t m = 0; m < models.size(); ++m)
    command += fmt::format(" {} {}", shell_quote(models[m].string()),
                           shell_quote((dir / fmt::format("out{}.bin", m)).string()));
  command += fmt::format(" >{} 2>&1 </dev/null", shell_quote((dir / "log").string()));
  int status = std::system(command.c_str());
  bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok) {
    std::string log = slurp(dir / "log");
    while (!log.empty() && (log.back() == '\n' || log.back() == '\r')) log.pop_back();
    *error = fmt::format("ONNX Runtime failed ({}): {}", node, log.empty() ? "no message" : log);
    const bool not_found = WIFEXITED(status) && WEXITSTATUS(status) == 127;
    if ((not_found || log.find("onnxruntime-node") != std::string::npos) &&
        log.find("scripts/setup") == std::string::npos)
      *error += fmt::format(" ({})", kSetupHint);
  }
  outputs.clear();
  for (std::size_t m = 0; ok && m < models.size(); ++m) {
    Eigen::MatrixXd Y;
    ok = read_outputs(dir / fmt::format("out{}.bin", m), X.cols(), Y, error);
    outputs.push_back(std::move(Y));
  }
  fs::remove_all(dir);
  return ok;
}

// The float32 value nearest to x that lies in [lo, hi] (when one exists).
double float_inside(double x, double lo, double hi) {
  auto f = static_cast<float>(x);
  if (static_cast<double>(f) > hi) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  if (static_cast<double>(f) < lo) f = std::nextafter(f, std::numeric_limits<float>::infinity());
  if (static_cast<double>(f) > hi || static_cast<double>(f) < lo) f = static_cast<float>(x);  // none: nearest
  return static_cast<double>(f);
}

std::string point_text(const Eigen::VectorXd& x) {
  std::string s;
  for (Eigen::Index i = 0; i < x.size() && i < 8; ++i) s += fmt::format("{}{:.9g}", i ? ", " : "", x[i]);
  if (x.size() > 8) s += fmt::format(", ... ({} features)", x.size());
  return "[" + s + "]";
}

bool is_onnx(const fs::path& p) { return model_format(p) == ModelFormat::onnx; }

struct Evaluated {
  std::string name;  // e.g. "ORT(out.onnx)"
  Eigen::MatrixXd Y;
};

}  // namespace

Eigen::MatrixXd ort_evaluate(const fs::path& model, const Eigen::MatrixXd& X, std::string* error) {
  std::vector<Eigen::MatrixXd> out;
  if (!run_ort({model}, X, out, error)) return {};
  return out[0];
}

Eigen::MatrixXd ort_check_points(const Box& box, int count, unsigned seed) {
  const Eigen::Index n = box.size();
  std::mt19937_64 rng(seed);
  std::vector<Eigen::VectorXd> pts;
  pts.push_back(box.center());
  if (n <= 10) {
    for (std::uint64_t mask = 0; mask < (std::uint64_t{1} << n); ++mask) {
      Eigen::VectorXd c(n);
      for (Eigen::Index i = 0; i < n; ++i) c[i] = (mask >> i) & 1 ? box.upper[i] : box.lower[i];
      pts.push_back(c);
    }
  } else {
    std::bernoulli_distribution coin(0.5);
    for (int k = 0; k < 64; ++k) {
      Eigen::VectorXd c(n);
      for (Eigen::Index i = 0; i < n; ++i) c[i] = coin(rng) ? box.upper[i] : box.lower[i];
      pts.push_back(c);
    }
  }
  std::uniform_real_distribution<double> u(0.0, 1.0);
  while (static_cast<int>(pts.size()) < count) {
    Eigen::VectorXd x(n);
    for (Eigen::Index i = 0; i < n; ++i) x[i] = box.lower[i] + (box.upper[i] - box.lower[i]) * u(rng);
    pts.push_back(x);
  }
  Eigen::MatrixXd X(n, static_cast<Eigen::Index>(pts.size()));
  for (std::size_t j = 0; j < pts.size(); ++j)
    for (Eigen::Index i = 0; i < n; ++i)
      X(i, static_cast<Eigen::Index>(j)) = float_inside(pts[j][i], box.lower[i], box.upper[i]);
  return X;
}

::testing::AssertionResult ort_agrees(const fs::path& original, const fs::path& written, const Box& box, int points,
                                      double tolerance_factor) {
  const std::string what = fmt::format("{} -> {}", original.string(), written.string());
  if (points < kOrtDefaultPoints)
    return ::testing::AssertionFailure() << what << ": the ONNX Runtime check needs at least " << kOrtDefaultPoints
                                         << " points (got " << points << ")";
  const Eigen::MatrixXd X = ort_check_points(box, points);

  // ORT for every ONNX file, in one node process.
  std::vector<fs::path> onnx;
  if (is_onnx(original)) onnx.push_back(original);
  if (is_onnx(written) && written != original) onnx.push_back(written);
  std::vector<Eigen::MatrixXd> ort_out;
  std::string error;
  if (onnx.empty())
    return ::testing::AssertionFailure() << what << ": neither model is ONNX; nothing for ONNX Runtime to run";
  if (!run_ort(onnx, X, ort_out, &error)) return ::testing::AssertionFailure() << what << ": " << error;

  // leo's own evaluation (double) of each model it can read.
  auto leo_eval = [&](const fs::path& p, Eigen::MatrixXd& Y) -> std::string {
    try {
      Network net = read_model(p);
      Y = net.evaluate(X);
      return "";
    } catch (const std::exception& e) {
      return e.what();
    }
  };
  std::vector<Evaluated> originals, writtens;
  std::size_t next = 0;
  if (is_onnx(original)) originals.push_back({"ORT(" + original.filename().string() + ")", ort_out[next++]});
  if (is_onnx(written) && written != original)
    writtens.push_back({"ORT(" + written.filename().string() + ")", ort_out[next++]});
  {
    Eigen::MatrixXd Y;
    if (auto e = leo_eval(original, Y); !e.empty())
      return ::testing::AssertionFailure() << what << ": leo cannot read the original: " << e;
    originals.push_back({"leo(" + original.filename().string() + ")", std::move(Y)});
  }
  if (!is_onnx(written) && written != original) {
    Eigen::MatrixXd Y;
    if (auto e = leo_eval(written, Y); !e.empty())
      return ::testing::AssertionFailure() << what << ": leo cannot read the written model: " << e;
    writtens.push_back({"leo(" + written.filename().string() + ")", std::move(Y)});
  }

  // The pairs compared: every written evaluation against the original's ORT
  // run (or leo's, when the original is not ONNX), and leo against ORT on the
  // original.
  const Evaluated& reference = originals.front();
  std::vector<std::pair<const Evaluated*, const Evaluated*>> pairs;
  const bool same_file = original == written;
  if (!same_file)
    for (const auto& w : writtens) pairs.push_back({&reference, &w});
  if (originals.size() > 1) pairs.push_back({&originals[0], &originals[1]});

  const Eigen::MatrixXd& Y0 = reference.Y;
  const Eigen::Index k = Y0.rows();
  Eigen::VectorXd scale = Y0.cwiseAbs().rowwise().maxCoeff().cwiseMax(1.0);
  for (const auto& [a, b] : pairs) {
    if (a->Y.rows() != b->Y.rows() || a->Y.cols() != b->Y.cols())
      return ::testing::AssertionFailure() << what << ": " << a->name << " gives " << a->Y.rows() << " outputs, "
                                           << b->name << " gives " << b->Y.rows();
    double worst_ratio = -1, worst_dev = 0, worst_tol = 0;
    Eigen::Index wi = 0, wj = 0;
    bool nonfinite = false;
    for (Eigen::Index j = 0; j < X.cols(); ++j)
      for (Eigen::Index i = 0; i < k; ++i) {
        double dev = std::abs(a->Y(i, j) - b->Y(i, j));
        double tol = tolerance_factor * (kOrtAbsoluteTolerance + kOrtRelativeTolerance * scale[i]);
        if (!std::isfinite(dev)) {
          if (a->Y(i, j) == b->Y(i, j)) continue;  // the same infinity
          nonfinite = true;
        }
        double ratio = std::isfinite(dev) ? dev / tol : std::numeric_limits<double>::infinity();
        if (ratio > worst_ratio) {
          worst_ratio = ratio, worst_dev = dev, worst_tol = tol, wi = i, wj = j;
        }
      }
    // LEO_ORT_REPORT=1: print every pair's worst deviation (how the tolerance was measured).
    if (std::getenv("LEO_ORT_REPORT"))
      fmt::print(stderr, "ort check: {}: {} vs {}: max |dy| {:.3g} = {:.3g} of the tolerance (output {}, scale {:.3g})\n",
                 what, a->name, b->name, worst_dev, worst_ratio, wi, scale[wi]);
    if (worst_ratio > 1.0 || nonfinite)
      return ::testing::AssertionFailure()
             << what << ": " << a->name << " and " << b->name << " differ by " << fmt::format("{:.6g}", worst_dev)
             << " > tolerance " << fmt::format("{:.3g}", worst_tol) << " at output " << wi << ", point " << wj
             << " of " << X.cols() << " x = " << point_text(X.col(wj)) << " (" << a->name << ": "
             << fmt::format("{:.9g}", a->Y(wi, wj)) << ", " << b->name << ": " << fmt::format("{:.9g}", b->Y(wi, wj))
             << ")";
  }
  return ::testing::AssertionSuccess();
}

::testing::AssertionResult ort_agrees(const fs::path& original, const fs::path& written, double lo, double hi,
                                      int points) {
  Eigen::Index n = 0;
  try {
    n = read_model(original).inputs();
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << original.string() << ": leo cannot read it: " << e.what();
  }
  return ort_agrees(original, written, Box::uniform(n, lo, hi), points);
}

namespace {
// Splits a command line into words; single quotes group (as the tests quote paths).
std::vector<std::string> words(const std::string& text) {
  std::vector<std::string> out;
  std::string word;
  bool quoted = false, any = false;
  for (char c : text) {
    if (c == '\'') {
      quoted = !quoted;
      any = true;
    } else if (!quoted && std::isspace(static_cast<unsigned char>(c))) {
      if (any) out.push_back(word);
      word.clear();
      any = false;
    } else {
      word += c;
      any = true;
    }
  }
  if (any) out.push_back(word);
  return out;
}
}  // namespace

::testing::AssertionResult ort_agrees(const fs::path& original, const fs::path& written,
                                      const std::string& domain_options, int points) {
  Network net;
  try {
    net = read_model(original);
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << original.string() << ": leo cannot read it: " << e.what();
  }
  const Eigen::Index n = net.inputs();
  Box box = default_box(net).value_or(Box::uniform(n, 0.0, 1.0));  // leo's default domain
  const auto w = words(domain_options);
  try {
    for (std::size_t i = 0; i + 1 < w.size(); ++i) {
      if (w[i] == "--vnnlib") box = read_vnnlib_box(w[i + 1]);
      if (w[i] == "--box-file") box = read_box_file(w[i + 1]);
      if (w[i] == "--box") box = parse_box_spec(w[i + 1], n);
    }
  } catch (const std::exception& e) {
    return ::testing::AssertionFailure() << "domain '" << domain_options << "': " << e.what();
  }
  return ort_agrees(original, written, box, points);
}

::testing::AssertionResult ort_matches_leo(const fs::path& model, const Box& box, int points) {
  return ort_agrees(model, model, box, points);
}

}  // namespace leo::test
