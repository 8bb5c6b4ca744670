#!/usr/bin/env python3
"""The seed recipe in Keras, for side-by-side accuracy with `examples/mnist.rs`.

Conv2D(32, 3), ReLU, MaxPool2D(2), Flatten, Dense(128), ReLU, Dense(10), Softmax; Adam
(lr 0.001), batch 128, pixels / 255, Keras's default initialisers (Glorot-uniform, zero
biases). Reads the vendored MNIST files, so it runs offline.

    python3 -m venv /tmp/venv-keras && /tmp/venv-keras/bin/pip install tensorflow-cpu numpy
    /tmp/venv-keras/bin/python scripts/keras_mnist.py --epochs 10 --seed 0
"""
import argparse
import os

import numpy as np
from mnist_idx import idx


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default="data/mnist")
    a = p.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras  # after the log level

    keras.utils.set_random_seed(a.seed)
    d = a.data_dir
    x = idx(f"{d}/train-images-idx3-ubyte.gz").astype("float32")[..., None] / 255.0
    y = idx(f"{d}/train-labels-idx1-ubyte.gz")
    xt = idx(f"{d}/t10k-images-idx3-ubyte.gz").astype("float32")[..., None] / 255.0
    yt = idx(f"{d}/t10k-labels-idx1-ubyte.gz")
    m = keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            keras.layers.Dense(128, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    m.compile(
        optimizer=keras.optimizers.Adam(0.001),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    m.fit(x, y, batch_size=128, epochs=a.epochs, validation_data=(xt, yt), verbose=2)
    loss, acc = m.evaluate(xt, yt, verbose=0)
    print(f"Test loss: {loss:.4f}")
    print(f"Test accuracy: {acc:.4f}")


if __name__ == "__main__":
    main()
