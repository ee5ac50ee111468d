"""Seconds per training epoch of the same autoencoder in JAX (jit), on this machine.

Same model and hyper-parameters as bench_pytorch.py; Adam written out (no optax),
with PyTorch's formula. Threads: XLA's CPU backend uses every core it is given;
run under `taskset -c 0` for one thread. Not run by CI.

    python3 reference/bench_jax.py --hidden 128,64 --batch-size 128 --epochs 3
"""
import argparse
import json
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

from common import load_images, widths


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", default="128,64")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args()
    hidden = [int(h) for h in args.hidden.split(",")]
    w = widths(hidden, 32)
    rng = np.random.default_rng(0)
    params = []
    for a, b in zip(w[:-1], w[1:]):
        bound = 1 / np.sqrt(a)
        params.append((jnp.asarray(rng.uniform(-bound, bound, (a, b)), jnp.float32),
                       jnp.asarray(rng.uniform(-bound, bound, (b,)), jnp.float32)))
    n_enc = len(hidden) + 1

    def forward(params, x):
        for i, (W, b) in enumerate(params):
            x = x @ W + b
            if i == len(params) - 1:
                x = jax.nn.sigmoid(x)
            elif i != n_enc - 1:
                x = jax.nn.relu(x)
        return x

    def loss(params, x):
        return jnp.mean((forward(params, x) - x) ** 2)

    @jax.jit
    def step(params, m, v, t, x):
        g = jax.grad(loss)(params, x)
        b1, b2, eps, lr = 0.9, 0.999, 1e-8, 1e-3
        m = jax.tree.map(lambda m, g: b1 * m + (1 - b1) * g, m, g)
        v = jax.tree.map(lambda v, g: b2 * v + (1 - b2) * g * g, v, g)
        bc1, bc2 = 1 - b1 ** t, 1 - b2 ** t
        params = jax.tree.map(lambda p, m, v: p - (lr / bc1) * m / (jnp.sqrt(v) / jnp.sqrt(bc2) + eps), params, m, v)
        return params, m, v

    m = jax.tree.map(jnp.zeros_like, params)
    v = jax.tree.map(jnp.zeros_like, params)
    x_all = load_images("train")[:55000]
    test = jnp.asarray(load_images("t10k"))
    seconds, t = [], 0
    for epoch in range(args.epochs):
        order = rng.permutation(len(x_all))
        start = time.perf_counter()
        for i in range(0, len(x_all), args.batch_size):
            t += 1
            params, m, v = step(params, m, v, t, jnp.asarray(x_all[order[i : i + args.batch_size]]))
        jax.block_until_ready(params)
        seconds.append(time.perf_counter() - start)
    print(json.dumps({
        "framework": f"jax {jax.__version__}", "hidden": hidden, "batch_size": args.batch_size,
        "seconds_per_epoch": seconds, "median": statistics.median(seconds[1:] or seconds),
        "test_mse_after": float(loss(params, test)), "epochs": args.epochs, "images": len(x_all),
        "note": "median excludes the first epoch (jit compilation, and a new shape for the last partial batch)",
    }))


if __name__ == "__main__":
    main()
