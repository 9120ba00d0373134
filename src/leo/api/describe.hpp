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

}  // namespace leo::api
