#!/usr/bin/python3
"""Empirical channel activity of a CNN written by `leo train --arch` (Conv, Relu, Flatten, Gemm
nodes), the CNN counterpart of stability.py: for each convolution, the channels whose
pre-activation is never > 0 (candidates for removal: stably inactive on these points, not a
proof) and never <= 0, over the 10,000 MNIST digits (or the Fashion-MNIST test set) plus 5,000
uniform random points of [0,1]^784. An upper bound on what an analysis can prove stable.

    bench/train/cnn_channels.py MODEL.onnx [mnist|fashion-mnist]   -> JSON on stdout
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as leo_data  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnx.numpy_helper  # noqa: E402
import torch  # noqa: E402


def attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return list(a.ints)
    return default


def main():
    model = onnx.load(sys.argv[1])
    dataset = sys.argv[2] if len(sys.argv) > 2 else "mnist"
    inits = {i.name: torch.from_numpy(onnx.numpy_helper.to_array(i).copy()) for i in model.graph.initializer}
    (xtr, _), (xte, _) = leo_data.load(dataset)
    pts = np.concatenate([xtr, xte]) if dataset == "mnist" else xte
    rng = np.random.default_rng(1)
    pts = np.concatenate([pts, rng.random((5000, 784), dtype=np.float32)])
    h = torch.from_numpy(pts.reshape(-1, 1, 28, 28)).double()
    layers = []
    for node in model.graph.node:
        if node.op_type == "Conv":
            w = inits[node.input[1]].double()
            b = inits[node.input[2]].double() if len(node.input) > 2 else None
            pads = attr(node, "pads", [0, 0, 0, 0])
            if pads[0] != pads[2] or pads[1] != pads[3]:
                sys.exit("asymmetric pads are not handled here")
            h = torch.nn.functional.conv2d(h, w, b, stride=tuple(attr(node, "strides", [1, 1])),
                                           padding=(pads[0], pads[1]), dilation=tuple(attr(node, "dilations", [1, 1])))
            pos = (h > 0).sum(dim=0)
            layers.append({"node": node.name, "channels": int(w.shape[0]), "positions": int(h.shape[2] * h.shape[3]),
                           "channels_never_positive": int((pos.sum(dim=(1, 2)) == 0).sum()),
                           "channels_always_positive": int((pos.sum(dim=(1, 2)) == h.shape[0] * h.shape[2] * h.shape[3]).sum()),
                           "units_never_positive": int((pos == 0).sum()),
                           "units_always_positive": int((pos == h.shape[0]).sum())})
        elif node.op_type == "Relu":
            h = torch.relu(h)
        elif node.op_type == "Flatten":
            h = h.flatten(1)
        elif node.op_type == "Gemm":
            h = h @ inits[node.input[1]].double().T + inits[node.input[2]].double()
        else:
            sys.exit(f"op {node.op_type} is not handled here")
    print(json.dumps({"model": sys.argv[1], "data": dataset, "points": int(len(pts)), "conv_layers": layers}, indent=1))


if __name__ == "__main__":
    main()
