"""Shared fixtures of the Python tests: where the sources, the reference
models and the `leo` program are. Run them with Debian's interpreter against a
build (ctest does this: PYTHONPATH=build/python LEO_BINARY=build/leo):

    PYTHONPATH=build/python /usr/bin/python3 -m pytest python/tests
"""
import json
import os
import subprocess

import numpy as np
import pytest

ROOT = os.environ.get("LEO_SOURCE_DIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
LEO = os.environ.get("LEO_BINARY") or os.path.join(ROOT, "build", "leo")
MNIST_EXAMPLE = os.path.join(ROOT, "examples", "mnist_l1_50x2.onnx")
ACAS = os.path.join(ROOT, "models", "acasxu", "ACASXU_run2a_1_1_batch_2000.onnx")
ACAS_PROP1 = os.path.join(ROOT, "models", "acasxu", "prop_1.vnnlib")
# Fast, deterministic stages for ACAS Xu (bab and the solvers are left to the C++ tests).
ACAS_STAGES = "ibp,samples,attack,crown,alpha"


def run_leo(*args, check=True):
    """Runs the program; returns its stdout (parsed when --json is among the arguments)."""
    p = subprocess.run([LEO, "-q", *map(str, args)], capture_output=True, text=True)
    if check and p.returncode != 0:
        raise AssertionError(f"leo {' '.join(map(str, args))} exited {p.returncode}: {p.stderr}")
    if "--json" in args and p.returncode == 0:
        return json.loads(p.stdout)
    return p


@pytest.fixture(scope="session")
def leo_binary():
    if not os.access(LEO, os.X_OK):
        pytest.fail(f"the leo program is not built: {LEO}")
    return LEO


@pytest.fixture(scope="session")
def mnist_model():
    import leo

    return leo.load(MNIST_EXAMPLE)


@pytest.fixture(scope="session")
def acas_model():
    import leo

    return leo.load(ACAS)


def write_csv(path, rows):
    np.savetxt(path, rows, delimiter=",", fmt="%.17g")
