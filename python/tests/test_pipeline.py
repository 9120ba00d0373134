"""analyze, compress and verify: agreement with the command line on the same
model and domain, and the results' arrays against their JSON."""
import json

import numpy as np
import pytest

import leo
from conftest import ACAS, ACAS_PROP1, ACAS_STAGES, MNIST_EXAMPLE, run_leo


def verdicts(j):
    return [[v["status"] for v in layer["verdicts"]] for layer in j["layers"]]


def assert_same_verdicts(ours, cli):
    """Decided units agree exactly (a unit proven stable by one run can never be
    shown unstable by another); with no undecided unit, the two are equal."""
    for h, (a, b) in enumerate(zip(verdicts(ours), verdicts(cli))):
        assert len(a) == len(b)
        for u, (x, y) in enumerate(zip(a, b)):
            if "undecided" not in (x, y):
                assert x == y, f"layer {h} unit {u}: {x} here, {y} from the CLI"


def test_analyze_agrees_with_cli_mnist(mnist_model):
    cli = run_leo("analyze", MNIST_EXAMPLE, "--box", "0,1", "--json")
    a = mnist_model.analyze(box=(0, 1))
    ours = a.to_dict()
    assert_same_verdicts(ours, cli)
    assert [l["undecided"] for l in cli["layers"]] == [0, 0]
    assert verdicts(ours) == verdicts(cli)
    assert ours["domain"]["lower"] == cli["domain"]["lower"] and ours["domain"]["upper"] == cli["domain"]["upper"]
    # the arrays say what the JSON says
    assert len(a.status) == 2
    for h, layer in enumerate(ours["layers"]):
        assert list(a.status[h]) == [v["status"] for v in layer["verdicts"]]
        assert list(a.stage[h]) == [v["stage"] for v in layer["verdicts"]]
        lower = [-np.inf if v["lower"] is None else v["lower"] for v in layer["verdicts"]]
        upper = [np.inf if v["upper"] is None else v["upper"] for v in layer["verdicts"]]
        assert np.array_equal(a.lower[h], lower) and np.array_equal(a.upper[h], upper)
        assert a.counts[h]["stably_inactive"] == int((a.status[h] == "inactive").sum())
        assert np.array_equal(a.stable(h), np.isin(a.status[h], ["active", "inactive"]))
    # the witnesses, as arrays: each really drives its units' pre-activation to the sign it claims
    assert a.witnesses.shape == (len(ours["witnesses"]), 784)
    assert a.witness_units.shape[1] == 4 and len(a.witness_units) > 0
    for k, w in enumerate(ours["witnesses"]):
        assert np.array_equal(a.witnesses[k], w["input"])
    weights = mnist_model.layers
    for k, layer, unit, sign in a.witness_units:
        x = a.witnesses[k]
        for h in range(layer):
            x = np.maximum(weights[h][0] @ x + weights[h][1], 0)
        g = weights[layer][0][unit] @ x + weights[layer][1][unit]
        assert g * sign > 0
        assert a.status[layer][unit] in ("unstable", "undecided")
    # the default domain of an image net is [0,1]
    default = mnist_model.analyze()
    assert default.domain["lower"] == ours["domain"]["lower"]
    assert [list(s) for s in default.status] == [list(s) for s in a.status]


def test_analyze_agrees_with_cli_acas(acas_model):
    cli = run_leo("analyze", ACAS, "--vnnlib", ACAS_PROP1, "--stages", ACAS_STAGES, "--json")
    a = acas_model.analyze(vnnlib=ACAS_PROP1, stages=ACAS_STAGES.split(","))
    ours = a.to_dict()
    assert ours["domain"]["lower"] == cli["domain"]["lower"]
    assert ours["domain"]["upper"] == cli["domain"]["upper"]
    assert_same_verdicts(ours, cli)
    stable = sum(l["stably_active"] + l["stably_inactive"] for l in ours["layers"])
    assert stable == sum(l["stably_active"] + l["stably_inactive"] for l in cli["layers"])
    assert {s["stage"] for s in ours["stages"]} <= set(ACAS_STAGES.split(","))
    # stages given as a comma list work the same
    again = acas_model.analyze(vnnlib=ACAS_PROP1, stages=ACAS_STAGES)
    assert [list(s) for s in again.status] == [list(s) for s in a.status]


