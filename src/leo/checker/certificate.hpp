#pragma once
// The certificate of a stability analysis (and of a compression), version 2:
// the data structure, its JSON form, and the digests that tie it to one model
// and one domain. The format, every field and the proof rule behind each kind
// of evidence are documented in docs/certificates.md; the checker
// (checker/check.hpp) re-derives every claim from it.
//
// A certificate is a replay: an ordered list of steps, each of which tightens
// the certified pre-activation bounds of the hidden units by one rule, then the
// verdicts, which must follow from the final certified bounds (stable units)
// or from witnesses (unstable units). Numbers are JSON numbers with 17
// significant digits, which read back to the same double.
//
// This folder includes only util/, network/ and domain/ (docs/layers.md): the
// checker shares no code with the analysis.
#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "leo/domain/box.hpp"
#include "leo/network/network.hpp"

namespace leo::cert {

inline constexpr const char* kFormat = "leo-certificate";
inline constexpr int kVersion = 2;

// A sparse vector: the nonzero entries only, by index.
struct SparseVector {
  std::vector<std::int64_t> index;
  std::vector<double> value;
  bool operator==(const SparseVector&) const = default;
};
SparseVector sparse(const Eigen::VectorXd& dense);

enum class Side { upper, lower };  // upper: max g <= bound; lower: min g >= bound

// Step "propagate": interval propagation through every hidden layer and, with
// crown, CROWN back-substitution (adaptive slopes) of every unit whose sign is
// not settled. Carries no numbers: the checker computes them.
struct Propagate {
  bool crown = true;
};

// Step "linear": for each claim, multipliers nu_j (one sparse vector per layer
// j < layer) of the weak-duality bound of docs/certificates.md §3.2; the
// checker re-evaluates the bound with outward rounding and requires it to be
// at least as tight as `bound`.
struct LinearClaim {
  int layer = 0;
  int unit = 0;
  Side side = Side::upper;
  double bound = 0;
  std::vector<SparseVector> nu;  // nu[j] over the units of layer j, j < layer
};
struct Linear {
  std::vector<LinearClaim> claims;
};

// Step "input_split": a tree of bisections of the domain's box, in preorder.
// A node with dim >= 0 splits its box at `point` on feature dim: its first
// child is the lower part, the second the upper part. dim == -1: a leaf.
struct InputNode {
  int dim = -1;
  double point = 0;
};
struct InputSplit {
  std::vector<InputNode> nodes;
};

// Step "relu_split": a proof that max g (side upper) or min g (side lower) of
// one unit is bounded by `bound`, by a tree of ReLU-phase splits in preorder.
// A node with layer >= 0 splits on unit (layer, unit) of an earlier layer: its
// first child has g <= 0, the second g >= 0. A leaf (layer == -1) holds
// optional multipliers nu (as in Linear; empty: the node's own interval and
// CROWN bounds must suffice).
struct PhaseNode {
  int layer = -1;
  int unit = -1;
  std::vector<SparseVector> nu;
};
struct ReluSplit {
  int layer = 0;
  int unit = 0;
  Side side = Side::upper;
  double bound = 0;
  std::vector<PhaseNode> nodes;
};

using Step = std::variant<Propagate, Linear, InputSplit, ReluSplit>;
const char* step_name(const Step& step);

// An input of the domain and the signs of g it shows (unit, positive = g > 0).
struct WitnessSign {
  int layer = 0;
  int unit = 0;
  bool positive = true;
};
struct WitnessPoint {
  std::vector<double> input;
  std::vector<WitnessSign> signs;
};

// What a compression did to each hidden unit of the original network.
//   kept      the unit survives (possibly with new outgoing weights);
//   inactive  deleted as stably inactive: needs a certified upper bound <= 0;
//   folded    folded into the next layer as stably active or inactive (layer
//             folds, linearly dependent active units): needs a certified sign;
//   other     deleted by a rewrite that holds whatever the unit's sign (zero
//             outgoing weights, constant or duplicate units).
// The fates summarise; the proof is the replay of `rewrites`.
enum class Fate { kept, inactive, folded, other };

// One rewrite of the compression, in the order applied, on the network as it
// was before it: `layer` is the hidden layer of that network, unit indices are
// of that layer. Only what the checker cannot recompute is recorded:
//   inactive_unit, zero_outgoing  units deleted;
//   constant_unit                 units deleted, `coefficient` the constant
//                                 value x_k each one was folded into the next bias as;
//   duplicate_unit                units k deleted, each merged into `into` with
//                                 x_k = c x_j, c in `coefficient`;
//   dependent_active              units k deleted, x_k = sum_j alpha[k][j] x_basis[j]
//                                 + offset_k, offsets in `coefficient`;
//   layer_fold                    the whole (stable) layer folded into the next;
//   dead_layer                    the network is the constant it computes with
//                                 this layer's outputs 0 (every unit inactive, or none left).
struct Rewrite {
  std::string kind;
  int layer = 0;
  std::vector<int> units;
  std::vector<int> into;
  std::vector<double> coefficient;
  std::vector<int> basis;
  std::vector<std::vector<double>> alpha;  // per unit of `units`, over `basis`
  bool operator==(const Rewrite&) const = default;
};

struct CompressClaims {
  std::vector<std::string> fates;  // per hidden layer, one char per unit: k i f o
  std::string output_digest;       // digest of the written model ("" if none)
  std::vector<Rewrite> rewrites;   // the replay, in order
};

struct Certificate {
  int version = kVersion;
  std::string command;        // "analyze" or "compress"
  std::string model_digest;   // digest(network)
  std::string domain_digest;  // digest(box)
  Box box;
  std::vector<Step> steps;
  // Per hidden layer, one char per unit: 'a' stably active, 'i' stably
  // inactive, 'u' unstable, '?' undecided (no claim).
  std::vector<std::string> verdicts;
  std::vector<WitnessPoint> witnesses;
  std::optional<CompressClaims> compress;
  std::string leo_version;
};

// Digests (FNV-1a, 64 bits, hex): of the layer shapes, weights and biases as
// doubles; of the box's bounds. They detect a certificate used with another
// model or domain; soundness never rests on them (the checker re-derives every
// claim from the model it is given).
std::string digest(const Network& network);
std::string digest(const Box& box);

nlohmann::json to_json(const Certificate& c);
// Throws InputError (prefixed with `context`) naming the field when the JSON is
// not a certificate of this format and version.
Certificate from_json(const nlohmann::json& j, const std::string& context);

void write_certificate(const Certificate& c, const std::string& path);
Certificate read_certificate(const std::string& path);

}  // namespace leo::cert
