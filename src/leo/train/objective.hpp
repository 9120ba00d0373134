#pragma once
// The training objective of `leo train` and its gradient, computed on a batch
// held as one sample per COLUMN (features x batch), every product a GEMM.
//
//   loss = CE(softmax(f(X)), y)                       mean over the batch
//        + l1 * Σ_layers Σ |W|                         weights only, not biases
//        + weight_decay / 2 * Σ_layers Σ W²            weights only
//        + rs * (1/B) Σ_samples Σ_hidden units −tanh(1 + l·u)
//
// The last term is the ReLU-stability loss of Xiao et al. (ICLR 2019): l, u
// are interval bounds (IBP) of each hidden unit's pre-activation over the ℓ∞
// ball of radius rs_eps around the sample, clipped to the box [box_lo, box_hi].
// Its gradient goes back through the interval propagation.
//
// Convolutional layers. A layer l with params.conv[l] set is a 2-D
// convolution (group 1) of the previous layer's output, read as a map of
// shape conv[l]->input in (channel, row, column) order (network/conv.hpp);
// its weights are out_channels x (C*kh*kw) in ONNX order (as
// Conv2d::weights()), its bias one per output channel. Its products are
// im2col + one GEMM each: forward Y = W·cols, weight gradient dW = dY·colsᵀ,
// input gradient col2im(Wᵀ·dY). Dense layers after it read its output
// flattened in that order (ONNX's Flatten). The ReLU-stability loss is for
// dense layers only (InputError otherwise).
//
// Templated on the scalar: training runs in float (as PyTorch does), the
// finite-difference tests in double.
#include <Eigen/Dense>
#include <cstdint>
#include <optional>
#include <vector>

#include "leo/network/conv.hpp"  // Shape3, Window2d

namespace leo {

// The shape of a convolutional layer of the objective (group 1, no dilation
// limits beyond Window2d's).
struct ConvGeometry {
  Shape3 input;
  std::int64_t out_channels = 0;
  Window2d window;

  Shape3 output() const {
    return {out_channels, window.output_h(input.height), window.output_w(input.width)};
  }
  std::int64_t kernel_size() const { return input.channels * window.kernel_h * window.kernel_w; }
};

template <typename S>
struct Parameters {
  using Matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;
  std::vector<Matrix> weights;  // layer l: out x in (conv: out_channels x C*kh*kw)
  std::vector<Vector> biases;   // layer l: out (conv: one per output channel)
  // Empty (every layer dense) or one entry per layer: set for a convolution.
  std::vector<std::optional<ConvGeometry>> conv;

  std::size_t layers() const { return weights.size(); }
  bool is_conv(std::size_t l) const { return l < conv.size() && conv[l].has_value(); }
  // Output features of layer l (conv: channels x positions).
  Eigen::Index outputs(std::size_t l) const {
    return is_conv(l) ? static_cast<Eigen::Index>(conv[l]->output().size()) : weights[l].rows();
  }
  // Same shapes, all zero.
  Parameters zeros_like() const;
  std::int64_t size() const;
};

struct Regularisation {
  double l1 = 0.0;
  double weight_decay = 0.0;
  double rs = 0.0;
  double rs_eps = 0.1;
  // Box the ℓ∞ ball is clipped to (per feature); empty: no clipping.
  Eigen::VectorXd box_lo, box_hi;
};

struct LossTerms {
  double cross_entropy = 0.0;  // mean over the batch
  double l1 = 0.0;             // l1 * Σ|W|
  double weight_decay = 0.0;   // wd/2 * ΣW²
  double rs = 0.0;             // rs * mean over the batch of −Σ tanh(1 + l u)
  std::int64_t correct = 0;    // samples of the batch whose arg-max is the label
  double total() const { return cross_entropy + l1 + weight_decay + rs; }
};

// Reusable buffers for one batch size (avoids allocations per step).
template <typename S>
struct Workspace {
  using Matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
  std::vector<Matrix> pre, post, delta;         // forward / backward
  std::vector<Matrix> lo, hi, dlo, dhi;         // interval bounds for the RS loss
  Matrix c, r, dc, dr, in_lo, in_hi, abs_w;
  std::vector<Matrix> cols;  // im2col of each conv layer's input: (positions*B) x (C*kh*kw)
  Matrix conv_out, conv_grad, col_grad;
};

// Loss on the batch X (features x B) with labels (B) and, when `gradient` is
// not null, its gradient with respect to every weight and bias (resized to
// the parameters' shapes). Labels must lie in [0, outputs).
template <typename S>
LossTerms loss_and_gradient(const Parameters<S>& params,
                            const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>& X,
                            const std::vector<int>& labels, const Regularisation& reg,
                            Parameters<S>* gradient, Workspace<S>& work);

template <typename S>
LossTerms loss_and_gradient(const Parameters<S>& params,
                            const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>& X,
                            const std::vector<int>& labels, const Regularisation& reg,
                            Parameters<S>* gradient) {
  Workspace<S> work;
  return loss_and_gradient(params, X, labels, reg, gradient, work);
}

}  // namespace leo
