"""GFLOP/s of numpy's BLAS (OpenBLAS) multiplying two n×n float32 matrices, on this machine.

The ceiling a tuned BLAS reaches on one large product, to read the autoencoders'
GFLOP/s against: 2·n³ FLOP per product, best and median over --reps products after
--warmup untimed ones, the result written into a preallocated array. The thread
count is set with threadpoolctl, which also names the library, its version and the
OpenBLAS kernel that ran (`architecture`: Haswell, Zen, SkylakeX, ...).
OPENBLAS_CORETYPE or OPENBLAS_L2_SIZE in the environment would override OpenBLAS's
own detection, so this command clears them for itself only. Not run by CI.

    env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 reference/bench_gemm_numpy.py --threads 2
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
    print(json.dumps({
        "benchmark": "numpy.matmul float32", "numpy": np.__version__, "n": n, "threads": args.threads,
        "reps": args.reps, "warmup": args.warmup, "seconds": seconds,
        "gflops_best": flop / best / 1e9, "gflops_median": flop / median / 1e9, "blas": blas,
        "env": {k: os.environ.get(k) for k in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS")},
    }))


if __name__ == "__main__":
    main()
