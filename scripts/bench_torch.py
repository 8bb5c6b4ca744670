#!/usr/bin/env python3
"""PyTorch twin of typenet's benchmark models (examples/bench/models.rs): same layers in
the same order, the same training step and inference, one model per process.

    .venv-bench/bin/python scripts/bench_torch.py --model vgg

Prints one JSON line: ms per training step (CrossEntropyLoss from logits, Adam 1e-3,
model.train()) and per inference batch (model.eval(), torch.no_grad()), medians of
--repeats timed runs after --warmup steps, on synthetic data from a fixed seed, with 2
threads, and this process's peak RSS. `cargo run --release --example bench -- --vs-pytorch`
runs it and prints the table; scripts/setup-bench-venv.sh creates the venv.
"""

import argparse
import json
import math
import resource
import statistics
import sys
import time

import torch
from torch import nn

# The part of the peak RSS that is the interpreter and the library, before any model.
IMPORT_RSS_KB = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

WARMUP_MS = 2000.0  # examples/bench/step.rs: WARMUP_MS

MODELS = ["seed", "lenet5", "mlp", "vgg", "resnet", "strided"]


def conv_bn(cin, cout, stride=1):
    """Conv2D(cout, 3, padding=same or 1), BatchNorm2D."""
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1), nn.BatchNorm2d(cout)]


class Residual(nn.Module):
    """x + f(x), typenet's `Residual { ... }`."""

    def __init__(self, *layers):
        super().__init__()
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.body(x)


def res_block(c):
    return Residual(*conv_bn(c, c), nn.ReLU(), *conv_bn(c, c))


def build(name):
    """(model, sample shape, batch size, ends in softmax)."""
    if name == "seed":
        m = nn.Sequential(
            nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
            nn.Linear(32 * 13 * 13, 128), nn.ReLU(), nn.Linear(128, 10),
        )
        return m, (1, 28, 28), 128, True
    if name == "lenet5":
        m = nn.Sequential(
            nn.Conv2d(1, 6, 5, padding="same"), nn.Tanh(), nn.AvgPool2d(2),
            nn.Conv2d(6, 16, 5), nn.Tanh(), nn.AvgPool2d(2), nn.Flatten(),
            nn.Linear(16 * 5 * 5, 120), nn.Tanh(), nn.Linear(120, 84), nn.Tanh(),
            nn.Linear(84, 10),
        )
        return m, (1, 28, 28), 128, False
    if name == "mlp":
        m = nn.Sequential(
            nn.Flatten(), nn.Linear(784, 512), nn.ReLU(), nn.Dropout(0.2),
            nn.Linear(512, 512), nn.ReLU(), nn.Dropout(0.2), nn.Linear(512, 10),
        )
        return m, (1, 28, 28), 128, False
    if name == "vgg":
        m = nn.Sequential(
            *conv_bn(3, 32), nn.ReLU(), *conv_bn(32, 32), nn.ReLU(), nn.MaxPool2d(2),
            *conv_bn(32, 64), nn.ReLU(), *conv_bn(64, 64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 8 * 8, 256), nn.ReLU(), nn.Dropout(0.5),
            nn.Linear(256, 10),
        )
        return m, (3, 32, 32), 64, False
    if name == "resnet":
        m = nn.Sequential(
            *conv_bn(3, 32), nn.ReLU(),
            res_block(32), nn.ReLU(),
            res_block(32), nn.ReLU(),
            *conv_bn(32, 64, stride=2), nn.ReLU(),
            res_block(64), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10),
        )
        return m, (3, 32, 32), 64, False
    if name == "strided":
        m = nn.Sequential(
            nn.Conv2d(1, 32, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(32, 64, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
            nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10),
        )
        return m, (1, 28, 28), 128, False
    raise ValueError(name)


def steps_for(args, ms_per_step):
    """As examples/bench/step.rs: --steps, or enough to fill --repeat-ms."""
    if args.steps:
        return args.steps
    return min(max(math.ceil(args.repeat_ms / ms_per_step), 1), 2000)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True, choices=MODELS)
    p.add_argument("--warmup", type=int, default=16)
    p.add_argument("--steps", type=int, default=0, help="per repeat; 0: fill --repeat-ms")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--repeat-ms", type=float, default=500.0)
    args = p.parse_args()
    if args.warmup < 1 or args.repeats < 1 or args.steps < 0 or not args.repeat_ms > 0:
        p.error("--warmup and --repeats need >= 1, --steps >= 0, --repeat-ms > 0")

    torch.set_num_threads(2)
    torch.manual_seed(0)
    model, shape, batch, ends_in_softmax = build(args.model)
    # 8 batches of normal noise and uniform labels, visited in a fresh shuffle each epoch
    # (as typenet's fit and the Rust side of the benchmark).
    samples = 8 * batch
    gen = torch.Generator().manual_seed(0)
    data = torch.randn((samples, *shape), generator=gen)
    labels = torch.randint(0, 10, (samples,), generator=gen)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = nn.CrossEntropyLoss()
    order = []

    def step():
        nonlocal order
        if not order:
            order = list(torch.randperm(samples, generator=gen).split(batch))
        idx = order.pop()
        x, y = data[idx], labels[idx]
        logits = model(x)
        correct = (logits.argmax(1) == y).sum().item()  # fit counts the correct ones
        loss = loss_fn(logits, y)
        if not math.isfinite(loss.item()):
            raise RuntimeError("the loss became non-finite")
        opt.zero_grad()
        loss.backward()
        opt.step()
        return correct

    # Warm-up as the Rust side: two steps to gauge the model, then up to --warmup steps
    # and about WARMUP_MS.
    model.train()
    t = time.perf_counter()
    for _ in range(2):
        step()
    probe_ms = (time.perf_counter() - t) * 1e3 / 2
    warm = 2 * (max(min(int(WARMUP_MS / probe_ms), max(args.warmup, 2)), 2) // 2)
    t = time.perf_counter()
    for _ in range(warm):
        step()
    steps = steps_for(args, (time.perf_counter() - t) * 1e3 / warm)
    train_runs = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        for _ in range(steps):
            step()
        train_runs.append((time.perf_counter() - t) * 1e3 / steps)

    model.eval()
    x = data[:batch].clone()

    def infer():
        with torch.no_grad():
            y = model(x)
            if ends_in_softmax:
                y = torch.softmax(y, 1)
        return y

    t = time.perf_counter()
    for _ in range(3):
        infer()
    infer_steps = steps_for(args, (time.perf_counter() - t) * 1e3 / 3)
    infer_runs = []
    for _ in range(args.repeats):
        t = time.perf_counter()
        for _ in range(infer_steps):
            infer()
        infer_runs.append((time.perf_counter() - t) * 1e3 / infer_steps)

    print(json.dumps({
        "framework": "pytorch",
        "torch": torch.__version__,
        "model": args.model,
        "batch": batch,
        "threads": torch.get_num_threads(),
        "steps": steps,
        "train_ms": statistics.median(train_runs),
        "train_runs": train_runs,
        "infer_steps": infer_steps,
        "infer_ms": statistics.median(infer_runs),
        "infer_runs": infer_runs,
        # ru_maxrss is in kB on Linux.
        "peak_rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
        "import_rss_kb": IMPORT_RSS_KB,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
