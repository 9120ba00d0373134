#include "leo/checker/certificate.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <iterator>
#include <fstream>
#include <sstream>

#include "leo/network/structured.hpp"
#include "leo/util/atomic_file.hpp"
#include "leo/util/error.hpp"

namespace leo::cert {

using nlohmann::json;

SparseVector sparse(const Eigen::VectorXd& dense) {
  SparseVector s;
  for (Eigen::Index i = 0; i < dense.size(); ++i)
    if (dense[i] != 0.0) {
      s.index.push_back(i);
      s.value.push_back(dense[i]);
    }
  return s;
}

const char* step_name(const Step& step) {
  switch (step.index()) {
    case 0: return "propagate";
    case 1: return "linear";
    case 2: return "input_split";
    default: return "relu_split";
  }
}

// ---- digests ---------------------------------------------------------------

namespace {

class Fnv {
 public:
  void bytes(const void* p, std::size_t n) {
    const auto* c = static_cast<const unsigned char*>(p);
    for (std::size_t i = 0; i < n; ++i) h_ = (h_ ^ c[i]) * 0x100000001b3ULL;
  }
  void number(double x) {
    if (x == 0.0) x = 0.0;  // -0 and +0 alike
    bytes(&x, sizeof x);
  }
  void integer(std::int64_t n) { bytes(&n, sizeof n); }
  std::string hex() const { return fmt::format("fnv1a64:{:016x}", h_); }

