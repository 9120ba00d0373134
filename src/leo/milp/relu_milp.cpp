#include "leo/milp/relu_milp.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "leo/util/error.hpp"

namespace leo {

int MilpModel::add_column(double lower, double upper, double obj, bool is_integer, int prio) {
  col_lower.push_back(lower);
  col_upper.push_back(upper);
  objective.push_back(obj);
  integer.push_back(is_integer ? 1 : 0);
  priority.push_back(prio);
  return columns() - 1;
}

int MilpModel::add_row(const std::vector<int>& cols, const std::vector<double>& values, double lower, double upper) {
  if (cols.size() != values.size()) throw Error(ExitCode::internal, "internal error: MilpModel::add_row: sizes differ");
  std::map<int, double> merged;
  for (std::size_t k = 0; k < cols.size(); ++k) {
    if (cols[k] < 0 || cols[k] >= columns())
      throw Error(ExitCode::internal, fmt::format("internal error: MilpModel::add_row: no column {}", cols[k]));
    merged[cols[k]] += values[k];
  }
  for (const auto& [c, v] : merged) {
    if (v == 0.0) continue;
    row_columns.push_back(c);
    row_values.push_back(v);
  }
  row_starts.push_back(static_cast<int>(row_columns.size()));
  row_lower.push_back(lower);
  row_upper.push_back(upper);
  return rows() - 1;
}

int MilpModel::integers() const {
  int n = 0;
  for (char c : integer) n += c ? 1 : 0;
  return n;
}

std::vector<int> add_input_columns(MilpModel& model, const Box& box) {
  std::vector<int> cols;
  for (Eigen::Index j = 0; j < box.size(); ++j) {
    if (!std::isfinite(box.lower[j]) || !std::isfinite(box.upper[j]) || box.lower[j] > box.upper[j])
      throw Error(ExitCode::internal, fmt::format("internal error: milp: input box feature {} is not a finite interval", j));
    cols.push_back(model.add_column(box.lower[j], box.upper[j]));
  }
  return cols;
}

std::vector<LayerEncoding> encode_relu_network(MilpModel& model, const Network& net, const NetworkBounds& bounds,
                                               const std::vector<int>& inputs, std::size_t upto,
                                               const ReluEncodingOptions& options) {
  if (upto > net.depth()) throw Error(ExitCode::internal, "internal error: encode_relu_network: upto exceeds the network depth");
  if (bounds.size() < upto) throw Error(ExitCode::internal, "internal error: encode_relu_network: bounds for too few layers");
  if (static_cast<Eigen::Index>(inputs.size()) != net.inputs())
    throw Error(ExitCode::internal, "internal error: encode_relu_network: wrong number of input columns");
  std::vector<LayerEncoding> layers;
  std::vector<int> previous = inputs;
  std::vector<int> row_cols;
  std::vector<double> row_vals;
  for (std::size_t l = 0; l < upto; ++l) {
    const AffineLayer& layer = net.layers[l];
    const Bounds& b = bounds[l];
    const bool hidden = l + 1 < net.depth();
    if (b.lower.size() != layer.outputs() || b.upper.size() != layer.outputs())
      throw Error(ExitCode::internal, fmt::format("internal error: encode_relu_network: bounds of layer {} have the wrong size", l));
    LayerEncoding enc;
    for (Eigen::Index i = 0; i < layer.outputs(); ++i) {
      double lo = b.lower[i], hi = b.upper[i];
      if (std::isnan(lo) || std::isnan(hi) || lo > hi)
        throw Error(ExitCode::internal,
                    fmt::format("encode_relu_network: layer {} unit {} has bounds [{}, {}]", l, i, lo, hi));
      // g = W_i x + b_i
      int g = model.add_column(lo, hi);
      row_cols.assign(1, g);
      row_vals.assign(1, 1.0);
      for (const auto& [j, w] : layer.row(i)) {  // sparse for a convolution
        if (w == 0.0) continue;
        row_cols.push_back(previous[static_cast<std::size_t>(j)]);
        row_vals.push_back(-w);
      }
      model.add_row(row_cols, row_vals, layer.bias[i], layer.bias[i]);
      enc.g.push_back(g);
      if (!hidden) {
        enc.x.push_back(g);
        enc.z.push_back(-1);
        continue;
      }
      if (hi <= 0.0) {  // stably inactive
        enc.x.push_back(model.add_column(0.0, 0.0));
        enc.z.push_back(-1);
      } else if (lo >= 0.0) {  // stably active
        enc.x.push_back(g);
        enc.z.push_back(-1);
      } else {
        if (!std::isfinite(lo) || !std::isfinite(hi))
          throw Error(ExitCode::internal,
                      fmt::format("encode_relu_network: layer {} unit {} needs finite bounds for big-M", l, i));
        double m = options.relax_absolute + options.relax_relative * std::max(-lo, hi);
        int x = model.add_column(0.0, hi + m);
        int z = model.add_column(0.0, 1.0, 0.0, true, static_cast<int>(l) + 1);
        model.add_row({x, g}, {1.0, -1.0}, 0.0, MilpModel::infinity);           // x >= g
        model.add_row({x, g, z}, {1.0, -1.0, -lo}, -MilpModel::infinity, m - lo);  // x <= g + m - L(1-z)
        model.add_row({x, z}, {1.0, -hi}, -MilpModel::infinity, m);              // x <= U z + m
        enc.x.push_back(x);
        enc.z.push_back(z);
      }
    }
    previous = enc.x;
    layers.push_back(std::move(enc));
  }
  return layers;
}

}  // namespace leo
