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
