#pragma once
// The big-M mixed-integer encoding of ReLU networks (docs/design.md §2), built as a
// plain MilpModel (columns + sparse rows, no solver types in this header) that
// milp/cbc.hpp loads into CBC.
//
// For hidden layer l, unit i, with pre-activation bounds L <= g <= U:
//   g - W_i x^{l-1} = b_i                    (one column g per unit)
//   stably inactive (U <= 0): x is a column fixed at 0, no binary;
//   stably active   (L >= 0): x is the g column itself, no binary;
//   otherwise: x in [0, U + m], z in {0, 1},
//     x >= g,   x <= g + m - L (1 - z),   x <= U z + m.
// With m = 0 this is the usual big-M encoding (z = 1 <=> g >= 0). With a
// relaxation m > 0 it is a slightly larger set that still contains every true
// execution of the network, and in which z = 1 is feasible whenever g >= -m and
// z = 0 whenever g <= m. So "z_i = 1 is infeasible" proves max g_i < -m, and
// "z_i = 0 is infeasible" proves min g_i > m: the margin that makes a solver's
// claim robust to its tolerances (see stability/exact.hpp).
//
// Several networks can be encoded over the SAME input columns (e.g. two
// networks for `leo verify --exact`): call add_input_columns once, then
// encode_relu_network for each network with those columns.
#include <cstddef>
#include <limits>
#include <vector>

#include "leo/bounds/bounds.hpp"
#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"

namespace leo {

// A MILP under construction: minimise objective . v subject to
// row_lower <= A v <= row_upper, col_lower <= v <= col_upper, v_j integer
// where integer[j].
class MilpModel {
 public:
  static constexpr double infinity = std::numeric_limits<double>::infinity();

  // `priority` matters for integer columns only: CBC branches on lower values first.
  int add_column(double lower, double upper, double objective = 0.0, bool integer = false, int priority = 1000);
  // Adds the row lower <= sum values[k] * v[columns[k]] <= upper. Duplicate
  // columns are summed; zero coefficients are dropped.
  int add_row(const std::vector<int>& columns, const std::vector<double>& values, double lower, double upper);

  int columns() const { return static_cast<int>(col_lower.size()); }
  int rows() const { return static_cast<int>(row_lower.size()); }
  int integers() const;

  std::vector<double> col_lower, col_upper, objective;
  std::vector<char> integer;
  std::vector<int> priority;  // branching priority (integer columns; lower first)
  // Rows in compressed sparse row form.
  std::vector<int> row_starts{0};
  std::vector<int> row_columns;
  std::vector<double> row_values;
  std::vector<double> row_lower, row_upper;
};

// Columns of one encoded layer, one entry per unit.
struct LayerEncoding {
  std::vector<int> g;  // pre-activation
  std::vector<int> x;  // post-activation (== g for stably active units and for the output layer;
                       // a column fixed at 0 for stably inactive units)
  std::vector<int> z;  // binary (z = 1: active), -1 for units without one (stable, or output layer)
};

struct ReluEncodingOptions {
  // The relaxation m of the header comment, per unit: m = relax_absolute +
  // relax_relative * max(|L|, |U|). Both 0: the exact big-M encoding.
  double relax_absolute = 0.0;
  double relax_relative = 0.0;
};

// One continuous column per input feature, bounded by the box.
std::vector<int> add_input_columns(MilpModel& model, const Box& box);

// Encodes layers [0, upto) of `net`; binaries of layer l get branching priority
// l + 1 (earlier layers first: fixing them tightens everything after) over the given input columns; layers that
// are hidden get the ReLU encoding, the output layer (if upto == net.depth())
// only its g columns. `bounds` holds one Bounds per layer (at least `upto`),
// finite wherever a unit needs a binary. Returns one LayerEncoding per layer.
// Throws leo::Error (internal) on missing/NaN/infinite bounds where needed or
// lower > upper.
std::vector<LayerEncoding> encode_relu_network(MilpModel& model, const Network& net, const NetworkBounds& bounds,
                                               const std::vector<int>& inputs, std::size_t upto,
                                               const ReluEncodingOptions& options = {});


}  // namespace leo
