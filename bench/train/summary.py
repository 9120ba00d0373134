#!/usr/bin/python3
"""Writes bench/results/train.md from the JSON results of run.sh."""
import glob
import json
import os
import statistics
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "bench/results/train"


def load(path):
    with open(path) as f:
        return json.load(f)


loads = {}
if os.path.exists(os.path.join(out, "load.jsonl")):
    with open(os.path.join(out, "load.jsonl")) as f:
        for line in f:
            r = json.loads(line)
            loads[r["run"]] = r["uptime"]

print("# leo train vs PyTorch\n")
print("Produced by `bench/train/run.sh` (see its header); machine: `lscpu.txt` in bench/results/train/.")
print("Same data (bench/train/data.py mirrors leo's MNIST split), architecture, Kaiming-normal init,")
print("SGD momentum 0.9, lr 0.01 x0.1 at 50/120 and 100/120 of the epochs, batch 128, same thread count,")
print("OMP_WAIT_POLICY=PASSIVE for both. leo trains in float32 like PyTorch. Time per epoch = training +")
print("test-set evaluation, median over the epochs; leo then torch run back to back per row, so both saw")
print("about the same load (load average before each run is listed: the 2-core machine was shared with")
print("other engineers compiling, so absolute times are inflated and noisy).\n")
print("CPU s/epoch = user + system CPU time of the process (all threads) per epoch: less sensitive to the")
print("load than wall time (a process that is not scheduled uses no CPU time).\n")
print("| data | net | epochs | leo test acc % | torch test acc % | diff (pts) | leo s/epoch | torch s/epoch | torch/leo | leo CPU s/epoch | torch CPU s/epoch | torch/leo CPU | load before leo | load before torch |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
for leo_path in sorted(glob.glob(os.path.join(out, "leo-*.json"))):
    name = os.path.basename(leo_path)[4:-5]
    torch_path = os.path.join(out, f"torch-{name}.json")
    if not os.path.exists(torch_path):
        continue
    leo, torch = load(leo_path), load(torch_path)
    data, net = name.rsplit("-", 1)
    la, ta = leo["epochs"][-1]["test_accuracy"], torch["epochs"][-1]["test_accuracy"]
    ls = statistics.median(e["seconds"] for e in leo["epochs"])
    ts = statistics.median(e["seconds"] for e in torch["epochs"])
    lc = statistics.median(e.get("cpu_seconds", float("nan")) for e in leo["epochs"])
    tc = statistics.median(e.get("cpu_seconds", float("nan")) for e in torch["epochs"])
    print(f"| {data} | 784-{net.replace('x', '-')}-10 | {len(leo['epochs'])} | {la:.2f} | {ta:.2f} | {la - ta:+.2f} | "
          f"{ls:.3f} | {ts:.3f} | {ts / ls:.2f} | {lc:.3f} | {tc:.3f} | {tc / lc:.2f} | {loads.get('leo-' + name, '?')} | {loads.get('torch-' + name, '?')} |")

stab = sorted(glob.glob(os.path.join(out, "stability-*.json")))
if stab:
    print("\n# Stability after training (2x100 on MNIST, l1 sweep)\n")
    print("Share of the 200 hidden units that the sample stage cannot falsify (never seen both > 0 and < 0)")
    print("over the probes of bench/train/stability.py: the 10,000 digits, box corners 0/1, centre, 20,000")
    print("uniform random points and 5,000 random box vertices, float64 forward pass in numpy (`leo analyze")
    print("--stages samples` was not in main when this ran). Trained with `leo train --steps` (the papers'")
    print("~56,000 SGD steps), seed 1.\n")
    print("| l1 | steps | test acc % | not falsified | share % | layer 1 (never active / never inactive) | layer 2 (never active / never inactive) |")
    print("|---|---|---|---|---|---|---|")
    rows = []
    for path in stab:
        s = load(path)
        name = os.path.basename(path)[len("stability-"):-5]
        tr = load(os.path.join(out, f"train-{name}.json"))
        rows.append((tr["settings"]["l1"], tr, s))
    for l1, tr, s in sorted(rows, key=lambda r: r[0]):
        layers = " | ".join(f"{p['not_falsified']} ({p['never_active']} / {p['never_inactive']})" for p in s["layers"])
        print(f"| {l1:g} | {tr['settings']['steps']} | {tr['test_accuracy']:.2f} | {s['not_falsified']} / {s['units']} | "
              f"{100 * s['share']:.1f} | {layers} |")
