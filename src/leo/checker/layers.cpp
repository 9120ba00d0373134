#include "leo/checker/layers.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cfenv>
#include <cmath>
#include <limits>
#include <variant>

#include "leo/checker/rounding.hpp"
#include "leo/network/structured.hpp"
#include "leo/util/error.hpp"

namespace leo::cert {
namespace {

// Everything below runs with the FPU rounding upward (set by interval_rows):
// a + b and a * b are >= their exact values, a lower end is computed as
// -(upper end of the negated expression).

// Upper end of the exact product of [al, ah] and [bl, bh] (finite ends).
inline double product_hi(double al, double ah, double bl, double bh) {
  return std::max(std::max(al * bl, al * bh), std::max(ah * bl, ah * bh));
}

// Builds rows one at a time: entries added to a row in any order (the same
// column several times: their intervals are summed), emitted sorted.
class RowBuilder {
 public:
  explicit RowBuilder(Eigen::Index cols) : hi_(static_cast<std::size_t>(cols), 0.0), neg_(hi_), used_(hi_.size(), 0) {
    out_.cols = cols;
  }
  void add(Eigen::Index c, double lo, double hi) {
    const auto i = static_cast<std::size_t>(c);
    if (!used_[i]) used_[i] = 1, touched_.push_back(c);
    hi_[i] += hi;
    neg_[i] += -lo;
  }
  void end_row() {
    std::sort(touched_.begin(), touched_.end());
    for (Eigen::Index c : touched_) {
      const auto i = static_cast<std::size_t>(c);
      const double lo = -neg_[i], hi = hi_[i];
      if (lo != 0.0 || hi != 0.0) {
        out_.col.push_back(c);
        out_.lo.push_back(lo);
        out_.hi.push_back(hi);
      }
      hi_[i] = neg_[i] = 0.0;
      used_[i] = 0;
    }
    touched_.clear();
    ++out_.rows;
    out_.start.push_back(static_cast<Eigen::Index>(out_.col.size()));
  }
  IntervalRows take() { return std::move(out_); }

