#include "leo/io/nnet.hpp"

#include <fmt/core.h>

#include <cfloat>
#include <cmath>
#include <fstream>
#include <limits>
#include <sstream>
#include <string_view>

#include "leo/util/atomic_file.hpp"
#include "leo/util/error.hpp"
#include "leo/util/printable.hpp"
#include "leo/util/numbers.hpp"

namespace leo {
namespace fs = std::filesystem;

namespace {

struct Line {
  std::size_t number;  // 1-based
  std::string_view text;
};

// Splits a record line into fields; a single trailing comma is allowed.
std::vector<std::string_view> split_fields(std::string_view text) {
  std::vector<std::string_view> fields;
  text = trim(text);
  if (text.empty()) return fields;
  std::size_t start = 0;
  while (true) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) {
      fields.push_back(text.substr(start));
      break;
    }
    fields.push_back(text.substr(start, comma - start));
    start = comma + 1;
  }
  if (fields.size() > 1 && trim(fields.back()).empty()) fields.pop_back();
  return fields;
}

std::string quote(std::string_view field) {
  field = trim(field);
  if (field.size() > 40) return fmt::format("'{}...'", printable(field.substr(0, 40)));
  return fmt::format("'{}'", printable(field));
}

// Parses "NAME [d0,d1,...] TYPE" of a "// leo input:" comment.
std::optional<TensorInfo> parse_tensor_comment(std::string_view text) {
  text = trim(text);
  std::size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  TensorInfo info;
  info.name = std::string(text.substr(0, space));
  text = trim(text.substr(space + 1));
  if (text.empty() || text.front() != '[') return std::nullopt;
  std::size_t close = text.find(']');
  if (close == std::string_view::npos) return std::nullopt;
  for (auto field : split_fields(text.substr(1, close - 1))) {
    auto d = parse_integer(field);
    if (!d || *d < -1 || *d == 0) return std::nullopt;
    info.shape.push_back(*d);
  }
  if (info.shape.empty()) return std::nullopt;
  std::string_view type = trim(text.substr(close + 1));
  if (type == "float32")
    info.type = ElementType::float32;
  else if (type == "float64")
    info.type = ElementType::float64;
  else
    return std::nullopt;
  return info;
}

std::string format_tensor_comment(const TensorInfo& info, ElementType type) {
  std::string shape;
  for (std::size_t i = 0; i < info.shape.size(); ++i) {
    if (i) shape += ',';
    shape += std::to_string(info.shape[i]);
  }
  return fmt::format("{} [{}] {}", info.name, shape, type == ElementType::float64 ? "float64" : "float32");
}

bool writable_name(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name)
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '[' || c == ']') return false;
  return true;
}

class Parser {
 public:
  Parser(const std::string& text, std::string name) : name_(std::move(name)) {
    std::string_view all(text);
    std::size_t number = 0;
    std::size_t start = 0;
    bool header = true;
    while (start < all.size()) {
      std::size_t end = all.find('\n', start);
      if (end == std::string_view::npos) end = all.size();
      std::string_view line = all.substr(start, end - start);
      ++number;
      start = end + 1;
      std::string_view t = trim(line);
      if (t.empty()) continue;
      if (t.substr(0, 2) == "//") {
        if (header) comment(t.substr(2));
        continue;
      }
      header = false;
      lines_.push_back({number, line});
    }
    last_line_ = number;
  }

  std::optional<TensorInfo> input, output;

  // The next record line; `what` names it in the error when the file ends.
  const Line& next(const std::string& what) {
    if (next_ >= lines_.size())
      throw InputError(fmt::format("{}: the file ends (line {}) before {}", name_, last_line_, what));
    return lines_[next_++];
  }

  std::vector<double> doubles(const std::string& what, std::size_t count) {
    const Line& line = next(what);
    auto fields = split_fields(line.text);
    if (fields.size() != count)
      throw error(line, fmt::format("expected {} {}, found {} values", count, what, fields.size()));
    std::vector<double> values(count);
    for (std::size_t i = 0; i < count; ++i) {
      auto v = parse_double(fields[i]);
      if (!v) throw error(line, fmt::format("value {} of the {} is not a number: {}", i + 1, what, quote(fields[i])));
      values[i] = *v;
    }
    return values;
  }

  std::vector<long long> integers(const std::string& what, std::size_t count) {
    const Line& line = next(what);
    auto fields = split_fields(line.text);
    if (fields.size() != count)
      throw error(line, fmt::format("expected {} {}, found {} values", count, what, fields.size()));
    std::vector<long long> values(count);
    for (std::size_t i = 0; i < count; ++i) {
      auto v = parse_integer(fields[i]);
      if (!v)
        throw error(line, fmt::format("value {} of the {} is not an integer: {}", i + 1, what, quote(fields[i])));
      values[i] = *v;
    }
    return values;
  }