 private:
  std::uint64_t h_ = 0xcbf29ce484222325ULL;
};

}  // namespace

namespace {

void shape(Fnv& f, const Shape3& s) {
  f.integer(s.channels);
  f.integer(s.height);
  f.integer(s.width);
}
void window(Fnv& f, const Window2d& w) {
  for (std::int64_t v : {w.kernel_h, w.kernel_w, w.stride_h, w.stride_w, w.pad_top, w.pad_left, w.pad_bottom,
                         w.pad_right, w.dilation_h, w.dilation_w})
    f.integer(v);
}

// A structured layer: its segments, blocks and every operator's parameters.
void structured(Fnv& f, const StructuredMap& m) {
  f.integer(static_cast<std::int64_t>(m.input_segments().size()));
  for (const auto& s : m.input_segments()) shape(f, s.shape);
  f.integer(static_cast<std::int64_t>(m.output_segments().size()));
  for (const auto& s : m.output_segments()) shape(f, s.shape), f.integer(s.carry ? 1 : 0);
  f.integer(static_cast<std::int64_t>(m.blocks().size()));
  for (const auto& b : m.blocks()) {
    f.integer(static_cast<std::int64_t>(b.in));
    f.integer(static_cast<std::int64_t>(b.out));
    f.integer(static_cast<std::int64_t>(b.ops.size()));
    for (const auto& op : b.ops) {
      f.integer(static_cast<std::int64_t>(op.index()));
      if (const auto* c = std::get_if<Conv2d>(&op)) {
        shape(f, c->input());
        shape(f, c->output());
        window(f, c->window());
        f.integer(c->group());
        const Eigen::MatrixXd& w = c->weights();
        for (Eigen::Index r = 0; r < w.rows(); ++r)
          for (Eigen::Index k = 0; k < w.cols(); ++k) f.number(w(r, k));
      } else if (const auto* p = std::get_if<AvgPool2d>(&op)) {
        shape(f, p->input());
        window(f, p->window());
        f.integer(p->count_include_pad() ? 1 : 0);
      } else if (const auto* a = std::get_if<ChannelAffine>(&op)) {
        shape(f, a->input());
        for (Eigen::Index k = 0; k < a->scale().size(); ++k) f.number(a->scale()[k]), f.number(a->shift()[k]);
      } else if (const auto* q = std::get_if<Permute>(&op)) {
        shape(f, q->input());
        shape(f, q->output());
        for (Eigen::Index s : q->source()) f.integer(s);
      }
    }
  }
}

}  // namespace

std::string digest(const Network& network) {
  Fnv f;
  f.integer(static_cast<std::int64_t>(network.layers.size()));
  for (const AffineLayer& layer : network.layers) {
    f.integer(layer.weights.rows());
    f.integer(layer.weights.cols());
    for (Eigen::Index r = 0; r < layer.weights.rows(); ++r)
      for (Eigen::Index c = 0; c < layer.weights.cols(); ++c) f.number(layer.weights(r, c));
    f.integer(layer.bias.size());
    for (Eigen::Index r = 0; r < layer.bias.size(); ++r) f.number(layer.bias[r]);
    if (!layer.is_dense()) structured(f, *layer.structured);  // (dense layers: as in version 2's first release)
  }
  return f.hex();
}

std::string digest(const Box& box) {
  Fnv f;
  f.integer(box.size());
  for (Eigen::Index i = 0; i < box.size(); ++i) {
    f.number(box.lower[i]);
    f.number(box.upper[i]);
  }
  return f.hex();
}

// ---- writing -----------------------------------------------------------------

namespace {

json number(double x) {
  if (std::isfinite(x)) return x;
  if (std::isnan(x)) return "nan";
  return x > 0 ? "inf" : "-inf";
}

json to_json(const SparseVector& s) {
  json v = json::array();
  json i = json::array();
  for (std::size_t k = 0; k < s.index.size(); ++k) {
    i.push_back(s.index[k]);
    v.push_back(number(s.value[k]));
  }
  return json{{"i", i}, {"v", v}};
}

json to_json(const std::vector<SparseVector>& nu) {
  json a = json::array();
  for (const SparseVector& s : nu) a.push_back(to_json(s));
  return a;
}

const char* side_name(Side s) { return s == Side::upper ? "upper" : "lower"; }

json step_json(const Step& step) {
  json j{{"rule", step_name(step)}};
  if (const auto* p = std::get_if<Propagate>(&step)) {
    j["crown"] = p->crown;
  } else if (const auto* l = std::get_if<Linear>(&step)) {
    json claims = json::array();
    for (const LinearClaim& c : l->claims)
      claims.push_back(json{{"layer", c.layer}, {"unit", c.unit}, {"side", side_name(c.side)},
                            {"bound", number(c.bound)}, {"nu", to_json(c.nu)}});
    j["claims"] = claims;
  } else if (const auto* s = std::get_if<InputSplit>(&step)) {
    // Compact preorder: a leaf is null, a split is [dim, point].
    json nodes = json::array();
    for (const InputNode& n : s->nodes) nodes.push_back(n.dim < 0 ? json(nullptr) : json::array({n.dim, number(n.point)}));
    j["nodes"] = nodes;
  } else if (const auto* r = std::get_if<ReluSplit>(&step)) {
    j["layer"] = r->layer;
    j["unit"] = r->unit;
    j["side"] = side_name(r->side);
    j["bound"] = number(r->bound);
    // Preorder: a split is [layer, unit]; a leaf is null, or {"nu": [...]}.
    json nodes = json::array();
    for (const PhaseNode& n : r->nodes) {
      if (n.layer >= 0)
        nodes.push_back(json::array({n.layer, n.unit}));
      else if (n.nu.empty())
        nodes.push_back(nullptr);
      else
        nodes.push_back(json{{"nu", to_json(n.nu)}});
    }
    j["nodes"] = nodes;
  }
  return j;
}

}  // namespace

json to_json(const Certificate& c) {
  json j;
  j["format"] = kFormat;
  j["version"] = c.version;
  j["command"] = c.command;
  j["leo_version"] = c.leo_version;
  j["model_digest"] = c.model_digest;
  j["domain_digest"] = c.domain_digest;
  json lo = json::array(), hi = json::array();
  for (Eigen::Index i = 0; i < c.box.size(); ++i) {
    lo.push_back(number(c.box.lower[i]));
    hi.push_back(number(c.box.upper[i]));
  }
  j["domain"] = json{{"lower", lo}, {"upper", hi}};
  json steps = json::array();
  for (const Step& s : c.steps) steps.push_back(step_json(s));
  j["steps"] = steps;
  j["verdicts"] = c.verdicts;
  json w = json::array();
  for (const WitnessPoint& p : c.witnesses) {
    json signs = json::array();
    for (const WitnessSign& s : p.signs) signs.push_back(json::array({s.layer, s.unit, s.positive ? 1 : -1}));
    json in = json::array();
    for (double x : p.input) in.push_back(number(x));
    w.push_back(json{{"input", in}, {"signs", signs}});
  }
  j["witnesses"] = w;
  if (c.compress) {
    json rewrites = json::array();
    for (const Rewrite& r : c.compress->rewrites) {
      json o{{"kind", r.kind}, {"layer", r.layer}};
      if (r.kind != "layer_fold" && r.kind != "dead_layer") o["units"] = r.units;
      auto numbers = [&](const std::vector<double>& v) {
        json a = json::array();
        for (double x : v) a.push_back(number(x));
        return a;
      };
      if (r.kind == "constant_unit" || r.kind == "constant_channel") o["values"] = numbers(r.coefficient);
      if (r.kind == "duplicate_unit") {
        o["into"] = r.into;
        o["factors"] = numbers(r.coefficient);
      }
      if (r.kind == "dependent_active") {
        o["basis"] = r.basis;
        json a = json::array();
        for (const auto& row : r.alpha) a.push_back(numbers(row));
        o["alpha"] = a;
        o["offsets"] = numbers(r.coefficient);
      }
      rewrites.push_back(std::move(o));
    }
    j["compress"] = json{{"fates", c.compress->fates},
                         {"output_digest", c.compress->output_digest},
                         {"rewrites", rewrites}};
  }
  return j;
}

// ---- reading: strict, every field checked ---------------------------------------

namespace {

struct Reader {
  std::string context;

