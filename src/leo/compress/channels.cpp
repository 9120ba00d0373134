#include "leo/compress/channels.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <memory>
#include <variant>

#include "leo/network/structured.hpp"
#include "leo/util/error.hpp"

namespace leo {

namespace {

using Eigen::Index;
using Op = StructuredMap::Op;
using Segment = StructuredMap::Segment;
using Block = StructuredMap::Block;
using Keep = std::vector<std::int64_t>;

// The channels of hidden layer h (see the header).
struct Channels {
  std::vector<Segment> segments;
  std::vector<Index> offset;  // first unit of each segment, and the total
  bool ok = true;

  Index unit(std::size_t s, std::int64_t c, std::int64_t p) const {
    return offset[s] + c * segments[s].shape.positions() + p;
  }
};

Channels hidden_channels(const Network& net, std::size_t h) {
  const AffineLayer& a = net.layers[h];
  const AffineLayer& b = net.layers[h + 1];
  Channels ch;
  if (!a.is_dense()) {
    ch.segments = a.structured->output_segments();
  } else if (!b.is_dense()) {
    for (const auto& s : b.structured->input_segments()) ch.segments.push_back({s.shape, false});
  } else {
    ch.segments.push_back({Shape3{a.outputs(), 1, 1}, false});
  }
  if (!a.is_dense() && !b.is_dense()) {
    const auto& in = b.structured->input_segments();
    if (in.size() != ch.segments.size()) ch.ok = false;
    for (std::size_t s = 0; ch.ok && s < in.size(); ++s) ch.ok = in[s].shape == ch.segments[s].shape;
  }
  ch.offset.assign(1, 0);
  for (const auto& s : ch.segments) ch.offset.push_back(ch.offset.back() + s.shape.size());
  if (ch.offset.back() != a.outputs() || ch.offset.back() != b.inputs()) ch.ok = false;
  return ch;
}

bool per_channel(const Op& op) {
  return std::holds_alternative<AvgPool2d>(op) || std::holds_alternative<ChannelAffine>(op);
}
bool plain_conv(const Op& op) {
  const auto* c = std::get_if<Conv2d>(&op);
  return c != nullptr && c->group() == 1;
}

// The Conv2d a writing block ends in (after per-channel operators), or -1.
std::ptrdiff_t writer_conv(const Block& blk) {
  std::size_t k = blk.ops.size();
  while (k > 0 && per_channel(blk.ops[k - 1])) --k;
  return k > 0 && plain_conv(blk.ops[k - 1]) ? static_cast<std::ptrdiff_t>(k - 1) : -1;
}
// The Conv2d a reading block starts with (after per-channel operators), or -1.
std::ptrdiff_t reader_conv(const Block& blk) {
  std::size_t k = 0;
  while (k < blk.ops.size() && per_channel(blk.ops[k])) ++k;
  return k < blk.ops.size() && plain_conv(blk.ops[k]) ? static_cast<std::ptrdiff_t>(k) : -1;
}

bool writers_can_drop(const AffineLayer& layer, std::size_t s) {
  if (layer.is_dense()) return true;
  for (const auto& blk : layer.structured->blocks())
    if (blk.out == s && writer_conv(blk) < 0) return false;
  return true;
}
bool readers_can_drop(const AffineLayer& layer, std::size_t s) {
  if (layer.is_dense()) return true;
  for (const auto& blk : layer.structured->blocks())
    if (blk.in == s && reader_conv(blk) < 0) return false;
  return true;
}

Op select_channels(const Op& op, const Keep& keep) {
  const auto n = static_cast<std::int64_t>(keep.size());
  if (const auto* p = std::get_if<AvgPool2d>(&op)) {
    Shape3 in = p->input();
    in.channels = n;
    return AvgPool2d(in, p->window(), p->count_include_pad(), "compress");
  }
  const auto& a = std::get<ChannelAffine>(op);
  Shape3 shape = a.input();
  shape.channels = n;
  Eigen::VectorXd scale(n), shift(n);
  for (Index i = 0; i < n; ++i) {
    scale[i] = a.scale()[keep[static_cast<std::size_t>(i)]];
    shift[i] = a.shift()[keep[static_cast<std::size_t>(i)]];
  }
  return ChannelAffine(shape, std::move(scale), std::move(shift), "compress");
}

void drop_writer_channels(Block& blk, const Keep& keep) {
  const auto k = static_cast<std::size_t>(writer_conv(blk));
  for (std::size_t j = k + 1; j < blk.ops.size(); ++j) blk.ops[j] = select_channels(blk.ops[j], keep);
  blk.ops[k] = std::get<Conv2d>(blk.ops[k]).select_output_channels(keep);
}
void drop_reader_channels(Block& blk, const Keep& keep) {
  const auto k = static_cast<std::size_t>(reader_conv(blk));
  for (std::size_t j = 0; j < k; ++j) blk.ops[j] = select_channels(blk.ops[j], keep);
  blk.ops[k] = std::get<Conv2d>(blk.ops[k]).select_input_channels(keep);
}

// One side of hidden layer h loses the channels not in keep[s]: the producer
// (layers[h]: its rows, or the output channels of the blocks writing
// segment s) or the consumer (layers[h+1]: its columns, or the input
// channels of the blocks reading segment s). `units` lists the kept units.
enum class Side { producer, consumer };
void drop_side(AffineLayer& layer, Side side, const Channels& ch, const std::vector<Keep>& keep,
               const std::vector<int>& units) {
  const bool producer = side == Side::producer;
  if (layer.is_dense()) {
    Eigen::MatrixXd w = producer ? Eigen::MatrixXd(layer.weights(units, Eigen::all))
                                 : Eigen::MatrixXd(layer.weights(Eigen::all, units));
    layer.weights = std::move(w);
    return;
  }
  const StructuredMap& m = *layer.structured;
  auto inputs = m.input_segments();
  auto outputs = m.output_segments();
  auto blocks = m.blocks();
  auto& segments = producer ? outputs : inputs;
  for (std::size_t s = 0; s < segments.size(); ++s) {
    if (static_cast<std::int64_t>(keep[s].size()) == ch.segments[s].shape.channels) continue;
    segments[s].shape.channels = static_cast<std::int64_t>(keep[s].size());
    for (auto& blk : blocks) {
      if ((producer ? blk.out : blk.in) != s) continue;
      if (producer)
        drop_writer_channels(blk, keep[s]);
      else
        drop_reader_channels(blk, keep[s]);
    }
  }
  layer.structured =
      std::make_shared<const StructuredMap>(std::move(inputs), std::move(outputs), std::move(blocks), "compress");
}

// Deletes from hidden layer h every channel not in keep[s] (all channels of
// segments whose keep list is complete stay untouched). The caller has moved
// whatever those channels contributed into layers[h+1]'s bias.
void delete_channels(Compressible& st, std::size_t h, const Channels& ch, const std::vector<Keep>& keep) {
  std::vector<int> units;  // kept units of hidden layer h
  for (std::size_t s = 0; s < ch.segments.size(); ++s) {
    const auto P = ch.segments[s].shape.positions();
    for (auto c : keep[s])
      for (std::int64_t p = 0; p < P; ++p) units.push_back(static_cast<int>(ch.unit(s, c, p)));
  }
  AffineLayer& a = st.network.layers[h];
  drop_side(a, Side::producer, ch, keep, units);
  Eigen::VectorXd bias = a.bias(units);
  a.bias = std::move(bias);
  drop_side(st.network.layers[h + 1], Side::consumer, ch, keep, units);
  std::vector<Status> status;
  std::vector<UnitOrigin> origin;
  for (int i : units) {
    status.push_back(st.status[h][static_cast<std::size_t>(i)]);
    origin.push_back(st.origin[h][static_cast<std::size_t>(i)]);
  }
  st.status[h] = std::move(status);
  st.origin[h] = std::move(origin);
}

// True when the channel's units may be removed by the rule of the header
// (carry, writers, readers); whether the channel is inactive/constant is the caller's.
bool removable(const Network& net, std::size_t h, const Channels& ch, std::size_t s) {
  return !ch.segments[s].carry && writers_can_drop(net.layers[h], s) && readers_can_drop(net.layers[h + 1], s);
}

std::string channel_list(const std::vector<std::pair<std::size_t, std::int64_t>>& list, bool segments) {
  std::string out;
  for (std::size_t i = 0; i < list.size(); ++i) {
    if (i == 12) {
      out += fmt::format(" ... ({} in all)", list.size());
      break;
    }
    out += i ? " " : "";
    out += segments ? fmt::format("{}:{}", list[i].first, list[i].second) : fmt::format("{}", list[i].second);
  }
  return out;
}

// Every channel not marked in `drop`, per segment; a segment keeps at least
// its first channel.
std::vector<Keep> kept_channels(const Channels& ch, const std::vector<std::vector<char>>& drop) {
  std::vector<Keep> keep(ch.segments.size());
  for (std::size_t s = 0; s < ch.segments.size(); ++s) {
    for (std::int64_t c = 0; c < ch.segments[s].shape.channels; ++c)
      if (!drop[s][static_cast<std::size_t>(c)]) keep[s].push_back(c);
  }
  return keep;
}

// The units of every channel marked in `drop`, ascending.
std::vector<int> removed_units(const Channels& ch, const std::vector<std::vector<char>>& drop) {
  std::vector<int> units;
  for (std::size_t s = 0; s < ch.segments.size(); ++s)
    for (std::int64_t c = 0; c < ch.segments[s].shape.channels; ++c)
      if (drop[s][static_cast<std::size_t>(c)])
        for (std::int64_t p = 0; p < ch.segments[s].shape.positions(); ++p) units.push_back(static_cast<int>(ch.unit(s, c, p)));
  return units;
}

// Which pre-activations of a layer are constant on the domain, given which of
// its inputs vary (`varying`: 1 or 0) and the constant values of the others
// (`values`, 0 where they vary): g_i = (W x)_i + b_i does not depend on x
// when (|W| varying)_i is exactly 0. The layer's absolute product is
// entrywise >= |W| (a product of |operators|) and a sum of nonnegative terms
// is 0 in floating point only when every term is, so a 0 means every weight
// on a varying input is exactly 0 (a product of float32 weights of a few
// operators cannot underflow in double). g_i is then (W values)_i + b_i.
struct Constants {
  std::vector<char> constant;  // per output unit
  Eigen::VectorXd value;       // g where constant
};
Constants constant_units(const AffineLayer& layer, const Eigen::VectorXd& varying, const Eigen::VectorXd& values) {
  const Eigen::VectorXd depends = layer.multiply(varying, Weights::absolute).col(0);
  Constants k;
  k.value = layer.multiply(values).col(0) + layer.bias;
  k.constant.resize(static_cast<std::size_t>(depends.size()));
  for (Index i = 0; i < depends.size(); ++i) k.constant[static_cast<std::size_t>(i)] = depends[i] == 0.0;
  return k;
}

}  // namespace

bool structured_hidden_layer(const Network& net, std::size_t h) {
  return h + 1 < net.layers.size() && (!net.layers[h].is_dense() || !net.layers[h + 1].is_dense());
}

RewriteResult remove_inactive_channels(const Compressible& state) {
  RewriteResult r{state, {}};
  auto& st = r.state;
  for (std::size_t h = 0; h < st.status.size(); ++h) {
    if (!structured_hidden_layer(st.network, h)) continue;
    const Channels ch = hidden_channels(st.network, h);
    if (!ch.ok) continue;
    std::vector<std::vector<char>> drop(ch.segments.size());
    std::vector<std::pair<std::size_t, std::int64_t>> dropped;
    int units = 0;
    for (std::size_t s = 0; s < ch.segments.size(); ++s) {
      const Shape3& shape = ch.segments[s].shape;
      drop[s].assign(static_cast<std::size_t>(shape.channels), 0);
      if (!removable(st.network, h, ch, s)) continue;
      std::int64_t n = 0;
      for (std::int64_t c = 0; c < shape.channels; ++c) {
        bool inactive = true;
        for (std::int64_t p = 0; p < shape.positions() && inactive; ++p)
          inactive = st.status[h][static_cast<std::size_t>(ch.unit(s, c, p))] == Status::inactive;
        if (inactive) drop[s][static_cast<std::size_t>(c)] = 1, ++n;
      }
      if (n == shape.channels) drop[s][0] = 0, --n;  // a segment keeps a channel
      for (std::int64_t c = 0; c < shape.channels; ++c)
        if (drop[s][static_cast<std::size_t>(c)]) {
          dropped.emplace_back(s, c);
          units += static_cast<int>(shape.positions());
        }
    }
    if (dropped.empty()) continue;
    r.steps.push_back({RewriteKind::inactive_channel, static_cast<int>(h), units,
                       fmt::format("{} channel{} stably inactive at every position: {}", dropped.size(),
                                   dropped.size() == 1 ? "" : "s", channel_list(dropped, ch.segments.size() > 1)),
                       static_cast<int>(dropped.size())});
    // For a certificate: every unit of the channels removed (checker/, docs/certificates.md).
    r.steps.back().removed = removed_units(ch, drop);
    delete_channels(st, h, ch, kept_channels(ch, drop));
  }
  return r;
}

RewriteResult fold_constant_channels(const Compressible& state) {
  RewriteResult r{state, {}};
  auto& st = r.state;
  // The inputs of layers[0] all count as varying (the domain is not consulted).
  Eigen::VectorXd varying = Eigen::VectorXd::Ones(st.network.inputs());
  Eigen::VectorXd values = Eigen::VectorXd::Zero(st.network.inputs());
  for (std::size_t h = 0; h < st.status.size(); ++h) {
    Constants k = constant_units(st.network.layers[h], varying, values);
    const Channels ch = structured_hidden_layer(st.network, h) ? hidden_channels(st.network, h) : Channels{};
    if (structured_hidden_layer(st.network, h) && ch.ok) {
      const AffineLayer& b = st.network.layers[h + 1];
      std::vector<std::vector<char>> drop(ch.segments.size());
      std::vector<std::pair<std::size_t, std::int64_t>> folded;
      Eigen::VectorXd added = Eigen::VectorXd::Zero(b.outputs());
      std::vector<double> value(static_cast<std::size_t>(b.inputs()), 0.0);  // the constant of each folded unit
      int units = 0;
      for (std::size_t s = 0; s < ch.segments.size(); ++s) {
        const Shape3& shape = ch.segments[s].shape;
        drop[s].assign(static_cast<std::size_t>(shape.channels), 0);
        if (!removable(st.network, h, ch, s)) continue;
        std::int64_t n = 0;
        for (std::int64_t c = 0; c < shape.channels && n + 1 < shape.channels; ++c) {
          bool constant = true;
          for (std::int64_t p = 0; p < shape.positions() && constant; ++p) {
            const auto i = static_cast<std::size_t>(ch.unit(s, c, p));
            // An unstable verdict (a witness of both signs) contradicts a constant: leave it alone.
            constant = k.constant[i] && st.status[h][i] != Status::unstable;
          }
          if (!constant) continue;
          Eigen::MatrixXd v = Eigen::MatrixXd::Zero(b.inputs(), 1);
          for (std::int64_t p = 0; p < shape.positions(); ++p) {
            const Index i = ch.unit(s, c, p);
            v(i, 0) = std::max(k.value[i], 0.0);
          }
          const Eigen::VectorXd contribution = b.multiply(v).col(0);
          if (!b.is_dense()) {
            // The contribution must be one value per output channel.
            bool uniform = true;
            const auto& outs = b.structured->output_segments();
            for (std::size_t t = 0; t < outs.size() && uniform; ++t) {
              const auto P = outs[t].shape.positions();
              for (std::int64_t o = 0; o < outs[t].shape.channels && uniform; ++o) {
                const Index first = b.structured->output_offset(t) + o * P;
                for (std::int64_t p = 1; p < P && uniform; ++p)
                  uniform = contribution[first + p] == contribution[first];
              }
            }
            if (!uniform) continue;
          }
          added += contribution;
          for (std::int64_t p = 0; p < shape.positions(); ++p) value[static_cast<std::size_t>(ch.unit(s, c, p))] = v(ch.unit(s, c, p), 0);
          drop[s][static_cast<std::size_t>(c)] = 1;
          ++n;
          folded.emplace_back(s, c);
          units += static_cast<int>(shape.positions());
        }
      }
      if (!folded.empty()) {
        st.network.layers[h + 1].bias += added;
        r.steps.push_back({RewriteKind::constant_channel, static_cast<int>(h), units,
                           fmt::format("{} channel{} constant on the domain (no weight on an input that varies) "
                                       "folded into the next bias: {}",
                                       folded.size(), folded.size() == 1 ? "" : "s",
                                       channel_list(folded, ch.segments.size() > 1)),
                           static_cast<int>(folded.size())});
        // For a certificate: every unit folded, and the value relu(g) it was folded as.
        r.steps.back().removed = removed_units(ch, drop);
        for (int u : r.steps.back().removed) r.steps.back().coefficient.push_back(value[static_cast<std::size_t>(u)]);
        delete_channels(st, h, ch, kept_channels(ch, drop));
        k = constant_units(st.network.layers[h], varying, values);  // its units, after the deletion
      }
    }
    // The inputs of layers[h+1]: 0 where stably inactive, relu(g) where g is constant; the rest vary.
    varying.resize(static_cast<Index>(k.constant.size()));
    values.resize(varying.size());
    for (std::size_t i = 0; i < k.constant.size(); ++i) {
      const auto j = static_cast<Index>(i);
      const bool inactive = st.status[h][i] == Status::inactive;
      varying[j] = inactive || k.constant[i] ? 0.0 : 1.0;
      values[j] = inactive || !k.constant[i] ? 0.0 : std::max(k.value[j], 0.0);
    }
  }
  return r;
}

StableKept stable_units_kept(const Compressible& state) {
  StableKept k;
  for (std::size_t h = 0; h < state.status.size(); ++h) {
    if (!structured_hidden_layer(state.network, h)) continue;
    const Channels ch = hidden_channels(state.network, h);
    if (!ch.ok) {
      const AffineLayer& a = state.network.layers[h];
      for (std::size_t i = 0; i < state.status[h].size(); ++i) {
        const Status s = state.status[h][i];
        if ((s == Status::active || s == Status::inactive) &&
            (a.is_dense() || !a.structured->is_carry(static_cast<Index>(i))))
          ++k.units;
      }
      continue;
    }
    for (std::size_t s = 0; s < ch.segments.size(); ++s) {
      if (ch.segments[s].carry) continue;
      const Shape3& shape = ch.segments[s].shape;
      for (std::int64_t c = 0; c < shape.channels; ++c) {
        std::int64_t n = 0;
        for (std::int64_t p = 0; p < shape.positions(); ++p) {
          const Status x = state.status[h][static_cast<std::size_t>(ch.unit(s, c, p))];
          n += x == Status::active || x == Status::inactive;
        }
        k.units += n;
        k.channels += n > 0;
      }
    }
  }
  return k;
}

}  // namespace leo
