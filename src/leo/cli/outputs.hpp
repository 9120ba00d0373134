#pragma once
// The one rule of every command about the files it writes: no output path may
// resolve to a file the command reads (the models, an ONNX model's external
// data, domain and data files, logs) or to another of its outputs.
//
//   Outputs files;
//   files.read_model(in);              // IN and its external data
//   files.read(domain.files());
//   files.add(out);                    // throws InputError now, before any work
//   ... write with files.inputs() as the list never to overwrite.
#include <cstdint>
#include <filesystem>
#include <vector>

namespace leo::cli {

class Outputs {
 public:
  // A file the command reads (a name that is no file, e.g. "mnist", is kept
  // only if it exists).
  void read(const std::filesystem::path& file);
  void read(const std::vector<std::filesystem::path>& files);
  // A model and every file reading it touches (ONNX external data).
  void read_model(const std::filesystem::path& model);
  // The files a labelled data spec (`--data` of train and eval,
  // data/dataset.hpp) reads: each file of IMAGES,LABELS; for a folder, the
  // MNIST-layout and 0..9.json names in it; for an IDX images file, its labels
  // file; for mnist / fashion-mnist, their folders' files.
  void read_data(const std::string& spec);
  // An output: refused (InputError "OUT: refusing to overwrite an input
  // file" / "... is also the output of ...") when it is the same file as an
  // input or an earlier output, and checked to be writable (check_output_path).
  void add(const std::filesystem::path& output, const char* option = nullptr);

  // The inputs: the files every write must spare (outputs were checked
  // against each other by add()).
  std::vector<std::filesystem::path> inputs() const;

 private:
  std::vector<std::filesystem::path> inputs_;
  std::vector<std::filesystem::path> outputs_;
};

// Whether two paths name the same file: equivalent when both exist, else the
// same absolute, normalised path (with links of the existing folders resolved).
bool same_file(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace leo::cli
