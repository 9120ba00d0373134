"""Bad input raises leo.InputError (a ValueError) with leo's message; nothing
crashes the interpreter."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import leo
from conftest import ACAS, MNIST_EXAMPLE


def test_exception_classes():
    assert issubclass(leo.InputError, ValueError) and issubclass(leo.InputError, leo.Error)
    assert issubclass(leo.Error, RuntimeError)
    assert issubclass(leo.CheckError, leo.Error) and not issubclass(leo.CheckError, ValueError)


def test_missing_file():
    with pytest.raises(ValueError, match="no such file") as e:
        leo.load("/nonexistent/model.onnx")
    assert isinstance(e.value, leo.InputError) and e.value.code == 2
    assert "/nonexistent/model.onnx" in str(e.value)


def test_bad_models(tmp_path):
    with pytest.raises(ValueError):
        leo.load(b"\x08\x07\x12\x03not a model\x00\xff")
    with pytest.raises(ValueError, match="empty"):
        leo.load(b"")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00\x01garbage")
    with pytest.raises(ValueError, match="bad.onnx"):
        leo.load(bad)
    with pytest.raises(TypeError):
        leo.load(42)


def test_not_a_relu_network(tmp_path):
    torch = pytest.importorskip("torch")
    import io

    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Sigmoid(), torch.nn.Linear(4, 2))
    buffer = io.BytesIO()
    torch.onnx.export(net, torch.zeros(1, 3), buffer)
    with pytest.raises(ValueError, match="Sigmoid"):
        leo.load(buffer.getvalue())
    import leo.torch as lt

    with pytest.raises(ValueError, match="Sigmoid"):
        lt.compress(net, torch.zeros(1, 3), box=(0, 1))


def test_bad_boxes(acas_model):
    with pytest.raises(ValueError, match="3 bounds"):
        acas_model.analyze(box=(np.zeros(3), np.ones(3)))
    with pytest.raises(ValueError, match="(?i)nan"):
        acas_model.analyze(box=(float("nan"), 1.0))
    with pytest.raises(ValueError):
        acas_model.compress(box=(1.0, 0.0))  # empty
    with pytest.raises(ValueError, match="infinite"):
        acas_model.analyze(box=(0.0, float("inf")))
    with pytest.raises(ValueError, match="at most one"):
        acas_model.analyze(box=(0, 1), vnnlib="x.vnnlib")
    with pytest.raises(ValueError, match="no such file|x.vnnlib"):
        acas_model.analyze(vnnlib="/nonexistent/x.vnnlib")
    with pytest.raises(ValueError):
        acas_model.analyze(box=(0, 1, 2))
    # probe points outside the box, or of the wrong size
    with pytest.raises(ValueError):
        acas_model.analyze(box=(0, 1), data=np.full((2, 5), 2.0))
    with pytest.raises(ValueError):
        acas_model.analyze(box=(0, 1), data=np.zeros((2, 4)))
    # no default domain for ACAS Xu's ONNX file
    with pytest.raises(ValueError, match="default input domain"):
        acas_model.analyze()


def test_bad_options(mnist_model, acas_model):
    with pytest.raises(ValueError, match="bogus"):
        mnist_model.analyze(stages="ibp,bogus")
    with pytest.raises(ValueError):
        mnist_model.analyze(exact="sometimes")
    with pytest.raises(ValueError):
        mnist_model.analyze(baseline="leo1999")
    with pytest.raises(ValueError):
        mnist_model.compress(fold_layers="maybe")
    with pytest.raises(ValueError):
        mnist_model.compress(tolerance=-1)
    with pytest.raises(ValueError):
        mnist_model.analyze(threads=-3)
    with pytest.raises(ValueError):
        mnist_model.analyze(time_limit=float("nan"))
    with pytest.raises(ValueError):
        mnist_model.to_bytes(format="pickle")
    with pytest.raises(ValueError, match="784 inputs"):
        mnist_model(np.zeros((3, 5)))
    with pytest.raises(ValueError):
        mnist_model(np.float64(1.0))
    with pytest.raises(ValueError):
        leo.verify(mnist_model, acas_model, box=(0, 1))  # different input counts
    with pytest.raises(ValueError):
        leo.from_layers([(np.ones((2, 3)), np.ones(3))])
    with pytest.raises(ValueError):
        leo.from_layers([(np.ones((2, 3)), np.zeros(2)), (np.ones((1, 4)), np.zeros(1))])
    with pytest.raises(ValueError):
        leo.from_layers([(np.array([[np.nan]]), np.zeros(1))])


def test_check_failure_is_a_check_error():
    # A weight float32 cannot hold: no candidate (rewritten, deletions only,
    # original) can be stored as float, so nothing is returned.
    big = leo.from_layers([(np.array([[1e39], [1.0]]), np.zeros(2)), (np.array([[1.0, 1.0]]), np.zeros(1))],
                          dtype="double")
    with pytest.raises(leo.CheckError, match="not written") as e:
        big.compress(box=(0, 1), dtype="float")
    assert e.value.code == 3 and not isinstance(e.value, ValueError)
    small, report = big.compress(box=(0, 1))  # in double it can
    assert report.dtype == "double"


def test_check_beyond_tolerance_is_a_check_error():
    # Two duplicate (unstable) units merge into one with the summed outgoing
    # weight; stored in float32 that sum rounds (by ~7e-9), so a tolerance of
    # 1e-12 refuses the result, while in double the merge passes.
    w1, b1 = np.array([[1.0], [1.0]]), np.array([0.1, 0.1])
    w2 = np.array([[0.1, 0.2]], dtype=np.float32).astype(np.float64)
    as_float = leo.from_layers([(w1, b1), (w2, np.zeros(1))], dtype="float")
    with pytest.raises(leo.CheckError, match="tolerance") as e:
        as_float.compress(box=(-1, 1), tolerance=1e-12)
    assert e.value.code == 3
    as_double = leo.from_layers([(w1, b1), (w2, np.zeros(1))], dtype="double")
    small, report = as_double.compress(box=(-1, 1), tolerance=1e-12)
    assert small.widths == [1] and report.rewrites[0]["rewrite"] == "duplicate_unit"


def test_interpreter_survives_every_bad_call():
    # In a fresh interpreter: every call raises, none aborts the process.
    code = textwrap.dedent(f"""
        import numpy as np, leo
        m = leo.load({ACAS!r})
        calls = [
            lambda: leo.load(b"\\x00" * 10),
            lambda: leo.load("/nonexistent"),
            lambda: m(np.zeros((2, 7))),
            lambda: m(np.zeros((2, 0))),
            lambda: m.analyze(box=(np.zeros(2), np.ones(3))),
            lambda: m.analyze(box=(float("nan"), float("nan"))),
            lambda: m.compress(box=(0, 1), fold_layers=""),
            lambda: m.save("/proc/forbidden.onnx"),
            lambda: leo.from_layers([]),
            lambda: leo.from_layers([(np.zeros((0, 0)), np.zeros(0))]),
            lambda: m.analyze(box=(0, 1), data=np.zeros((1, 5, 5))),
        ]
        for call in calls:
            try:
                call()
                print("no error")
            except (leo.Error, ValueError, TypeError) as e:
                print(type(e).__name__)
        print("alive")
    """)
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.split()
    assert lines[-1] == "alive" and "no error" not in lines, p.stdout


def test_save_never_overwrites_the_model_read(tmp_path):
    import shutil

    path = tmp_path / "acas.onnx"
    shutil.copy(ACAS, path)
    before = path.read_bytes()
    model = leo.load(path)
    with pytest.raises(ValueError):
        model.save(path)
    small, _ = model.compress(box=(-0.5, 0.5), stages="ibp,samples")
    with pytest.raises(ValueError):
        small.save(str(path))
    assert path.read_bytes() == before
    small.save(tmp_path / "other.onnx")
    assert leo.load(tmp_path / "other.onnx").widths == small.widths
