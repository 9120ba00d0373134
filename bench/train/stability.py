#!/usr/bin/python3
"""Sample-stage stability of a trained ReLU MLP (the figure of issue 5): the
share of hidden units that no probe input falsifies, i.e. whose
pre-activation is never seen both > 0 and < 0. Probes: the 10,000 MNIST
digits (train + test), the box corners 0 and 1 and the centre 0.5, random
points uniform in [0,1]^784 and random vertices of the box. This mirrors the
"samples" stage of `leo analyze` (computed here with numpy in float64
because that stage had not landed in main when these numbers were taken).
Usage: stability.py MODEL.onnx [--random N] [--corners N] [--seed S]"""
import argparse
import json
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as leo_data  # noqa: E402


def layers_of(path):
    model = onnx.load(path)
    init = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in model.graph.initializer}
    layers = []
    for node in model.graph.node:
        if node.op_type != "Gemm":
            continue
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        w = init[node.input[1]]
        if not attrs.get("transB", 0):
            w = w.T  # to out x in
        w = w * attrs.get("alpha", 1.0)
        b = init[node.input[2]] * attrs.get("beta", 1.0) if len(node.input) > 2 else np.zeros(w.shape[0])
        layers.append((w, b))
    return layers


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("--random", type=int, default=20000)
    ap.add_argument("--corners", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    layers = layers_of(a.model)
    (xtr, _), (xte, _) = leo_data.load_mnist()
    rng = np.random.default_rng(a.seed)
    probes = [xtr.astype(np.float64), xte.astype(np.float64),
              np.zeros((1, 784)), np.ones((1, 784)), np.full((1, 784), 0.5),
              rng.random((a.random, 784)), (rng.random((a.corners, 784)) < 0.5).astype(np.float64)]
    x = np.concatenate(probes)
    per_layer = []
    for h, (w, b) in enumerate(layers[:-1]):
        g = x @ w.T + b
        pos = (g > 0).any(axis=0)
        neg = (g < 0).any(axis=0)
        unfalsified = int((~(pos & neg)).sum())
        per_layer.append({"layer": h, "units": int(w.shape[0]), "not_falsified": unfalsified,
                          "never_active": int((~pos).sum()), "never_inactive": int((~neg).sum())})
        x = np.maximum(g, 0)
    units = sum(p["units"] for p in per_layer)
    kept = sum(p["not_falsified"] for p in per_layer)
    print(json.dumps({"model": a.model, "probes": int(sum(len(p) for p in probes)), "units": units,
                      "not_falsified": kept, "share": kept / units, "layers": per_layer}))


if __name__ == "__main__":
    main()
