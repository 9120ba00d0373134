#include "leo/network/conv.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <tuple>
#include <utility>
#include <vector>

#include "leo/util/error.hpp"

namespace leo {

namespace {

using Eigen::Index;

// Largest feature map, kernel or channel count accepted: keeps every size and
// index product far from int64 overflow (2^40 * 2^20 < 2^63).
constexpr std::int64_t kMaxSize = std::int64_t{1} << 40;

// Element (sample n, feature f) of a batch is data[n * sample + f * feature]:
// columns layout (features x N): sample = features, feature = 1;
// rows layout (N x features): sample = 1, feature = N.
struct Layout {
  Index samples = 0;
  Index sample = 0;
  Index feature = 0;
  bool rows() const { return sample == 1 && feature != 1; }
};
Layout columns_layout(Index features, Index samples) { return {samples, features, 1}; }
Layout rows_layout(Index samples) { return {samples, 1, samples}; }

void check_columns(const Eigen::MatrixXd& X, Index features, const char* what) {
  if (X.rows() != features)
    throw Error(ExitCode::internal, fmt::format("internal error: {}: {} rows given, {} expected", what, X.rows(), features));
}
void check_rows(const Eigen::MatrixXd& X, Index features, const char* what) {
  if (X.cols() != features)
    throw Error(ExitCode::internal, fmt::format("internal error: {}: {} columns given, {} expected", what, X.cols(), features));
}

std::int64_t checked_product(const std::string& context, std::initializer_list<std::int64_t> factors) {
  std::int64_t p = 1;
  for (auto f : factors) {
    if (f > 0 && p > kMaxSize / f) throw InputError(fmt::format("{}: the layer is too large ({} or more entries)", context, kMaxSize));
    p *= f;
  }
  return p;
}

void check_window(const std::string& context, const Shape3& in, const Window2d& w) {
  if (in.channels <= 0 || in.height <= 0 || in.width <= 0)
    throw InputError(fmt::format("{}: the input shape {}x{}x{} has a dimension that is not positive", context,
                                 in.channels, in.height, in.width));
  checked_product(context, {in.channels, in.height, in.width});
  if (w.kernel_h <= 0 || w.kernel_w <= 0)
    throw InputError(fmt::format("{}: the kernel {}x{} is not positive", context, w.kernel_h, w.kernel_w));
  if (w.stride_h <= 0 || w.stride_w <= 0)
    throw InputError(fmt::format("{}: strides must be positive (got {},{})", context, w.stride_h, w.stride_w));
  if (w.dilation_h <= 0 || w.dilation_w <= 0)
    throw InputError(fmt::format("{}: dilations must be positive (got {},{})", context, w.dilation_h, w.dilation_w));
  if (w.pad_top < 0 || w.pad_left < 0 || w.pad_bottom < 0 || w.pad_right < 0)
    throw InputError(fmt::format("{}: pads must not be negative (got {},{},{},{})", context, w.pad_top, w.pad_left,
                                 w.pad_bottom, w.pad_right));
  for (auto v : {w.kernel_h, w.kernel_w, w.stride_h, w.stride_w, w.dilation_h, w.dilation_w, w.pad_top, w.pad_left,
                 w.pad_bottom, w.pad_right})
    if (v > (std::int64_t{1} << 20))
      throw InputError(fmt::format("{}: a kernel size, stride, pad or dilation above 2^20 ({})", context, v));
  const auto padded_h = in.height + w.pad_top + w.pad_bottom;
  const auto padded_w = in.width + w.pad_left + w.pad_right;
  if (w.extent_h() > padded_h || w.extent_w() > padded_w) {
    const bool dilated = w.dilation_h != 1 || w.dilation_w != 1;
    throw InputError(fmt::format("{}: the kernel {}x{}{} is bigger than the padded input {}x{} (input {}x{}, pads {},{},{},{})",
                                 context, w.kernel_h, w.kernel_w,
                                 dilated ? fmt::format(" (dilated {}x{})", w.extent_h(), w.extent_w()) : std::string(),
                                 padded_h, padded_w, in.height, in.width, w.pad_top, w.pad_left, w.pad_bottom,
                                 w.pad_right));
  }
}

Shape3 output_shape(const Shape3& in, std::int64_t channels, const Window2d& w) {
  return {channels, w.output_h(in.height), w.output_w(in.width)};
}

// Input row (column) read by kernel row i (column j) at output row oh (column
// ow), or -1 for padding: table[i * OH + oh].
std::vector<Index> tap_table(std::int64_t kernel, std::int64_t out, std::int64_t in, std::int64_t stride,
                             std::int64_t pad, std::int64_t dilation) {
  std::vector<Index> t(static_cast<std::size_t>(kernel * out));
  for (std::int64_t i = 0; i < kernel; ++i)
    for (std::int64_t o = 0; o < out; ++o) {
      const auto x = o * stride - pad + i * dilation;
      t[static_cast<std::size_t>(i * out + o)] = (x >= 0 && x < in) ? x : -1;
    }
  return t;
}

// Scratch buffer `which` (0 or 1) of the calling thread, at least `size`
// doubles, reused across calls: allocating the im2col buffers afresh on every
// product made glibc map and unmap (and the kernel clear) megabytes per call,
// which cost more than the product itself (bench/results/conv_ops.md). Holds
// per thread two buffers of at most max(scratch_limit, P * max(K, O)) doubles
// each (P * max(K, O): one sample, when one alone exceeds the budget), kept
// until the thread ends.
double* scratch(int which, Index size) {
  thread_local std::vector<double> buffers[2];
  auto& b = buffers[which];
  if (static_cast<Index>(b.size()) < size) {
    b.clear();
    b.shrink_to_fit();
    b.resize(static_cast<std::size_t>(size));
  }
  return b.data();
}

// The convolution's products, without bias, for either layout. `weights` is
// W or |W| (O x C/g*kh*kw).
// The copies and loops here run on the calling thread: no OpenMP. Their
// parallel regions came many times per product, between the BLAS products
// (OpenBLAS's own threads); after each, libgomp's idle threads spin for their
// next region (its default wait policy) on the cores the BLAS threads need:
// cifar_base_kw's compress took 106 CPU s with the default threads against
// 10 with one thread, and ~12 with OMP_WAIT_POLICY=passive (an environment
// variable leo cannot set for itself: libgomp reads it when it loads). The
// copies are memory-bound; the products keep BLAS's threads, and the
// per-unit stages and the check's search their own tasks (util/parallel.hpp).
class ConvKernel {
 public:
  ConvKernel(const Shape3& in, const Shape3& out, const Window2d& w, std::int64_t group, Index scratch_limit)
      : in_(in), out_(out), w_(w), group_(group), scratch_(std::max<Index>(scratch_limit, 1)) {
    rows_ = tap_table(w.kernel_h, out.height, in.height, w.stride_h, w.pad_top, w.dilation_h);
    cols_ = tap_table(w.kernel_w, out.width, in.width, w.stride_w, w.pad_left, w.dilation_w);
  }

