"""Shared helpers for the reference scripts: MNIST from the bundled IDX files."""
import gzip
import pathlib

import numpy as np

DATA = pathlib.Path(__file__).resolve().parent.parent / "data" / "mnist"


def load_images(name):
    """(N, 784) float32 in [0, 1] from data/mnist/<name>-images-idx3-ubyte.gz."""
    raw = gzip.open(DATA / f"{name}-images-idx3-ubyte.gz").read()
    n = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw, np.uint8, offset=16).reshape(n, 784).astype(np.float32) / 255.0


def load_labels(name):
    raw = gzip.open(DATA / f"{name}-labels-idx1-ubyte.gz").read()
    return np.frombuffer(raw, np.uint8, offset=8)


def widths(hidden, latent):
    """[784, h1, ..., latent, ..., h1, 784]"""
    return [784, *hidden, latent, *reversed(hidden), 784]


def validation_indices(name="validation-indices-seed0.txt"):
    """0-based indices into the 60,000 training images held out for validation,
    one integer per line, sorted (reference/<name>). Checked, not trusted."""
    path = pathlib.Path(__file__).resolve().parent / name
    idx = np.array([int(line) for line in path.read_text().split()], dtype=np.int64)
    if len(idx) == 0 or np.any(np.diff(idx) <= 0) or idx[0] < 0 or idx[-1] >= 60000:
        raise ValueError(f"{path}: indices must be sorted, distinct and in 0..60000")
    return idx


def training_images_minus_validation(name="validation-indices-seed0.txt"):
    """The training images not listed in validation_indices(name), in file order."""
    x = load_images("train")
    keep = np.ones(len(x), dtype=bool)
    keep[validation_indices(name)] = False
    return x[keep]