def test_compress_agrees_with_cli_mnist(mnist_model, tmp_path):
    out = tmp_path / "small.onnx"
    cli = run_leo("compress", MNIST_EXAMPLE, "-o", out, "--box", "0,1", "--json")
    small, report = mnist_model.compress(box=(0, 1))
    assert isinstance(report, leo.CompressReport)
    # the same fields as `leo compress --json`
    assert set(report.keys()) == set(cli.keys())
    for key in ["units_before", "units_after", "hidden_units_before", "hidden_units_after", "layers_before",
                "layers_after", "multiply_adds_before", "multiply_adds_after", "dtype", "fold_layers", "tolerance",
                "domain"]:
        assert report[key] == cli[key], key
    assert report["rewrites"] == cli["rewrites"]
    assert report["input"] == MNIST_EXAMPLE and report["output"] == ""
    assert report.units_after == small.widths
    assert small.hidden_units < mnist_model.hidden_units
    assert report.max_abs_deviation <= report.tolerance
    # the compressed model is the file the CLI wrote, weight for weight
    written = leo.load(out)
    for (w0, b0), (w1, b1) in zip(small.layers, written.layers):
        assert np.array_equal(w0, w1) and np.array_equal(b0, b1)
    assert small.metadata["leo.original_parameters"] == str(mnist_model.parameters)
    # and the same function on the box
    x = np.random.default_rng(5).random((500, 784))
    assert np.max(np.abs(small(x) - mnist_model(x))) <= 1e-4
    # the analysis it ran is the one analyze gives
    assert [list(s) for s in report.analysis.status] == [list(s) for s in mnist_model.analyze(box=(0, 1)).status]
    assert report["analysis"] == json.loads(report.analysis.to_json())
    json.loads(report.to_json())


def test_compress_agrees_with_cli_acas(acas_model, tmp_path):
    out = tmp_path / "acas.onnx"
    cli = run_leo("compress", ACAS, "-o", out, "--vnnlib", ACAS_PROP1, "--stages", ACAS_STAGES, "--json")
    small, report = acas_model.compress(vnnlib=ACAS_PROP1, stages=ACAS_STAGES)
    assert report.units_after == cli["units_after"]
    assert report.parameters_after == cli["parameters_after"]
    assert report.rewrites == cli["rewrites"]
    assert small.widths == leo.load(out).widths
    assert sum(small.widths) < sum(acas_model.widths)
    lower, upper = np.asarray(report.domain_lower), np.asarray(report.domain_upper)
    x = lower + (upper - lower) * np.random.default_rng(2).random((2000, 5))
    assert np.max(np.abs(small(x) - acas_model(x))) <= report.tolerance
    # in double, on request
    small64, report64 = acas_model.compress(vnnlib=ACAS_PROP1, stages=ACAS_STAGES, dtype="double")
    assert small64.dtype == "double" and report64.dtype == "double"


def test_verify(mnist_model):
    small, _ = mnist_model.compress(box=(0, 1))
    same = leo.verify(mnist_model, small, box=(0, 1))
    assert isinstance(same, leo.VerifyReport) and same
    assert same.within_tolerance and same.max_abs_deviation <= 1e-4
    assert same.worst_input.shape == (784,)
    cli = run_leo("verify", MNIST_EXAMPLE, MNIST_EXAMPLE, "--box", "0,1", "--json")
    assert set(cli.keys()) == set(same.keys())
    assert same.equivalent and same.a == MNIST_EXAMPLE and same.b == "<compressed>"
    # a changed weight is found, at a point of the box where it shows
    layers = [(w.copy(), b.copy()) for w, b in mnist_model.layers]
    layers[2][1][3] += 0.5
    other = leo.from_layers(layers)
    far = mnist_model.verify(other, box=(0, 1))
    assert not far and not far.within_tolerance and not far.equivalent
    assert far.max_abs_deviation == pytest.approx(0.5, abs=1e-6)
    assert far.worst_output == 3
    assert np.all((far.worst_input >= 0) & (far.worst_input <= 1))
    gap = np.abs(other(far.worst_input, dtype="double") - mnist_model(far.worst_input, dtype="double"))
    assert gap[3] == pytest.approx(far.max_abs_deviation, abs=1e-6)


def test_probe_points_as_array(mnist_model):
    x = np.random.default_rng(4).random((20, 784))
    a = mnist_model.analyze(box=(0, 1), data=x, stages="ibp,samples")
    assert a.domain["probes"] == 20
    lower, upper, text = mnist_model.domain(box=(0, 1), data=x.reshape(20, 1, 28, 28))
    assert lower.shape == (784,) and "20 probe points" in text
    # per-feature bounds, as arrays or as an array of shape (features, 2)
    lo, hi = np.zeros(784), np.ones(784)
    lo[0] = 0.25
    l1, u1, _ = mnist_model.domain(box=(lo, hi))
    l2, u2, _ = mnist_model.domain(box=np.stack([lo, hi], axis=1))
    assert np.array_equal(l1, lo) and np.array_equal(l2, lo) and np.array_equal(u1, hi) and np.array_equal(u2, hi)
