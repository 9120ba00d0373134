#include "leo/stability/sync.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "leo/util/cluster.hpp"
#include "leo/util/error.hpp"
#include "leo/util/parallel.hpp"

namespace leo::sync {
namespace {

class Out {
 public:
  template <typename T>
  void put(T x) {
    static_assert(std::is_trivially_copyable_v<T>);
    s_.append(reinterpret_cast<const char*>(&x), sizeof x);
  }
  void size(std::size_t n) { put<std::uint64_t>(n); }
  void text(std::string_view t) {
    size(t.size());
    s_.append(t);
  }
  void vector(const Eigen::VectorXd& v) {
    size(static_cast<std::size_t>(v.size()));
    s_.append(reinterpret_cast<const char*>(v.data()), static_cast<std::size_t>(v.size()) * sizeof(double));
  }
  std::string take() { return std::move(s_); }

 private:
  std::string s_;
};

class In {
 public:
  explicit In(std::string_view s) : s_(s) {}
  template <typename T>
  T get() {
    T x;
    take(&x, sizeof x);
    return x;
  }
  std::size_t size(std::size_t most) {
    const auto n = get<std::uint64_t>();
    if (n > most) fail();
    return static_cast<std::size_t>(n);
  }
  std::string text() {
    const std::size_t n = size(s_.size() - pos_);
    std::string t(s_.substr(pos_, n));
    pos_ += n;
    return t;
  }
  Eigen::VectorXd vector() {
    const std::size_t n = size((s_.size() - pos_) / sizeof(double));
    Eigen::VectorXd v(static_cast<Eigen::Index>(n));
    take(v.data(), n * sizeof(double));
    return v;
  }
  bool flag() {
    const auto b = get<std::uint8_t>();
    if (b > 1) fail();
    return b == 1;
  }
  void finish() const {
    if (pos_ != s_.size()) fail();
  }
  [[noreturn]] static void fail() {
    throw Error(ExitCode::internal, "MPI: the state sent by rank 0 is malformed");
  }

