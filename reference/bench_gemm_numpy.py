"""GFLOP/s of numpy's BLAS (OpenBLAS) multiplying two n×n float32 matrices, on this machine.

The ceiling a tuned BLAS reaches on one large product, to read the autoencoders'
GFLOP/s against: 2·n³ FLOP per product, best and median over --reps products after
--warmup untimed ones, the result written into a preallocated array. The thread
count is set with threadpoolctl, which also names the library, its version and the
OpenBLAS kernel that ran (`architecture`: Haswell, Zen, SkylakeX, ...).
OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE in the environment would override OpenBLAS's
own detection, so this command clears them for itself only. Not run by CI.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 reference/bench_gemm_numpy.py --threads 2

With --step HIDDEN (and --batch), it also times the matrix products of one
training step of the autoencoder 784-HIDDEN-32-reversed-784, on the same shapes
and in the same order as `examples/step_throughput.rs --products`: Y = X·W,
dW = Xᵀ·dY and dX = dY·Wᵀ of every layer (no dX for the first), reported by the
3 × 2 × Σ in·out × batch convention, and as a percentage of the n×n figure above.
That is what OpenBLAS reaches on the products alone, with no Adam, activation
or packing of ours in the way:

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 reference/bench_gemm_numpy.py --step 1024,512 --batch 256
"""
import argparse
import json
import os
import statistics
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=1024)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--step", help="hidden widths, e.g. 1024,512: also time one training step's products")
    parser.add_argument("--batch", type=int, default=256)
    args = parser.parse_args()
    n = args.n
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    c = np.empty((n, n), dtype=np.float32)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        blas = [{key: lib.get(key) for key in ("internal_api", "version", "num_threads", "architecture", "filepath")}
                for lib in threadpool_info() if lib.get("user_api") == "blas"]
        for lib in blas:
            print(f"blas: {lib['internal_api']} {lib['version']}, {lib['num_threads']} threads, "
                  f"kernel {lib['architecture']} ({os.path.basename(lib['filepath'] or '?')})")
        if not blas:
            print("blas: threadpoolctl found no BLAS library loaded by numpy")
        for _ in range(args.warmup):
            np.matmul(a, b, out=c)
        seconds = []
        for _ in range(args.reps):
            start = time.perf_counter()
            np.matmul(a, b, out=c)
            seconds.append(time.perf_counter() - start)
    flop = 2.0 * n ** 3
    best, median = min(seconds), statistics.median(seconds)
    print(f"{n}x{n} float32 matmul: best {flop / best / 1e9:.1f} GFLOP/s, median {flop / median / 1e9:.1f} GFLOP/s "
          f"over {args.reps} reps")
    step = step_products(args, rng, flop / best / 1e9, flop / median / 1e9) if args.step else None
    print(json.dumps({
        "benchmark": "numpy.matmul float32", "numpy": np.__version__, "n": n, "threads": args.threads,
        "reps": args.reps, "warmup": args.warmup, "seconds": seconds,
        "gflops_best": flop / best / 1e9, "gflops_median": flop / median / 1e9, "blas": blas,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS")},
        "step": step,
    }))


def step_products(args, rng, gemm_best, gemm_median):
    """Times the products of one training step (see the module docstring), --reps
    steps after --warmup untimed ones, and prints them against the n×n figures."""
    hidden = [int(h) for h in args.step.split(",")]
    widths = [784, *hidden, 32, *reversed(hidden), 784]
    b = args.batch
    layers = []
    for i, o in zip(widths[:-1], widths[1:]):
        shapes = {"x": (b, i), "w": (i, o), "dy": (b, o), "y": (b, o), "dw": (i, o), "dx": (b, i)}
        layers.append({k: rng.standard_normal(s, dtype=np.float32) for k, s in shapes.items()})

    def one_step():
        for layer in layers:
            np.matmul(layer["x"], layer["w"], out=layer["y"])
        for index in reversed(range(len(layers))):
            layer = layers[index]
            np.matmul(layer["x"].T, layer["dy"], out=layer["dw"])
            if index > 0:
                np.matmul(layer["dy"], layer["w"].T, out=layer["dx"])

    with threadpool_limits(limits=args.threads, user_api="blas"):
        for _ in range(args.warmup):
            one_step()
        seconds = []
        for _ in range(args.reps):
            start = time.perf_counter()
            one_step()
            seconds.append(time.perf_counter() - start)
    flop = 3 * 2 * sum(i * o for i, o in zip(widths[:-1], widths[1:])) * b
    best, median = flop / min(seconds) / 1e9, flop / statistics.median(seconds) / 1e9
    print(f"step products {'-'.join(map(str, widths))}, batch {b}: best {best:.1f} GFLOP/s "
          f"({100 * best / gemm_best:.0f}% of the {args.n}³ best), median {median:.1f} "
          f"({100 * median / gemm_median:.0f}% of the {args.n}³ median)")
    return {"widths": widths, "batch": b, "seconds": seconds, "gflops_best": best, "gflops_median": median}


if __name__ == "__main__":
    main()
