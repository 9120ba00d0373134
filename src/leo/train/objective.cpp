#include "leo/train/objective.hpp"

#include <fmt/core.h>

#include <cmath>

#include "leo/util/error.hpp"

namespace leo {

namespace {

using Index = Eigen::Index;

// im2col of a batch X (C*H*W x B, one sample per column) for the convolution
// g: cols((n*P + p), k) = x_n[c, oh*sh - pt + i*dh, ow*sw - pl + j*dw] (0 in
// the padding), p = oh*OW + ow, k = (c*kh + i)*kw + j. Columns are
// independent, so the parallel loop gives the same result for any number of
// threads.
template <typename S>
void im2col(const ConvGeometry& g, const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>& X,
            Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>& cols) {
  const Shape3 in = g.input, out = g.output();
  const Window2d& w = g.window;
  const Index B = X.cols(), P = out.positions(), K = g.kernel_size(), OH = out.height, OW = out.width;
  cols.resize(P * B, K);
#pragma omp parallel for schedule(static) if (P * B * K > (1 << 16))
  for (Index k = 0; k < K; ++k) {
    const Index c = k / (w.kernel_h * w.kernel_w), i = (k / w.kernel_w) % w.kernel_h, j = k % w.kernel_w;
    S* dst = cols.col(k).data();
    for (Index n = 0; n < B; ++n) {
      const S* src = X.col(n).data() + c * in.height * in.width;
      for (Index oh = 0; oh < OH; ++oh) {
        S* d = dst + n * P + oh * OW;
        const Index ih = oh * w.stride_h - w.pad_top + i * w.dilation_h;
        if (ih < 0 || ih >= in.height) {
          for (Index ow = 0; ow < OW; ++ow) d[ow] = S(0);
          continue;
        }
        const S* row = src + ih * in.width;
        for (Index ow = 0; ow < OW; ++ow) {
          const Index iw = ow * w.stride_w - w.pad_left + j * w.dilation_w;
          d[ow] = (iw < 0 || iw >= in.width) ? S(0) : row[iw];
        }
      }
    }
  }
}

// The adjoint of im2col: dX (C*H*W x B) = sum of dcols scattered back.
// Parallel over samples, each summed in a fixed order: the same result for
// any number of threads.
template <typename S>
void col2im(const ConvGeometry& g, const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>& dcols, Index B,
            Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>& dX) {
  const Shape3 in = g.input, out = g.output();
  const Window2d& w = g.window;
  const Index P = out.positions(), K = g.kernel_size(), OH = out.height, OW = out.width;
  dX.setZero(in.size(), B);
#pragma omp parallel for schedule(static) if (P * B * K > (1 << 16))
  for (Index n = 0; n < B; ++n) {
    S* dst = dX.col(n).data();
    for (Index k = 0; k < K; ++k) {
      const Index c = k / (w.kernel_h * w.kernel_w), i = (k / w.kernel_w) % w.kernel_h, j = k % w.kernel_w;
      const S* src = dcols.col(k).data() + n * P;
      S* plane = dst + c * in.height * in.width;
      for (Index oh = 0; oh < OH; ++oh) {
        const Index ih = oh * w.stride_h - w.pad_top + i * w.dilation_h;
        if (ih < 0 || ih >= in.height) continue;
        S* row = plane + ih * in.width;
        for (Index ow = 0; ow < OW; ++ow) {
          const Index iw = ow * w.stride_w - w.pad_left + j * w.dilation_w;
          if (iw >= 0 && iw < in.width) row[iw] += src[oh * OW + ow];
        }
      }
    }
  }
}

// Y (O*P x B, unit o*P + p of sample n) from / to R ((P*B) x O, row n*P + p).
template <typename S>
void rows_to_units(const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>& R, Index P, Index B,
                   const Eigen::Matrix<S, Eigen::Dynamic, 1>& bias, Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>& Y) {
  const Index O = R.cols();
  Y.resize(O * P, B);
  for (Index n = 0; n < B; ++n)
    for (Index o = 0; o < O; ++o) {
      const S* src = R.data() + o * P * B + n * P;
      S* dst = Y.data() + n * O * P + o * P;
      const S b = bias[o];
      for (Index p = 0; p < P; ++p) dst[p] = src[p] + b;
    }
}

template <typename S>
void units_to_rows(const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>& Y, Index O, Index P,
                   Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>& R) {
  const Index B = Y.cols();
  R.resize(P * B, O);
  for (Index n = 0; n < B; ++n)
    for (Index o = 0; o < O; ++o) {
      const S* src = Y.data() + n * O * P + o * P;
      S* dst = R.data() + o * P * B + n * P;
      for (Index p = 0; p < P; ++p) dst[p] = src[p];
    }
}

}  // namespace

template <typename S>
Parameters<S> Parameters<S>::zeros_like() const {
  Parameters<S> z;
  for (const auto& w : weights) z.weights.push_back(Matrix::Zero(w.rows(), w.cols()));
  for (const auto& b : biases) z.biases.push_back(Vector::Zero(b.size()));
  z.conv = conv;
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
  const bool any_conv = !params.conv.empty();
  if (any_conv && reg.rs != 0.0)
    throw InputError("--rs: the ReLU-stability loss is not supported on convolutional layers yet");

  // ---- forward pass ----------------------------------------------------------
  work.pre.resize(L);
  work.post.resize(L - 1);
  if (any_conv) work.cols.resize(L);
  const Matrix* a = &X;
  for (std::size_t l = 0; l < L; ++l) {
    if (params.is_conv(l)) {
      const ConvGeometry& g = *params.conv[l];
      im2col(g, *a, work.cols[l]);
      work.conv_out.noalias() = work.cols[l] * params.weights[l].transpose();  // (P*B) x O
      rows_to_units(work.conv_out, g.output().positions(), B, params.biases[l], work.pre[l]);
    } else {
      work.pre[l].noalias() = params.weights[l] * (*a);
      work.pre[l].colwise() += params.biases[l];
    }
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
      if (params.is_conv(l)) {
        const ConvGeometry& g = *params.conv[l];
        units_to_rows(work.delta[l], g.out_channels, g.output().positions(), work.conv_grad);  // (P*B) x O
        gradient->weights[l].noalias() = work.conv_grad.transpose() * work.cols[l];
        gradient->biases[l] = work.conv_grad.colwise().sum().transpose();
        if (l > 0) {
          work.col_grad.noalias() = work.conv_grad * params.weights[l];  // (P*B) x K
          col2im(g, work.col_grad, B, work.delta[l - 1]);
        }
      } else {
        const Matrix& in = l == 0 ? X : work.post[l - 1];
        gradient->weights[l].noalias() = work.delta[l] * in.transpose();
        gradient->biases[l] = work.delta[l].rowwise().sum();
        if (l > 0) work.delta[l - 1].noalias() = params.weights[l].transpose() * work.delta[l];
      }
      if (l > 0)
        work.delta[l - 1] = (work.pre[l - 1].array() > S(0)).select(work.delta[l - 1].array(), S(0)).matrix();
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