  // y = A x for every sample: x in layout xl (inputs), y in layout yl
  // (outputs, the same kind of layout as xl).
  //
  // Scratch rows: row(n, p) = p + P * n in the columns layout (a sample's
  // positions contiguous, as the sample's features are) and n + m * p in the
  // rows layout (the chunk's samples contiguous, as the features' entries
  // are), so that every copy below runs along contiguous memory.
  void multiply(const Eigen::MatrixXd& weights, const double* x, Layout xl, double* y, Layout yl) const {
    const Index P = out_.positions(), K = weights.cols() * group_, O = out_.channels;
    const Index Kg = weights.cols(), Og = O / group_;
    const Index nb = std::min(chunk(std::max(K, O)), std::max<Index>(xl.samples, 1));
    Eigen::Map<Eigen::MatrixXd> cols(scratch(0, nb * P * K), nb * P, K), R(scratch(1, nb * P * O), nb * P, O);
    for (Index n0 = 0; n0 < xl.samples; n0 += nb) {
      const Index m = std::min(nb, xl.samples - n0);
      const bool by_sample = !xl.rows();
      im2col(x, xl, n0, m, cols, by_sample);
      for (std::int64_t g = 0; g < group_; ++g)
        R.topRows(m * P).middleCols(g * Og, Og).noalias() =
            cols.topRows(m * P).middleCols(g * Kg, Kg) * weights.middleRows(g * Og, Og).transpose();
      for (Index o = 0; o < O; ++o) {
        const double* r = R.data() + o * R.rows();
        if (by_sample) {
          for (Index n = 0; n < m; ++n)
            for (Index p = 0; p < P; ++p) y[(n0 + n) * yl.sample + o * P + p] = r[p + P * n];
        } else {
          for (Index p = 0; p < P; ++p)
            for (Index n = 0; n < m; ++n) y[n0 + n + (o * P + p) * yl.feature] = r[n + m * p];
        }
      }
    }
  }

