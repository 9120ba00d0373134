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
// Templated on the scalar: training runs in float (as PyTorch does), the
// finite-difference tests in double.
#include <Eigen/Dense>
#include <cstdint>
#include <vector>

namespace leo {

template <typename S>
struct Parameters {
  using Matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;
  std::vector<Matrix> weights;  // layer l: out x in
  std::vector<Vector> biases;

  std::size_t layers() const { return weights.size(); }
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
