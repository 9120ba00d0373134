#pragma once
// The human-readable summary of an Analysis (`leo analyze` on stdout): per
// hidden layer, units, stably active / inactive, unstable, undecided, and how
// many units each stage decided; then the time per stage and the total.
#include <string>

#include "leo/stability/verdict.hpp"

namespace leo {

std::string format_table(const Analysis& analysis);

}  // namespace leo
