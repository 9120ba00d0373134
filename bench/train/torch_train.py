#!/usr/bin/python3
"""PyTorch baseline of `leo train`: same data (bench/train/data.py), same
architecture, initialisation (Kaiming normal, zero biases), loss (softmax
cross-entropy + l1 * sum|W| over all weights), optimiser (SGD momentum 0.9,
lr 0.01 x0.1 at round(50/120 E) and round(100/120 E)), batch size and thread
count. Prints one JSON object: settings and per-epoch metrics, with the same
meaning as leo's --log (train accuracy on the batches as they are seen, test
accuracy after the epoch, seconds = training + test evaluation)."""
import argparse
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import data as leo_data  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402


def build_arch(arch, shape, outputs):
    """The network of leo train --arch: convolutions (Kaiming normal, fan_in, zero bias), Flatten,
    dense layers, a ReLU after each, then a dense output layer."""
    layers, (c, h, w) = [], shape
    features, flat = c * h * w, False
    for item in arch.split(","):
        m = re.fullmatch(r"conv(\d+)x(\d+)(?:s(\d+))?(?:p(\d+))?", item)
        if m:
            out, k, s, p = int(m[1]), int(m[2]), int(m[3] or 1), int(m[4] or 0)
            conv = torch.nn.Conv2d(c, out, k, stride=s, padding=p)
            torch.nn.init.kaiming_normal_(conv.weight, nonlinearity="relu")
            torch.nn.init.zeros_(conv.bias)
            layers += [conv, torch.nn.ReLU()]
            c, h, w = out, (h + 2 * p - k) // s + 1, (w + 2 * p - k) // s + 1
            features = c * h * w
            continue
        m = re.fullmatch(r"(?:fc)?(\d+)", item)
        if not m:
            sys.exit(f"--arch {arch}: bad layer {item}")
        if not flat:
            layers.append(torch.nn.Flatten())
            flat = True
        lin = torch.nn.Linear(features, int(m[1]))
        torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
        torch.nn.init.zeros_(lin.bias)
        layers += [lin, torch.nn.ReLU()]
        features = int(m[1])
    if not flat:
        layers.append(torch.nn.Flatten())
    out = torch.nn.Linear(features, outputs)
    torch.nn.init.kaiming_normal_(out.weight, nonlinearity="relu")
    torch.nn.init.zeros_(out.bias)
    return torch.nn.Sequential(*layers, out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="mnist")
    ap.add_argument("--hidden", default="100,100")
    ap.add_argument("--arch", help="leo train's --arch: conv<C>x<K>[s<S>][p<P>],...,fc<N>,... (instead of --hidden)")
    ap.add_argument("--epochs", type=int, default=120)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=0.01)
    ap.add_argument("--l1", type=float, default=0.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--log")
    a = ap.parse_args()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    (xtr, ytr), (xte, yte) = leo_data.load(a.data)
    xtr, ytr = torch.from_numpy(np.ascontiguousarray(xtr)), torch.from_numpy(ytr)
    xte, yte = torch.from_numpy(np.ascontiguousarray(xte)), torch.from_numpy(yte)

    if a.arch:
        model = build_arch(a.arch, (1, 28, 28), 10)
        xtr, xte = xtr.reshape(-1, 1, 28, 28), xte.reshape(-1, 1, 28, 28)
    else:
        sizes = [784] + [int(h) for h in a.hidden.split(",")] + [10]
        layers = []
        for i in range(len(sizes) - 1):
            lin = torch.nn.Linear(sizes[i], sizes[i + 1])
            torch.nn.init.kaiming_normal_(lin.weight, nonlinearity="relu")
            torch.nn.init.zeros_(lin.bias)
            layers.append(lin)
            if i + 2 < len(sizes):
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers)
    weights = [m.weight for m in model if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d))]
    opt = torch.optim.SGD(model.parameters(), lr=a.lr, momentum=0.9)
    milestones = [int(50 * a.epochs / 120 + 0.5), int(100 * a.epochs / 120 + 0.5)]  # as C++ llround
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=milestones, gamma=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()

    n = len(xtr)
    epochs = []
    t_all = time.perf_counter()
    for epoch in range(1, a.epochs + 1):
        t0 = time.perf_counter()
        c0 = time.process_time()
        model.train()
        perm = torch.randperm(n)
        loss_sum, correct = 0.0, 0
        lr = opt.param_groups[0]["lr"]
        for start in range(0, n, a.batch):
            idx = perm[start:start + a.batch]
            xb, yb = xtr[idx], ytr[idx]
            out = model(xb)
            loss = loss_fn(out, yb)
            if a.l1 > 0:
                loss = loss + a.l1 * sum(w.abs().sum() for w in weights)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
        sched.step()
        model.eval()
        with torch.no_grad():
            test_acc = 100.0 * (model(xte).argmax(1) == yte).float().mean().item()
        secs = time.perf_counter() - t0
        cpu = time.process_time() - c0
        epochs.append({"epoch": epoch, "learning_rate": lr, "loss": loss_sum / n,
                       "train_accuracy": 100.0 * correct / n, "test_accuracy": test_acc, "seconds": secs,
                       "cpu_seconds": cpu})
        print(f"torch epoch {epoch}/{a.epochs}: loss {loss_sum / n:.4f}, train {100.0 * correct / n:.2f}%, "
              f"test {test_acc:.2f}%, {secs:.2f}s", file=sys.stderr, flush=True)
    result = {"settings": vars(a) | {"torch": torch.__version__, "milestones": milestones},
              "epochs": epochs, "seconds": time.perf_counter() - t_all, "test_accuracy": epochs[-1]["test_accuracy"]}
    if a.log:
        with open(a.log, "w") as f:
            json.dump(result, f, indent=2)
    else:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