  // The line just read by next()/doubles()/integers().
  const Line& current() const { return lines_[next_ - 1]; }
  std::size_t remaining() const { return lines_.size() - next_; }

  InputError error(const Line& line, const std::string& message) const {
    return InputError(fmt::format("{}: line {}: {}", name_, line.number, message));
  }
  InputError error(const std::string& message) const { return InputError(fmt::format("{}: {}", name_, message)); }

 private:
  void comment(std::string_view text) {
    text = trim(text);
    constexpr std::string_view in = "leo input:", out = "leo output:";
    if (text.substr(0, in.size()) == in) input = parse_tensor_comment(text.substr(in.size()));
    if (text.substr(0, out.size()) == out) output = parse_tensor_comment(text.substr(out.size()));
  }

  std::string name_;
  std::vector<Line> lines_;
  std::size_t next_ = 0;
  std::size_t last_line_ = 0;
};

bool unbounded(const std::vector<double>& values, double sign) {
  for (double v : values)
    if (!(v * sign >= DBL_MAX)) return false;
  return true;
}

std::string join(const std::vector<double>& values) {
  std::string s;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i) s += ',';
    s += format_double(values[i]);
  }
  return s;
}

std::optional<std::vector<double>> parse_list(const std::string& text, std::size_t count) {
  std::vector<double> values;
  for (auto field : split_fields(text)) {
    auto v = parse_double(field);
    if (!v || std::isnan(*v)) return std::nullopt;
    values.push_back(*v);
  }
  if (values.size() != count) return std::nullopt;
  return values;
}

}  // namespace

