#include "leo/domain/probes.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <string>

#include "leo/util/error.hpp"

#if __has_include("leo/data/csv.hpp")
#include "leo/data/csv.hpp"
#define LEO_HAVE_CSV 1
#else
#define LEO_HAVE_CSV 0
#endif

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

Eigen::MatrixXd read_probe_points(const std::filesystem::path& path, const Box& box) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  Eigen::MatrixXd points;
  if (ext == ".csv" || ext == ".txt") {
#if LEO_HAVE_CSV
    points = read_csv_matrix(path).transpose();
#else
    throw InputError(fmt::format("{}: reading CSV data is not available in this build", path.string()));
#endif
  } else {
    throw InputError(fmt::format("{}: unknown data format (expected .csv or an IDX file)", path.string()));
  }
  check_points_in_box(points, box, path.string());
  return points;
}

}  // namespace leo
