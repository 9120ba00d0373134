"""Models: loading (path, bytes), info, evaluation, saving, round trips."""
import os

import numpy as np
import pytest

import leo
from conftest import ACAS, MNIST_EXAMPLE, run_leo, write_csv


def test_info_is_what_leo_info_prints(mnist_model, acas_model, leo_binary):
    for path, model in [(MNIST_EXAMPLE, mnist_model), (ACAS, acas_model)]:
        expected = run_leo("info", "--json", path)
        assert model.info == expected
    assert mnist_model.inputs == 784 and mnist_model.outputs == 10
    assert mnist_model.widths == [50, 50]
    assert mnist_model.hidden_units == 100 and mnist_model.depth == 3
    assert mnist_model.parameters == 784 * 50 + 50 + 50 * 50 + 50 + 50 * 10 + 10
    assert mnist_model.dtype == "float"
    assert [w.shape for w, b in mnist_model.layers] == [(50, 784), (50, 50), (10, 50)]
    assert [b.shape for w, b in mnist_model.layers] == [(50,), (50,), (10,)]


def test_a_residual_cnn_counts_its_own_units_and_its_carries_apart(leo_binary):
    # resnet_2b passes a skip connection's values through hidden layers: widths
    # and hidden_units count the model's units, as `leo info` does, and the
    # carried values are counted apart.
    path = os.path.join(os.path.dirname(ACAS), "..", "cifar", "resnet_2b.onnx")
    model = leo.load(path)
    expected = run_leo("info", "--json", path)
    assert model.widths == expected["widths"]
    assert model.hidden_units == expected["hidden_units"] == sum(model.widths)
    assert model.carried_units == expected["carried_units"] > 0
    assert leo.load(MNIST_EXAMPLE).carried_units == 0


def test_evaluation_matches_leo_eval(mnist_model, acas_model, leo_binary, tmp_path):
    rng = np.random.default_rng(3)
    for path, model, x in [(MNIST_EXAMPLE, mnist_model, rng.random((7, 784))),
                           (ACAS, acas_model, rng.uniform(-0.5, 0.5, (9, 5)))]:
        csv = tmp_path / "points.csv"
        write_csv(csv, x)
        expected = np.asarray(run_leo("eval", path, "--input", csv, "--json")["outputs"])
        y = model(x)
        assert y.shape == (len(x), model.outputs)
        # the same evaluation (float32 arithmetic for these float32 models): bit for bit
        assert np.array_equal(y, expected)
        in_double = np.asarray(run_leo("eval", path, "--input", csv, "--dtype", "double", "--json")["outputs"])
        assert np.array_equal(model(x, dtype="double"), in_double)
        assert not np.array_equal(in_double, expected)
        assert np.allclose(in_double, expected, rtol=1e-5, atol=1e-5)
        # one point without a batch dimension (float32 sums may come in another
        # order for one point than for a batch); other array types and layouts
        assert model(x[2]).shape == (model.outputs,)
        assert np.allclose(model(x[2]), expected[2], rtol=1e-5, atol=1e-5)
        assert np.allclose(model(x[2], dtype="double"), in_double[2], rtol=1e-12, atol=1e-12)
        assert np.array_equal(model(x.tolist()), expected)
        assert np.array_equal(model(np.asfortranarray(x).astype(np.float32)), model(x.astype(np.float32)))
    # image-shaped batches are flattened
    images = rng.random((4, 1, 28, 28))
    assert np.array_equal(mnist_model(images), mnist_model(images.reshape(4, 784)))
    assert mnist_model(np.zeros((0, 784))).shape == (0, 10)


def test_evaluation_by_hand():
    # y = relu(x0 - x1) - relu(x1 - x0) + 0.5 = (x0 - x1) + 0.5
    model = leo.from_layers([(np.array([[1.0, -1.0], [-1.0, 1.0]]), np.zeros(2)),
                             (np.array([[1.0, -1.0]]), np.array([0.5]))])
    x = np.array([[0.0, 0.0], [2.0, 1.0], [1.0, 3.0], [-1.5, 0.25]])
    assert np.array_equal(model(x)[:, 0], x[:, 0] - x[:, 1] + 0.5)
    assert np.array_equal(model(x, dtype="double")[:, 0], x[:, 0] - x[:, 1] + 0.5)
    # float32 arithmetic rounds the input: 0.1 is not a float
    assert model(np.array([0.1, 0.0]), dtype="float")[0] == np.float32(np.float32(0.1) + np.float32(0.5))
    assert model.widths == [2] and model.inputs == 2 and model.outputs == 1


def test_save_load_round_trip(mnist_model, tmp_path):
    path = tmp_path / "copy.onnx"
    mnist_model.save(path)
    again = leo.load(path)
    for (w0, b0), (w1, b1) in zip(mnist_model.layers, again.layers):
        assert np.array_equal(w0, w1) and np.array_equal(b0, b1)
    assert again.info["parameters"] == mnist_model.info["parameters"]
    assert again.input_shape == mnist_model.input_shape
    # str and os.PathLike both work
    again = leo.load(str(path))
    assert again.source == str(path)


def test_bytes_round_trip(mnist_model, acas_model):
    for model in (mnist_model, acas_model):
        data = model.to_bytes()
        assert isinstance(data, bytes) and len(data) > 1000
        again = leo.load(data)
        assert again.format == "onnx" and again.source == "<bytes>"
        x = np.random.default_rng(0).random((5, model.inputs))
        assert np.array_equal(again(x), model(x))
        # bytes read from a file are the same model as the file
        with open(model.source, "rb") as f:
            from_file_bytes = leo.load(f.read())
        assert np.array_equal(from_file_bytes(x), model(x))
    # .nnet text, both ways
    text = acas_model.to_bytes(format="nnet")
    assert text.lstrip().startswith(b"//")
    nnet = leo.load(text)
    assert nnet.format == "nnet"
    x = np.random.default_rng(1).uniform(-0.5, 0.5, (5, 5))
    assert np.allclose(nnet(x), acas_model(x), rtol=0, atol=1e-6)


def test_dtype_on_save(tmp_path):
    w = np.array([[0.1, 1 / 3]])  # not representable in float32
    model = leo.from_layers([(w, np.array([0.7]))], dtype="double")
    assert model.dtype == "double"
    model.save(tmp_path / "d.onnx")
    assert np.array_equal(leo.load(tmp_path / "d.onnx").layers[0][0], w)
    model.save(tmp_path / "f.onnx", dtype="float")
    as_float = leo.load(tmp_path / "f.onnx")
    assert as_float.dtype == "float"
    assert np.array_equal(as_float.layers[0][0], w.astype(np.float32).astype(np.float64))
    assert not np.array_equal(as_float.layers[0][0], w)
    assert leo.load(model.to_bytes(dtype="double")).dtype == "double"


def test_save_refuses_nothing_partial(mnist_model, tmp_path):
    with pytest.raises(leo.InputError):
        mnist_model.save(tmp_path / "no" / "such" / "folder" / "m.onnx")
    assert not (tmp_path / "no").exists()
    with pytest.raises(ValueError):
        mnist_model.save(tmp_path / "m.onnx", dtype="half")
    assert not os.path.exists(tmp_path / "m.onnx")
