#pragma once
// Numeric CSV files: one sample per line, values separated by commas.
//
// - Spaces, tabs and a trailing carriage return around values are ignored;
//   blank lines are skipped.
// - A UTF-8 byte order mark at the start is skipped.
// - The first non-blank line is a header (and skipped) only if every one of
//   its fields is a name (non-empty and not a number); it must have as many
//   fields as the data rows. Otherwise it is a data row like any other, so a
//   typo or an empty field in it is an error, never a dropped row.
// - Every data row must have the same number of fields; every field must be a
//   finite number ("nan" and "inf" are refused).
// Errors are InputError "FILE: line L, column C: what is wrong".
#include <Eigen/Dense>
#include <filesystem>
#include <ostream>
#include <string>
#include <vector>

namespace leo {

struct CsvData {
  Eigen::MatrixXd rows;             // samples x columns (rows.rows() == 0 never: an empty file is an error)
  std::vector<std::string> header;  // the header fields, empty when there is none
  std::vector<std::size_t> lines;   // the 1-based file line of each data row
};

CsvData read_csv(const std::filesystem::path& file);
// Same, from text in memory; `name` names it in error messages.
CsvData parse_csv(const std::string& text, const std::string& name);

// The data rows of a CSV file (samples x columns).
Eigen::MatrixXd read_csv_matrix(const std::filesystem::path& file);

// Writes one line per row, values separated by commas, each the shortest
// decimal that reads back as the same double.
void write_csv_matrix(std::ostream& out, const Eigen::MatrixXd& rows);

}  // namespace leo