  [[noreturn]] void fail(const std::string& where, const std::string& what) const {
    throw InputError(fmt::format("{}: {}: {}", context, where, what));
  }
  const json& field(const json& j, const char* name, const std::string& where) const {
    if (!j.is_object()) fail(where, "expected an object");
    auto it = j.find(name);
    if (it == j.end()) fail(where, fmt::format("missing field '{}'", name));
    return *it;
  }
  double num(const json& j, const std::string& where) const {
    if (j.is_number()) return j.get<double>();
    if (j.is_string()) {
      const std::string s = j.get<std::string>();
      if (s == "inf") return std::numeric_limits<double>::infinity();
      if (s == "-inf") return -std::numeric_limits<double>::infinity();
    }
    fail(where, "expected a number");
  }
  double finite(const json& j, const std::string& where) const {
    double x = num(j, where);
    if (!std::isfinite(x)) fail(where, "expected a finite number");
    return x;
  }
  std::int64_t integer(const json& j, const std::string& where, std::int64_t lo, std::int64_t hi) const {
    if (!j.is_number_integer()) fail(where, "expected an integer");
    const auto v = j.get<std::int64_t>();
    if (v < lo || v > hi) fail(where, fmt::format("{} is out of range [{}, {}]", v, lo, hi));
    return v;
  }
  std::string str(const json& j, const std::string& where) const {
    if (!j.is_string()) fail(where, "expected a string");
    return j.get<std::string>();
  }
  const json& array(const json& j, const std::string& where) const {
    if (!j.is_array()) fail(where, "expected an array");
    return j;
  }
  Side side(const json& j, const std::string& where) const {
    const std::string s = str(j, where);
    if (s == "upper") return Side::upper;
    if (s == "lower") return Side::lower;
    fail(where, fmt::format("side '{}' is neither 'upper' nor 'lower'", s));
  }
  SparseVector sparse_vector(const json& j, const std::string& where) const {
    SparseVector s;
    const json& i = array(field(j, "i", where), where + ".i");
    const json& v = array(field(j, "v", where), where + ".v");
    if (i.size() != v.size()) fail(where, "'i' and 'v' differ in length");
    for (std::size_t k = 0; k < i.size(); ++k) {
      s.index.push_back(integer(i[k], fmt::format("{}.i[{}]", where, k), 0, (std::int64_t{1} << 40)));
      s.value.push_back(finite(v[k], fmt::format("{}.v[{}]", where, k)));
    }
    return s;
  }
  std::vector<SparseVector> multipliers(const json& j, const std::string& where) const {
    std::vector<SparseVector> nu;
    const json& a = array(j, where);
    for (std::size_t k = 0; k < a.size(); ++k) nu.push_back(sparse_vector(a[k], fmt::format("{}[{}]", where, k)));
    return nu;
  }
  static constexpr std::int64_t kMax = std::int64_t{1} << 31;