  // x = A^T l for every sample: l in layout ll (outputs), x in layout xl
  // (inputs, the same kind of layout), x zero on entry.
  void transpose_multiply(const Eigen::MatrixXd& weights, const double* l, Layout ll, double* x, Layout xl) const {
    const Index P = out_.positions(), K = weights.cols() * group_, O = out_.channels;
    const Index Kg = weights.cols(), Og = O / group_;
    const Index nb = std::min(chunk(std::max(K, O)), std::max<Index>(ll.samples, 1));
    Eigen::Map<Eigen::MatrixXd> L(scratch(0, nb * P * O), nb * P, O), G(scratch(1, nb * P * K), nb * P, K);
    for (Index n0 = 0; n0 < ll.samples; n0 += nb) {
      const Index m = std::min(nb, ll.samples - n0);
      const bool by_sample = !ll.rows();
      for (Index o = 0; o < O; ++o) {
        double* r = L.data() + o * L.rows();
        if (by_sample) {
          for (Index n = 0; n < m; ++n)
            for (Index p = 0; p < P; ++p) r[p + P * n] = l[(n0 + n) * ll.sample + o * P + p];
        } else {
          for (Index p = 0; p < P; ++p)
            for (Index n = 0; n < m; ++n) r[n + m * p] = l[n0 + n + (o * P + p) * ll.feature];
        }
      }
      for (std::int64_t g = 0; g < group_; ++g)
        G.topRows(m * P).middleCols(g * Kg, Kg).noalias() =
            L.topRows(m * P).middleCols(g * Og, Og) * weights.middleRows(g * Og, Og);
      col2im(G, by_sample, x, xl, n0, m);
    }
  }

 private:
  // Samples per chunk: the scratch (samples * P * width doubles) within budget.
  Index chunk(Index width) const {
    const Index per_sample = std::max<Index>(out_.positions() * width, 1);
    return std::max<Index>(1, scratch_ / per_sample);
  }

  // cols(row(n, p), k) = x[n0 + n][c, ih, iw] for k = (c, i, j), 0 in the pads.
  void im2col(const double* x, Layout xl, Index n0, Index m, Eigen::Map<Eigen::MatrixXd>& cols, bool by_sample) const {
    const Index OH = out_.height, OW = out_.width, P = out_.positions(), K = cols.cols();
    const Index kh = w_.kernel_h, kw = w_.kernel_w, ld = cols.rows();
    for (Index k = 0; k < K; ++k) {
      const Index c = k / (kh * kw), i = (k / kw) % kh, j = k % kw;
      const Index* ihs = rows_.data() + i * OH;
      const Index* iws = cols_.data() + j * OW;
      double* col = cols.data() + k * ld;
      if (by_sample) {
        for (Index n = 0; n < m; ++n) {
          const double* xc = x + (n0 + n) * xl.sample + c * in_.positions();
          double* dst = col + P * n;
          for (Index oh = 0; oh < OH; ++oh) {
            const Index ih = ihs[oh];
            if (ih < 0) {
              std::fill(dst + oh * OW, dst + (oh + 1) * OW, 0.0);
              continue;
            }
            const double* src = xc + ih * in_.width;
            for (Index ow = 0; ow < OW; ++ow) dst[oh * OW + ow] = iws[ow] < 0 ? 0.0 : src[iws[ow]];
          }
        }
      } else {
        const double* xc = x + n0 + c * in_.positions() * xl.feature;
        for (Index oh = 0; oh < OH; ++oh)
          for (Index ow = 0; ow < OW; ++ow) {
            double* dst = col + m * (oh * OW + ow);
            if (ihs[oh] < 0 || iws[ow] < 0) {
              std::fill(dst, dst + m, 0.0);
              continue;
            }
            const double* src = xc + (ihs[oh] * in_.width + iws[ow]) * xl.feature;
            std::copy(src, src + m, dst);
          }
      }
    }
  }

  // x[n0 + n][c, ih, iw] += G(row(n, p), k) over all k = (c, i, j) and
  // positions p reading (ih, iw). Parallel over channels: each writes only
  // its own channel.
  void col2im(const Eigen::Map<Eigen::MatrixXd>& G, bool by_sample, double* x, Layout xl, Index n0, Index m) const {
    const Index OH = out_.height, OW = out_.width, P = out_.positions();
    const Index kh = w_.kernel_h, kw = w_.kernel_w, ld = G.rows();
    const Index C = in_.channels;
    for (Index c = 0; c < C; ++c)
      for (Index i = 0; i < kh; ++i)
        for (Index j = 0; j < kw; ++j) {
          const double* col = G.data() + ((c * kh + i) * kw + j) * ld;
          const Index* ihs = rows_.data() + i * OH;
          const Index* iws = cols_.data() + j * OW;
          if (by_sample) {
            for (Index n = 0; n < m; ++n) {
              double* xc = x + (n0 + n) * xl.sample + c * in_.positions();
              const double* src = col + P * n;
              for (Index oh = 0; oh < OH; ++oh) {
                if (ihs[oh] < 0) continue;
                double* dst = xc + ihs[oh] * in_.width;
                for (Index ow = 0; ow < OW; ++ow)
                  if (iws[ow] >= 0) dst[iws[ow]] += src[oh * OW + ow];
              }
            }
          } else {
            double* xc = x + n0 + c * in_.positions() * xl.feature;
            for (Index oh = 0; oh < OH; ++oh) {
              if (ihs[oh] < 0) continue;
              for (Index ow = 0; ow < OW; ++ow) {
                if (iws[ow] < 0) continue;
                double* dst = xc + (ihs[oh] * in_.width + iws[ow]) * xl.feature;
                const double* src = col + m * (oh * OW + ow);
                for (Index n = 0; n < m; ++n) dst[n] += src[n];
              }
            }
          }
        }
  }

