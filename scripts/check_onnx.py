#!/usr/bin/env python3
"""Runs an ONNX model exported by typenet (`examples/to_onnx.rs`, `examples/from_pytorch.rs
--onnx`) in onnxruntime on the MNIST test set: checks the graph with onnx's checker,
prints the test accuracy and, with --fixture, compares the outputs on the fixture's images
with softmax(PyTorch's logits) to 1e-5.

    python3 -m venv /tmp/venv-onnx && /tmp/venv-onnx/bin/pip install onnx onnxruntime numpy
    cargo run --release --example from_pytorch -- --onnx /tmp/mnist_torch.onnx
    /tmp/venv-onnx/bin/python scripts/check_onnx.py /tmp/mnist_torch.onnx \\
        --fixture tests/fixtures/mnist_cnn_torch.json
"""
import argparse
import gzip
import json
import struct
import sys

import numpy as np
import onnx
import onnxruntime as ort


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    _, _, dims = struct.unpack(">HBB", data[:4])
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--fixture", help="a JSON written by scripts/train_torch_mnist.py")
    p.add_argument("--data-dir", default="data/mnist")
    a = p.parse_args()
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


if __name__ == "__main__":
    main()
