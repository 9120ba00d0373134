#!/usr/bin/python3
"""Writes bench/results/train.md from the JSON results of run.sh."""
import glob
import json
import os
import statistics
import sys

out = sys.argv[1] if len(sys.argv) > 1 else "bench/results/train"
# Short runs on an idle machine, for wall-clock time per epoch (run.sh quiet).
quiet = sys.argv[2] if len(sys.argv) > 2 else "bench/results/train-quiet"
# CNNs (run.sh cnn).
cnn = sys.argv[3] if len(sys.argv) > 3 else "bench/results/train-cnn"


def load(path):
    with open(path) as f:
        return json.load(f)


def compare_table(folder):
    loads = {}
    if os.path.exists(os.path.join(folder, "load.jsonl")):
        with open(os.path.join(folder, "load.jsonl")) as f:
            for line in f:
                r = json.loads(line)
                loads[r["run"]] = r["uptime"]
    print("| data | net | epochs | leo test acc % | torch test acc % | diff (pts) | leo s/epoch | torch s/epoch | torch/leo | leo CPU s/epoch | torch CPU s/epoch | torch/leo CPU | load before leo | load before torch |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for leo_path in sorted(glob.glob(os.path.join(folder, "leo-*.json"))):
        name = os.path.basename(leo_path)[4:-5]
        torch_path = os.path.join(folder, f"torch-{name}.json")
        if not os.path.exists(torch_path):
            continue
        leo, torch = load(leo_path), load(torch_path)
        data, net = name.rsplit("-", 1)
        arch = leo["settings"].get("arch")
        if arch:
            data = leo["settings"]["data"]
            label = f"{arch} (l1 {leo['settings']['l1']:g}, seed {leo['settings']['seed']})"
        else:
            label = f"784-{net.replace('x', '-')}-10"
        la, ta = leo["epochs"][-1]["test_accuracy"], torch["epochs"][-1]["test_accuracy"]
        ls = statistics.median(e["seconds"] for e in leo["epochs"])
        ts = statistics.median(e["seconds"] for e in torch["epochs"])
        lc = statistics.median(e.get("cpu_seconds", float("nan")) for e in leo["epochs"])
        tc = statistics.median(e.get("cpu_seconds", float("nan")) for e in torch["epochs"])
        print(f"| {data} | {label} | {len(leo['epochs'])} | {la:.2f} | {ta:.2f} | {la - ta:+.2f} | "
              f"{ls:.3f} | {ts:.3f} | {ts / ls:.2f} | {lc:.3f} | {tc:.3f} | {tc / lc:.2f} | {loads.get('leo-' + name, '?')} | {loads.get('torch-' + name, '?')} |")



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
compare_table(out)

if glob.glob(os.path.join(quiet, "leo-*.json")):
    print("\n## Wall-clock time on an idle machine\n")
    print("The same comparison, short runs (`bench/train/run.sh quiet`: MNIST 5 epochs, Fashion-MNIST 2),")
    print("with nothing else running on the machine (load averages listed), so wall time is meaningful.")
    print("Accuracies are after those few epochs only.\n")
    compare_table(quiet)

if glob.glob(os.path.join(cnn, "leo-*.json")):
    print("\n## CNNs\n")
    print("`bench/train/run.sh cnn`: ERAN's ConvSmall (`--arch conv16x4s2,conv32x4s2,fc100`: two 4x4 stride-2")
    print("convolutions of 16 and 32 channels, a dense layer of 100, then 10 outputs; torch_train.py builds the same")
    print("nn.Sequential) with l1 1e-4 on every weight, otherwise the settings above (2 threads, MNIST 30 epochs,")
    print("Fashion-MNIST 10). The machine was shared with other engineers compiling (load averages listed, far above")
    print("its 2 cores): wall times are inflated and noisy; compare the CPU columns. Machine: `lscpu.txt` in")
    print("bench/results/train-cnn/.\n")
    compare_table(cnn)

stab = sorted(glob.glob(os.path.join(out, "stability-*.json")))
if stab:
    print("\n# Stability after training (2x100 on MNIST, l1 sweep)\n")
    print("Share of the 200 hidden units that the sample stage cannot falsify (never seen both > 0 and < 0)")
    print("over the probes of bench/train/stability.py: the 10,000 digits, box corners 0/1, centre, 20,000")
    print("uniform random points and 5,000 random box vertices, float64 forward pass in numpy. Trained with `leo train --steps` (the papers'")
    print("~56,000 SGD steps), seed 1.\n")
    print("Columns from `leo analyze` (`bench/train/run.sh analyze`, probes `--data mnist` = the 10,000 digits,")
    print("plus leo's own 4,096 random points, corners and centre): *samples* = units its sample stage alone")
    print("cannot falsify (`--stages samples`), *proven stable* = units the full cascade proves stable")
    print("(active / inactive), *unstable* = units with witnesses of both signs, and its time.\n")
    print("| l1 | steps | test acc % | not falsified | share % | layer 1 (never active / never inactive) | layer 2 (never active / never inactive) | leo samples: not falsified | leo: proven stable (active / inactive) | leo: unstable | leo: undecided | leo seconds |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    for path in stab:
        s = load(path)
        name = os.path.basename(path)[len("stability-"):-5]
        tr = load(os.path.join(out, f"train-{name}.json"))
        rows.append((tr["settings"]["l1"], name, tr, s))

    def analysis(path):
        if not os.path.exists(path):
            return None
        a = load(path)
        count = lambda key: sum(layer[key] for layer in a["layers"])
        return {k: count(k) for k in ("stably_active", "stably_inactive", "unstable", "undecided")} | {
            "seconds": a["time_seconds"]}

    for l1, name, tr, s in sorted(rows, key=lambda r: r[0]):
        layers = " | ".join(f"{p['not_falsified']} ({p['never_active']} / {p['never_inactive']})" for p in s["layers"])
        smp = analysis(os.path.join(out, f"analyze-samples-{name}.json"))
        full = analysis(os.path.join(out, f"analyze-{name}.json"))
        smp_text = f"{smp['undecided']} / {s['units']}" if smp else "-"
        if full:
            stable = full["stably_active"] + full["stably_inactive"]
            full_text = (f"{stable} ({full['stably_active']} / {full['stably_inactive']}) | {full['unstable']} | "
                         f"{full['undecided']} | {full['seconds']:.2f}")
        else:
            full_text = "- | - | - | -"
        print(f"| {l1:g} | {tr['settings']['steps']} | {tr['test_accuracy']:.2f} | {s['not_falsified']} / {s['units']} | "
              f"{100 * s['share']:.1f} | {layers} | {smp_text} | {full_text} |")

notes = os.path.join(os.path.dirname(os.path.abspath(__file__)), "notes.md")
if os.path.exists(notes):
    with open(notes) as f:
        print(f.read(), end="")
