"""Certificates from Python (docs/certificates.md): analyze/compress with
certificate= write the file `--certificate` writes, and leo.check re-checks it
as `leo check --json` does: valid for the honest one, a named failing claim
for a tampered one, leo.InputError for bad input, never a dead interpreter."""
import json

import pytest

import leo
from conftest import MNIST_EXAMPLE, run_leo


def flip_first_unstable(cert_path, out_path):
    """Writes to out_path the certificate with its first unstable verdict
    ("u") called stably inactive ("i"); returns out_path."""
    cert = json.loads(cert_path.read_text())
    for k, v in enumerate(cert["verdicts"]):
        if "u" in v:
            i = v.index("u")
            cert["verdicts"][k] = v[:i] + "i" + v[i + 1:]
            break
    else:
        pytest.fail("the certificate has no unstable unit to flip")
    out_path.write_text(json.dumps(cert))
    return out_path


def test_analyze_certificate_checks(mnist_model, tmp_path):
    c = tmp_path / "a.cert"
    mnist_model.analyze(box=(0, 1), certificate=c)
    r = leo.check(mnist_model, c)
    assert r["valid"] is True
    assert r["command"] == "analyze"
    assert r["claims"]["stable_units"] > 0
    # the same as the program's checker
    cli = run_leo("check", MNIST_EXAMPLE, c, "--json")
    assert r["claims"] == cli["claims"]
    # tampered: a stable verdict flipped on a unit the bounds do not settle
    r = leo.check(mnist_model, flip_first_unstable(c, tmp_path / "t.cert"))
    assert r["valid"] is False
    assert "called stably inactive" in r["failure"]


def test_compress_certificate_replays(mnist_model, tmp_path):
    c, out = tmp_path / "c.cert", tmp_path / "small.onnx"
    small, report = mnist_model.compress(box=(0, 1), certificate=c)
    small.save(out)
    r = leo.check(mnist_model, c, compressed=out)
    assert r["valid"] is True and r["command"] == "compress"
    assert r["compress"]["compressed_model_checked"] is True
    assert r["compress"]["rewrites_replayed"] == len(json.loads(c.read_text())["compress"]["rewrites"])
    assert leo.check(MNIST_EXAMPLE, c, compressed=small)["valid"] is True
    # the original is not the compressed model certified
    r = leo.check(mnist_model, c, compressed=mnist_model)
    assert r["valid"] is False and "not the one this certificate was written for" in r["failure"]


def test_check_bad_input(mnist_model, acas_model, tmp_path):
    c = tmp_path / "a.cert"
    mnist_model.analyze(box=(0, 1), stages="ibp", certificate=c)
    with pytest.raises(leo.InputError, match="another model"):
        leo.check(acas_model, c)
    garbled = tmp_path / "g.cert"
    garbled.write_text(c.read_text()[:100])
    with pytest.raises(leo.InputError, match="not a valid JSON certificate"):
        leo.check(mnist_model, garbled)
    with pytest.raises(leo.InputError, match="cannot open"):
        leo.check(mnist_model, tmp_path / "missing.cert")
    with pytest.raises(TypeError):
        leo.check(mnist_model, 42)
    # an analyze certificate with --compressed
    with pytest.raises(leo.InputError, match="needs a compress certificate"):
        leo.check(mnist_model, c, compressed=mnist_model)


def test_cnn_certificates_check_and_tampering_is_caught(tmp_path):
    # A residual CNN (Conv, BatchNorm, a skip connection's carried values):
    # the checker flattens the conv layers in its own interval arithmetic.
    import os
    from conftest import ROOT
    model = leo.load(os.path.join(ROOT, "tests", "fixtures", "pytorch", "cnn_residual.onnx"))
    assert model.carried_units > 0
    c = tmp_path / "c.cert"
    model.analyze(box=(0, 1), certificate=c, time_limit=10)
    r = leo.check(model, c)
    assert r["valid"] is True and r["command"] == "analyze"
    assert r["claims"]["stable_units"] > 0
    assert r["claims"] == run_leo("check", model.source, c, "--json")["claims"]
    # tampered: an unstable verdict called stably inactive
    r = leo.check(model, flip_first_unstable(c, tmp_path / "t.cert"))
    assert r["valid"] is False and "called stably inactive" in r["failure"]
