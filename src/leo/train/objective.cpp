#include "leo/train/objective.hpp"

#include <cmath>

namespace leo {

template <typename S>
Parameters<S> Parameters<S>::zeros_like() const {
  Parameters<S> z;
  for (const auto& w : weights) z.weights.push_back(Matrix::Zero(w.rows(), w.cols()));
  for (const auto& b : biases) z.biases.push_back(Vector::Zero(b.size()));
  return z;
}

template <typename S>
std::int64_t Parameters<S>::size() const {
  std::int64_t n = 0;
  for (const auto& w : weights) n += w.size();
  for (const auto& b : biases) n += b.size();
  return n;
}

template <typename S>
LossTerms loss_and_gradient(const Parameters<S>& params,
                            const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>& X,
                            const std::vector<int>& labels, const Regularisation& reg,
                            Parameters<S>* gradient, Workspace<S>& work) {
  using Matrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;
  using Vector = Eigen::Matrix<S, Eigen::Dynamic, 1>;
  using RowVector = Eigen::Matrix<S, 1, Eigen::Dynamic>;
  const std::size_t L = params.layers();
  const Eigen::Index B = X.cols();
  LossTerms terms;
  if (L == 0 || B == 0) return terms;

  // ---- forward pass ----------------------------------------------------------
  work.pre.resize(L);
  work.post.resize(L - 1);
  const Matrix* a = &X;
  for (std::size_t l = 0; l < L; ++l) {
    work.pre[l].noalias() = params.weights[l] * (*a);
    work.pre[l].colwise() += params.biases[l];
    if (l + 1 < L) {
      work.post[l] = work.pre[l].cwiseMax(S(0));
      a = &work.post[l];
    }
  }

  // ---- softmax cross-entropy -------------------------------------------------
  // delta[L-1] = (softmax(z) - onehot(y)) / B
  work.delta.resize(L);
  Matrix& z = work.pre[L - 1];
  Matrix& dz = work.delta[L - 1];
  const RowVector colmax = z.colwise().maxCoeff();
  dz = (z.rowwise() - colmax).array().exp().matrix();
  const RowVector sums = dz.colwise().sum();
  double ce = 0.0;
  for (Eigen::Index j = 0; j < B; ++j) {
    const int y = labels[static_cast<std::size_t>(j)];
    ce += -(static_cast<double>(z(y, j)) - static_cast<double>(colmax[j]) - std::log(static_cast<double>(sums[j])));
    Eigen::Index arg = 0;
    z.col(j).maxCoeff(&arg);
    if (arg == y) ++terms.correct;
  }
  terms.cross_entropy = ce / static_cast<double>(B);
  if (gradient) {
    dz.array().rowwise() /= sums.array();
    for (Eigen::Index j = 0; j < B; ++j) dz(labels[static_cast<std::size_t>(j)], j) -= S(1);
    dz /= static_cast<S>(B);
  }

  // ---- backward pass ---------------------------------------------------------
  if (gradient) {
    gradient->weights.resize(L);
    gradient->biases.resize(L);
    for (std::size_t l = L; l-- > 0;) {
      const Matrix& in = l == 0 ? X : work.post[l - 1];
      gradient->weights[l].noalias() = work.delta[l] * in.transpose();
      gradient->biases[l] = work.delta[l].rowwise().sum();
      if (l > 0) {
        work.delta[l - 1].noalias() = params.weights[l].transpose() * work.delta[l];
        work.delta[l - 1] = (work.pre[l - 1].array() > S(0)).select(work.delta[l - 1].array(), S(0)).matrix();
      }
    }
  }

  // ---- ℓ1 and weight decay (weights only) ---------------------------------------
  for (std::size_t l = 0; l < L; ++l) {
    const Matrix& w = params.weights[l];
    if (reg.l1 != 0.0) {
      terms.l1 += reg.l1 * static_cast<double>(w.template cast<double>().cwiseAbs().sum());
      if (gradient) gradient->weights[l].array() += static_cast<S>(reg.l1) * w.array().sign();
    }
    if (reg.weight_decay != 0.0) {
      terms.weight_decay += 0.5 * reg.weight_decay * w.template cast<double>().squaredNorm();
      if (gradient) gradient->weights[l] += static_cast<S>(reg.weight_decay) * w;
    }
  }

  // ---- ReLU-stability loss through interval bounds -----------------------------
  if (reg.rs != 0.0 && L >= 2) {
    const std::size_t H = L - 1;  // hidden layers
    const S eps = static_cast<S>(reg.rs_eps);
    work.in_lo = X.array() - eps;
    work.in_hi = X.array() + eps;
    if (reg.box_lo.size() == X.rows()) {
      const Vector lo = reg.box_lo.cast<S>(), hi = reg.box_hi.cast<S>();
      work.in_lo = work.in_lo.cwiseMax(lo.replicate(1, B));
      work.in_hi = work.in_hi.cwiseMin(hi.replicate(1, B));
    }
    work.lo.resize(H);
    work.hi.resize(H);
    work.dlo.resize(H);
    work.dhi.resize(H);
    // Centre and radius of the input box of hidden layer l.
    auto input_box = [&](std::size_t l) {
      if (l == 0) {
        work.c = (work.in_lo + work.in_hi) * S(0.5);
        work.r = (work.in_hi - work.in_lo) * S(0.5);
      } else {
        work.c = (work.lo[l - 1].cwiseMax(S(0)) + work.hi[l - 1].cwiseMax(S(0))) * S(0.5);
        work.r = (work.hi[l - 1].cwiseMax(S(0)) - work.lo[l - 1].cwiseMax(S(0))) * S(0.5);
      }
    };
    for (std::size_t l = 0; l < H; ++l) {
      input_box(l);
      work.abs_w = params.weights[l].cwiseAbs();
      work.dc.noalias() = params.weights[l] * work.c;  // centre of the output
      work.dc.colwise() += params.biases[l];
      work.dr.noalias() = work.abs_w * work.r;          // radius of the output
      work.lo[l] = work.dc - work.dr;
      work.hi[l] = work.dc + work.dr;
    }
    const S scale = static_cast<S>(reg.rs / static_cast<double>(B));
    double rs_sum = 0.0;
    for (std::size_t l = 0; l < H; ++l) {
      const Eigen::Array<S, Eigen::Dynamic, Eigen::Dynamic> t = (S(1) + work.lo[l].array() * work.hi[l].array()).tanh();
      rs_sum += -static_cast<double>(t.template cast<double>().sum());
      if (gradient) {
        // d/dlo of −tanh(1 + lo·hi) = −(1 − tanh²)·hi, d/dhi = −(1 − tanh²)·lo
        const Matrix common = (-(S(1) - t.square()) * scale).matrix();
        work.dlo[l] = common.cwiseProduct(work.hi[l]);
        work.dhi[l] = common.cwiseProduct(work.lo[l]);
      }
    }
    terms.rs = reg.rs * rs_sum / static_cast<double>(B);
    if (gradient) {
      for (std::size_t l = H; l-- > 0;) {
        // lo = Wc + b − |W|r, hi = Wc + b + |W|r
        Matrix doc = work.dlo[l] + work.dhi[l];
        Matrix dor = work.dhi[l] - work.dlo[l];
        input_box(l);
        gradient->weights[l].noalias() += doc * work.c.transpose();
        work.abs_w.noalias() = dor * work.r.transpose();
        gradient->weights[l].array() += params.weights[l].array().sign() * work.abs_w.array();
        gradient->biases[l] += doc.rowwise().sum();
        if (l > 0) {
          work.dc.noalias() = params.weights[l].transpose() * doc;
          work.dr.noalias() = params.weights[l].cwiseAbs().transpose() * dor;
          // c = (relu(lo') + relu(hi'))/2, r = (relu(hi') − relu(lo'))/2
          work.dlo[l - 1] += (work.lo[l - 1].array() > S(0)).select((work.dc - work.dr).array() * S(0.5), S(0)).matrix();
          work.dhi[l - 1] += (work.hi[l - 1].array() > S(0)).select((work.dc + work.dr).array() * S(0.5), S(0)).matrix();
        }
      }
    }
  }
  return terms;
}

template struct Parameters<float>;
template struct Parameters<double>;
template LossTerms loss_and_gradient<float>(const Parameters<float>&, const Eigen::MatrixXf&, const std::vector<int>&,
                                            const Regularisation&, Parameters<float>*, Workspace<float>&);
template LossTerms loss_and_gradient<double>(const Parameters<double>&, const Eigen::MatrixXd&, const std::vector<int>&,
                                             const Regularisation&, Parameters<double>*, Workspace<double>&);

}  // namespace leo
