#pragma once
// Probe points of a domain read from a data file (`--data`).
#include <filesystem>

#include "leo/domain/box.hpp"

namespace leo {

// Reads the points of a CSV file (one sample per row, every column a feature)
// (extension .csv or .txt) or an IDX file (any other name, plain or gzip; one
// sample per item, flattened; unsigned-byte pixels are divided by 255 to lie
// in [0,1]), and returns them as columns (features x N). The names `mnist` and
// `fashion-mnist` (when no such file exists) stand for every image, train and
// test, of that data set as `leo train --data` loads it.
// Throws InputError when the file cannot be read, the feature count differs
// from the box's, or a point lies outside the box (naming the first such point
// and feature).
Eigen::MatrixXd read_probe_points(const std::filesystem::path& path, const Box& box);

// Checks that every column of `points` lies in the box; throws InputError
// prefixed with `context` otherwise.
void check_points_in_box(const Eigen::MatrixXd& points, const Box& box, const std::string& context);

}  // namespace leo
