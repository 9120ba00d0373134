// CSV and IDX loaders: known contents, exact round trips, bad files.
#include <fmt/core.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <sstream>

#include "leo/data/csv.hpp"
#include "leo/data/idx.hpp"
#include "leo/util/error.hpp"
#include "support.hpp"

using namespace leo;
namespace fs = std::filesystem;

namespace {

std::string csv_error(const std::string& text) {
  try {
    parse_csv(text, "in.csv");
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

std::vector<unsigned char> be32(std::uint32_t v) {
  return {static_cast<unsigned char>(v >> 24), static_cast<unsigned char>(v >> 16), static_cast<unsigned char>(v >> 8),
          static_cast<unsigned char>(v)};
}

std::vector<unsigned char> idx_header(unsigned char type, const std::vector<std::uint32_t>& dims) {
  std::vector<unsigned char> b = {0, 0, type, static_cast<unsigned char>(dims.size())};
  for (auto d : dims) {
    auto e = be32(d);
    b.insert(b.end(), e.begin(), e.end());
  }
  return b;
}

void write_bytes(const fs::path& p, const std::vector<unsigned char>& bytes) {
  std::ofstream out(p, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

std::string idx_error(const std::vector<unsigned char>& bytes) {
  try {
    parse_idx(bytes, "in.idx");
  } catch (const InputError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

TEST(Csv, PlainAndWithHeader) {
  CsvData a = parse_csv("1,2,3\n4, 5 ,6e-1\n", "a.csv");
  EXPECT_TRUE(a.header.empty());
  EXPECT_EQ(a.rows, (Eigen::MatrixXd{{1, 2, 3}, {4, 5, 0.6}}));
  EXPECT_EQ(a.lines, (std::vector<std::size_t>{1, 2}));

  CsvData b = parse_csv("x0,x1\r\n\r\n-1,+2\r\n3,4\r\n\n", "b.csv");
  EXPECT_EQ(b.header, (std::vector<std::string>{"x0", "x1"}));
  EXPECT_EQ(b.rows, (Eigen::MatrixXd{{-1, 2}, {3, 4}}));
  EXPECT_EQ(b.lines, (std::vector<std::size_t>{3, 4}));

  CsvData c = parse_csv("7", "c.csv");
  EXPECT_EQ(c.rows, (Eigen::MatrixXd{{7}}));
}

TEST(Csv, RoundTripIsExact) {
  std::mt19937_64 rng(3);
  std::normal_distribution<double> normal;
  Eigen::MatrixXd m(20, 7);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng) * std::pow(10.0, static_cast<int>(i % 40) - 20);
  m(0, 0) = 0.1;
  m(0, 1) = -0.0;
  m(0, 2) = 5e-324;
  m(0, 3) = 1.7976931348623157e308;
  std::ostringstream out;
  write_csv_matrix(out, m);
  Eigen::MatrixXd back = parse_csv(out.str(), "rt.csv").rows;
  ASSERT_EQ(back.rows(), m.rows());
  ASSERT_EQ(back.cols(), m.cols());
  for (Eigen::Index i = 0; i < m.size(); ++i)
    EXPECT_EQ(std::bit_cast<std::uint64_t>(back.data()[i]), std::bit_cast<std::uint64_t>(m.data()[i]));
  EXPECT_EQ(out.str().substr(0, 4), "0.1,");
}

TEST(Csv, FileReading) {
  fs::path dir = test::temp_dir("csv");
  {
    std::ofstream(dir / "in.csv") << "a,b\n1,2\n3,4\n";
  }
  EXPECT_EQ(read_csv_matrix(dir / "in.csv"), (Eigen::MatrixXd{{1, 2}, {3, 4}}));
  try {
    read_csv_matrix(dir / "missing.csv");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), (dir / "missing.csv").string() + ": no such file");
  }
  EXPECT_THROW(read_csv_matrix(dir), InputError);
  fs::remove_all(dir);
}

TEST(Csv, BadFilesNameLineAndColumn) {
  struct Case {
    std::string text, expected;
  };
  std::vector<Case> cases = {
      {"", "in.csv: no data rows"},
      {"\n\n", "in.csv: no data rows"},
      {"a,b\n", "in.csv: no data rows (only a header line)"},
      {"1,2\n3\n", "in.csv: line 2 has 1 columns, expected 2"},
      {"1,2\n\n3,4,5\n", "in.csv: line 3 has 3 columns, expected 2"},
      {"a,b\n1,2,3\n", "in.csv: line 2 has 3 columns but the header (line 1) has 2"},
      {"1,2\n3,x\n", "in.csv: line 2, column 2: 'x' is not a number"},
      {"1,2\n3,\n", "in.csv: line 2, column 2: empty field"},
      {"1,2\nnan,1\n", "in.csv: line 2, column 1: 'nan' is not a finite number"},
      {"1,2\n1,-inf\n", "in.csv: line 2, column 2: '-inf' is not a finite number"},
      {"1,2\n1,1e999\n", "in.csv: line 2, column 2: '1e999' is not a number"},
      {"1,2\n1;2\n", "in.csv: line 2 has 1 columns"},
  };
  for (const auto& c : cases) {
    std::string message = csv_error(c.text);
    EXPECT_NE(message.find(c.expected), std::string::npos) << c.text << "\n -> " << message;
    EXPECT_EQ(message.find('\n'), std::string::npos);
  }
}

// Issue 16 section 4: a first row is dropped as a header only when every
// field is a name; a BOM is skipped; a bad first data row is an error.
TEST(Csv, FirstRowIsAHeaderOnlyWhenEveryFieldIsAName) {
  const fs::path dir = test::fixtures_dir() / "robustness" / "csv";
  CsvData bom = read_csv(dir / "bom.csv");
  EXPECT_TRUE(bom.header.empty());
  ASSERT_EQ(bom.rows.rows(), 2);
  EXPECT_EQ(bom.rows.row(0), (Eigen::RowVector3d{0.1, 0.2, 0.3}));
  EXPECT_EQ(bom.lines.front(), 1u);
  auto error_of_file = [](const fs::path& p) -> std::string {
    try {
      read_csv(p);
    } catch (const InputError& e) {
      return e.what();
    }
    return "(no error)";
  };
  EXPECT_EQ(error_of_file(dir / "emptyfirst.csv"),
            (dir / "emptyfirst.csv").string() + ": line 1, column 2: empty field, expected a number");
  EXPECT_EQ(error_of_file(dir / "typo_first.csv"),
            (dir / "typo_first.csv").string() + ": line 1, column 2: 'x' is not a number");

  EXPECT_EQ(csv_error("a,,c\n1,2,3\n"), "in.csv: line 1, column 1: 'a' is not a number");
  EXPECT_EQ(csv_error("x0,1\n1,2\n"), "in.csv: line 1, column 1: 'x0' is not a number");
  EXPECT_EQ(csv_error("\xEF\xBB\xBF"), "in.csv: no data rows");
  // A BOM before a header, and names that look almost like numbers.
  CsvData h = parse_csv("\xEF\xBB\xBFx0,e1,1e\n1,2,3\n", "h.csv");
  EXPECT_EQ(h.header, (std::vector<std::string>{"x0", "e1", "1e"}));
  EXPECT_EQ(h.rows, (Eigen::MatrixXd{{1, 2, 3}}));
  // A BOM is only skipped at the start of the file.
  EXPECT_EQ(csv_error("1,2\n\xEF\xBB\xBF" "3,4\n").rfind("in.csv: line 2, column 1: ", 0), 0u);
  // Control characters of a quoted field are escaped.
  EXPECT_EQ(csv_error("1,2\n3,\x1b[2J\n"), "in.csv: line 2, column 2: '\\x1b[2J' is not a number");
}

TEST(Idx, EveryElementType) {
  struct Case {
    unsigned char type;
    std::vector<unsigned char> data;
    std::vector<double> values;
  };
  std::vector<Case> cases = {
      {0x08, {0, 7, 255, 128}, {0, 7, 255, 128}},
      {0x09, {0, 7, 255, 128}, {0, 7, -1, -128}},
      {0x0B, {0x00, 0x01, 0xff, 0xfe, 0x80, 0x00, 0x7f, 0xff}, {1, -2, -32768, 32767}},
      {0x0C,
       {0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x80, 0, 0, 0, 0x00, 0x01, 0x00, 0x00},
       {1, -1, -2147483648.0, 65536}},
      {0x0D, {0x3f, 0x80, 0, 0, 0xc0, 0x20, 0, 0, 0x3d, 0xcc, 0xcc, 0xcd, 0, 0, 0, 0}, {1, -2.5, 0.1f, 0}},
      {0x0E,
       {0x3f, 0xf0, 0, 0, 0, 0, 0, 0, 0xbf, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44,
        0x2d, 0x18, 0, 0, 0, 0, 0, 0, 0, 0},
       {1, -0.1, 3.141592653589793, 0}},
  };
  for (const auto& c : cases) {
    auto bytes = idx_header(c.type, {2, 2});
    bytes.insert(bytes.end(), c.data.begin(), c.data.end());
    IdxArray a = parse_idx(bytes, "t.idx");
    EXPECT_EQ(a.dims, (std::vector<std::size_t>{2, 2}));
    EXPECT_EQ(a.items(), 2u);
    EXPECT_EQ(a.item_size(), 2u);
    EXPECT_EQ(a.values, c.values) << "type " << int(c.type);
    IdxArray first = parse_idx(bytes, "t.idx", 1);
    EXPECT_EQ(first.dims, (std::vector<std::size_t>{1, 2}));
    EXPECT_EQ(first.values, std::vector<double>(c.values.begin(), c.values.begin() + 2));
  }
}

TEST(Idx, PlainAndGzipFiles) {
  fs::path dir = test::temp_dir("idx");
  auto bytes = idx_header(0x08, {3, 2, 2});
  for (int i = 0; i < 12; ++i) bytes.push_back(static_cast<unsigned char>(i * 20));
  write_bytes(dir / "a.idx", bytes);
  ASSERT_EQ(std::system(fmt::format("gzip -c '{}' > '{}'", (dir / "a.idx").string(), (dir / "a.idx.gz").string())
                            .c_str()),
            0);
  IdxArray plain = read_idx(dir / "a.idx");
  IdxArray gz = read_idx(dir / "a.idx.gz");
  EXPECT_EQ(plain.dims, (std::vector<std::size_t>{3, 2, 2}));
  EXPECT_EQ(gz.dims, plain.dims);
  EXPECT_EQ(gz.values, plain.values);
  EXPECT_EQ(plain.values[11], 220);

  // A gzip file cut short.
  std::ifstream in(dir / "a.idx.gz", std::ios::binary);
  std::vector<unsigned char> gzbytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  write_bytes(dir / "cut.gz", std::vector<unsigned char>(gzbytes.begin(), gzbytes.begin() + gzbytes.size() / 2));
  try {
    read_idx(dir / "cut.gz");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.gz: truncated gzip data"), std::string::npos) << e.what();
  }
  // Corrupt gzip data.
  auto corrupt = gzbytes;
  for (std::size_t i = 10; i < corrupt.size(); ++i) corrupt[i] ^= 0x5a;
  write_bytes(dir / "bad.gz", corrupt);
  EXPECT_THROW(read_idx(dir / "bad.gz"), InputError);
  EXPECT_THROW(read_idx(dir / "missing.idx"), InputError);
  fs::remove_all(dir);
}

TEST(Idx, BadFiles) {
  auto good = idx_header(0x08, {2, 3});
  good.resize(good.size() + 6, 1);
  EXPECT_EQ(idx_error(good), "(no error)");
  EXPECT_NE(idx_error({0, 0}).find("too short"), std::string::npos);
  EXPECT_NE(idx_error({'P', 'K', 3, 4, 0, 0, 0, 0}).find("in.idx: not an IDX file (magic 50 4b"), std::string::npos);
  EXPECT_NE(idx_error({0, 0, 0x07, 1, 0, 0, 0, 0}).find("unknown IDX element type 0x07"), std::string::npos);
  EXPECT_NE(idx_error({0, 0, 0x08, 0}).find("0 dimensions"), std::string::npos);
  EXPECT_NE(idx_error({0, 0, 0x08, 3, 0, 0, 0, 1}).find("truncated IDX header"), std::string::npos);
  auto cut = good;
  cut.pop_back();
  EXPECT_NE(idx_error(cut).find("in.idx: truncated IDX data: the header (2x3) needs 6 bytes of values, the file has 5"),
            std::string::npos)
      << idx_error(cut);
  auto extra = good;
  extra.push_back(0);
  EXPECT_NE(idx_error(extra).find("1 bytes of unexpected data"), std::string::npos);
  // Dimensions whose product overflows 64 bits.
  auto huge = idx_header(0x0E, {0xffffffff, 0xffffffff, 0xffffffff});
  EXPECT_NE(idx_error(huge).find("more than 2^64"), std::string::npos) << idx_error(huge);
}

TEST(Idx, FashionMnistTestSet) {
  fs::path images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  fs::path labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  if (!fs::exists(images) || !fs::exists(labels)) GTEST_SKIP() << "dataset-fashion-mnist not installed";
  IdxArray x = read_idx(images, 100);
  IdxArray y = read_idx(labels);
  EXPECT_EQ(x.type, IdxType::u8);
  EXPECT_EQ(x.dims, (std::vector<std::size_t>{100, 28, 28}));
  EXPECT_EQ(x.values.size(), 100u * 784u);
  EXPECT_EQ(y.dims, (std::vector<std::size_t>{10000}));
  for (double v : y.values) ASSERT_TRUE(v >= 0 && v <= 9);
  double max = 0;
  for (double v : x.values) max = std::max(max, v);
  EXPECT_EQ(max, 255);
}
