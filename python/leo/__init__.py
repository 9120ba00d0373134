"""leo: lossless compression of ReLU networks, from Python.

    import leo
    model = leo.load("examples/mnist_l1_50x2.onnx")        # or the bytes of a file
    small, report = model.compress(box=(0, 1))            # analyse, rewrite, check
    small.save("/tmp/small.onnx")
    y = small(x)                                          # x: (n, 784) or (784,)

Entry points: load, from_layers, load_data, verify; Model.analyze / compress / verify /
save / to_bytes; leo.torch.compress for torch.nn.Module (imported on first
use, it needs torch).

Domains: box=(lo, hi) for every feature, box=(lower, upper) with one bound per
feature, box="lo,hi", box=array of shape (features, 2); or vnnlib=FILE,
box_file=FILE; none: the model's default ([0,1] for image nets, the .nnet
input bounds). data= adds probe points: an array (points, features) or a
file (CSV, IDX, "mnist", "fashion-mnist").

Errors: leo.InputError (a ValueError) for bad input -- a missing or malformed
model, a model that is not a ReLU network, a box of the wrong length, a NaN
bound, a bad option; leo.CheckError when a compressed model fails its
deviation check; leo.Error (a RuntimeError, the base of both) for the rest.
Every message is the one the command line prints.

Progress lines of long work go to logging.getLogger("leo") at INFO level when
that logger is enabled for INFO (e.g. logging.basicConfig(level="INFO")), or
to the callable given as progress=. Long work releases the GIL.
"""
from ._leo import CheckError, Error, InputError, __version__
from ._api import (
    Analysis,
    CompressReport,
    Dataset,
    Model,
    VerifyReport,
    check,
    from_layers,
    load,
    load_data,
    verify,
)

__all__ = [
    "Analysis",
    "CheckError",
    "CompressReport",
    "Dataset",
    "Error",
    "InputError",
    "Model",
    "VerifyReport",
    "check",
    "from_layers",
    "load",
    "load_data",
    "verify",
    "__version__",
]


def __getattr__(name):
    # leo.torch is imported on first use: importing torch takes seconds.
    if name == "torch":
        import importlib

        return importlib.import_module(".torch", __name__)
    raise AttributeError(f"module 'leo' has no attribute {name!r}")
