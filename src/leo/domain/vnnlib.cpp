#include "leo/domain/vnnlib.hpp"

#include <fmt/core.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <vector>

#include "leo/util/error.hpp"

namespace leo {
namespace {

constexpr double inf = std::numeric_limits<double>::infinity();

// An S-expression: an atom or a list.
struct Sexp {
  std::string atom;
  std::vector<Sexp> list;
  bool is_list = false;
  int line = 0;
};

class Parser {
 public:
  Parser(const std::string& text, const std::string& name) : text_(text), name_(name) {}

  std::vector<Sexp> parse_all() {
    std::vector<Sexp> out;
    skip();
    while (pos_ < text_.size()) {
      out.push_back(parse());
      skip();
    }
    return out;
  }

  [[noreturn]] void fail(int line, const std::string& what) const {
    throw InputError(fmt::format("{}: {} (line {})", name_, what, line));
  }

 private:
  void skip() {
    while (pos_ < text_.size()) {
      char c = text_[pos_];
      if (c == ';') {
        while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        if (c == '\n') ++line_;
        ++pos_;
      } else {
        break;
      }
    }
  }

  Sexp parse() {
    skip();
    Sexp s;
    s.line = line_;
    if (pos_ >= text_.size()) fail(line_, "unexpected end of file");
    char c = text_[pos_];
    if (c == '(') {
      // Bounded recursion: deeper nesting would overflow the stack here and in
      // the recursive walks below (a fuzzing finding).
      if (depth_ >= kMaxDepth) fail(line_, fmt::format("lists nested deeper than {} levels", kMaxDepth));
      ++depth_;
      ++pos_;
      s.is_list = true;
      for (;;) {
        skip();
        if (pos_ >= text_.size()) fail(s.line, "unbalanced '(': missing ')'");
        if (text_[pos_] == ')') {
          ++pos_;
          break;
        }
        s.list.push_back(parse());
      }
      --depth_;
      return s;
    }
    if (c == ')') fail(line_, "unexpected ')'");
    std::size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != '(' && text_[pos_] != ')' && text_[pos_] != ';' &&
           !std::isspace(static_cast<unsigned char>(text_[pos_])))
      ++pos_;
    s.atom = text_.substr(start, pos_ - start);
    return s;
  }

  const std::string& text_;
  const std::string& name_;
  static constexpr int kMaxDepth = 256;
  std::size_t pos_ = 0;
  int line_ = 1;
  int depth_ = 0;
};

// Per-feature bounds of a conjunction; a feature not in the map is unbounded.
// Sparse, so that a formula node costs what it mentions, not the input count.
struct PartialBox {
  std::map<std::size_t, std::pair<double, double>> bounds;  // feature -> (lo, hi)
  std::pair<double, double>& at(std::size_t i) { return bounds.try_emplace(i, -inf, inf).first->second; }
  void intersect(const PartialBox& o) {
    for (const auto& [i, b] : o.bounds) {
      auto& mine = at(i);
      mine.first = std::max(mine.first, b.first);
      mine.second = std::min(mine.second, b.second);
    }
  }
  // Features bounded in only one of the two are unbounded in the hull.
  void hull(const PartialBox& o) {
    for (auto it = bounds.begin(); it != bounds.end();) {
      auto other = o.bounds.find(it->first);
      if (other == o.bounds.end()) {
        it = bounds.erase(it);
        continue;
      }
      it->second.first = std::min(it->second.first, other->second.first);
      it->second.second = std::max(it->second.second, other->second.second);
      ++it;
    }
  }
};

class BoxBuilder {
 public:
  BoxBuilder(const Parser& parser, std::size_t n) : parser_(parser), n_(n) {}

  // Input index of an atom "X_i", or nullopt.
  std::optional<std::size_t> input_index(const Sexp& s) const {
    if (s.is_list || s.atom.size() < 3 || s.atom.compare(0, 2, "X_") != 0) return std::nullopt;
    std::size_t i = 0;
    auto [p, ec] = std::from_chars(s.atom.data() + 2, s.atom.data() + s.atom.size(), i);
    if (ec != std::errc() || p != s.atom.data() + s.atom.size()) return std::nullopt;
    if (i >= n_) parser_.fail(s.line, fmt::format("{} is not declared (the property declares {} inputs)", s.atom, n_));
    return i;
  }

  std::optional<double> number(const Sexp& s) const {
    if (s.is_list) {
      // (- c)
      if (s.list.size() == 2 && !s.list[0].is_list && s.list[0].atom == "-") {
        auto v = number(s.list[1]);
        if (v) return -*v;
      }
      return std::nullopt;
    }
    const std::string& a = s.atom;
    if (a.empty()) return std::nullopt;
    char c = a[0];
    if (!(std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '+' || c == '.')) return std::nullopt;
    const char* begin = a.data() + (c == '+' ? 1 : 0);
    double v = 0;
    auto [p, ec] = std::from_chars(begin, a.data() + a.size(), v);
    if (ec != std::errc() || p != a.data() + a.size())
      parser_.fail(s.line, fmt::format("'{}' is not a number", a));
    return v;
  }

  bool mentions_output(const Sexp& s) const {
    if (!s.is_list) return s.atom.size() > 2 && s.atom.compare(0, 2, "Y_") == 0;
    return std::any_of(s.list.begin(), s.list.end(), [&](const Sexp& c) { return mentions_output(c); });
  }

  bool mentions_input(const Sexp& s) const {
    if (!s.is_list) return input_index(s).has_value();
    return std::any_of(s.list.begin(), s.list.end(), [&](const Sexp& c) { return mentions_input(c); });
  }

