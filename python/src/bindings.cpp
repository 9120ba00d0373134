// The extension module `leo._leo`: thin pybind11 bindings of leo's library
// entry points (leo/api/leo.hpp). The Python package (python/leo/*.py) gives
// them their keyword arguments and result objects; this file only converts
// between numpy / Python values and the library's types, and:
// - translates leo's errors into the package's exceptions (leo.InputError, a
//   ValueError; leo.CheckError; leo.Error for the rest), catching every C++
//   exception at this boundary so that none reaches the interpreter;
// - releases the GIL around long work (loading, saving, analyze, compress,
//   verify, batched evaluation);
// - forwards the library's progress lines to a Python callable (the package
//   hands them to logging.getLogger("leo")), taking the GIL for each line.
#include <pybind11/eigen.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/stl/filesystem.h>

#include <Eigen/Dense>
#include <algorithm>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "leo/api/describe.hpp"
#include "leo/api/leo.hpp"
#include "leo/checker/check.hpp"
#include "leo/compress/certificate.hpp"
#include "leo/stability/certify.hpp"
#include "leo/data/dataset.hpp"
#include "leo/io/model_file.hpp"
#include "leo/io/nnet.hpp"
#include "leo/network/evaluate_float.hpp"
#include "leo/util/progress.hpp"

namespace py = pybind11;

