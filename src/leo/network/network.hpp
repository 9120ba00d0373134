#pragma once
// A feed-forward ReLU network: a sequence of affine layers, a ReLU after every
// layer but the last. Weights are held in double. The model's original input
// and output tensors (names, shapes, element type) are kept so that a written
// model has the same interface as the one that was read.
//
// Notation (docs/design.md §1): layers[l] maps x^l (size in) to g^{l+1} = W x^l + b.
// Layers 0..L-2 are hidden (ReLU after them); layer L-1 is the output layer.
// "Hidden layer h" in analyses and JSON means layers[h], h = 0..L-2.
#include <Eigen/Dense>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace leo {

// Which weights a product uses: W itself or |W| (elementwise absolute value,
// for interval radii and rounding-error magnitudes, bounds/rounding.hpp).
enum class Weights { plain, absolute };

class StructuredMap;  // network/structured.hpp

struct AffineLayer {
  AffineLayer() = default;
  AffineLayer(Eigen::MatrixXd w, Eigen::VectorXd b, std::string w_name = {}, std::string b_name = {})
      : weights(std::move(w)), bias(std::move(b)), weight_name(std::move(w_name)), bias_name(std::move(b_name)) {}

  // The linear map W is either dense, `weights` (out x in), or structured
  // (convolutions, pooling, ...: `structured`, and `weights` is then 0 x 0).
  // Code that works on any layer uses the products below and never reads
  // `weights` unless is_dense(); bias is always dense, one entry per output.
  Eigen::MatrixXd weights;  // out x in (dense layers)
  Eigen::VectorXd bias;     // out
  std::shared_ptr<const StructuredMap> structured;
  // The names of the weight and bias tensors in the model read (e.g.
  // "fc1.weight"), kept when the model is written; "" for a layer built in
  // code or by a rewrite (the writer then names them layerL.weight/.bias).
  std::string weight_name;
  std::string bias_name;

  bool is_dense() const { return structured == nullptr; }
  Eigen::Index inputs() const;
  Eigen::Index outputs() const;
  // Outputs that carry a value past the ReLU for a residual connection
  // (carry segments, network/structured.hpp): not units of the model. 0 for
  // a dense layer. outputs() - carried_outputs() are the model's units.
  Eigen::Index carried_outputs() const;
  // Weights and biases as a model file stores them (a Conv's bias per channel).
  std::int64_t parameters() const;
  // Multiply-adds of W x for one input.
  std::int64_t multiply_adds() const;

  // The four products with W (or |W|), in both batch layouts:
  //   multiply(X)                 W X        X is inputs x N (one sample per column)
  //   transpose_multiply(L)       W^T L      L is outputs x N
  //   multiply_rows(X)            X W^T      X is N x inputs (one sample per row)
  //   transpose_multiply_rows(Nu) Nu W       Nu is N x outputs (back-substitution)
  // Rounding: computed in round-to-nearest in an unspecified order; a sound
  // caller bounds the error by rounding::error(n, M^), n at most
  // terms_per_output() (W X) or terms_per_input() (W^T L), M^ the same product
  // with Weights::absolute and |X|. For a structured map the absolute product
  // is |W_k|...|W_1| (>= |W_k...W_1| entrywise), which such bounds allow.
  Eigen::MatrixXd multiply(const Eigen::MatrixXd& X, Weights w = Weights::plain) const;
  Eigen::MatrixXd transpose_multiply(const Eigen::MatrixXd& L, Weights w = Weights::plain) const;
  Eigen::MatrixXd multiply_rows(const Eigen::MatrixXd& X, Weights w = Weights::plain) const;
  Eigen::MatrixXd transpose_multiply_rows(const Eigen::MatrixXd& Nu, Weights w = Weights::plain) const;
  std::int64_t terms_per_output() const;
  std::int64_t terms_per_input() const;
  // Row i of W as (input, weight) pairs, ascending by input, zeros left out:
  // what an LP or MILP encoding of one unit needs.
  std::vector<std::pair<Eigen::Index, double>> row(Eigen::Index i) const;
  // W as a dense matrix: `weights` itself for a dense layer; built for a
  // structured one (memory outputs x inputs: for tests and small layers).
  Eigen::MatrixXd dense() const;
};

