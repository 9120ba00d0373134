#include "leo/data/csv.hpp"

#include <fmt/core.h>

#include <cmath>
#include <fstream>
#include <optional>
#include <sstream>
#include <string_view>

#include "leo/util/error.hpp"
#include "leo/util/printable.hpp"
#include "leo/util/numbers.hpp"

namespace leo {
namespace fs = std::filesystem;

namespace {

void split(std::string_view line, std::vector<std::string_view>& fields) {
  fields.clear();
  std::size_t start = 0;
  while (true) {
    std::size_t comma = line.find(',', start);
    if (comma == std::string_view::npos) {
      fields.push_back(trim(line.substr(start)));
      return;
    }
    fields.push_back(trim(line.substr(start, comma - start)));
    start = comma + 1;
  }
}

std::string quote(std::string_view field) {
  if (field.size() > 40) return fmt::format("'{}...'", printable(field.substr(0, 40)));
  return fmt::format("'{}'", printable(field));
}

}  // namespace

CsvData parse_csv(const std::string& text, const std::string& name) {
  CsvData data;
  std::string_view all(text);
  // A UTF-8 byte order mark (spreadsheets write one) is not part of the data.
  if (all.substr(0, 3) == "\xEF\xBB\xBF") all.remove_prefix(3);
  std::vector<std::string_view> fields;
  std::vector<double> values;
  std::size_t columns = 0, header_line = 0;
  bool first = true;
  std::size_t number = 0, start = 0;
  while (start < all.size()) {
    std::size_t end = all.find('\n', start);
    if (end == std::string_view::npos) end = all.size();
    std::string_view line = all.substr(start, end - start);
    start = end + 1;
    ++number;
    if (trim(line).empty()) continue;
    split(line, fields);
    if (first) {
      first = false;
      columns = fields.size();
      // A header only when every field is a name: non-empty and not a number.
      // A first row with a number among its fields is data, checked as such.
      bool names = true;
      for (auto f : fields) names = names && !f.empty() && !parse_double(f).has_value();
      if (names) {
        for (auto f : fields) data.header.emplace_back(f);
        header_line = number;
        continue;
      }
    }
    if (fields.size() != columns) {
      if (header_line != 0 && data.lines.empty())
        throw InputError(fmt::format("{}: line {} has {} columns but the header (line {}) has {}", name, number,
                                     fields.size(), header_line, columns));
      throw InputError(fmt::format("{}: line {} has {} columns, expected {} (as line {})", name, number, fields.size(),
                                   columns, data.lines.empty() ? number : data.lines.front()));
    }
    for (std::size_t c = 0; c < fields.size(); ++c) {
      auto v = parse_double(fields[c]);
      if (!v) {
        if (fields[c].empty())
          throw InputError(fmt::format("{}: line {}, column {}: empty field, expected a number", name, number, c + 1));
        throw InputError(fmt::format("{}: line {}, column {}: {} is not a number", name, number, c + 1,
                                     quote(fields[c])));
      }
      if (!std::isfinite(*v))
        throw InputError(fmt::format("{}: line {}, column {}: {} is not a finite number", name, number, c + 1,
                                     quote(fields[c])));
      values.push_back(*v);
    }
    data.lines.push_back(number);
  }
  if (data.lines.empty())
    throw InputError(fmt::format("{}: no data rows{}", name, header_line ? " (only a header line)" : ""));
  const auto n = static_cast<Eigen::Index>(data.lines.size()), m = static_cast<Eigen::Index>(columns);
  data.rows = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(values.data(),
                                                                                                        n, m);
  return data;
}

CsvData read_csv(const fs::path& file) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw InputError(fmt::format("{}: no such file", file.string()));
  if (fs::is_directory(file, ec)) throw InputError(fmt::format("{}: is a folder, not a CSV file", file.string()));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open for reading", file.string()));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError(fmt::format("{}: read error", file.string()));
  return parse_csv(text.str(), file.string());
}

Eigen::MatrixXd read_csv_matrix(const fs::path& file) { return read_csv(file).rows; }

void write_csv_matrix(std::ostream& out, const Eigen::MatrixXd& rows) {
  std::string line;
  for (Eigen::Index i = 0; i < rows.rows(); ++i) {
    line.clear();
    for (Eigen::Index j = 0; j < rows.cols(); ++j) {
      if (j) line += ',';
      line += format_double(rows(i, j));
    }
    line += '\n';
    out << line;
  }
}

}  // namespace leo
