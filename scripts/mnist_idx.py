"""Reads the gzipped IDX files of MNIST (data/mnist): shared by the Python twins in scripts/."""
import gzip
import struct

import numpy as np


def idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    _, _, dims = struct.unpack(">HBB", data[:4])
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)
