#!/usr/bin/env python3
"""The MNIST CNN of typenet's examples/mnist.rs, in PyTorch on the GPU, for a side-by-side run.

Same model (Conv2d(1, 32, 3), ReLU, MaxPool2d(2), Flatten, Linear(5408, 128), ReLU,
Linear(128, 10); PyTorch's default initialisation, which typenet copies), same recipe (Adam,
lr 1e-3, betas 0.9/0.999, eps 1e-7 as typenet's Keras defaults; cross-entropy on the logits;
batch 128, a smaller last batch; reshuffled every epoch; the test set as validation), same
files (data/mnist, pixels / 255). The data stays on the GPU and the epoch loss and accuracy
are summed there, so no step waits for the host. Epoch times exclude the validation pass, as
typenet's do. Strict fp32 by default (no TF32, as typenet's cuBLAS calls); --tf32 allows it.

    python3 scripts/torch_mnist_gpu.py --epochs 2 --data-dir data/mnist

Prints typenet's lines: `Epoch 1/2 - 1.23s - loss: ... - val_accuracy: ...`, then
`Test loss:` and `Test accuracy:`. Errors are one line, `error: ...`, and exit status 1.
"""

import argparse
import gzip
import os
import struct
import sys
import time


def fail(message):
    print(f"error: {message}", file=sys.stderr)
    sys.exit(1)


def read_idx(directory, name, magic):
    for candidate in (name + ".gz", name):
        path = os.path.join(directory, candidate)
        if os.path.isfile(path):
            break
    else:
        fail(f"`{directory}` has neither `{name}.gz` nor `{name}`; pass the MNIST folder with --data-dir")
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 8 or struct.unpack(">I", data[:4])[0] != magic:
        fail(f"`{path}` is not an IDX file with magic number {magic:#010x}")
    dims = data[3]
    shape = struct.unpack(f">{dims}I", data[4 : 4 + 4 * dims])
    return data[4 + 4 * dims :], shape


def load(directory, kind, device, torch):
    pixels, shape = read_idx(directory, f"{kind}-images-idx3-ubyte", 0x00000803)
    labels, (count,) = read_idx(directory, f"{kind}-labels-idx1-ubyte", 0x00000801)
    if shape[0] != count or len(pixels) != count * 28 * 28 or len(labels) != count:
        fail(f"`{directory}`: {kind} images and labels do not match")
    x = torch.frombuffer(bytearray(pixels), dtype=torch.uint8).reshape(count, 1, 28, 28)
    y = torch.frombuffer(bytearray(labels), dtype=torch.uint8).long()
    return x.to(device).float().div_(255.0), y.to(device)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default="data/mnist")
    parser.add_argument("--tf32", action="store_true", help="allow TF32 in convolutions and products")
    args = parser.parse_args()
    if args.epochs < 1 or args.batch_size < 1 or not args.lr > 0:
        fail("--epochs and --batch-size take whole numbers of at least 1, --lr a positive number")

    try:
        import torch
        from torch import nn
    except ImportError as e:
        fail(f"cannot import PyTorch ({e}); run this with the python3 that has torch")
    if not torch.cuda.is_available():
        fail(f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}) sees no CUDA GPU")
    device = torch.device("cuda")
    torch.backends.cudnn.allow_tf32 = args.tf32
    torch.backends.cuda.matmul.allow_tf32 = args.tf32
    print(
        f"PyTorch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN "
        f"{torch.backends.cudnn.version()}) on {torch.cuda.get_device_name()}; "
        f"TF32 {'allowed' if args.tf32 else 'off'}",
        flush=True,
    )

    x_train, y_train = load(args.data_dir, "train", device, torch)
    x_test, y_test = load(args.data_dir, "t10k", device, torch)
    torch.manual_seed(args.seed)
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 13 * 13, 128),
        nn.ReLU(),
        nn.Linear(128, 10),
    ).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = nn.CrossEntropyLoss(reduction="sum")
    shuffle = torch.Generator(device="cpu").manual_seed(args.seed)

    def evaluate(x, y, batch=1000):
        model.eval()
        loss, correct = torch.zeros((), device=device), torch.zeros((), device=device)
        with torch.no_grad():
            for i in range(0, len(x), batch):
                logits = model(x[i : i + batch])
                loss += loss_fn(logits, y[i : i + batch])
                correct += (logits.argmax(1) == y[i : i + batch]).sum()
        model.train()
        return loss.item() / len(x), correct.item() / len(x)

    n = len(x_train)
    for epoch in range(1, args.epochs + 1):
        order = torch.randperm(n, generator=shuffle).to(device)
        loss_sum, correct = torch.zeros((), device=device), torch.zeros((), device=device)
        torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(0, n, args.batch_size):
            idx = order[i : i + args.batch_size]
            x, y = x_train[idx], y_train[idx]
            logits = model(x)
            loss = loss_fn(logits, y)
            opt.zero_grad(set_to_none=True)
            (loss / len(idx)).backward()
            opt.step()
            loss_sum += loss.detach()
            correct += (logits.detach().argmax(1) == y).sum()
        torch.cuda.synchronize()
        seconds = time.perf_counter() - start
        val_loss, val_acc = evaluate(x_test, y_test)
        print(
            f"Epoch {epoch}/{args.epochs} - {seconds:.2f}s - loss: {loss_sum.item() / n:.4f} - "
            f"accuracy: {correct.item() / n:.4f} - val_loss: {val_loss:.4f} - val_accuracy: {val_acc:.4f}",
            flush=True,
        )
    test_loss, test_acc = evaluate(x_test, y_test)
    print(f"Test loss: {test_loss:.4f}\nTest accuracy: {test_acc:.4f}")
    print(f"Peak GPU memory: {torch.cuda.max_memory_allocated() / 2**20:.0f} MiB")


if __name__ == "__main__":
    main()