  Shape3 in_, out_;
  Window2d w_;
  std::int64_t group_;
  Index scratch_;
  std::vector<Index> rows_, cols_;
};

}  // namespace

// ---------------------------------------------------------------- auto_pad

void set_same_pads(Window2d& w, std::int64_t in_h, std::int64_t in_w, AutoPad mode) {
  auto pads = [&](std::int64_t in, std::int64_t stride, std::int64_t extent) {
    const auto out = (in + stride - 1) / stride;
    const auto total = std::max<std::int64_t>(0, (out - 1) * stride + extent - in);
    const auto small = total / 2, large = total - small;
    return mode == AutoPad::same_upper ? std::pair{small, large} : std::pair{large, small};
  };
  std::tie(w.pad_top, w.pad_bottom) = pads(in_h, w.stride_h, w.extent_h());
  std::tie(w.pad_left, w.pad_right) = pads(in_w, w.stride_w, w.extent_w());
}

// ---------------------------------------------------------------- Conv2d

Conv2d::Conv2d(Shape3 input, std::int64_t out_channels, Window2d window, std::int64_t group, Eigen::MatrixXd weights,
               Eigen::VectorXd bias, const std::string& context)
    : input_(input), window_(window), group_(group), weights_(std::move(weights)), bias_(std::move(bias)) {
  check_window(context, input_, window_);
  if (out_channels <= 0)
    throw InputError(fmt::format("{}: the number of output channels ({}) is not positive", context, out_channels));
  if (group_ <= 0) throw InputError(fmt::format("{}: group must be positive (got {})", context, group_));
  if (input_.channels % group_ != 0)
    throw InputError(fmt::format("{}: the {} input channels are not divisible by group {}", context, input_.channels,
                                 group_));
  if (out_channels % group_ != 0)
    throw InputError(fmt::format("{}: the {} output channels are not divisible by group {}", context, out_channels,
                                 group_));
  checked_product(context, {out_channels, input_.channels / group_, window_.kernel_h, window_.kernel_w});
  const auto taps = window_.kernel_h * window_.kernel_w;
  const auto per_group = input_.channels / group_;
  if (weights_.cols() % taps == 0 && weights_.cols() / taps != per_group)
    throw InputError(fmt::format(
        "{}: the weights expect {} input channels ({} per group x {} group{}) but the input has {} channels", context,
        weights_.cols() / taps * group_, weights_.cols() / taps, group_, group_ == 1 ? "" : "s", input_.channels));
  if (weights_.rows() != out_channels || weights_.cols() != per_group * taps)
    throw InputError(fmt::format("{}: the weights are {}x{}, expected {}x{} ({} output channels x {}x{}x{})", context,
                                 weights_.rows(), weights_.cols(), out_channels, per_group * taps, out_channels,
                                 per_group, window_.kernel_h, window_.kernel_w));
  if (bias_.size() == 0) bias_ = Eigen::VectorXd::Zero(out_channels);
  if (bias_.size() != out_channels)
    throw InputError(fmt::format("{}: the bias has {} entries, expected {} (one per output channel)", context,
                                 bias_.size(), out_channels));
  if (!weights_.allFinite() || !bias_.allFinite())
    throw InputError(fmt::format("{}: a weight or bias is NaN or infinite", context));
  output_ = output_shape(input_, out_channels, window_);
  checked_product(context, {output_.channels, output_.height, output_.width});
}

Conv2d Conv2d::from_onnx_weights(Shape3 input, std::int64_t out_channels, Window2d window, std::int64_t group,
                                 const std::vector<double>& weights, const std::vector<double>& bias,
                                 const std::string& context) {
  if (out_channels <= 0)
    throw InputError(fmt::format("{}: the number of output channels ({}) is not positive", context, out_channels));
  const auto n = static_cast<std::int64_t>(weights.size());
  if (n % out_channels != 0)
    throw InputError(fmt::format("{}: {} weights are not a whole number per output channel ({})", context, n,
                                 out_channels));
  Eigen::MatrixXd w = Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      weights.data(), out_channels, n / out_channels);
  Eigen::VectorXd b = Eigen::Map<const Eigen::VectorXd>(bias.data(), static_cast<Index>(bias.size()));
  return Conv2d(input, out_channels, window, group, std::move(w), std::move(b), context);
}

