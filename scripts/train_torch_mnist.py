#!/usr/bin/env python3
"""Trains the PyTorch twin of `typenet::models::MnistCnn` and writes the fixture that
`tests/interop.rs` and `examples/from_pytorch.rs` use, so both run offline:

- tests/fixtures/mnist_cnn_torch.safetensors: its state_dict in f16 (1.4 MB), as
  `safetensors.torch.save_file` writes it; keys `0.weight`, `4.bias`, ... (nn.Sequential
  indices = the declaration's layer positions);
- tests/fixtures/mnist_cnn_torch.json: the logits PyTorch computes with those f16 weights
  (as f32) on the first 8 test images, and its test accuracy.

    python3 -m venv /tmp/venv-interop
    /tmp/venv-interop/bin/pip install torch safetensors numpy
    /tmp/venv-interop/bin/python scripts/train_torch_mnist.py --epochs 2
"""
import argparse
import json

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn
from mnist_idx import idx


def images(path):
    # As typenet's load_mnist: (N, 1, 28, 28), pixel / 255.
    return torch.from_numpy(idx(path).astype(np.float32) / 255.0).unsqueeze(1)


def twin():
    # Index i is typenet's layer i: Conv2D(32, 3), ReLU, MaxPool2D(2), Flatten, Dense(128),
    # ReLU, Dense(10), Softmax.
    return nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 13 * 13, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
        nn.Softmax(dim=1),
    )


def accuracy(logits_of, x, y):
    with torch.no_grad():
        pred = torch.cat([logits_of(x[i : i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return (pred == y).float().mean().item()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default="data/mnist")
    p.add_argument("--out", default="tests/fixtures/mnist_cnn_torch")
    a = p.parse_args()
    torch.manual_seed(a.seed)
    torch.set_num_threads(2)
    d = a.data_dir
    x, y = images(f"{d}/train-images-idx3-ubyte.gz"), torch.from_numpy(idx(f"{d}/train-labels-idx1-ubyte.gz").astype(np.int64))
    xt, yt = images(f"{d}/t10k-images-idx3-ubyte.gz"), torch.from_numpy(idx(f"{d}/t10k-labels-idx1-ubyte.gz").astype(np.int64))
    model = twin()
    logits_of = model[:-1]  # training and accuracy on the logits
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    for epoch in range(a.epochs):
        perm = torch.randperm(len(x))
        for i in range(0, len(x), 128):
            b = perm[i : i + 128]
            loss = nn.functional.cross_entropy(logits_of(x[b]), y[b])
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: test accuracy {accuracy(logits_of, xt, yt):.4f}")
    state = {k: v.detach().to(torch.float16).contiguous() for k, v in model.state_dict().items()}
    save_file(state, a.out + ".safetensors")
    # The expected outputs: the f16 weights as f32, as typenet loads them.
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model.eval()
    acc = accuracy(logits_of, xt, yt)
    with torch.no_grad():
        logits = logits_of(xt[:8]).tolist()
    meta = {
        "images": "the first 8 of t10k-images-idx3-ubyte, pixel / 255",
        "labels": yt[:8].tolist(),
        "logits": logits,
        "test_accuracy": acc,
        "torch": torch.__version__,
        "epochs": a.epochs,
        "seed": a.seed,
    }
    with open(a.out + ".json", "w") as f:
        json.dump(meta, f, indent=1)
    print(f"f16 weights: test accuracy {acc:.4f}; wrote {a.out}.safetensors and {a.out}.json")


if __name__ == "__main__":
    main()