  // The box of the inputs allowed by formula `s` (a relaxation: constraints
  // on outputs only are "true").
  PartialBox formula(const Sexp& s) const {
    PartialBox box;
    if (!s.is_list || s.list.empty() || s.list[0].is_list) {
      if (!s.is_list && (s.atom == "true" || s.atom == "false")) return box;
      if (mentions_input(s)) parser_.fail(s.line, "unsupported input constraint");
      return box;
    }
    const std::string& op = s.list[0].atom;
    if (op == "and") {
      for (std::size_t k = 1; k < s.list.size(); ++k) box.intersect(formula(s.list[k]));
      return box;
    }
    if (op == "or") {
      if (s.list.size() < 2) return box;
      box = formula(s.list[1]);
      for (std::size_t k = 2; k < s.list.size(); ++k) box.hull(formula(s.list[k]));
      return box;
    }
    if (op == "<=" || op == ">=" || op == "<" || op == ">" || op == "=") {
      if (!mentions_input(s) || mentions_output(s)) return box;  // a constraint on outputs: ignored
      if (s.list.size() != 3)
        parser_.fail(s.line, fmt::format("'{}' with {} arguments is not supported", op, s.list.size() - 1));
      auto xa = input_index(s.list[1]);
      auto xb = input_index(s.list[2]);
      std::optional<double> ca = xa ? std::nullopt : number(s.list[1]);
      std::optional<double> cb = xb ? std::nullopt : number(s.list[2]);
      bool upper;  // X <= c ?
      std::size_t i;
      double c;
      if (xa && cb) {
        i = *xa, c = *cb, upper = (op[0] == '<');
      } else if (xb && ca) {
        i = *xb, c = *ca, upper = (op[0] == '>');
      } else if (xa && xb) {
        parser_.fail(s.line, "only bounds of one input by a constant (X_i op c) are supported on inputs");
      } else {
        const Sexp& other = xa ? s.list[2] : s.list[1];
        parser_.fail(s.line, fmt::format("'{}' is not a number", other.is_list ? std::string("(...)") : other.atom));
      }
      if (std::isnan(c)) parser_.fail(s.line, fmt::format("bound of X_{} is NaN", i));
      auto& bound = box.at(i);
      if (op == "=") {
        bound.first = bound.second = c;
      } else if (upper) {
        bound.second = c;
      } else {
        bound.first = c;
      }
      return box;
    }
    if (mentions_input(s)) parser_.fail(s.line, fmt::format("unsupported operator '{}' on inputs", op));
    return box;
  }

 private:
  const Parser& parser_;
  std::size_t n_;
};

}  // namespace

Box parse_vnnlib_box(const std::string& text, const std::string& name) {
  Parser parser(text, name);
  std::vector<Sexp> commands = parser.parse_all();
  // Declared inputs.
  std::size_t n = 0;
  std::vector<bool> declared;
  for (const Sexp& c : commands) {
    if (!c.is_list || c.list.empty() || c.list[0].is_list) parser.fail(c.line, "expected a command '(...)'");
    if (c.list[0].atom == "declare-const" && c.list.size() >= 2 && !c.list[1].is_list) {
      const std::string& v = c.list[1].atom;
      if (v.size() > 2 && v.compare(0, 2, "X_") == 0) {
        std::size_t i = 0;
        auto [p, ec] = std::from_chars(v.data() + 2, v.data() + v.size(), i);
        if (ec != std::errc() || p != v.data() + v.size()) parser.fail(c.line, fmt::format("bad input name '{}'", v));
        if (i >= 1000000) parser.fail(c.line, fmt::format("input index too large in '{}'", v));
        if (i >= declared.size()) declared.resize(i + 1, false);
        declared[i] = true;
        n = std::max(n, i + 1);
      }
    }
  }
  if (n == 0) throw InputError(fmt::format("{}: no input X_0, X_1, ... is declared", name));
  for (std::size_t i = 0; i < n; ++i)
    if (!declared[i]) throw InputError(fmt::format("{}: X_{} is not declared but X_{} is", name, i, n - 1));

  BoxBuilder builder(parser, n);
  PartialBox box;
  for (const Sexp& c : commands) {
    if (c.list[0].atom != "assert") continue;
    if (c.list.size() != 2) parser.fail(c.line, "assert takes one formula");
    box.intersect(builder.formula(c.list[1]));
  }
  Box out(Eigen::VectorXd(static_cast<Eigen::Index>(n)), Eigen::VectorXd(static_cast<Eigen::Index>(n)));
  for (std::size_t i = 0; i < n; ++i) {
    auto found = box.bounds.find(i);
    const double lo = found == box.bounds.end() ? -inf : found->second.first;
    const double hi = found == box.bounds.end() ? inf : found->second.second;
    if (!std::isfinite(lo) || !std::isfinite(hi))
      throw InputError(fmt::format("{}: input X_{} has no {} bound", name, i,
                                   !std::isfinite(lo) && !std::isfinite(hi)
                                       ? "lower or upper"
                                       : (!std::isfinite(lo) ? "lower" : "upper")));
    if (lo > hi)
      throw InputError(fmt::format("{}: the box is empty: X_{} has lower bound {} > upper bound {}", name, i,
                                   lo, hi));
    out.lower[static_cast<Eigen::Index>(i)] = lo;
    out.upper[static_cast<Eigen::Index>(i)] = hi;
  }
  return out;
}

Box read_vnnlib_box(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot read the file", path.string()));
  std::stringstream s;
  s << in.rdbuf();
  if (in.bad()) throw InputError(fmt::format("{}: cannot read the file", path.string()));
  return parse_vnnlib_box(s.str(), path.string());
}

}  // namespace leo