Eigen::MatrixXd Conv2d::multiply(const Eigen::MatrixXd& X, Weights w) const {
  check_columns(X, inputs(), "Conv2d::multiply");
  Eigen::MatrixXd Y(outputs(), X.cols());
  const ConvKernel kernel(input_, output_, window_, group_, scratch_limit);
  kernel.multiply(w == Weights::plain ? weights_ : Eigen::MatrixXd(weights_.cwiseAbs()), X.data(),
                  columns_layout(inputs(), X.cols()), Y.data(), columns_layout(outputs(), X.cols()));
  return Y;
}

Eigen::MatrixXd Conv2d::forward(const Eigen::MatrixXd& X) const {
  Eigen::MatrixXd Y = multiply(X);
  Y.colwise() += dense_bias();
  return Y;
}

Eigen::MatrixXd Conv2d::transpose_multiply(const Eigen::MatrixXd& L, Weights w) const {
  check_columns(L, outputs(), "Conv2d::transpose_multiply");
  Eigen::MatrixXd X = Eigen::MatrixXd::Zero(inputs(), L.cols());
  const ConvKernel kernel(input_, output_, window_, group_, scratch_limit);
  kernel.transpose_multiply(w == Weights::plain ? weights_ : Eigen::MatrixXd(weights_.cwiseAbs()), L.data(),
                            columns_layout(outputs(), L.cols()), X.data(), columns_layout(inputs(), L.cols()));
  return X;
}

Eigen::MatrixXd Conv2d::multiply_rows(const Eigen::MatrixXd& X, Weights w) const {
  check_rows(X, inputs(), "Conv2d::multiply_rows");
  Eigen::MatrixXd Y(X.rows(), outputs());
  const ConvKernel kernel(input_, output_, window_, group_, scratch_limit);
  kernel.multiply(w == Weights::plain ? weights_ : Eigen::MatrixXd(weights_.cwiseAbs()), X.data(),
                  rows_layout(X.rows()), Y.data(), rows_layout(X.rows()));
  return Y;
}

Eigen::MatrixXd Conv2d::transpose_multiply_rows(const Eigen::MatrixXd& Nu, Weights w) const {
  check_rows(Nu, outputs(), "Conv2d::transpose_multiply_rows");
  Eigen::MatrixXd X = Eigen::MatrixXd::Zero(Nu.rows(), inputs());
  const ConvKernel kernel(input_, output_, window_, group_, scratch_limit);
  kernel.transpose_multiply(w == Weights::plain ? weights_ : Eigen::MatrixXd(weights_.cwiseAbs()), Nu.data(),
                            rows_layout(Nu.rows()), X.data(), rows_layout(Nu.rows()));
  return X;
}

Eigen::MatrixXd Conv2d::to_dense() const {
  // Column j of the matrix is A e_j: the products themselves, on the identity.
  return multiply(Eigen::MatrixXd::Identity(inputs(), inputs()));
}

Eigen::VectorXd Conv2d::dense_bias() const {
  Eigen::VectorXd b(outputs());
  const auto P = output_.positions();
  for (Index o = 0; o < output_.channels; ++o) b.segment(o * P, P).setConstant(bias_(o));
  return b;
}

namespace {

void check_keep(const std::vector<std::int64_t>& keep, std::int64_t channels, const char* what) {
  for (std::size_t i = 0; i < keep.size(); ++i)
    if (keep[i] < 0 || keep[i] >= channels || (i > 0 && keep[i] <= keep[i - 1]))
      throw Error(ExitCode::internal, fmt::format("internal error: {}: channels to keep must be ascending, distinct and below {}", what,
                                              channels));
  if (keep.empty()) throw Error(ExitCode::internal, fmt::format("internal error: {}: no channel kept", what));
}

}  // namespace

Conv2d Conv2d::select_output_channels(const std::vector<std::int64_t>& keep) const {
  if (group_ != 1) throw Error(ExitCode::internal, "internal error: Conv2d::select_output_channels: grouped convolution");
  check_keep(keep, output_.channels, "Conv2d::select_output_channels");
  const auto n = static_cast<Index>(keep.size());
  Eigen::MatrixXd w(n, weights_.cols());
  Eigen::VectorXd b(n);
  for (Index r = 0; r < n; ++r) {
    w.row(r) = weights_.row(keep[static_cast<std::size_t>(r)]);
    b(r) = bias_(keep[static_cast<std::size_t>(r)]);
  }
  Conv2d out(input_, n, window_, 1, std::move(w), std::move(b));
  out.scratch_limit = scratch_limit;
  return out;
}

