"""PyTorch's time for the four convolution layers of issue 26's model alone,
forward and backward, beside examples/conv_layers.rs (same layers, same batch,
same order; the first layer's input has no gradient). Median over STEPS steps
after 5 warm-up steps, ms per batch. Flush-to-zero on. Not run by CI.

    python3 reference/bench_conv_layers.py --batch 128 --threads 2 --steps 50
"""
import argparse
import statistics
import time

import torch


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    b = args.batch
    layers = [
        ("conv 1->32", torch.nn.Conv2d(1, 32, 3, stride=2, padding=1), (b, 1, 28, 28), False),
        ("conv 32->64", torch.nn.Conv2d(32, 64, 3, stride=2, padding=1), (b, 32, 14, 14), True),
        ("convT 64->32", torch.nn.ConvTranspose2d(64, 32, 3, stride=2, padding=1, output_padding=1), (b, 64, 7, 7), True),
        ("convT 32->1", torch.nn.ConvTranspose2d(32, 1, 3, stride=2, padding=1, output_padding=1), (b, 32, 14, 14), True),
    ]
    inputs = [torch.randn(shape, requires_grad=needs_dx) for _, _, shape, needs_dx in layers]
    with torch.no_grad():
        upstream = [torch.randn(layer(x).shape) for (_, layer, _, _), x in zip(layers, inputs)]
    times = [([], []) for _ in layers]
    totals = []
    for step in range(5 + args.steps):
        start = time.perf_counter()
        outputs, laps = [], []
        for (_, layer, _, _), x in zip(layers, inputs):
            t = time.perf_counter()
            outputs.append(layer(x))
            laps.append([time.perf_counter() - t, 0.0])
        for i in reversed(range(len(layers))):
            layer = layers[i][1]
            layer.zero_grad(set_to_none=True)
            if inputs[i].grad is not None:
                inputs[i].grad = None
            t = time.perf_counter()
            outputs[i].backward(upstream[i])
            laps[i][1] = time.perf_counter() - t
        total = time.perf_counter() - start
        if step >= 5:
            totals.append(total)
            for (f, bw), (lf, lb) in zip(times, laps):
                f.append(lf)
                bw.append(lb)
    print(f"torch {torch.__version__}, batch {b}, {args.threads} threads, median of {args.steps} steps after 5 warm-up:")
    for (name, _, _, _), (f, bw) in zip(layers, times):
        print(f"  {name:<12} forward {1e3 * statistics.median(f):7.3f} ms  backward {1e3 * statistics.median(bw):7.3f} ms")
    total = statistics.median(totals)
    print(f"  all four     {1e3 * total:7.3f} ms per batch ({b / total:.0f} images/s)")


if __name__ == "__main__":
    main()
