#include "leo/domain/probes.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "leo/util/error.hpp"

#include "leo/data/csv.hpp"
#include "leo/data/dataset.hpp"
#include "leo/data/idx.hpp"

namespace leo {

void check_points_in_box(const Eigen::MatrixXd& points, const Box& box, const std::string& context) {
  if (points.rows() != box.size())
    throw InputError(fmt::format("{}: the points have {} features but the domain has {}", context, points.rows(),
                                 box.size()));
  for (Eigen::Index j = 0; j < points.cols(); ++j)
    for (Eigen::Index i = 0; i < points.rows(); ++i) {
      double v = points(i, j);
      if (!(v >= box.lower[i] && v <= box.upper[i]))
        throw InputError(fmt::format("{}: point {} is outside the box: feature {} is {} but the box allows [{}, {}]",
                                     context, j, i, v, box.lower[i], box.upper[i]));
    }
}

namespace {

// Every image (train and test) of a named data set, as columns.
Eigen::MatrixXd data_set_points(const std::string& name) {
  DataSplit split = load_data(name);
  const Eigen::Index test = split.test ? split.test->samples() : 0;
  Eigen::MatrixXd points(split.train.inputs(), split.train.samples() + test);
  points.leftCols(split.train.samples()) = split.train.features;
  if (split.test) points.rightCols(test) = split.test->features;
  return points;
}

}  // namespace

Eigen::MatrixXd read_probe_points(const std::filesystem::path& path, const Box& box) {
  if ((path == "mnist" || path == "fashion-mnist") && !std::filesystem::exists(path)) {
    Eigen::MatrixXd points = data_set_points(path.string());
    check_points_in_box(points, box, path.string());
    return points;
  }
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  Eigen::MatrixXd points;
  if (ext == ".csv" || ext == ".txt") {
    points = read_csv_matrix(path).transpose();
  } else {
    IdxArray idx = read_idx(path);
    const auto items = static_cast<Eigen::Index>(idx.items());
    const auto size = static_cast<Eigen::Index>(idx.item_size());
    // Row-major items -> one column per item.
    points = Eigen::Map<const Eigen::MatrixXd>(idx.values.data(), size, items);
    if (idx.type == IdxType::u8) points /= 255.0;  // pixel bytes -> [0, 1]
  }
  check_points_in_box(points, box, path.string());
  return points;
}

}  // namespace leo