namespace leo::python {
namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using DoubleArray = py::array_t<double, py::array::c_style | py::array::forcecast>;

// --- exceptions ----------------------------------------------------------------
// Created once at import and kept for the life of the process.
PyObject* error_type = nullptr;        // leo.Error(RuntimeError)
PyObject* input_error_type = nullptr;  // leo.InputError(leo.Error, ValueError)
PyObject* check_error_type = nullptr;  // leo.CheckError(leo.Error)

void raise(PyObject* type, const std::string& message, ExitCode code) {
  py::object instance = py::reinterpret_borrow<py::object>(type)(message);
  instance.attr("code") = static_cast<int>(code);
  PyErr_SetObject(type, instance.ptr());
}

void translate(std::exception_ptr error) {
  try {
    if (error) std::rethrow_exception(error);
  } catch (const py::error_already_set&) {
    throw;  // a Python exception raised by a callback: keep it
  } catch (const py::builtin_exception&) {
    throw;  // pybind11's own (value_error, ...)
  } catch (const std::bad_alloc&) {
    throw;  // MemoryError
  } catch (const InputError& e) {
    raise(input_error_type, e.what(), e.code());
  } catch (const Error& e) {
    raise(e.code() == ExitCode::check_failed ? check_error_type : error_type, e.what(), e.code());
  } catch (const std::exception& e) {
    raise(error_type, std::string("internal error: ") + e.what(), ExitCode::internal);
  }
}

// --- conversions ---------------------------------------------------------------

py::object json_to_python(const nlohmann::json& j) { return py::module_::import("json").attr("loads")(j.dump()); }

py::array_t<double> vector_array(const Eigen::VectorXd& v) {
  py::array_t<double> out(v.size());
  std::copy(v.data(), v.data() + v.size(), out.mutable_data());
  return out;
}

// columns (features x N, one point per column) -> numpy (N, features)
py::array_t<double> columns_array(const Eigen::MatrixXd& columns) {
  py::array_t<double> out({columns.cols(), columns.rows()});
  Eigen::Map<RowMatrix>(out.mutable_data(), columns.cols(), columns.rows()) = columns.transpose();
  return out;
}

std::optional<ElementType> dtype_of(const std::optional<std::string>& text) {
  if (!text) return std::nullopt;
  return api::parse_dtype(*text, "dtype");
}

// --- models --------------------------------------------------------------------

// f(x) for a batch: rows (N, inputs) -> (N, outputs), in the arithmetic of
// `dtype` (none: the model's element type, as `leo eval` and ONNX Runtime).
py::array_t<double> evaluate_rows(const Network& net, const DoubleArray& rows, const std::optional<std::string>& dtype) {
  const ElementType type = dtype ? api::parse_dtype(*dtype, "dtype") : arithmetic_of(net);
  if (rows.ndim() != 2) throw InputError("model(x): expected an array of shape (points, features)");
  if (rows.shape(1) != net.inputs())
    throw InputError("model(x): " + std::to_string(rows.shape(1)) + " features per point but the model has " +
                     std::to_string(net.inputs()) + " inputs");
  const Eigen::Index n = rows.shape(0);
  Eigen::MatrixXd x = Eigen::Map<const RowMatrix>(rows.data(), n, rows.shape(1)).transpose();
  Eigen::MatrixXd y;
  {
    py::gil_scoped_release release;
    y = n > 0 ? evaluate_in(net, x, type) : Eigen::MatrixXd(net.outputs(), 0);
  }
  py::array_t<double> out({n, static_cast<Eigen::Index>(net.outputs())});
  Eigen::Map<RowMatrix>(out.mutable_data(), n, net.outputs()) = y.transpose();
  return out;
}

Network from_layers(const std::vector<DoubleArray>& weights, const std::vector<DoubleArray>& biases,
                    const std::string& dtype) {
  if (weights.size() != biases.size())
    throw InputError("from_layers: " + std::to_string(weights.size()) + " weight matrices but " +
                     std::to_string(biases.size()) + " bias vectors");
  std::vector<AffineLayer> layers;
  for (std::size_t l = 0; l < weights.size(); ++l) {
    const auto& w = weights[l];
    const auto& b = biases[l];
    if (w.ndim() != 2 || b.ndim() != 1)
      throw InputError("from_layers: layer " + std::to_string(l) +
                       ": expected a 2-d weight matrix (out, in) and a 1-d bias (out)");
    AffineLayer layer;
    layer.weights = Eigen::Map<const RowMatrix>(w.data(), w.shape(0), w.shape(1));
    layer.bias = Eigen::Map<const Eigen::VectorXd>(b.data(), b.shape(0));
    if (layer.bias.size() != layer.weights.rows())
      throw InputError("from_layers: layer " + std::to_string(l) + ": " + std::to_string(layer.weights.rows()) +
                       " rows of weights but " + std::to_string(layer.bias.size()) + " biases");
    layers.push_back(std::move(layer));
  }
  Network net(std::move(layers));
  net.validate("from_layers");
  net.set_default_interface();
  const ElementType type = api::parse_dtype(dtype, "dtype");
  net.input.type = type;
  net.output.type = type;
  return net;
}

// --- progress ------------------------------------------------------------------
// The Python callable that receives the library's progress lines, or None.
// Each line is delivered with the GIL held, from whichever thread printed it.
std::mutex progress_mutex;
// Never destroyed: the interpreter may be gone when static objects die (the
// atexit hook of the module clears it before).
auto* progress_callback = new std::shared_ptr<py::object>();

void deliver_progress(const std::string& line) {
  {
    std::lock_guard<std::mutex> lock(progress_mutex);
    if (!*progress_callback) return;
  }
  if (!Py_IsInitialized()) return;
  py::gil_scoped_acquire gil;
  std::shared_ptr<py::object> callback;  // released before the GIL is
  {
    std::lock_guard<std::mutex> lock(progress_mutex);
    callback = *progress_callback;
  }
  if (!callback) return;
  try {
    (*callback)(line);
  } catch (py::error_already_set& e) {
    e.discard_as_unraisable("leo progress callback");
  }
}

// Called with the GIL held. The Progress lock is taken without it: a thread
// printing a line holds that lock while it waits for the GIL.
void set_progress(py::object callback) {
  const bool on = !callback.is_none();
  std::shared_ptr<py::object> old;
  {
    std::lock_guard<std::mutex> lock(progress_mutex);
    old = std::move(*progress_callback);
    *progress_callback = on ? std::make_shared<py::object>(std::move(callback)) : nullptr;
  }
  py::gil_scoped_release release;
  Progress::global().set_sink(on ? Progress::Sink(deliver_progress) : Progress::Sink());
  Progress::global().set_enabled(on);
}

// --- domains and analysis options -----------------------------------------------

Domain make_domain(const Network& net, const std::string& box, const std::vector<double>& lower,
                   const std::vector<double>& upper, const std::string& box_file, const std::string& vnnlib,
                   const std::string& probes, const std::optional<DoubleArray>& probe_points) {
  api::DomainOptions options;
  options.box = box;
  options.lower = lower;
  options.upper = upper;
  options.box_file = box_file;
  options.vnnlib = vnnlib;
  options.probes = probes;
  if (probe_points) {
    if (probe_points->ndim() != 2) throw InputError("data: expected an array of shape (points, features)");
    options.probe_points =
        Eigen::Map<const RowMatrix>(probe_points->data(), probe_points->shape(0), probe_points->shape(1));
  }
  py::gil_scoped_release release;
  return api::make_domain(options, net);
}

AnalyzeOptions analyze_options(const std::string& stages, const std::string& exact, const std::string& baseline,
                               std::optional<double> time_limit, std::optional<int> threads,
                               std::optional<std::uint64_t> seed) {
  AnalyzeOptions options = api::default_analyze_options();
  api::set_analysis_choices(options, stages, exact, baseline);
  if (time_limit) {
    if (!(*time_limit >= 0)) throw InputError("time_limit: must be a number >= 0 (0: none)");
    options.time_limit = *time_limit;
  }
  if (threads) {
    if (*threads < 0 || *threads > api::kMaxThreads)
      throw InputError("threads: must be between 0 (every core) and " + std::to_string(api::kMaxThreads));
    options.threads = *threads;
  }
  if (seed) options.seed = *seed;
  return options;
}

// Per hidden layer: status and stage codes (indices into status_names /
// stage_names), and the proven bounds on g.
py::list layer_arrays(const Analysis& a) {
  py::list out;
  for (const auto& layer : a.layers) {
    const auto n = static_cast<py::ssize_t>(layer.size());
    py::array_t<std::int8_t> status(n), stage(n);
    py::array_t<double> lower(n), upper(n);
    for (py::ssize_t i = 0; i < n; ++i) {
      status.mutable_at(i) = static_cast<std::int8_t>(layer[i].status);
      stage.mutable_at(i) = static_cast<std::int8_t>(layer[i].stage);
      lower.mutable_at(i) = layer[i].lower;
      upper.mutable_at(i) = layer[i].upper;
    }
    out.append(py::make_tuple(status, stage, lower, upper));
  }
  return out;
}

// The witnesses: inputs (k, features) and rows (witness, layer, unit, sign +1/-1).
py::tuple witness_arrays(const Analysis& a, Eigen::Index features) {
  py::array_t<double> inputs({static_cast<Eigen::Index>(a.witnesses.size()), features});
  std::size_t rows = 0;
  for (const auto& w : a.witnesses) rows += w.units.size();
  py::array_t<std::int64_t> units({static_cast<py::ssize_t>(rows), py::ssize_t{4}});
  auto in = inputs.mutable_unchecked<2>();
  auto un = units.mutable_unchecked<2>();
  std::size_t r = 0;
  for (std::size_t k = 0; k < a.witnesses.size(); ++k) {
    const auto& w = a.witnesses[k];
    for (Eigen::Index i = 0; i < features; ++i) in(k, i) = i < w.input.size() ? w.input[i] : 0.0;
    for (const auto& u : w.units) {
      un(r, 0) = static_cast<std::int64_t>(k);
      un(r, 1) = u.layer;
      un(r, 2) = u.unit;
      un(r, 3) = u.positive ? 1 : -1;
      ++r;
    }
  }
  return py::make_tuple(inputs, units);
}

}  // namespace
}  // namespace leo::python