 private:
  std::vector<double> hi_, neg_;
  std::vector<char> used_;
  std::vector<Eigen::Index> touched_;
  IntervalRows out_;
};

IntervalRows conv_rows(const Conv2d& conv) {
  const Shape3 in = conv.input(), out = conv.output();
  const Window2d& w = conv.window();
  const std::int64_t cg = in.channels / conv.group(), og = out.channels / conv.group();
  RowBuilder rb(in.size());
  for (std::int64_t o = 0; o < out.channels; ++o) {
    const std::int64_t c0 = (o / og) * cg;
    for (std::int64_t oh = 0; oh < out.height; ++oh)
      for (std::int64_t ow = 0; ow < out.width; ++ow) {
        for (std::int64_t c = 0; c < cg; ++c)
          for (std::int64_t i = 0; i < w.kernel_h; ++i) {
            const std::int64_t ih = oh * w.stride_h - w.pad_top + i * w.dilation_h;
            if (ih < 0 || ih >= in.height) continue;
            for (std::int64_t j = 0; j < w.kernel_w; ++j) {
              const std::int64_t iw = ow * w.stride_w - w.pad_left + j * w.dilation_w;
              if (iw < 0 || iw >= in.width) continue;
              const double v = conv.weight(o, c, i, j);
              if (v != 0.0) rb.add(in.index(c0 + c, ih, iw), v, v);
            }
          }
        rb.end_row();
      }
  }
  return rb.take();
}

IntervalRows pool_rows(const AvgPool2d& pool) {
  const Shape3 in = pool.input(), out = pool.output();
  const Window2d& w = pool.window();
  RowBuilder rb(in.size());
  std::vector<Eigen::Index> cells;
  for (std::int64_t c = 0; c < out.channels; ++c)
    for (std::int64_t oh = 0; oh < out.height; ++oh)
      for (std::int64_t ow = 0; ow < out.width; ++ow) {
        cells.clear();
        for (std::int64_t i = 0; i < w.kernel_h; ++i) {
          const std::int64_t ih = oh * w.stride_h - w.pad_top + i * w.dilation_h;
          if (ih < 0 || ih >= in.height) continue;
          for (std::int64_t j = 0; j < w.kernel_w; ++j) {
            const std::int64_t iw = ow * w.stride_w - w.pad_left + j * w.dilation_w;
            if (iw >= 0 && iw < in.width) cells.push_back(in.index(c, ih, iw));
          }
        }
        const double d = pool.count_include_pad() ? static_cast<double>(w.kernel_h * w.kernel_w)
                                                  : static_cast<double>(cells.size());
        // 1/d is not a double in general (1/9): the two doubles around it.
        const double hi = 1.0 / d, lo = -(-1.0 / d);
        for (Eigen::Index cell : cells) rb.add(cell, lo, hi);
        rb.end_row();
      }
  return rb.take();
}

IntervalRows affine_rows(const ChannelAffine& a) {  // the scale only: shifts are in the layer's bias
  const Shape3 s = a.input();
  RowBuilder rb(s.size());
  for (std::int64_t c = 0; c < s.channels; ++c)
    for (std::int64_t p = 0; p < s.positions(); ++p) {
      const double v = a.scale()[c];
      if (v != 0.0) rb.add(c * s.positions() + p, v, v);
      rb.end_row();
    }
  return rb.take();
}

IntervalRows permute_rows(const Permute& p) {
  RowBuilder rb(p.inputs());
  for (Eigen::Index s : p.source()) {
    rb.add(s, 1.0, 1.0);
    rb.end_row();
  }
  return rb.take();
}

IntervalRows op_rows(const StructuredMap::Op& op) {
  return std::visit(
      [](const auto& o) {
        using T = std::decay_t<decltype(o)>;
        if constexpr (std::is_same_v<T, Conv2d>) return conv_rows(o);
        else if constexpr (std::is_same_v<T, AvgPool2d>) return pool_rows(o);
        else if constexpr (std::is_same_v<T, ChannelAffine>) return affine_rows(o);
        else return permute_rows(o);
      },
      op);
}

// The rows of A B (A after B), enclosing every product of matrices in them.
IntervalRows compose(const IntervalRows& a, const IntervalRows& b) {
  RowBuilder rb(b.cols);
  for (Eigen::Index r = 0; r < a.rows; ++r) {
    for (Eigen::Index e = a.begin(r); e < a.end(r); ++e) {
      const auto t = static_cast<std::size_t>(e);
      const double al = a.lo[t], ah = a.hi[t];
      const Eigen::Index row = a.col[t];
      for (Eigen::Index f = b.begin(row); f < b.end(row); ++f) {
        const auto u = static_cast<std::size_t>(f);
        const double hi = product_hi(al, ah, b.lo[u], b.hi[u]);
        const double lo = -product_hi(-ah, -al, b.lo[u], b.hi[u]);
        rb.add(b.col[u], lo, hi);
      }
    }
    rb.end_row();
  }
  return rb.take();
}

IntervalRows identity_rows(Eigen::Index n) {
  RowBuilder rb(n);
  for (Eigen::Index i = 0; i < n; ++i) {
    rb.add(i, 1.0, 1.0);
    rb.end_row();
  }
  return rb.take();
}

IntervalRows structured_rows(const StructuredMap& map, const std::string& context) {
  // Each block's composed operator, then every output segment's rows as the
  // sum of the blocks writing it (0 where none does).
  const auto& blocks = map.blocks();
  std::vector<IntervalRows> composed;
  for (std::size_t k = 0; k < blocks.size(); ++k) {
    const auto& blk = blocks[k];
    const Eigen::Index n_in = map.input_segments()[blk.in].shape.size();
    IntervalRows m = identity_rows(n_in);
    for (const auto& op : blk.ops) {
      IntervalRows a = op_rows(op);
      if (a.cols != m.rows) throw InputError(fmt::format("{}: block {}: operators whose sizes do not chain", context, k));
      m = compose(a, m);
    }
    if (m.rows != map.output_segments()[blk.out].shape.size())
      throw InputError(fmt::format("{}: block {}: {} outputs for a segment of {}", context, k, m.rows,
                                   map.output_segments()[blk.out].shape.size()));
    composed.push_back(std::move(m));
  }
  RowBuilder rb(map.inputs());
  for (std::size_t s = 0; s < map.output_segments().size(); ++s) {
    const Eigen::Index n = map.output_segments()[s].shape.size();
    for (Eigen::Index r = 0; r < n; ++r) {
      for (std::size_t k = 0; k < blocks.size(); ++k) {
        if (blocks[k].out != s) continue;
        const IntervalRows& m = composed[k];
        const Eigen::Index offset = map.input_offset(blocks[k].in);
        for (Eigen::Index e = m.begin(r); e < m.end(r); ++e) {
          const auto t = static_cast<std::size_t>(e);
          rb.add(offset + m.col[t], m.lo[t], m.hi[t]);
        }
      }
      rb.end_row();
    }
  }
  return rb.take();
}

}  // namespace

IntervalRows interval_rows(const AffineLayer& layer, const std::string& context) {
  RoundUpward mode;
  IntervalRows out;
  if (layer.is_dense()) {
    const Eigen::MatrixXd& w = layer.weights;
    out.rows = w.rows();
    out.cols = w.cols();
    for (Eigen::Index r = 0; r < w.rows(); ++r) {
      for (Eigen::Index c = 0; c < w.cols(); ++c) {
        const double v = w(r, c);
        if (v == 0.0) continue;
        out.col.push_back(c);
        out.lo.push_back(v);
        out.hi.push_back(v);
      }
      out.start.push_back(static_cast<Eigen::Index>(out.col.size()));
    }
  } else {
    out = structured_rows(*layer.structured, context);
  }
  for (std::size_t e = 0; e < out.col.size(); ++e)
    if (!std::isfinite(out.lo[e]) || !std::isfinite(out.hi[e]))
      throw InputError(fmt::format("{}: a weight is not finite", context));
  return out;
}

}  // namespace leo::cert