// ONNX TensorProto element types leo reads and writes.
enum class ElementType : int { float32 = 1, float64 = 11 };

struct TensorInfo {
  std::string name;
  std::vector<std::int64_t> shape;  // -1 for a dynamic dimension (the batch)
  ElementType type = ElementType::float32;
  // The symbolic name (dim_param) of each dynamic dimension, "" for fixed or
  // unnamed ones; empty when unknown. Kept when the model is written.
  std::vector<std::string> dim_params;

  // Number of features: the product of all dimensions but the first (batch).
  // For a shape of rank 1, its only dimension.
  std::int64_t features() const;
};

// A function applied to the last affine layer's output (the logits), on its
// last axis. Analysis and rewrites act on the logits (no stability is needed
// for it); evaluate() applies it, logits() does not.
enum class OutputActivation { none, softmax, log_softmax };
const char* output_activation_name(OutputActivation a);  // "none", "Softmax", "LogSoftmax"

class Network {
 public:
  Network() = default;
  explicit Network(std::vector<AffineLayer> layers);

  std::vector<AffineLayer> layers;
  TensorInfo input;    // defaults: "input", [-1, inputs()]
  TensorInfo output;   // defaults: "output", [-1, outputs()]
  std::string source;            // the file it was read from, for messages ("" if built in code)
  std::string producer;          // producer_name of the model read ("" if built in code)
  std::int64_t opset = 0;        // ai.onnx opset of the model read (0 if built in code)
  std::int64_t source_parameters = -1;  // weights + biases as stored in the source file (-1: unknown)
  std::map<std::string, std::string> metadata;  // metadata_props, kept and extended on write
  // A trailing Softmax/LogSoftmax of the model read, written back after the
  // last layer. Over the last axis of `output`'s shape (groups of
  // output.shape.back() consecutive values; all outputs for a rank-1 shape).
  OutputActivation output_activation = OutputActivation::none;

  std::size_t depth() const { return layers.size(); }
  std::size_t hidden_layers() const { return layers.empty() ? 0 : layers.size() - 1; }
  Eigen::Index inputs() const;
  Eigen::Index outputs() const;
  // Units per hidden layer: the outputs of layers 0..L-2, carried outputs
  // included (what the analysis and the rewrites index).
  std::vector<Eigen::Index> widths() const;
  std::int64_t hidden_units() const;
  // The same without carried outputs: the units of the model, what a user
  // counts (reports print these; carried_units() apart when nonzero).
  std::vector<Eigen::Index> model_widths() const;
  std::int64_t model_units() const;
  std::int64_t carried_units() const;  // hidden_units() - model_units()
  // Weights and biases of the affine layers.
  std::int64_t parameters() const;
  // Multiply-adds for one input.
  std::int64_t multiply_adds() const;

  // Throws InputError (prefixed with `context`) when the network is empty,
  // consecutive layers disagree in size, or a weight or bias is NaN/infinite.
  void validate(const std::string& context = "network") const;

  // Sets input/output TensorInfo to defaults when they are unset.
  void set_default_interface();

  // Batched evaluation: X is inputs() x N (one sample per column); returns
  // outputs() x N: what the model outputs, with its output_activation.
  Eigen::MatrixXd evaluate(const Eigen::MatrixXd& X) const;
  Eigen::VectorXd evaluate(const Eigen::VectorXd& x) const;
  // The last layer's outputs before the output_activation (the same as
  // evaluate() when there is none). Comparisons of two networks should use
  // these: softmax is 1-Lipschitz in the max norm, so a bound on the logits'
  // difference bounds the probabilities' difference, and not conversely.
  Eigen::MatrixXd logits(const Eigen::MatrixXd& X) const;
  // Applies output_activation to logits (outputs() x N), in place.
  void apply_output_activation(Eigen::MatrixXd& Y) const;

  // Pre-activations g of every layer (hidden and output), one matrix per
  // layer, each units x N. pre[h] is layer h's W x + b before its ReLU.
  std::vector<Eigen::MatrixXd> pre_activations(const Eigen::MatrixXd& X) const;
};

}  // namespace leo
