#include "leo/domain/box_file.hpp"

#include <fmt/core.h>

#include <cctype>
#include <charconv>
#include <cmath>
#include <fstream>
#include <vector>

#include "leo/network/network.hpp"
#include "leo/util/error.hpp"

namespace leo {
namespace {

std::string trim(const std::string& s) {
  std::size_t a = 0, b = s.size();
  while (a < b && std::isspace(static_cast<unsigned char>(s[a]))) ++a;
  while (b > a && std::isspace(static_cast<unsigned char>(s[b - 1]))) --b;
  return s.substr(a, b - a);
}

// Parses a whole token as a double (accepts "nan", "inf"); nullopt if not a number.
std::optional<double> to_double(const std::string& token) {
  std::string t = trim(token);
  if (t.empty()) return std::nullopt;
  const char* begin = t.data() + (t[0] == '+' ? 1 : 0);
  double v = 0;
  auto [p, ec] = std::from_chars(begin, t.data() + t.size(), v);
  if (ec != std::errc() || p != t.data() + t.size()) return std::nullopt;
  return v;
}

// lo, hi from "lo,hi"; throws with `where`.
std::pair<double, double> parse_pair(const std::string& text, const std::string& where) {
  std::vector<std::string> parts;
  {
    std::string cur;
    bool any_comma = text.find(',') != std::string::npos;
    for (char c : text) {
      bool sep = any_comma ? c == ',' : std::isspace(static_cast<unsigned char>(c)) != 0;
      if (sep) {
        parts.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(c);
      }
    }
    parts.push_back(cur);
    if (!any_comma) {
      std::vector<std::string> nonempty;
      for (auto& p : parts)
        if (!trim(p).empty()) nonempty.push_back(p);
      parts = nonempty;
    }
  }
  if (parts.size() != 2)
    throw InputError(fmt::format("{}: expected 'lo,hi', got '{}'", where, trim(text)));
  auto lo = to_double(parts[0]);
  auto hi = to_double(parts[1]);
  if (!lo) throw InputError(fmt::format("{}: '{}' is not a number", where, trim(parts[0])));
  if (!hi) throw InputError(fmt::format("{}: '{}' is not a number", where, trim(parts[1])));
  if (std::isnan(*lo) || std::isnan(*hi)) throw InputError(fmt::format("{}: a bound is NaN", where));
  if (!std::isfinite(*lo) || !std::isfinite(*hi))
    throw InputError(fmt::format("{}: a bound is infinite; leo needs a bounded box", where));
  if (*lo > *hi) throw InputError(fmt::format("{}: the box is empty: lo {} > hi {}", where, *lo, *hi));
  return {*lo, *hi};
}

std::vector<double> parse_list(const std::string& text, const std::string& where) {
  std::vector<double> out;
  std::string cur;
  auto flush = [&] {
    if (trim(cur).empty()) return;
    auto v = to_double(cur);
    if (!v) throw InputError(fmt::format("{}: '{}' is not a number", where, trim(cur)));
    out.push_back(*v);
    cur.clear();
  };
  for (char c : text) {
    if (c == ',' || std::isspace(static_cast<unsigned char>(c)) || c == '[' || c == ']') {
      flush();
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  flush();
  return out;
}

}  // namespace

Box parse_box_spec(const std::string& spec, Eigen::Index n, const std::string& context) {
  auto [lo, hi] = parse_pair(spec, context);
  return Box::uniform(n, lo, hi);
}

Box read_box_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) throw InputError(fmt::format("{}: cannot read the file", path.string()));
  std::vector<double> lo, hi;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    auto [l, h] = parse_pair(t, fmt::format("{}: line {}", path.string(), number));
    lo.push_back(l);
    hi.push_back(h);
  }
  if (in.bad()) throw InputError(fmt::format("{}: cannot read the file", path.string()));
  if (lo.empty()) throw InputError(fmt::format("{}: no 'lo,hi' line: the box has no feature", path.string()));
  return Box(Eigen::Map<Eigen::VectorXd>(lo.data(), static_cast<Eigen::Index>(lo.size())),
             Eigen::Map<Eigen::VectorXd>(hi.data(), static_cast<Eigen::Index>(hi.size())));
}

std::optional<Box> default_box(const Network& network, std::string* description) {
  const Eigen::Index n = network.inputs();
  auto min_it = network.metadata.find("nnet.input_min");
  auto max_it = network.metadata.find("nnet.input_max");
  if (min_it != network.metadata.end() && max_it != network.metadata.end()) {
    // Messages name the model file the metadata comes from.
    const std::string from = network.source.empty() ? "model metadata" : network.source + ": model metadata";
    auto lo = parse_list(min_it->second, from + " nnet.input_min");
    auto hi = parse_list(max_it->second, from + " nnet.input_max");
    auto expand = [&](const std::vector<double>& v, const char* what) {
      if (v.size() == 1) return Eigen::VectorXd::Constant(n, v[0]).eval();
      if (static_cast<Eigen::Index>(v.size()) != n)
        throw InputError(fmt::format("{} {}: {} values for {} inputs", from, what, v.size(), n));
      return Eigen::Map<const Eigen::VectorXd>(v.data(), n).eval();
    };
    Box box(expand(lo, "nnet.input_min"), expand(hi, "nnet.input_max"));
    box.validate(n, from + " nnet.input_min/nnet.input_max");
    if (description) *description = "box from the model's nnet.input_min/max";
    return box;
  }
  const auto& shape = network.input.shape;
  bool image = n == 784 || (shape.size() == 4 && shape[1] == 1 && shape[2] == 28 && shape[3] == 28);
  if (image) {
    if (description) *description = fmt::format("box [0,1]^{} (default for image nets)", n);
    return Box::uniform(n, 0.0, 1.0);
  }
  return std::nullopt;
}

}  // namespace leo