Conv2d Conv2d::select_input_channels(const std::vector<std::int64_t>& keep) const {
  if (group_ != 1) throw Error(ExitCode::internal, "internal error: Conv2d::select_input_channels: grouped convolution");
  check_keep(keep, input_.channels, "Conv2d::select_input_channels");
  const auto taps = window_.kernel_h * window_.kernel_w;
  const auto n = static_cast<Index>(keep.size());
  Eigen::MatrixXd w(weights_.rows(), n * taps);
  for (Index r = 0; r < n; ++r) w.middleCols(r * taps, taps) = weights_.middleCols(keep[static_cast<std::size_t>(r)] * taps, taps);
  Conv2d out({n, input_.height, input_.width}, output_.channels, window_, 1, std::move(w), bias_);
  out.scratch_limit = scratch_limit;
  return out;
}

std::vector<std::pair<Eigen::Index, double>> Conv2d::row(Eigen::Index unit) const {
  if (unit < 0 || unit >= outputs()) throw Error(ExitCode::internal, "internal error: Conv2d::row: unit out of range");
  const auto P = output_.positions();
  const Index o = unit / P, oh = (unit % P) / output_.width, ow = unit % output_.width;
  const Index per_group = input_.channels / group_, c0 = (o / (output_.channels / group_)) * per_group;
  std::vector<std::pair<Eigen::Index, double>> r;
  for (Index cl = 0; cl < per_group; ++cl)
    for (Index i = 0; i < window_.kernel_h; ++i) {
      const Index ih = oh * window_.stride_h - window_.pad_top + i * window_.dilation_h;
      if (ih < 0 || ih >= input_.height) continue;
      for (Index j = 0; j < window_.kernel_w; ++j) {
        const Index iw = ow * window_.stride_w - window_.pad_left + j * window_.dilation_w;
        if (iw < 0 || iw >= input_.width) continue;
        r.emplace_back(input_.index(c0 + cl, ih, iw), weight(o, cl, i, j));
      }
    }
  // Ascending already: channel, then row, then column of the input.
  return r;
}

std::vector<Eigen::Index> channel_features(const Shape3& shape, const std::vector<std::int64_t>& keep) {
  check_keep(keep, shape.channels, "channel_features");
  std::vector<Eigen::Index> f;
  f.reserve(keep.size() * static_cast<std::size_t>(shape.positions()));
  for (auto c : keep)
    for (std::int64_t p = 0; p < shape.positions(); ++p) f.push_back(c * shape.positions() + p);
  return f;
}

// ---------------------------------------------------------------- AvgPool2d

AvgPool2d::AvgPool2d(Shape3 input, Window2d window, bool count_include_pad, const std::string& context)
    : input_(input), window_(window), count_include_pad_(count_include_pad) {
  check_window(context, input_, window_);
  if (window_.dilation_h != 1 || window_.dilation_w != 1)
    throw InputError(fmt::format("{}: dilated average pooling is not supported (dilations {},{})", context,
                                 window_.dilation_h, window_.dilation_w));
  if (window_.pad_top >= window_.kernel_h || window_.pad_bottom >= window_.kernel_h ||
      window_.pad_left >= window_.kernel_w || window_.pad_right >= window_.kernel_w)
    throw InputError(fmt::format("{}: pads {},{},{},{} must be smaller than the kernel {}x{}", context, window_.pad_top,
                                 window_.pad_left, window_.pad_bottom, window_.pad_right, window_.kernel_h,
                                 window_.kernel_w));
  output_ = output_shape(input_, input_.channels, window_);
  inverse_divisor_.resize(static_cast<std::size_t>(output_.positions()));
  for (std::int64_t oh = 0; oh < output_.height; ++oh)
    for (std::int64_t ow = 0; ow < output_.width; ++ow)
      inverse_divisor_[static_cast<std::size_t>(oh * output_.width + ow)] = 1.0 / divisor(oh, ow);
}

AvgPool2d AvgPool2d::global(Shape3 input, const std::string& context) {
  Window2d w;
  w.kernel_h = input.height;
  w.kernel_w = input.width;
  return AvgPool2d(input, w, false, context);
}

double AvgPool2d::divisor(std::int64_t oh, std::int64_t ow) const {
  if (count_include_pad_) return static_cast<double>(window_.kernel_h * window_.kernel_w);
  auto inside = [](std::int64_t start, std::int64_t k, std::int64_t n) {
    return std::min(start + k, n) - std::max<std::int64_t>(start, 0);
  };
  // Each window has at least one cell inside the input: pads < kernel.
  return static_cast<double>(inside(oh * window_.stride_h - window_.pad_top, window_.kernel_h, input_.height) *
                             inside(ow * window_.stride_w - window_.pad_left, window_.kernel_w, input_.width));
}

std::int64_t AvgPool2d::terms_per_input() const {
  return ((window_.kernel_h + window_.stride_h - 1) / window_.stride_h) *
         ((window_.kernel_w + window_.stride_w - 1) / window_.stride_w);
}

