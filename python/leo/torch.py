"""leo for PyTorch: compress a torch.nn.Module and get a torch.nn.Module back.

    import leo.torch
    small, report = leo.torch.compress(net, torch.zeros(1, 784), box=(0, 1))
    small(x)    # the same function as net(x) on the box, with fewer units

The module is exported with torch.onnx.export (it must be a feed-forward ReLU
network: Linear / Flatten / ReLU and affine arithmetic, as `leo` reads from
ONNX), compressed by leo, and rebuilt as torch.nn.Sequential of Flatten (for
inputs of rank > 2), Linear and ReLU layers.
"""
import io

import numpy as np
import torch

from . import _api, _leo

__all__ = ["compress", "export", "to_torch"]


def export(module, example_input, opset_version=13):
    """module as a leo.Model, through torch.onnx.export on example_input (a
    tensor with a batch dimension, e.g. torch.zeros(1, 784))."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"leo.torch.export: expected a torch.nn.Module, not {type(module).__name__}")
    example = _example(example_input)
    buffer = io.BytesIO()
    dynamic = {"input": {0: "batch"}, "output": {0: "batch"}} if example.dim() >= 2 else None
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            torch.onnx.export(module, (example,), buffer, input_names=["input"], output_names=["output"],
                              dynamic_axes=dynamic, opset_version=opset_version, do_constant_folding=True)
    finally:
        module.train(was_training)
    model = _api.load(buffer.getvalue())
    model.source = f"<torch {type(module).__name__}>"
    return model


def to_torch(model, dtype=torch.float32):
    """A leo.Model as torch.nn.Sequential: Flatten when its input has rank > 2,
    then Linear, ReLU, ..., Linear, and Unflatten when its output has rank > 2."""
    layers = []
    if len(model.input_shape) > 2:
        layers.append(torch.nn.Flatten(1))
    pairs = model.layers
    for index, (weights, bias) in enumerate(pairs):
        linear = torch.nn.Linear(weights.shape[1], weights.shape[0], dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(np.ascontiguousarray(weights)))
            linear.bias.copy_(torch.from_numpy(np.ascontiguousarray(bias)))
        layers.append(linear)
        if index + 1 < len(pairs):
            layers.append(torch.nn.ReLU())
    if len(model.output_shape) > 2:
        layers.append(torch.nn.Unflatten(1, tuple(model.output_shape[1:])))
    return torch.nn.Sequential(*layers).eval()


def compress(module, example_input, box=None, check_points=1000, **options):
    """Compresses a torch.nn.Module on an input box (leo.Model.compress).

    example_input: a tensor with a batch dimension, of the input's shape and
    dtype; box and the other keyword arguments as leo.Model.compress (box
    default: the model's, [0,1] for image nets). Returns (compressed module,
    report): the report of Model.compress plus torch_max_abs_deviation and
    torch_points_checked, the largest |module(x) - compressed(x)| computed by
    torch on the example rows inside the box and `check_points` random points
    of the box. Raises leo.CheckError if it exceeds the tolerance (plus the
    rounding of the dtype's arithmetic).
    """
    example = _example(example_input)
    model = export(module, example)
    small, report = model.compress(box=box, **options)
    dtype = example.dtype if example.dtype.is_floating_point else torch.float32
    compressed = to_torch(small, dtype=dtype)

    lower = np.asarray(report["domain_lower"], dtype=np.float64)
    upper = np.asarray(report["domain_upper"], dtype=np.float64)
    sample_shape = tuple(example.shape[1:]) if example.dim() >= 2 else tuple(example.shape)
    points = []
    rows = example.detach().to("cpu", torch.float64).reshape(-1, lower.size).numpy()
    inside = np.all((rows >= lower) & (rows <= upper), axis=1)
    points.append(rows[inside])
    generator = np.random.default_rng(int(options.get("seed") or _leo.default_seed))
    points.append(lower + (upper - lower) * generator.random((int(check_points), lower.size)))
    x = np.concatenate(points)
    deviation = 0.0
    if len(x):
        batch = torch.from_numpy(x).to(dtype)
        batch = batch.reshape((len(x),) + sample_shape) if example.dim() >= 2 else batch
        module_was_training = module.training
        module.eval()
        try:
            with torch.no_grad():
                if example.dim() >= 2:
                    y_ref, y_new = module(batch), compressed(batch)
                else:
                    y_ref = torch.stack([module(row) for row in batch])
                    y_new = torch.stack([compressed(row) for row in batch])
        finally:
            module.train(module_was_training)
        diff = (y_ref.to(torch.float64) - y_new.to(torch.float64)).abs()
        deviation = float(diff.max()) if diff.numel() else 0.0
        scale = float(y_ref.abs().max()) if y_ref.numel() else 0.0
        rounding = torch.finfo(dtype).eps * 64 * (1.0 + scale)
        if not deviation <= report["tolerance"] + rounding:
            error = _leo.CheckError(
                f"the compressed torch module differs from the original by {deviation:.6g} > tolerance "
                f"{report['tolerance']:.3g} on {len(x)} points of the box")
            error.code = 3
            raise error
    report["torch_max_abs_deviation"] = deviation
    report["torch_points_checked"] = int(len(x))
    return compressed, report


def _example(example_input):
    if isinstance(example_input, (tuple, list)) and len(example_input) == 1:
        example_input = example_input[0]
    if not isinstance(example_input, torch.Tensor):
        example_input = torch.as_tensor(np.asarray(example_input))
    return example_input