Network parse_nnet(const std::string& text, const std::string& name) {
  Parser p(text, name);
  auto head = p.integers("header values (numLayers, inputSize, outputSize, maxLayerSize)", 4);
  const Line& head_line = p.current();
  const long long num_layers = head[0], input_size = head[1], output_size = head[2];
  if (num_layers < 1) throw p.error(head_line, fmt::format("numLayers must be at least 1, not {}", num_layers));
  if (input_size < 1 || output_size < 1 || head[3] < 1)
    throw p.error(head_line, "inputSize, outputSize and maxLayerSize must be positive");
  // Every layer needs at least two lines (a weight row and a bias).
  if (static_cast<std::size_t>(num_layers) > p.remaining())
    throw p.error(head_line, fmt::format("{} layers declared but the file has only {} more lines", num_layers,
                                         p.remaining()));

  auto sizes = p.integers("layer sizes (numLayers + 1)", static_cast<std::size_t>(num_layers) + 1);
  const Line& sizes_line = p.current();
  // Each value takes at least one character of the file: a cheap bound that
  // keeps a corrupt header from allocating more than the file could hold.
  double declared = 0;
  for (std::size_t l = 0; l < sizes.size(); ++l) {
    if (sizes[l] < 1) throw p.error(sizes_line, fmt::format("layer size {} is {}, must be positive", l, sizes[l]));
    if (l > 0) declared += static_cast<double>(sizes[l]) * (static_cast<double>(sizes[l - 1]) + 1.0);
  }
  if (sizes.front() != input_size)
    throw p.error(sizes_line, fmt::format("the first layer size {} differs from inputSize {}", sizes.front(),
                                          input_size));
  if (sizes.back() != output_size)
    throw p.error(sizes_line, fmt::format("the last layer size {} differs from outputSize {}", sizes.back(),
                                          output_size));
  if (declared > static_cast<double>(text.size()))
    throw p.error(sizes_line, fmt::format("the layer sizes need {:.0f} weights and biases, more than the file holds",
                                          declared));

  p.integers("symmetric flag", 1);
  const auto n = static_cast<std::size_t>(input_size);
  auto mins = p.doubles("input minimums", n);
  const Line& min_line = p.current();
  auto maxs = p.doubles("input maximums", n);
  const Line& max_line = p.current();
  for (std::size_t i = 0; i < n; ++i) {
    if (std::isnan(mins[i])) throw p.error(min_line, fmt::format("input minimum {} is NaN", i + 1));
    if (std::isnan(maxs[i])) throw p.error(max_line, fmt::format("input maximum {} is NaN", i + 1));
    if (mins[i] > maxs[i])
      throw p.error(max_line, fmt::format("input {}: maximum {} is below minimum {}", i + 1, format_double(maxs[i]),
                                          format_double(mins[i])));
  }
  auto means = p.doubles("means (inputSize + 1)", n + 1);
  const Line& mean_line = p.current();
  for (std::size_t i = 0; i <= n; ++i)
    if (!std::isfinite(means[i])) throw p.error(mean_line, fmt::format("mean {} is not finite", i + 1));
  auto ranges = p.doubles("ranges (inputSize + 1)", n + 1);
  const Line& range_line = p.current();
  for (std::size_t i = 0; i <= n; ++i)
    if (!std::isfinite(ranges[i]) || ranges[i] == 0)
      throw p.error(range_line, fmt::format("range {} is {}, must be finite and non-zero", i + 1,
                                            format_double(ranges[i])));

  std::vector<AffineLayer> layers;
  std::int64_t stored = 0;
  for (std::size_t l = 0; l + 1 < sizes.size(); ++l) {
    const auto in = static_cast<Eigen::Index>(sizes[l]), out = static_cast<Eigen::Index>(sizes[l + 1]);
    AffineLayer layer;
    layer.weights.resize(out, in);
    layer.bias.resize(out);
    for (Eigen::Index i = 0; i < out; ++i) {
      auto row = p.doubles(fmt::format("weights of layer {} unit {}", l + 1, i + 1), static_cast<std::size_t>(in));
      for (Eigen::Index j = 0; j < in; ++j) {
        if (!std::isfinite(row[j]))
          throw p.error(p.current(), fmt::format("weight {} of layer {} unit {} is {}", j + 1, l + 1, i + 1,
                                                 format_double(row[j])));
        layer.weights(i, j) = row[j];
      }
    }
    for (Eigen::Index i = 0; i < out; ++i) {
      auto b = p.doubles(fmt::format("bias of layer {} unit {}", l + 1, i + 1), 1);
      if (!std::isfinite(b[0]))
        throw p.error(p.current(), fmt::format("bias of layer {} unit {} is {}", l + 1, i + 1, format_double(b[0])));
      layer.bias[i] = b[0];
    }
    stored += layer.parameters();
    layers.push_back(std::move(layer));
  }
  if (p.remaining() > 0) {
    const Line& extra = p.next("");
    throw p.error(extra, "unexpected data after the last layer's biases");
  }

  // Fold the input normalisation x -> (x - mean) / range into the first layer.
  bool input_identity = true;
  for (std::size_t j = 0; j < n; ++j) input_identity = input_identity && means[j] == 0 && ranges[j] == 1;
  if (!input_identity) {
    AffineLayer& first = layers.front();
    for (Eigen::Index j = 0; j < first.weights.cols(); ++j) first.weights.col(j) /= ranges[j];
    for (Eigen::Index j = 0; j < first.weights.cols(); ++j)
      if (means[j] != 0) first.bias -= first.weights.col(j) * means[j];
  }
  // Fold the output de-normalisation y -> y * range + mean into the last layer.
  const double out_mean = means[n], out_range = ranges[n];
  if (out_range != 1) {
    layers.back().weights *= out_range;
    layers.back().bias *= out_range;
  }
  if (out_mean != 0) layers.back().bias.array() += out_mean;

  Network net(std::move(layers));
  net.producer = "nnet";
  net.source = name;
  net.source_parameters = stored;
  net.input.type = ElementType::float64;
  net.output.type = ElementType::float64;
  if (p.input && p.input->features() == net.inputs() && writable_name(p.input->name)) net.input = *p.input;
  if (p.output && p.output->features() == net.outputs() && writable_name(p.output->name)) net.output = *p.output;
  if (!(unbounded(mins, -1) && unbounded(maxs, 1))) {
    net.metadata[kNnetInputMin] = join(mins);
    net.metadata[kNnetInputMax] = join(maxs);
  }
  // Folding may overflow for absurd ranges; the network must still be finite.
  net.validate(name);
  return net;
}

Network read_nnet(const fs::path& file, std::uintmax_t max_bytes) {
  std::error_code ec;
  if (!fs::exists(file, ec)) throw InputError(fmt::format("{}: no such file", file.string()));
  if (fs::is_directory(file, ec)) throw InputError(fmt::format("{}: is a folder, not a model file", file.string()));
  const auto size = fs::file_size(file, ec);
  if (!ec && size > max_bytes)
    throw InputError(fmt::format("{}: file is {} bytes, larger than the limit of {} bytes", file.string(), size,
                                 max_bytes));
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open for reading", file.string()));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw InputError(fmt::format("{}: read error", file.string()));
  return parse_nnet(text.str(), file.string());
}

