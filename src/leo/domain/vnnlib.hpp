#pragma once
// The input box of a VNN-LIB property (an SMT-LIB subset, as used by
// VNN-COMP): the bounds `(assert (<= X_i c))`, `(assert (>= X_i c))` (either
// argument order, `<`/`>` read as their closure, `=` as both bounds), nested in
// `and`. Constraints that do not mention an input X_i (output constraints on
// Y_j) are ignored. An `or` of input constraints (e.g. ACAS Xu property 6, a
// union of two boxes) gives the smallest box containing every branch: a
// superset of the property's domain, so a unit proven stable on it is stable on
// the property's domain too.
//
// Every declared input X_0..X_{n-1} must get a lower and an upper bound;
// otherwise, and for any syntax error, an InputError naming the file (and the
// line) is thrown.
#include <filesystem>
#include <string>

#include "leo/domain/box.hpp"

namespace leo {

Box read_vnnlib_box(const std::filesystem::path& path);
// The same from text; `name` is used in error messages.
Box parse_vnnlib_box(const std::string& text, const std::string& name);

}  // namespace leo
