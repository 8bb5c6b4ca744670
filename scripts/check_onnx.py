#!/usr/bin/env python3
"""Runs an ONNX model exported by typenet (`examples/to_onnx.rs`, `examples/from_pytorch.rs
--onnx`) in onnxruntime on the MNIST test set: checks the graph with onnx's checker,
prints the test accuracy and, with --fixture, compares the outputs on the fixture's images
with softmax(PyTorch's logits) to 1e-5.

    python3 -m venv /tmp/venv-onnx && /tmp/venv-onnx/bin/pip install onnx onnxruntime numpy
    cargo run --release --example from_pytorch -- --onnx /tmp/mnist_torch.onnx
    /tmp/venv-onnx/bin/python scripts/check_onnx.py /tmp/mnist_torch.onnx \\
        --fixture tests/fixtures/mnist_cnn_torch.json

With --cases DIR it instead runs every model that onnx-check's tests wrote there (one per
layer kind, nested and merged networks, the MNIST CNN) and compares with typenet's outputs:

    TYPENET_ONNX_DUMP=/tmp/onnx-cases cargo test -p typenet-onnx-check
    /tmp/venv-onnx/bin/python scripts/check_onnx.py --cases /tmp/onnx-cases
"""
import argparse
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort
from mnist_idx import idx


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", nargs="?")
    p.add_argument("--cases", help="a directory written with TYPENET_ONNX_DUMP")
    p.add_argument("--fixture", help="a JSON written by scripts/train_torch_mnist.py")
    p.add_argument("--data-dir", default="data/mnist")
    a = p.parse_args()
    if a.cases:
        return cases(a.cases)
    if not a.model:
        p.error("give a model, or --cases DIR")
    m = onnx.load(a.model)
    onnx.checker.check_model(m, full_check=True)
    opset = max(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    sess = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    x = (idx(f"{a.data_dir}/t10k-images-idx3-ubyte.gz").astype(np.float32) / 255.0)[:, None]
    y = idx(f"{a.data_dir}/t10k-labels-idx1-ubyte.gz")
    out = np.concatenate([sess.run(None, {name: x[i : i + 1000]})[0] for i in range(0, len(x), 1000)])
    acc = float((out.argmax(1) == y).mean())
    print(f"{a.model}: opset {opset}, onnxruntime {ort.__version__}, test accuracy {acc:.4f}")
    if a.fixture:
        with open(a.fixture) as f:
            logits = np.array(json.load(f)["logits"], dtype=np.float64)
        e = np.exp(logits - logits.max(1, keepdims=True))
        want = e / e.sum(1, keepdims=True)
        got = out[: len(want)]
        err = float(np.abs(got - want).max())
        print(f"largest difference from softmax(PyTorch's logits) on {len(want)} images: {err:.2e}")
        if err > 1e-5:
            sys.exit("FAIL: more than 1e-5")


def cases(d):
    import glob
    import os

    worst, names = 0.0, sorted(glob.glob(os.path.join(d, "*.onnx")))
    if not names:
        sys.exit(f"no .onnx files in {d}")
    for path in names:
        onnx.checker.check_model(onnx.load(path), full_check=True)
        with open(path[: -len(".onnx")] + ".json") as f:
            case = json.load(f)
        sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        x = np.array(case["input"], dtype=np.float32).reshape(case["shape"])
        got = sess.run(None, {sess.get_inputs()[0].name: x})[0].ravel()
        want = np.array(case["output"], dtype=np.float32)
        err = float((np.abs(got - want) / (1.0 + np.abs(want))).max())
        worst = max(worst, err)
        print(f"{os.path.basename(path)}: {'ok' if err <= 1e-5 else 'FAIL'} ({err:.1e})")
    print(f"{len(names)} models, onnxruntime {ort.__version__}: largest relative difference {worst:.1e}")
    if worst > 1e-5:
        sys.exit("FAIL: more than 1e-5")


if __name__ == "__main__":
    main()