  std::vector<int> indices(const json& j, const std::string& where) const {
    std::vector<int> out;
    const json& a = array(j, where);
    for (std::size_t k = 0; k < a.size(); ++k) out.push_back(static_cast<int>(integer(a[k], fmt::format("{}[{}]", where, k), 0, kMax)));
    return out;
  }
  std::vector<double> numbers(const json& j, const std::string& where, std::size_t size) const {
    std::vector<double> out;
    const json& a = array(j, where);
    if (a.size() != size) fail(where, fmt::format("{} numbers, expected {} (one per unit)", a.size(), size));
    for (std::size_t k = 0; k < a.size(); ++k) out.push_back(finite(a[k], fmt::format("{}[{}]", where, k)));
    return out;
  }

  Rewrite rewrite(const json& j, const std::string& where) const {
    Rewrite r;
    r.kind = str(field(j, "kind", where), where + ".kind");
    static const char* kinds[] = {"inactive_unit", "zero_outgoing", "constant_unit", "duplicate_unit",
                                  "dependent_active", "layer_fold", "dead_layer", "inactive_channel", "constant_channel"};
    if (std::find(std::begin(kinds), std::end(kinds), r.kind) == std::end(kinds))
      fail(where + ".kind", fmt::format("unknown rewrite '{}'", r.kind));
    r.layer = static_cast<int>(integer(field(j, "layer", where), where + ".layer", 0, kMax));
    if (r.kind == "layer_fold" || r.kind == "dead_layer") return r;
    r.units = indices(field(j, "units", where), where + ".units");
    if (r.kind == "constant_unit" || r.kind == "constant_channel")
      r.coefficient = numbers(field(j, "values", where), where + ".values", r.units.size());
    if (r.kind == "duplicate_unit") {
      r.into = indices(field(j, "into", where), where + ".into");
      if (r.into.size() != r.units.size()) fail(where + ".into", "not one entry per unit");
      r.coefficient = numbers(field(j, "factors", where), where + ".factors", r.units.size());
    }
    if (r.kind == "dependent_active") {
      r.basis = indices(field(j, "basis", where), where + ".basis");
      const json& a = array(field(j, "alpha", where), where + ".alpha");
      if (a.size() != r.units.size()) fail(where + ".alpha", "not one row per unit");
      for (std::size_t k = 0; k < a.size(); ++k)
        r.alpha.push_back(numbers(a[k], fmt::format("{}.alpha[{}]", where, k), r.basis.size()));
      r.coefficient = numbers(field(j, "offsets", where), where + ".offsets", r.units.size());
    }
    return r;
  }

