#include "leo/domain/box.hpp"

#include <fmt/core.h>

#include <cmath>

#include "leo/util/error.hpp"

namespace leo {

Box Box::uniform(Eigen::Index n, double lo, double hi) {
  return Box(Eigen::VectorXd::Constant(n, lo), Eigen::VectorXd::Constant(n, hi));
}

bool Box::contains(const Eigen::VectorXd& x, double tolerance) const {
  if (x.size() != size()) return false;
  for (Eigen::Index i = 0; i < x.size(); ++i)
    if (!(x[i] >= lower[i] - tolerance && x[i] <= upper[i] + tolerance)) return false;
  return true;
}

void Box::validate(Eigen::Index n, const std::string& context) const {
  if (lower.size() != upper.size())
    throw InputError(fmt::format("{}: {} lower bounds but {} upper bounds", context, lower.size(), upper.size()));
  if (lower.size() != n)
    throw InputError(fmt::format("{}: the box has {} features but the network takes {} inputs", context,
                                 lower.size(), n));
  for (Eigen::Index i = 0; i < n; ++i) {
    if (std::isnan(lower[i]) || std::isnan(upper[i]))
      throw InputError(fmt::format("{}: bound of feature {} is NaN", context, i));
    if (lower[i] > upper[i])
      throw InputError(fmt::format("{}: the box is empty: feature {} has lo {} > hi {}", context, i, lower[i],
                                   upper[i]));
    if (!std::isfinite(lower[i]) || !std::isfinite(upper[i]))
      throw InputError(fmt::format("{}: bound of feature {} is infinite; leo needs a bounded box", context, i));
  }
}

}  // namespace leo
