#pragma once
// What a model is made of, as `leo info --json` and the Python `Model.info`
// report it: one description for every front end.
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "leo/network/network.hpp"

namespace leo::api {

// The domain a compressed model was made for: the leo.domain.lower / .upper
// metadata (JSON arrays written by compress) and the leo.domain text.
struct StoredDomain {
  std::vector<double> lower, upper;
  std::string description;
};

// The stored domain, when both bounds are present, parse, and agree in length.
std::optional<StoredDomain> stored_domain(const Network& network);

// Interface, sizes, parameters, the .nnet input box and the stored domain,
// and the metadata. The file and its format are the caller's to add.
nlohmann::json describe(const Network& network);

// Every layer's kind and shapes: {"kind": "dense"|"conv", "inputs",
// "outputs", "carry_units" (conv: units carried for a skip connection, not
// model units), "segments_in"/"segments_out" ([c,h,w] each, carry flag),
// "blocks": [{"in", "out", "ops": [{"op": "Conv"|"AveragePool"|"ChannelAffine"|"Transpose",
// "name", "input": [c,h,w], "output": [c,h,w], "kernel", "stride", "pads",
// "dilation", "group"}]}]}.
nlohmann::json describe_layers(const Network& network);

// Units of a layer that carry a skip connection's value (not model units).
std::int64_t carried_units(const AffineLayer& layer);

// One line per layer for `leo info`'s table: "conv 3x32x32 -> 8x16x16: Conv
// 8x3x4x4 s2 p1,1,1,1" or "dense 1024 -> 100".
std::vector<std::string> layer_lines(const Network& network);

}  // namespace leo::api