  Step step(const json& j, const std::string& where) const {
    const std::string rule = str(field(j, "rule", where), where + ".rule");
    if (rule == "propagate") {
      const json& c = field(j, "crown", where);
      if (!c.is_boolean()) fail(where + ".crown", "expected true or false");
      return Propagate{c.get<bool>()};
    }
    if (rule == "linear") {
      Linear l;
      const json& claims = array(field(j, "claims", where), where + ".claims");
      for (std::size_t k = 0; k < claims.size(); ++k) {
        const std::string w = fmt::format("{}.claims[{}]", where, k);
        LinearClaim c;
        c.layer = static_cast<int>(integer(field(claims[k], "layer", w), w + ".layer", 0, kMax));
        c.unit = static_cast<int>(integer(field(claims[k], "unit", w), w + ".unit", 0, kMax));
        c.side = side(field(claims[k], "side", w), w + ".side");
        c.bound = finite(field(claims[k], "bound", w), w + ".bound");
        c.nu = multipliers(field(claims[k], "nu", w), w + ".nu");
        l.claims.push_back(std::move(c));
      }
      return l;
    }
    if (rule == "input_split") {
      InputSplit s;
      const json& nodes = array(field(j, "nodes", where), where + ".nodes");
      for (std::size_t k = 0; k < nodes.size(); ++k) {
        const std::string w = fmt::format("{}.nodes[{}]", where, k);
        if (nodes[k].is_null()) {
          s.nodes.push_back({});
          continue;
        }
        const json& a = array(nodes[k], w);
        if (a.size() != 2) fail(w, "expected null (a leaf) or [dim, point]");
        s.nodes.push_back({static_cast<int>(integer(a[0], w + "[0]", 0, kMax)), finite(a[1], w + "[1]")});
      }
      return s;
    }
    if (rule == "relu_split") {
      ReluSplit r;
      r.layer = static_cast<int>(integer(field(j, "layer", where), where + ".layer", 0, kMax));
      r.unit = static_cast<int>(integer(field(j, "unit", where), where + ".unit", 0, kMax));
      r.side = side(field(j, "side", where), where + ".side");
      r.bound = finite(field(j, "bound", where), where + ".bound");
      const json& nodes = array(field(j, "nodes", where), where + ".nodes");
      for (std::size_t k = 0; k < nodes.size(); ++k) {
        const std::string w = fmt::format("{}.nodes[{}]", where, k);
        PhaseNode n;
        if (nodes[k].is_array()) {
          if (nodes[k].size() != 2) fail(w, "expected [layer, unit], null or {\"nu\": ...}");
          n.layer = static_cast<int>(integer(nodes[k][0], w + "[0]", 0, kMax));
          n.unit = static_cast<int>(integer(nodes[k][1], w + "[1]", 0, kMax));
        } else if (nodes[k].is_object()) {
          n.nu = multipliers(field(nodes[k], "nu", w), w + ".nu");
        } else if (!nodes[k].is_null()) {
          fail(w, "expected [layer, unit], null or {\"nu\": ...}");
        }
        r.nodes.push_back(std::move(n));
      }
      return r;
    }
    fail(where + ".rule", fmt::format("unknown rule '{}' (known: propagate, linear, input_split, relu_split)", rule));
  }
};

}  // namespace

Certificate from_json(const json& j, const std::string& context) {
  Reader r{context};
  Certificate c;
  if (!j.is_object()) r.fail("certificate", "expected a JSON object");
  if (r.str(r.field(j, "format", "certificate"), "format") != kFormat)
    r.fail("format", fmt::format("not a '{}' file", kFormat));
  c.version = static_cast<int>(r.integer(r.field(j, "version", "certificate"), "version", 0, 1 << 30));
  if (c.version != kVersion)
    r.fail("version", fmt::format("version {} is not supported (this checker reads version {})", c.version, kVersion));
  c.command = r.str(r.field(j, "command", "certificate"), "command");
  if (c.command != "analyze" && c.command != "compress")
    r.fail("command", fmt::format("'{}' is neither 'analyze' nor 'compress'", c.command));
  if (j.contains("leo_version")) c.leo_version = r.str(j["leo_version"], "leo_version");
  c.model_digest = r.str(r.field(j, "model_digest", "certificate"), "model_digest");
  c.domain_digest = r.str(r.field(j, "domain_digest", "certificate"), "domain_digest");
  const json& d = r.field(j, "domain", "certificate");
  const json& lo = r.array(r.field(d, "lower", "domain"), "domain.lower");
  const json& hi = r.array(r.field(d, "upper", "domain"), "domain.upper");
  if (lo.size() != hi.size()) r.fail("domain", "'lower' and 'upper' differ in length");
  c.box.lower.resize(static_cast<Eigen::Index>(lo.size()));
  c.box.upper.resize(static_cast<Eigen::Index>(hi.size()));
  for (std::size_t k = 0; k < lo.size(); ++k) {
    c.box.lower[static_cast<Eigen::Index>(k)] = r.finite(lo[k], fmt::format("domain.lower[{}]", k));
    c.box.upper[static_cast<Eigen::Index>(k)] = r.finite(hi[k], fmt::format("domain.upper[{}]", k));
    if (c.box.lower[static_cast<Eigen::Index>(k)] > c.box.upper[static_cast<Eigen::Index>(k)])
      r.fail(fmt::format("domain[{}]", k), "lower > upper");
  }
  const json& steps = r.array(r.field(j, "steps", "certificate"), "steps");
  for (std::size_t k = 0; k < steps.size(); ++k) c.steps.push_back(r.step(steps[k], fmt::format("steps[{}]", k)));
  const json& verdicts = r.array(r.field(j, "verdicts", "certificate"), "verdicts");
  for (std::size_t k = 0; k < verdicts.size(); ++k) {
    std::string v = r.str(verdicts[k], fmt::format("verdicts[{}]", k));
    for (std::size_t i = 0; i < v.size(); ++i)
      if (std::strchr("aiu?", v[i]) == nullptr || v[i] == '\0')
        r.fail(fmt::format("verdicts[{}][{}]", k, i), fmt::format("'{}' is not one of a, i, u, ?", v[i]));
    c.verdicts.push_back(std::move(v));
  }
  const json& w = r.array(r.field(j, "witnesses", "certificate"), "witnesses");
  for (std::size_t k = 0; k < w.size(); ++k) {
    const std::string where = fmt::format("witnesses[{}]", k);
    WitnessPoint p;
    const json& in = r.array(r.field(w[k], "input", where), where + ".input");
    for (std::size_t q = 0; q < in.size(); ++q) p.input.push_back(r.finite(in[q], fmt::format("{}.input[{}]", where, q)));
    const json& signs = r.array(r.field(w[k], "signs", where), where + ".signs");
    for (std::size_t q = 0; q < signs.size(); ++q) {
      const std::string ws = fmt::format("{}.signs[{}]", where, q);
      const json& s = r.array(signs[q], ws);
      if (s.size() != 3) r.fail(ws, "expected [layer, unit, 1 or -1]");
      const auto sign = r.integer(s[2], ws + "[2]", -1, 1);
      if (sign == 0) r.fail(ws + "[2]", "expected 1 or -1");
      p.signs.push_back({static_cast<int>(r.integer(s[0], ws + "[0]", 0, Reader::kMax)),
                         static_cast<int>(r.integer(s[1], ws + "[1]", 0, Reader::kMax)), sign > 0});
    }
    c.witnesses.push_back(std::move(p));
  }
  if (j.contains("compress")) {
    const json& cj = j["compress"];
    CompressClaims cc;
    const json& fates = r.array(r.field(cj, "fates", "compress"), "compress.fates");
    for (std::size_t k = 0; k < fates.size(); ++k) {
      std::string f = r.str(fates[k], fmt::format("compress.fates[{}]", k));
      for (std::size_t i = 0; i < f.size(); ++i)
        if (std::strchr("kifo", f[i]) == nullptr || f[i] == '\0')
          r.fail(fmt::format("compress.fates[{}][{}]", k, i), fmt::format("'{}' is not one of k, i, f, o", f[i]));
      cc.fates.push_back(std::move(f));
    }
    cc.output_digest = r.str(r.field(cj, "output_digest", "compress"), "compress.output_digest");
    const json& rw = r.array(r.field(cj, "rewrites", "compress"), "compress.rewrites");
    for (std::size_t k = 0; k < rw.size(); ++k) cc.rewrites.push_back(r.rewrite(rw[k], fmt::format("compress.rewrites[{}]", k)));
    c.compress = std::move(cc);
  } else if (c.command == "compress") {
    r.fail("compress", "a compress certificate needs the 'compress' field");
  }
  return c;
}

void write_certificate(const Certificate& c, const std::string& path) {
  const json j = to_json(c);
  write_file_atomically(path, [&](std::ostream& out) { out << j.dump() << "\n"; });
}

Certificate read_certificate(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open the certificate", path));
  std::stringstream ss;
  ss << in.rdbuf();
  json j;
  try {
    j = json::parse(ss.str());
  } catch (const json::exception& e) {
    throw InputError(fmt::format("{}: not a valid JSON certificate (truncated or garbled?): {}", path, e.what()));
  }
  return from_json(j, path);
}

}  // namespace leo::cert