PYBIND11_MODULE(_leo, m) {
  using namespace leo;
  using namespace leo::python;
  m.doc() = "leo's library entry points (use the package `leo`, not this module)";
  m.attr("__version__") = LEO_VERSION;

  // Exceptions: leo.Error for every failure leo reports, leo.InputError (also a
  // ValueError) for bad input, leo.CheckError when a compressed model fails its check.
  error_type = PyErr_NewExceptionWithDoc("leo.Error", "A failure leo reports (its message as the CLI prints it).",
                                         PyExc_RuntimeError, nullptr);
  py::tuple input_bases = py::make_tuple(py::handle(error_type), py::handle(PyExc_ValueError));
  input_error_type = PyErr_NewExceptionWithDoc(
      "leo.InputError", "Bad input: a file that cannot be read, a model leo does not support, a bad box or option.",
      input_bases.ptr(), nullptr);
  check_error_type = PyErr_NewExceptionWithDoc(
      "leo.CheckError", "The compressed model differs from the original by more than the tolerance.", error_type,
      nullptr);
  if (!error_type || !input_error_type || !check_error_type) throw py::error_already_set();
  m.attr("Error") = py::handle(error_type);
  m.attr("InputError") = py::handle(input_error_type);
  m.attr("CheckError") = py::handle(check_error_type);
  py::register_exception_translator(translate);

  py::list status_names, stage_names;
  for (auto s : {Status::active, Status::inactive, Status::unstable, Status::undecided})
    status_names.append(to_string(s));
  int stages = 1 + static_cast<int>(Stage::none);
  for (auto s : kCascadeStages) stages = std::max(stages, 1 + static_cast<int>(s));
  for (int s = 0; s < stages; ++s) stage_names.append(to_string(static_cast<Stage>(s)));
  m.attr("status_names") = status_names;  // index = status code
  m.attr("stage_names") = stage_names;    // index = stage code
  py::list cascade;
  for (auto s : kCascadeStages) cascade.append(to_string(s));
  m.attr("cascade_stages") = cascade;
  m.attr("default_tolerance") = default_equivalence_tolerance;
  m.attr("default_time_limit") = api::kDefaultTimeLimit;
  m.attr("default_seed") = api::kDefaultSeed;

  // --- Network -------------------------------------------------------------------
  py::class_<Network>(m, "Network", "A feed-forward ReLU network (leo::Network)")
      .def_property_readonly("inputs", [](const Network& n) { return n.inputs(); })
      .def_property_readonly("outputs", [](const Network& n) { return n.outputs(); })
      // The model's own units: values a skip connection carries through a
      // layer are counted apart (carried_units), as the CLI's reports do.
      .def_property_readonly("widths", [](const Network& n) { return n.model_widths(); })
      .def_property_readonly("hidden_units", &Network::model_units)
      .def_property_readonly("carried_units", &Network::carried_units)
      .def_property_readonly("depth", &Network::depth)
      .def_property_readonly("parameters", &Network::parameters)
      .def_property_readonly("multiply_adds", &Network::multiply_adds)
      .def_property_readonly("input_shape", [](const Network& n) { return n.input.shape; })
      .def_property_readonly("output_shape", [](const Network& n) { return n.output.shape; })
      .def_property_readonly("dtype", [](const Network& n) { return api::dtype_name(n.input.type); })
      .def_property_readonly("metadata", [](const Network& n) { return n.metadata; })
      .def_property_readonly("weights",
                             [](const Network& n) {
                               std::vector<Eigen::MatrixXd> w;
                               for (const auto& l : n.layers) w.push_back(l.weights);
                               return w;
                             })
      .def_property_readonly("biases",
                             [](const Network& n) {
                               std::vector<Eigen::VectorXd> b;
                               for (const auto& l : n.layers) b.push_back(l.bias);
                               return b;
                             })
      .def("info", [](const Network& n) { return json_to_python(api::describe(n)); })
      .def("evaluate", &evaluate_rows, py::arg("rows"), py::arg("dtype") = py::none());

  m.def("from_layers", &from_layers, py::arg("weights"), py::arg("biases"), py::arg("dtype") = "float");

  m.def(
      "load_path",
      [](const std::string& path, std::optional<std::uint64_t> max_bytes, bool validate) {
        api::LoadOptions options;
        if (max_bytes) options.max_bytes = *max_bytes;
        options.validate = validate;
        py::gil_scoped_release release;
        return api::load_model(path, options);
      },
      py::arg("path"), py::arg("max_bytes") = py::none(), py::arg("validate") = true);
  m.def(
      "load_bytes",
      [](const py::bytes& data, const std::string& name, std::optional<std::uint64_t> max_bytes, bool validate) {
        std::string bytes = data;
        api::LoadOptions options;
        if (max_bytes) options.max_bytes = *max_bytes;
        options.validate = validate;
        py::gil_scoped_release release;
        return api::load_model_bytes(bytes, name, options);
      },
      py::arg("data"), py::arg("name") = "<bytes>", py::arg("max_bytes") = py::none(), py::arg("validate") = true);
  m.def(
      "save_path",
      [](const Network& net, const std::string& path, const std::optional<std::string>& dtype,
         const std::vector<std::string>& inputs) {
        api::SaveOptions options;
        options.dtype = dtype_of(dtype);
        options.inputs.assign(inputs.begin(), inputs.end());
        py::gil_scoped_release release;
        api::save_model(net, path, options);
      },
      py::arg("network"), py::arg("path"), py::arg("dtype") = py::none(),
      py::arg("inputs") = std::vector<std::string>{});
  m.def(
      "save_bytes",
      [](const Network& net, const std::optional<std::string>& dtype, const std::string& format) {
        api::SaveOptions options;
        options.dtype = dtype_of(dtype);
        ModelFormat f;
        if (format == "onnx")
          f = ModelFormat::onnx;
        else if (format == "nnet")
          f = ModelFormat::nnet;
        else
          throw InputError("format: '" + format + "' is not onnx or nnet");
        std::string bytes;
        {
          py::gil_scoped_release release;
          bytes = api::save_model_bytes(net, options, f);
        }
        return py::bytes(bytes);
      },
      py::arg("network"), py::arg("dtype") = py::none(), py::arg("format") = "onnx");

  // --- domains ------------------------------------------------------------------
  py::class_<Domain>(m, "Domain", "An input box and optional probe points (leo::Domain)")
      .def_property_readonly("lower", [](const Domain& d) { return vector_array(d.box.lower); })
      .def_property_readonly("upper", [](const Domain& d) { return vector_array(d.box.upper); })
      .def_property_readonly("probes",
                             [](const Domain& d) -> py::array_t<double> {
                               if (d.probes.cols() > 0) return columns_array(d.probes);
                               return py::array_t<double>(std::vector<py::ssize_t>{0, d.box.size()});
                             })
      .def_property_readonly("description", [](const Domain& d) { return d.description; })
      .def("text", &api::domain_text);
  m.def("make_domain", &make_domain, py::arg("network"), py::arg("box") = "", py::arg("lower") = std::vector<double>{},
        py::arg("upper") = std::vector<double>{}, py::arg("box_file") = "", py::arg("vnnlib") = "",
        py::arg("probes") = "", py::arg("probe_points") = py::none());

  // --- analysis -----------------------------------------------------------------
  py::class_<Analysis>(m, "Analysis", "The stability verdicts of an analysis (leo::Analysis)")
      .def("layer_arrays", &layer_arrays)
      .def("witness_arrays", [](const Analysis& a) { return witness_arrays(a, a.domain.box.size()); })
      .def("to_json", [](const Analysis& a) { return to_json(a).dump(); })
      .def_property_readonly("time_seconds", [](const Analysis& a) { return a.time_seconds; })
      .def_property_readonly("timed_out", [](const Analysis& a) { return a.timed_out; });
  m.def(
      "analyze",
      [](const Network& net, const Domain& domain, const std::string& stages, const std::string& exact,
         const std::string& baseline, std::optional<double> time_limit, std::optional<int> threads,
         std::optional<std::uint64_t> seed, const std::string& certificate) {
        AnalyzeOptions options = analyze_options(stages, exact, baseline, time_limit, threads, seed);
        net.validate("model");
        CertificateRecorder recorder;
        if (!certificate.empty()) options.certificate = &recorder;
        py::gil_scoped_release release;
        Analysis a = api::analyze(net, domain, options);
        if (!certificate.empty()) cert::write_certificate(make_certificate(net, a, recorder), certificate);
        return a;
      },
      py::arg("network"), py::arg("domain"), py::arg("stages") = "all", py::arg("exact") = "",
      py::arg("baseline") = "", py::arg("time_limit") = py::none(), py::arg("threads") = py::none(),
      py::arg("seed") = py::none(), py::arg("certificate") = "");

  // --- compression --------------------------------------------------------------
  py::class_<api::CompressModelResult>(m, "CompressResult", "What compress_model found and built")
      .def_property_readonly("compressed", [](const api::CompressModelResult& r) { return r.compressed; })
      .def_property_readonly("analysis", [](const api::CompressModelResult& r) { return r.analysis; })
      .def_property_readonly("worst_input",
                             [](const api::CompressModelResult& r) { return vector_array(r.check.worst_input); })
      .def(
          "to_json",
          [](const api::CompressModelResult& r, const std::string& input, const std::string& output) {
            return api::to_json(r, input, output).dump();
          },
          py::arg("input") = "", py::arg("output") = "");
  m.def(
      "compress",
      [](const Network& net, const Domain& domain, const std::string& stages, const std::string& exact,
         const std::string& baseline, std::optional<double> time_limit, std::optional<int> threads,
         std::optional<std::uint64_t> seed, const std::string& fold_layers, const std::optional<std::string>& dtype,
         double tolerance, std::optional<int> check_points, const std::string& certificate) {
        api::CompressModelOptions options;
        CertificateRecorder recorder;
        options.analysis = analyze_options(stages, exact, baseline, time_limit, threads, seed);
        options.rewrite.fold_layers = parse_fold_layers(fold_layers);
        options.dtype = dtype_of(dtype);
        options.tolerance = tolerance;
        if (check_points) {
          if (*check_points < 0) throw InputError("check_points: must be >= 0");
          options.check_points = *check_points;
        }
        if (!certificate.empty()) options.analysis.certificate = &recorder;
        py::gil_scoped_release release;
        api::CompressModelResult r = api::compress_model(net, domain, options);
        if (!certificate.empty()) {
          cert::Certificate c = make_certificate(net, r.analysis, recorder);
          c.command = "compress";
          c.compress = compress_claims(r.analysis, r.rewrite, r.compressed);
          cert::write_certificate(c, certificate);
        }
        return r;
      },
      py::arg("network"), py::arg("domain"), py::arg("stages") = "all", py::arg("exact") = "",
      py::arg("baseline") = "", py::arg("time_limit") = py::none(), py::arg("threads") = py::none(),
      py::arg("seed") = py::none(), py::arg("fold_layers") = "auto", py::arg("dtype") = py::none(),
      py::arg("tolerance") = default_equivalence_tolerance, py::arg("check_points") = py::none(),
      py::arg("certificate") = "");

  // --- certificates (checker/) ----------------------------------------------------
  // The checker's result as `leo check --json` prints it; a claim that does
  // not hold is not an exception: {"valid": false, "failure": "..."}. Bad
  // input (another model, a garbled file) raises leo.InputError.
  m.def(
      "check",
      [](const Network& net, const std::string& certificate, const Network* compressed) {
        cert::Certificate c = cert::read_certificate(certificate);
        py::gil_scoped_release release;
        nlohmann::json j;
        try {
          j = cert::to_json(c, cert::check(net, c, compressed));
        } catch (const cert::CheckFailure& e) {
          j = {{"valid", false}, {"command", c.command}, {"version", c.version},
               {"failure", std::string(certificate) + ": claim does not hold: " + e.what()}};
        }
        return j.dump();
      },
      py::arg("network"), py::arg("certificate"), py::arg("compressed") = nullptr);

  // --- equivalence --------------------------------------------------------------
  m.def(
      "verify",
      [](const Network& a, const Network& b, const Domain& domain, double tolerance, bool exact,
         std::optional<double> time_limit, std::optional<int> threads, std::optional<std::uint64_t> seed,
         std::optional<int> random_points) {
        VerifyOptions options;
        options.tolerance = tolerance;
        options.exact = exact;
        if (time_limit) {
          if (!(*time_limit >= 0)) throw InputError("time_limit: must be a number >= 0 (0: none)");
          options.deadline = Deadline(*time_limit);
        }
        if (threads) {
          if (*threads < 0 || *threads > api::kMaxThreads)
            throw InputError("threads: must be between 0 (every core) and " + std::to_string(api::kMaxThreads));
          options.threads = *threads;
        }
        options.seed = static_cast<unsigned>(seed.value_or(api::kDefaultSeed));
        if (random_points) {
          if (*random_points < 0) throw InputError("random_points: must be >= 0");
          options.random_points = *random_points;
        }
        a.validate("a");
        b.validate("b");
        VerifyResult r;
        {
          py::gil_scoped_release release;
          r = api::verify(a, b, domain.box, domain.probes, options);
        }
        return py::make_tuple(to_json(r).dump(), vector_array(r.worst_input));
      },
      py::arg("a"), py::arg("b"), py::arg("domain"), py::arg("tolerance") = default_equivalence_tolerance,
      py::arg("exact") = false, py::arg("time_limit") = py::none(), py::arg("threads") = py::none(),
      py::arg("seed") = py::none(), py::arg("random_points") = py::none());

  // --- data ---------------------------------------------------------------------
  m.def(
      "load_data",
      [](const std::string& spec, std::uint64_t split_seed) {
        DataOptions options;
        options.split_seed = split_seed;
        DataSplit split;
        {
          py::gil_scoped_release release;
          split = load_data(spec, options);
        }
        auto part = [](const Dataset& d) -> py::object {
          py::array_t<std::int64_t> labels(static_cast<py::ssize_t>(d.labels.size()));
          std::copy(d.labels.begin(), d.labels.end(), labels.mutable_data());
          return py::make_tuple(columns_array(d.features), labels, d.name, d.shape);
        };
        return py::make_tuple(part(split.train), split.test ? part(*split.test) : py::none(), split.description);
      },
      py::arg("spec"), py::arg("split_seed") = 0);

  // --- progress -----------------------------------------------------------------
  m.def("set_progress", &set_progress, py::arg("callback"),
        "Send the library's progress lines to callback(line) (None: silence them)");
  py::module_::import("atexit").attr("register")(py::cpp_function([]() { set_progress(py::none()); }));
}
