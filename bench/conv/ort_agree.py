#!/usr/bin/env python3
"""ONNX Runtime on original and compressed models: the largest |difference| of their outputs.

    bench/conv/ort_agree.py [--points N] [--seed S] [--box LO,HI] ORIGINAL COMPRESSED [ORIGINAL COMPRESSED ...]

Draws N uniform points of the box [LO,HI]^d (d: the model's input features, read from
`leo info --json`), runs both models of each pair in ONNX Runtime (tests/ort/ort_eval.mjs,
npm onnxruntime-node) and prints one line per pair: max |f - f'|, the largest |f|.
Only the Python 3 standard library, node and the leo program (--leo, default build/leo).
"""
import argparse
import json
import random
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def read_outputs(path):
    data = Path(path).read_bytes()
    assert data[:8] == b"LEOOUT01", path
    n, k = struct.unpack_from("<QQ", data, 8)
    vals = struct.unpack_from(f"<{n * k}d", data, 24)
    return [vals[i * k:(i + 1) * k] for i in range(n)]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="+")
    p.add_argument("--points", type=int, default=300)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--box", default="0,1")
    p.add_argument("--leo", default=str(ROOT / "build" / "leo"))
    args = p.parse_args()
    if len(args.models) % 2:
        p.error("give models in pairs: ORIGINAL COMPRESSED")
    lo, hi = map(float, args.box.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        for a, b in zip(args.models[0::2], args.models[1::2]):
            d = json.loads(subprocess.run([args.leo, "info", "--json", a], check=True, capture_output=True,
                                          text=True).stdout)["inputs"]
            rng = random.Random(args.seed)
            pts = Path(tmp) / "points.bin"
            with open(pts, "wb") as f:
                f.write(b"LEOPTS01" + struct.pack("<QQ", args.points, d))
                for _ in range(args.points):
                    f.write(struct.pack(f"<{d}d", *(rng.uniform(lo, hi) for _ in range(d))))
            oa, ob = Path(tmp) / "a.bin", Path(tmp) / "b.bin"
            subprocess.run(["node", str(ROOT / "tests" / "ort" / "ort_eval.mjs"), str(pts), a, str(oa), b, str(ob)],
                           check=True)
            ya, yb = read_outputs(oa), read_outputs(ob)
            dev = max(abs(x - y) for ra, rb in zip(ya, yb) for x, y in zip(ra, rb))
            big = max(abs(x) for ra in ya for x in ra)
            print(f"{Path(b).name}: {args.points} points, max |f - f'| = {dev:.2e} (outputs up to {big:.2f})")


if __name__ == "__main__":
    sys.exit(main())
