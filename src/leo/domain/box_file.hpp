#pragma once
// Boxes given on the command line or in a text file.
#include <filesystem>
#include <optional>
#include <string>

#include "leo/domain/box.hpp"

namespace leo {

// "LO,HI" (e.g. "0,1", "-1.5,2e-3"): every one of n features in [LO, HI].
// Throws InputError (prefixed with `context`) on a malformed pair, NaN or
// LO > HI.
Box parse_box_spec(const std::string& spec, Eigen::Index n, const std::string& context = "--box");

// One "lo,hi" line per input feature (blank lines and lines starting with '#'
// are skipped; spaces or tabs may separate the two numbers too). Throws
// InputError naming the file and the line.
Box read_box_file(const std::filesystem::path& path);

// The default box of a network when no domain is given, or nullopt:
// - metadata "nnet.input_min" / "nnet.input_max" (one value, or one per
//   feature, separated by commas or spaces): those bounds;
// - an image net (784 input features, or an input shape [., 1, 28, 28]): [0,1];
// `description` receives how the box was chosen.
std::optional<Box> default_box(const class Network& network, std::string* description = nullptr);

}  // namespace leo
