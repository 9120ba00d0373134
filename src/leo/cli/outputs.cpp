#include "leo/cli/outputs.hpp"

#include <fmt/core.h>

#include "leo/data/dataset.hpp"
#include "leo/io/model_file.hpp"
#include "leo/util/atomic_file.hpp"
#include "leo/util/error.hpp"

namespace leo::cli {
namespace fs = std::filesystem;

bool same_file(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) return fs::equivalent(a, b, ec) && !ec;
  const fs::path ca = fs::weakly_canonical(fs::absolute(a, ec), ec);
  if (ec) return false;
  const fs::path cb = fs::weakly_canonical(fs::absolute(b, ec), ec);
  if (ec) return false;
  return ca == cb;
}

void Outputs::read(const fs::path& file) {
  if (!file.empty()) inputs_.push_back(file);
}

void Outputs::read(const std::vector<fs::path>& files) {
  for (const auto& f : files) read(f);
}

void Outputs::read_model(const fs::path& model) {
  read(model);
  read(files_read_by_model(model));
}

void Outputs::read_data(const std::string& spec) {
  if (spec.empty()) return;
  std::vector<fs::path> parts;
  for (std::size_t start = 0; start <= spec.size();) {
    const std::size_t comma = std::min(spec.find(',', start), spec.size());
    if (comma > start) parts.emplace_back(spec.substr(start, comma - start));
    start = comma + 1;
  }
  std::error_code ec;
  auto folder_files = [&](const fs::path& dir) {
    for (const char* name : {"train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                             "t10k-labels-idx1-ubyte"}) {
      read(dir / name);
      read(dir / (std::string(name) + ".gz"));
    }
    for (int d = 0; d <= 9; ++d) read(dir / fmt::format("{}.json", d));
  };
  if (parts.size() == 1 && !fs::exists(parts[0], ec) && (spec == "mnist" || spec == "fashion-mnist")) {
    try {
      folder_files(spec == "mnist" ? mnist_json_dir() : fashion_mnist_dir());
    } catch (const Error&) {
      // not installed: reading the data fails later with its own message
    }
    return;
  }
  for (const auto& part : parts) {
    read(part);
    if (fs::is_directory(part, ec)) {
      folder_files(part);
      continue;
    }
    std::string name = part.filename().string();
    if (const auto k = name.find("images"); k != std::string::npos) {
      name.replace(k, 6, "labels");
      if (const auto i = name.find("idx3"); i != std::string::npos) name.replace(i, 4, "idx1");
      read(part.parent_path() / name);
    }
  }
}

void Outputs::add(const fs::path& output, const char* option) {
  (void)option;
  for (const auto& in : inputs_)
    if (same_file(output, in))
      throw InputError(output == in ? fmt::format("{}: refusing to overwrite an input file", output.string())
                                    : fmt::format("{}: refusing to overwrite an input file ({})", output.string(),
                                                  in.string()));
  for (const auto& out : outputs_)
    if (same_file(output, out))
      throw InputError(fmt::format("{}: given as two outputs (also {})", output.string(), out.string()));
  check_output_path(output, inputs_);
  outputs_.push_back(output);
}

std::vector<fs::path> Outputs::inputs() const { return inputs_; }

}  // namespace leo::cli