namespace {

// y = A x (transpose = false) or x = A^T y (transpose = true, x zero on
// entry) of an average pool, in any layout.
void pool_apply(const Shape3& in, const Shape3& out, const Window2d& w, const std::vector<double>& inv, bool transpose,
                const double* src, Layout sl, double* dst, Layout dl) {
  const Index N = sl.samples, OH = out.height, OW = out.width;
  for (Index c = 0; c < in.channels; ++c)
    for (Index oh = 0; oh < OH; ++oh) {
      const Index h0 = std::max<Index>(oh * w.stride_h - w.pad_top, 0);
      const Index h1 = std::min<Index>(oh * w.stride_h - w.pad_top + w.kernel_h, in.height);
      for (Index ow = 0; ow < OW; ++ow) {
        const Index w0 = std::max<Index>(ow * w.stride_w - w.pad_left, 0);
        const Index w1 = std::min<Index>(ow * w.stride_w - w.pad_left + w.kernel_w, in.width);
        const double s = inv[static_cast<std::size_t>(oh * OW + ow)];
        const Index o = out.index(c, oh, ow);
        for (Index n = 0; n < N; ++n) {
          if (!transpose) {
            double sum = 0.0;
            for (Index h = h0; h < h1; ++h)
              for (Index x = w0; x < w1; ++x) sum += src[n * sl.sample + in.index(c, h, x) * sl.feature];
            dst[n * dl.sample + o * dl.feature] = sum * s;
          } else {
            const double v = src[n * sl.sample + o * sl.feature] * s;
            for (Index h = h0; h < h1; ++h)
              for (Index x = w0; x < w1; ++x) dst[n * dl.sample + in.index(c, h, x) * dl.feature] += v;
          }
        }
      }
    }
}

}  // namespace

Eigen::MatrixXd AvgPool2d::multiply(const Eigen::MatrixXd& X, Weights) const {
  check_columns(X, inputs(), "AvgPool2d::multiply");
  Eigen::MatrixXd Y(outputs(), X.cols());
  pool_apply(input_, output_, window_, inverse_divisor_, false, X.data(), columns_layout(inputs(), X.cols()), Y.data(),
             columns_layout(outputs(), X.cols()));
  return Y;
}

Eigen::MatrixXd AvgPool2d::transpose_multiply(const Eigen::MatrixXd& L, Weights) const {
  check_columns(L, outputs(), "AvgPool2d::transpose_multiply");
  Eigen::MatrixXd X = Eigen::MatrixXd::Zero(inputs(), L.cols());
  pool_apply(input_, output_, window_, inverse_divisor_, true, L.data(), columns_layout(outputs(), L.cols()), X.data(),
             columns_layout(inputs(), L.cols()));
  return X;
}

Eigen::MatrixXd AvgPool2d::multiply_rows(const Eigen::MatrixXd& X, Weights) const {
  check_rows(X, inputs(), "AvgPool2d::multiply_rows");
  Eigen::MatrixXd Y(X.rows(), outputs());
  pool_apply(input_, output_, window_, inverse_divisor_, false, X.data(), rows_layout(X.rows()), Y.data(),
             rows_layout(X.rows()));
  return Y;
}

Eigen::MatrixXd AvgPool2d::transpose_multiply_rows(const Eigen::MatrixXd& Nu, Weights) const {
  check_rows(Nu, outputs(), "AvgPool2d::transpose_multiply_rows");
  Eigen::MatrixXd X = Eigen::MatrixXd::Zero(Nu.rows(), inputs());
  pool_apply(input_, output_, window_, inverse_divisor_, true, Nu.data(), rows_layout(Nu.rows()), X.data(),
             rows_layout(Nu.rows()));
  return X;
}

Eigen::MatrixXd AvgPool2d::to_dense() const { return multiply(Eigen::MatrixXd::Identity(inputs(), inputs())); }

// ---------------------------------------------------------------- ChannelAffine

ChannelAffine::ChannelAffine(Shape3 shape, Eigen::VectorXd scale, Eigen::VectorXd shift, const std::string& context)
    : shape_(shape), scale_(std::move(scale)), shift_(std::move(shift)) {
  if (shape_.channels <= 0 || shape_.height <= 0 || shape_.width <= 0)
    throw InputError(fmt::format("{}: the shape {}x{}x{} has a dimension that is not positive", context,
                                 shape_.channels, shape_.height, shape_.width));
  checked_product(context, {shape_.channels, shape_.height, shape_.width});
  if (scale_.size() != shape_.channels || shift_.size() != shape_.channels)
    throw InputError(fmt::format("{}: {} scales and {} shifts for {} channels", context, scale_.size(), shift_.size(),
                                 shape_.channels));
  if (!scale_.allFinite() || !shift_.allFinite())
    throw InputError(fmt::format("{}: a scale or shift is NaN or infinite", context));
}