 private:
  void take(void* p, std::size_t n) {
    if (n > s_.size() - pos_) fail();
    if (n > 0) std::memcpy(p, s_.data() + pos_, n);
    pos_ += n;
  }
  std::string_view s_;
  std::size_t pos_ = 0;
};

// The first word of a sync message ("leo sync"; util/parallel.cpp's run_tasks sends "leotasks").
constexpr std::uint64_t kSyncMagic = 0x636e7973206f656cULL;

template <typename E>
E enum_in(In& in, int last) {
  const auto v = in.get<std::int32_t>();
  if (v < 0 || v > last) In::fail();
  return static_cast<E>(v);
}

}  // namespace

std::string write_state(const Analysis& a, const NetworkBounds* bounds, const std::string* extra) {
  Out out;
  out.size(a.layers.size());
  for (const auto& layer : a.layers) {
    out.size(layer.size());
    for (const UnitVerdict& v : layer) {
      out.put<std::int32_t>(static_cast<std::int32_t>(v.status));
      out.put<std::int32_t>(static_cast<std::int32_t>(v.stage));
      out.put(v.lower);
      out.put(v.upper);
      out.put<std::uint8_t>(v.seen_positive);
      out.put<std::uint8_t>(v.seen_negative);
    }
  }
  out.size(a.witnesses.size());
  for (const Witness& w : a.witnesses) {
    out.vector(w.input);
    out.size(w.units.size());
    for (const WitnessUnit& u : w.units) {
      out.put<std::int32_t>(u.layer);
      out.put<std::int32_t>(u.unit);
      out.put<std::uint8_t>(u.positive);
    }
  }
  out.size(a.stage_times.size());
  for (const StageTime& t : a.stage_times) {
    out.put<std::int32_t>(static_cast<std::int32_t>(t.stage));
    out.put(t.seconds);
    out.put<std::int32_t>(t.decided);
  }
  out.put(a.time_seconds);
  out.put<std::uint8_t>(a.timed_out);
  const Certification& c = a.certification;
  for (int n : {c.claims, c.proven, c.refuted, c.unknown}) out.put<std::int32_t>(n);
  out.put<std::int64_t>(c.nodes);
  out.put<std::int64_t>(c.lps);
  out.put(c.seconds);
  out.size(a.skipped_models.size());
  for (const SkippedModel& m : a.skipped_models) {
    out.put<std::int32_t>(static_cast<std::int32_t>(m.stage));
    out.size(m.layer);
    for (std::int64_t n : {m.rows, m.nonzeros, m.limit_rows, m.limit_nonzeros}) out.put(n);
  }
  out.put<std::uint8_t>(bounds != nullptr);
  if (bounds) {
    out.size(bounds->size());
    for (const Bounds& b : *bounds) out.vector(b.lower), out.vector(b.upper);
  }
  out.put<std::uint8_t>(extra != nullptr);
  if (extra) out.text(*extra);
  return out.take();
}

void read_state(const std::string& bytes, Analysis& a, NetworkBounds* bounds, std::string* extra) {
  In in(bytes);
  const int last_status = static_cast<int>(Status::undecided);
  int last_stage = static_cast<int>(Stage::none);
  for (const StageInfo& info : kStages) last_stage = std::max(last_stage, static_cast<int>(info.stage));
  if (in.size(bytes.size()) != a.layers.size()) In::fail();
  std::vector<std::vector<UnitVerdict>> layers(a.layers.size());
  for (std::size_t h = 0; h < layers.size(); ++h) {
    if (in.size(bytes.size()) != a.layers[h].size()) In::fail();
    layers[h].resize(a.layers[h].size());
    for (UnitVerdict& v : layers[h]) {
      v.status = enum_in<Status>(in, last_status);
      v.stage = enum_in<Stage>(in, last_stage);
      v.lower = in.get<double>();
      v.upper = in.get<double>();
      v.seen_positive = in.flag();
      v.seen_negative = in.flag();
    }
  }
  std::vector<Witness> witnesses(in.size(bytes.size()));
  for (Witness& w : witnesses) {
    w.input = in.vector();
    w.units.resize(in.size(bytes.size()));
    for (WitnessUnit& u : w.units) {
      u.layer = in.get<std::int32_t>();
      u.unit = in.get<std::int32_t>();
      u.positive = in.flag();
    }
  }
  std::vector<StageTime> times(in.size(bytes.size()));
  for (StageTime& t : times) {
    t.stage = enum_in<Stage>(in, last_stage);
    t.seconds = in.get<double>();
    t.decided = in.get<std::int32_t>();
  }
  const double time_seconds = in.get<double>();
  const bool timed_out = in.flag();
  Certification c;
  for (int* n : {&c.claims, &c.proven, &c.refuted, &c.unknown}) *n = in.get<std::int32_t>();
  c.nodes = static_cast<long>(in.get<std::int64_t>());
  c.lps = static_cast<long>(in.get<std::int64_t>());
  c.seconds = in.get<double>();
  std::vector<SkippedModel> skipped(in.size(bytes.size()));
  for (SkippedModel& m : skipped) {
    m.stage = enum_in<Stage>(in, last_stage);
    m.layer = in.size(~std::size_t{0});
    for (std::int64_t* n : {&m.rows, &m.nonzeros, &m.limit_rows, &m.limit_nonzeros}) *n = in.get<std::int64_t>();
  }
  NetworkBounds b;
  const bool has_bounds = in.flag();
  if (has_bounds) {
    b.resize(in.size(bytes.size()));
    for (Bounds& layer : b) {
      layer.lower = in.vector();
      layer.upper = in.vector();
      if (layer.lower.size() != layer.upper.size()) In::fail();
    }
  }
  std::string more;
  const bool has_extra = in.flag();
  if (has_extra) more = in.text();
  in.finish();
  // Both sides name the same parts (the same call on every rank).
  if (has_bounds != (bounds != nullptr) || has_extra != (extra != nullptr)) In::fail();

  a.layers = std::move(layers);
  a.witnesses = std::move(witnesses);
  a.stage_times = std::move(times);
  a.time_seconds = time_seconds;
  a.timed_out = timed_out;
  a.certification = c;
  a.skipped_models = std::move(skipped);
  if (bounds) *bounds = std::move(b);
  if (extra) *extra = std::move(more);
}

Decision follow_primary(std::string_view site, std::uint64_t inputs, bool go, double seconds_left, Analysis& analysis,
                        NetworkBounds* bounds, std::string* extra) {
  if (!cluster::distributed()) return {go, seconds_left};
  // Every rank names its sync point and inputs; rank 0 adds its decision and
  // state. One all_gather (the one collective leo uses: ranks that diverge
  // meet in it and see each other's site instead of hanging in another).
  Out out;
  out.put(kSyncMagic);
  out.text(site);
  out.put(inputs);
  if (cluster::primary()) {
    out.put<std::uint8_t>(go);
    out.put(seconds_left);
    out.text(write_state(analysis, bounds, extra));
  }
  const int me = cluster::rank();
  const std::vector<std::string> all = cluster::all_gather(out.take());
  std::vector<std::string> sites(all.size());
  std::vector<std::uint64_t> fingerprints(all.size());
  for (std::size_t r = 0; r < all.size(); ++r) {
    In in(all[r]);
    if (all[r].size() < sizeof(std::uint64_t) || in.get<std::uint64_t>() != kSyncMagic)
      throw Error(ExitCode::internal,
                  fmt::format("MPI: the ranks are out of step: rank {} is at '{}' while rank {} shares out tasks "
                              "(a rank-local decision that was not synchronised, or other commands on the ranks)",
                              me, site, r));
    sites[r] = in.text();
    fingerprints[r] = in.get<std::uint64_t>();
  }
  for (std::size_t r = 0; r < all.size(); ++r) {
    if (fingerprints[r] != fingerprints[0] && sites[r] == sites[0])
      throw Error(ExitCode::internal,
                  fmt::format("MPI: rank {} has another network or domain than rank 0 (at {}); the ranks must run the "
                              "same command on the same files",
                              r, sites[0]));
    if (sites[r] != sites[0])
      throw Error(ExitCode::internal,
                  fmt::format("MPI: the ranks are out of step: rank 0 is at '{}', rank {} at '{}' (this rank: {}); "
                              "a rank-local decision that was not synchronised (a bug), or other commands on the ranks",
                              sites[0], r, sites[r], me));
  }
  if (cluster::primary()) return {go, seconds_left};
  In in(all[0]);
  (void)in.get<std::uint64_t>();
  (void)in.text();
  (void)in.get<std::uint64_t>();
  Decision d;
  d.go = in.flag();
  d.seconds_left = in.get<double>();
  const std::string state = in.text();
  in.finish();
  read_state(state, analysis, bounds, extra);
  return d;
}

SharedClock follow_clock(std::string_view site, std::uint64_t inputs, const Deadline& limit, Analysis& analysis,
                         NetworkBounds* bounds, std::string* extra) {
  if (!cluster::distributed()) return SharedClock(limit);
  const Decision d = follow_primary(site, inputs, !limit.expired(), limit.remaining(), analysis, bounds, extra);
  if (cluster::primary() || limit.unlimited()) return SharedClock(d.go, limit);
  return SharedClock(d.go, Deadline(std::max(d.seconds_left, 1e-9)));
}

std::uint64_t input_fingerprint(const Network& net, const Box& box) {
  Fingerprint f;
  auto bits = [&](double d) {
    std::uint64_t b;
    std::memcpy(&b, &d, sizeof b);
    f.add(b);
  };
  f.add(static_cast<std::uint64_t>(box.lower.size())).add(static_cast<std::uint64_t>(net.layers.size()));
  for (Eigen::Index i = 0; i < box.lower.size(); ++i) bits(box.lower[i]), bits(box.upper[i]);
  if (box.lower.size() != net.inputs()) return f.value;
  Eigen::MatrixXd points(box.lower.size(), 3);
  points.col(0) = box.lower;
  points.col(1) = box.upper;
  points.col(2) = 0.5 * (box.lower + box.upper);
  // OpenBLAS on one thread (run_on_threads): the bits must not depend on a rank's thread count.
  std::vector<Eigen::MatrixXd> pre;
  run_on_threads(1, 1, [&](std::size_t) { pre = net.pre_activations(points); });
  for (const Eigen::MatrixXd& g : pre) {
    f.add(static_cast<std::uint64_t>(g.rows()));
    for (Eigen::Index k = 0; k < g.size(); ++k) bits(g.data()[k]);
  }
  return f.value;
}

}  // namespace leo::sync
