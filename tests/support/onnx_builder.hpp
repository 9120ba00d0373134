#pragma once
// Builds small ONNX models through the protobuf API, for the tests.
// Header-only; include it only from tests that link onnx_proto.
#include <onnx/onnx_pb.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace leo::test {

enum class Storage { raw, float_data, double_data, external };

class OnnxBuilder {
 public:
  // dims: -1 for a symbolic dimension.
  OnnxBuilder(std::vector<std::int64_t> input_dims, std::vector<std::int64_t> output_dims, int opset = 13,
              int elem_type = onnx::TensorProto::FLOAT) {
    model.set_ir_version(opset >= 15 ? 8 : 7);
    model.set_producer_name("leo-test");
    auto* o = model.add_opset_import();
    o->set_domain("");
    o->set_version(opset);
    graph = model.mutable_graph();
    graph->set_name("test");
    value_info(graph->add_input(), "x", input_dims, elem_type);
    value_info(graph->add_output(), "y", output_dims, elem_type);
  }

  static void value_info(onnx::ValueInfoProto* v, const std::string& name, const std::vector<std::int64_t>& dims,
                         int elem_type) {
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(elem_type);
    auto* sh = tt->mutable_shape();
    for (auto d : dims) {
      auto* dim = sh->add_dim();
      if (d < 0) dim->set_dim_param("N");
      else dim->set_dim_value(d);
    }
  }

  // A float (or double) initializer. For Storage::external the values are
  // appended to `external_file` (a path relative to the model's folder, set
  // before save()).
  onnx::TensorProto* init(const std::string& name, const std::vector<std::int64_t>& dims,
                          const std::vector<double>& values, Storage storage = Storage::raw) {
    auto* t = graph->add_initializer();
    fill(t, name, dims, values, storage);
    return t;
  }

  void fill(onnx::TensorProto* t, const std::string& name, const std::vector<std::int64_t>& dims,
            const std::vector<double>& values, Storage storage) {
    t->set_name(name);
    for (auto d : dims) t->add_dims(d);
    const bool dbl = storage == Storage::double_data;
    t->set_data_type(dbl ? onnx::TensorProto::DOUBLE : onnx::TensorProto::FLOAT);
    switch (storage) {
      case Storage::float_data:
        for (double v : values) t->add_float_data(static_cast<float>(v));
        break;
      case Storage::double_data:
        for (double v : values) t->add_double_data(v);
        break;
      case Storage::raw: {
        std::string raw(values.size() * 4, '\0');
        for (std::size_t k = 0; k < values.size(); ++k) {
          float f = static_cast<float>(values[k]);
          std::memcpy(raw.data() + 4 * k, &f, 4);
        }
        t->set_raw_data(raw);
        break;
      }
      case Storage::external: {
        std::string raw(values.size() * 4, '\0');
        for (std::size_t k = 0; k < values.size(); ++k) {
          float f = static_cast<float>(values[k]);
          std::memcpy(raw.data() + 4 * k, &f, 4);
        }
        t->set_data_location(onnx::TensorProto::EXTERNAL);
        auto* loc = t->add_external_data();
        loc->set_key("location");
        loc->set_value(external_file);
        auto* off = t->add_external_data();
        off->set_key("offset");
        off->set_value(std::to_string(external_bytes.size()));
        auto* len = t->add_external_data();
        len->set_key("length");
        len->set_value(std::to_string(raw.size()));
        external_bytes += raw;
        break;
      }
    }
  }

  onnx::TensorProto* init_int64(const std::string& name, const std::vector<std::int64_t>& values) {
    auto* t = graph->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<std::int64_t>(values.size()));
    for (auto v : values) t->add_int64_data(v);
    return t;
  }

  onnx::NodeProto* node(const std::string& op, std::initializer_list<std::string> inputs,
                        std::initializer_list<std::string> outputs, const std::string& name = "") {
    auto* n = graph->add_node();
    n->set_op_type(op);
    n->set_name(name.empty() ? op + "_" + std::to_string(graph->node_size() - 1) : name);
    for (const auto& i : inputs) n->add_input(i);
    for (const auto& o : outputs) n->add_output(o);
    return n;
  }

  static void attr_int(onnx::NodeProto* n, const std::string& name, std::int64_t v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::INT);
    a->set_i(v);
  }
  static void attr_float(onnx::NodeProto* n, const std::string& name, float v) {
    auto* a = n->add_attribute();
    a->set_name(name);
    a->set_type(onnx::AttributeProto::FLOAT);
    a->set_f(v);
  }

  // Writes the model (and its external data file, if any) into `folder`.
  std::filesystem::path save(const std::filesystem::path& folder, const std::string& file_name) const {
    std::filesystem::path p = folder / file_name;
    std::ofstream out(p, std::ios::binary);
    model.SerializeToOstream(&out);
    if (!external_bytes.empty()) {
      std::ofstream ext(folder / external_file, std::ios::binary);
      ext.write(external_bytes.data(), static_cast<std::streamsize>(external_bytes.size()));
    }
    return p;
  }

  onnx::ModelProto model;
  onnx::GraphProto* graph = nullptr;
  std::string external_file = "weights.bin";
  std::string external_bytes;
};

// The number of nodes of each op type in an ONNX file (throws when it does not parse).
inline std::map<std::string, int> onnx_op_counts(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  onnx::ModelProto m;
  if (!in || !m.ParseFromIstream(&in)) throw std::runtime_error("cannot parse " + file.string());
  std::map<std::string, int> n;
  for (const auto& node : m.graph().node()) ++n[node.op_type()];
  return n;
}

}  // namespace leo::test