ChannelAffine ChannelAffine::batch_norm(Shape3 shape, const Eigen::VectorXd& gamma, const Eigen::VectorXd& beta,
                                        const Eigen::VectorXd& mean, const Eigen::VectorXd& var, double epsilon,
                                        const std::string& context) {
  const auto C = shape.channels;
  if (gamma.size() != C || beta.size() != C || mean.size() != C || var.size() != C)
    throw InputError(fmt::format("{}: scale, B, mean and var have {}, {}, {} and {} entries; the input has {} channels",
                                 context, gamma.size(), beta.size(), mean.size(), var.size(), C));
  if (!gamma.allFinite() || !beta.allFinite() || !mean.allFinite() || !var.allFinite() || !std::isfinite(epsilon))
    throw InputError(fmt::format("{}: a parameter is NaN or infinite", context));
  Eigen::VectorXd scale(C), shift(C);
  for (Index c = 0; c < C; ++c) {
    const double v = var(c) + epsilon;
    if (!(v > 0.0))
      throw InputError(fmt::format("{}: var + epsilon = {} is not positive (channel {})", context, v, c));
    scale(c) = gamma(c) / std::sqrt(v);
    shift(c) = beta(c) - mean(c) * scale(c);
  }
  return ChannelAffine(shape, std::move(scale), std::move(shift), context);
}

Eigen::MatrixXd ChannelAffine::multiply(const Eigen::MatrixXd& X, Weights w) const {
  check_columns(X, inputs(), "ChannelAffine::multiply");
  Eigen::MatrixXd Y(X.rows(), X.cols());
  const auto P = shape_.positions();
  for (Index c = 0; c < shape_.channels; ++c) {
    const double s = w == Weights::plain ? scale_(c) : std::abs(scale_(c));
    Y.middleRows(c * P, P) = X.middleRows(c * P, P) * s;
  }
  return Y;
}

Eigen::MatrixXd ChannelAffine::forward(const Eigen::MatrixXd& X) const {
  Eigen::MatrixXd Y = multiply(X);
  Y.colwise() += dense_shift();
  return Y;
}

Eigen::MatrixXd ChannelAffine::multiply_rows(const Eigen::MatrixXd& X, Weights w) const {
  check_rows(X, inputs(), "ChannelAffine::multiply_rows");
  Eigen::MatrixXd Y(X.rows(), X.cols());
  const auto P = shape_.positions();
  for (Index c = 0; c < shape_.channels; ++c) {
    const double s = w == Weights::plain ? scale_(c) : std::abs(scale_(c));
    Y.middleCols(c * P, P) = X.middleCols(c * P, P) * s;
  }
  return Y;
}

Eigen::MatrixXd ChannelAffine::to_dense() const {
  Eigen::VectorXd d(inputs());
  const auto P = shape_.positions();
  for (Index c = 0; c < shape_.channels; ++c) d.segment(c * P, P).setConstant(scale_(c));
  return d.asDiagonal();
}

Eigen::VectorXd ChannelAffine::dense_shift() const {
  Eigen::VectorXd d(inputs());
  const auto P = shape_.positions();
  for (Index c = 0; c < shape_.channels; ++c) d.segment(c * P, P).setConstant(shift_(c));
  return d;
}

// ---------------------------------------------------------------- folds

Conv2d fold(const Conv2d& conv, const ChannelAffine& bn, const std::string& context) {
  if (!(bn.input() == conv.output()))
    throw InputError(fmt::format("{}: normalises a {}x{}x{} map but the Conv before it gives {}x{}x{}", context,
                                 bn.input().channels, bn.input().height, bn.input().width, conv.output().channels,
                                 conv.output().height, conv.output().width));
  Eigen::MatrixXd w = bn.scale().asDiagonal() * conv.weights();
  Eigen::VectorXd b = bn.scale().cwiseProduct(conv.bias()) + bn.shift();
  Conv2d folded(conv.input(), conv.output().channels, conv.window(), conv.group(), std::move(w), std::move(b), context);
  folded.scratch_limit = conv.scratch_limit;
  return folded;
}

AffineLayer fold(const AffineLayer& layer, const ChannelAffine& bn, const std::string& context) {
  if (!layer.is_dense())
    throw Error(ExitCode::internal, "internal error: fold(AffineLayer, ChannelAffine) needs a dense layer");
  if (bn.inputs() != layer.outputs())
    throw InputError(fmt::format("{}: normalises {} features but the layer before it gives {}", context, bn.inputs(),
                                 layer.outputs()));
  AffineLayer out;
  Eigen::VectorXd scale(bn.inputs());
  const auto P = bn.input().positions();
  for (Eigen::Index c = 0; c < bn.input().channels; ++c) scale.segment(c * P, P).setConstant(bn.scale()(c));
  out.weights = scale.asDiagonal() * layer.weights;
  out.bias = scale.cwiseProduct(layer.bias) + bn.dense_shift();
  return out;
}

}  // namespace leo
