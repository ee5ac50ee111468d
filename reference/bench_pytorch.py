"""Seconds per training epoch of the same autoencoder in PyTorch, on this machine.

Same model as `train --hidden H --latent 32`: ReLU hidden layers, linear latent,
sigmoid output, MSE (mean), Adam 1e-3, nn.Linear's default init (U(±1/√fan_in)),
reshuffled each epoch; 55,000 training images as in our default split.
Flush-to-zero on, 2 threads. Not run by CI.

    python3 reference/bench_pytorch.py --hidden 128,64 --batch-size 128 --epochs 3
"""
import argparse
import json
import statistics
import time

import numpy as np
import torch

from common import load_images, widths


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", default="128,64")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(0)
    hidden = [int(h) for h in args.hidden.split(",")]
    w = widths(hidden, 32)
    layers = []
    for i, (a, b) in enumerate(zip(w[:-1], w[1:])):
        layers.append(torch.nn.Linear(a, b))
        last = i == len(w) - 2
        latent = i == len(hidden)
        if last:
            layers.append(torch.nn.Sigmoid())
        elif not latent:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.MSELoss()
    x_all = torch.from_numpy(load_images("train")[:55000])
    test = torch.from_numpy(load_images("t10k"))
    seconds = []
    for epoch in range(args.epochs):
        order = torch.randperm(len(x_all))
        start = time.perf_counter()
        for i in range(0, len(x_all), args.batch_size):
            x = x_all[order[i : i + args.batch_size]]
            optimizer.zero_grad()
            loss = loss_fn(model(x), x)
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
    with torch.no_grad():
        test_mse = float(loss_fn(model(test), test))
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}", "hidden": hidden, "batch_size": args.batch_size,
        "threads": args.threads, "seconds_per_epoch": seconds, "median": statistics.median(seconds),
        "test_mse_after": test_mse, "epochs": args.epochs, "images": len(x_all),
    }))


if __name__ == "__main__":
    main()