std::optional<Box> nnet_input_box(const Network& net) {
  auto lo_it = net.metadata.find(kNnetInputMin), hi_it = net.metadata.find(kNnetInputMax);
  if (lo_it == net.metadata.end() || hi_it == net.metadata.end()) return std::nullopt;
  const auto n = static_cast<std::size_t>(net.inputs());
  auto lo = parse_list(lo_it->second, n), hi = parse_list(hi_it->second, n);
  if (!lo || !hi) return std::nullopt;
  Box box;
  box.lower = Eigen::Map<const Eigen::VectorXd>(lo->data(), static_cast<Eigen::Index>(n));
  box.upper = Eigen::Map<const Eigen::VectorXd>(hi->data(), static_cast<Eigen::Index>(n));
  for (std::size_t i = 0; i < n; ++i)
    if ((*lo)[i] > (*hi)[i]) return std::nullopt;
  return box;
}

namespace {
// .nnet has no output activation: a network with one is refused, not written
// without it (its outputs would silently change).
void check_no_output_activation(const Network& net, const std::string& context) {
  if (net.output_activation != OutputActivation::none)
    throw InputError(fmt::format("{}: the network ends with a {}, which the .nnet format cannot store; write ONNX instead",
                                 context, output_activation_name(net.output_activation)));
}
}  // namespace

namespace {
// .nnet stores dense matrices only.
void refuse_structured_nnet(const Network& net, const std::string& what) {
  for (std::size_t l = 0; l < net.layers.size(); ++l)
    if (!net.layers[l].is_dense())
      throw InputError(fmt::format("{}: layer {} is convolutional; .nnet stores fully connected layers only (write "
                                   "ONNX instead)",
                                   what, l));
}
}  // namespace

void write_nnet(const Network& net, std::ostream& out, ElementType type) {
  net.validate("network to write as .nnet");
  refuse_structured_nnet(net, "network to write as .nnet");
  check_no_output_activation(net, "network to write as .nnet");
  const auto value = [type](double v) {
    return format_double(type == ElementType::float32 ? static_cast<double>(static_cast<float>(v)) : v);
  };
  const std::size_t n = static_cast<std::size_t>(net.inputs());
  std::vector<double> mins(n, -DBL_MAX), maxs(n, DBL_MAX);
  if (auto box = nnet_input_box(net)) {
    for (std::size_t i = 0; i < n; ++i) {
      mins[i] = box->lower[static_cast<Eigen::Index>(i)];
      maxs[i] = box->upper[static_cast<Eigen::Index>(i)];
    }
  }
  out << "// Neural network in .nnet format, written by leo " << LEO_VERSION << "\n";
  out << "// Weights act on raw inputs: means 0 and ranges 1 (no normalisation).\n";
  if (writable_name(net.input.name) && net.input.features() == net.inputs())
    out << "// leo input: " << format_tensor_comment(net.input, type) << "\n";
  if (writable_name(net.output.name) && net.output.features() == net.outputs())
    out << "// leo output: " << format_tensor_comment(net.output, type) << "\n";

  Eigen::Index widest = net.inputs();
  for (const auto& layer : net.layers) widest = std::max(widest, layer.outputs());
  out << net.layers.size() << "," << net.inputs() << "," << net.outputs() << "," << widest << ",\n";
  out << net.inputs() << ",";
  for (const auto& layer : net.layers) out << layer.outputs() << ",";
  out << "\n0,\n";
  for (double v : mins) out << format_double(v) << ",";
  out << "\n";
  for (double v : maxs) out << format_double(v) << ",";
  out << "\n";
  for (std::size_t i = 0; i <= n; ++i) out << "0,";
  out << "\n";
  for (std::size_t i = 0; i <= n; ++i) out << "1,";
  out << "\n";
  std::string line;
  for (const auto& layer : net.layers) {
    for (Eigen::Index i = 0; i < layer.weights.rows(); ++i) {
      line.clear();
      for (Eigen::Index j = 0; j < layer.weights.cols(); ++j) {
        line += value(layer.weights(i, j));
        line += ',';
      }
      line += '\n';
      out << line;
    }
    for (Eigen::Index i = 0; i < layer.bias.size(); ++i) out << value(layer.bias[i]) << ",\n";
  }
}

void write_nnet(const Network& net, const fs::path& file, const NnetWriteOptions& options) {
  net.validate("network to write as .nnet");
  refuse_structured_nnet(net, file.string());
  check_no_output_activation(net, file.string());
  write_file_atomically(
      file, [&](std::ostream& out) { write_nnet(net, out, options.type); }, options.inputs);
}

}  // namespace leo
