#include <fmt/core.h>

#include <algorithm>
#include <cmath>

#include "leo/data/csv.hpp"
#include "leo/data/dataset.hpp"
#include "leo/data/idx.hpp"
#include "leo/util/error.hpp"

// The file formats of dataset.hpp (IDX, CSV) and the --data dispatch.
namespace leo {
namespace fs = std::filesystem;

namespace {

bool has_digits(const fs::path& dir) {
  std::error_code ec;
  return fs::is_regular_file(dir / "0.json", ec);
}

std::vector<int> labels_from(const std::vector<double>& values, std::size_t count, const std::string& file) {
  std::vector<int> labels(count);
  for (std::size_t i = 0; i < count; ++i) {
    double v = values[i];
    if (!(v >= 0 && v <= 1e6) || v != std::floor(v))
      throw InputError(fmt::format("{}: label {} is {}, not a class number (0, 1, 2, ...)", file, i, v));
    labels[i] = static_cast<int>(v);
  }
  return labels;
}

int classes_of(const std::vector<int>& labels) {
  int m = -1;
  for (int y : labels) m = std::max(m, y);
  return m + 1;
}

Dataset truncate(const Dataset& d, std::size_t max_samples) {
  if (max_samples == 0 || static_cast<std::size_t>(d.samples()) <= max_samples) return d;
  std::vector<std::size_t> idx(max_samples);
  for (std::size_t i = 0; i < max_samples; ++i) idx[i] = i;
  return d.subset(idx, d.name);
}

std::optional<fs::path> find_with_gz(const fs::path& dir, const std::string& stem) {
  std::error_code ec;
  for (const auto& name : {stem, stem + ".gz"})
    if (fs::is_regular_file(dir / name, ec)) return dir / name;
  return std::nullopt;
}

DataSplit load_idx_dir(const fs::path& dir, const std::string& label) {
  auto need = [&](const std::string& stem) {
    auto p = find_with_gz(dir, stem);
    if (!p) throw InputError(fmt::format("{}: no {} (or {}.gz) in this folder", dir.string(), stem, stem));
    return *p;
  };
  DataSplit split;
  const fs::path train_images = need("train-images-idx3-ubyte"), train_labels = need("train-labels-idx1-ubyte");
  const fs::path test_images = need("t10k-images-idx3-ubyte"), test_labels = need("t10k-labels-idx1-ubyte");
  split.train = read_idx_dataset(train_images, train_labels);
  split.train.name = label + " (train)";
  Dataset test = read_idx_dataset(test_images, test_labels);
  test.name = label + " (test)";
  if (test.inputs() != split.train.inputs())
    throw InputError(fmt::format("{}: train images have {} features but test images {}", dir.string(),
                                 split.train.inputs(), test.inputs()));
  test.classes = split.train.classes = std::max(split.train.classes, test.classes);
  split.test = std::move(test);
  split.description = fmt::format("{}: {} train / {} test", label, split.train.samples(), split.test->samples());
  return split;
}

}  // namespace

Dataset read_idx_dataset(const fs::path& images, const fs::path& labels) {
  std::error_code ec;
  for (const auto& p : {images, labels})
    if (!fs::is_regular_file(p, ec)) throw InputError(fmt::format("{}: no such file", p.string()));
  IdxArray img = read_idx(images);
  IdxArray lab = read_idx(labels);
  if (img.dims.size() < 2)
    throw InputError(fmt::format("{}: an images file needs at least 2 dimensions (items, features), it has {}",
                                 images.string(), img.dims.size()));
  if (lab.dims.size() != 1)
    throw InputError(
        fmt::format("{}: a labels file has 1 dimension, this one has {}", labels.string(), lab.dims.size()));
  if (img.items() != lab.items())
    throw InputError(fmt::format("{}: {} images but {} has {} labels", images.string(), img.items(),
                                 labels.string(), lab.items()));
  if (img.items() == 0) throw InputError(fmt::format("{}: no images", images.string()));
  Dataset d;
  d.name = images.string();
  const auto features = static_cast<Eigen::Index>(img.item_size());
  const auto n = static_cast<Eigen::Index>(img.items());
  d.features = Eigen::Map<const Eigen::MatrixXd>(img.values.data(), features, n);
  d.images = img.type == IdxType::u8;
  if (d.images) d.features *= 1.0 / 255.0;
  if (img.dims.size() == 3)
    d.shape = {1, static_cast<std::int64_t>(img.dims[1]), static_cast<std::int64_t>(img.dims[2])};
  else
    for (std::size_t k = 1; k < img.dims.size(); ++k) d.shape.push_back(static_cast<std::int64_t>(img.dims[k]));
  d.labels = labels_from(lab.values, lab.items(), labels.string());
  d.classes = classes_of(d.labels);
  d.validate();
  return d;
}

Dataset read_csv_dataset(const fs::path& file) {
  Eigen::MatrixXd rows = read_csv_matrix(file);
  if (rows.cols() < 2)
    throw InputError(fmt::format("{}: needs a label and at least one feature per line, has {} column(s)",
                                 file.string(), rows.cols()));
  Dataset d;
  d.name = file.string();
  std::vector<double> first(static_cast<std::size_t>(rows.rows()));
  for (Eigen::Index i = 0; i < rows.rows(); ++i) first[static_cast<std::size_t>(i)] = rows(i, 0);
  for (std::size_t i = 0; i < first.size(); ++i)
    if (!(first[i] >= 0 && first[i] <= 1e6) || first[i] != std::floor(first[i]))
      throw InputError(fmt::format("{}: data row {}: the label (first column) is {}, not a class number (0, 1, ...)",
                                   file.string(), i + 1, first[i]));
  d.labels = labels_from(first, first.size(), file.string());
  d.features = rows.rightCols(rows.cols() - 1).transpose();
  d.shape = {d.features.rows()};
  d.classes = classes_of(d.labels);
  d.validate();
  return d;
}

DataSplit load_data(const std::string& spec, const DataOptions& options) {
  DataSplit split;
  std::error_code ec;
  if (spec == "mnist") {
    Dataset all = read_mnist_json(mnist_json_dir());
    all.name = "mnist";
    split = split_dataset(all, options.mnist_train, options.split_seed);
  } else if (spec == "fashion-mnist") {
    fs::path dir = fashion_mnist_dir();
    if (!fs::is_directory(dir, ec))
      throw InputError(fmt::format("fashion-mnist: {} does not exist (install dataset-fashion-mnist: scripts/setup)",
                                   dir.string()));
    split = load_idx_dir(dir, "fashion-mnist");
  } else if (auto comma = spec.find(','); comma != std::string::npos) {
    split.train = read_idx_dataset(spec.substr(0, comma), spec.substr(comma + 1));
    split.description = fmt::format("{}: {} samples", spec, split.train.samples());
  } else {
    fs::path path = spec;
    if (fs::is_directory(path, ec)) {
      if (has_digits(path)) {
        Dataset all = read_mnist_json(path);
        split = split_dataset(all, options.mnist_train, options.split_seed);
      } else {
        split = load_idx_dir(path, path.string());
      }
    } else if (!fs::exists(path, ec)) {
      throw InputError(fmt::format("{}: no such file or folder (--data takes mnist, fashion-mnist, a folder, "
                                   "IMAGES,LABELS, an IDX images file or a CSV file)",
                                   spec));
    } else {
      std::string name = path.filename().string();
      std::string lower = name;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      if (lower.ends_with(".csv") || lower.ends_with(".txt")) {
        split.train = read_csv_dataset(path);
      } else if (name.find("images") != std::string::npos) {
        std::string labels = name;
        labels.replace(labels.find("images"), 6, "labels");
        if (auto k = labels.find("idx3"); k != std::string::npos) labels.replace(k, 4, "idx1");
        split.train = read_idx_dataset(path, path.parent_path() / labels);
      } else {
        throw InputError(fmt::format("{}: cannot tell the format (expected .csv, or an IDX images file named "
                                     "*images*; or give IMAGES,LABELS)",
                                     spec));
      }
      split.description = fmt::format("{}: {} samples", spec, split.train.samples());
    }
  }
  split.train = truncate(split.train, options.max_samples);
  if (split.test) split.test = truncate(*split.test, options.max_samples);
  return split;
}

}  // namespace leo
