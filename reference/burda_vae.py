"""Burda, Grosse & Salakhutdinov (2015)'s one-stochastic-layer VAE in PyTorch,
trained as `train --binarize --lr-schedule burda` trains it, for a side-by-side
check of docs/BURDA.md.

Model: encoder 784-200-200 (tanh), heads Linear(200, 50) for mu and log sigma^2;
decoder 50-200-200 (tanh)-784, sigmoid (BCE on logits); nn.Linear's default
init (U(+-1/sqrt(fan_in)), as the crate's). Loss per batch: BCE summed over
pixels + KL, divided by the batch size (nats per image, the negative ELBO).
Adam beta1 0.9, beta2 0.999, eps 1e-4, batch 20; stage i = 0 .. --stages - 1
runs 3^i epochs at 0.001 * 10^(-i/7) (--stages 8 is the paper's 3,280 epochs).
Data: dynamic binarisation (every training batch drawn as Bernoulli(grey level)
from a seeded generator, afresh each epoch); 400 training images held out
(a seeded choice, as `--val-size 400`), 59,600 trained on; the 10,000 test
images binarised once from seed 123 (torch's generator, so not the same black
and white pixels as the crate's, which come from its own generator).

At the end: the importance-weighted estimate of log p(x) with K = --k samples
per image (log-mean-exp of log w = log p(x|z) + log N(z; 0, I) - log q(z|x),
in float64) and the ELBO (mean log w) on the first --images test images, with
the standard error over images. Prints one JSON line last. Not run by CI.

    cd reference && python3 burda_vae.py --stages 4 --images 2000
"""
import argparse
import json
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from common import load_images

LOG_2PI = math.log(2 * math.pi)


class VAE(torch.nn.Module):
    def __init__(self, hidden=200, latent=50):
        super().__init__()
        self.encoder = torch.nn.Sequential(
            torch.nn.Linear(784, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, hidden), torch.nn.Tanh()
        )
        self.mu = torch.nn.Linear(hidden, latent)
        self.logvar = torch.nn.Linear(hidden, latent)
        self.decoder = torch.nn.Sequential(
            torch.nn.Linear(latent, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, hidden), torch.nn.Tanh(),
            torch.nn.Linear(hidden, 784),
        )

    def encode(self, x):
        h = self.encoder(x)
        return self.mu(h), self.logvar(h)

    def negative_elbo(self, x):
        """(BCE summed, KL summed) over the batch, one eps draw per image."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        bce = F.binary_cross_entropy_with_logits(self.decoder(z), x, reduction="sum")
        kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
        return bce, kl


@torch.no_grad()
def importance_weighted(model, x, k, chunk=20_000):
    """Per image of x (N, 784): (mean log w, log mean w) over k samples, float64."""
    mu, logvar = model.encode(x)
    sigma = torch.exp(0.5 * logvar)
    elbo, log_p = [], []
    per_pass = max(1, chunk // k)
    for start in range(0, len(x), per_pass):
        xs, m, s, lv = (t[start:start + per_pass] for t in (x, mu, sigma, logvar))
        n, z_dim = m.shape
        eps = torch.randn(n, k, z_dim)
        z = m[:, None, :] + s[:, None, :] * eps
        logits = model.decoder(z.reshape(n * k, z_dim)).reshape(n, k, 784)
        log_px = -F.binary_cross_entropy_with_logits(
            logits, xs[:, None, :].expand(n, k, 784), reduction="none").sum(-1)
        log_pz = -0.5 * (LOG_2PI * z_dim + (z * z).sum(-1))
        log_qz = -0.5 * (LOG_2PI * z_dim + (eps * eps).sum(-1) + lv.sum(-1)[:, None])
        log_w = (log_px + log_pz - log_qz).double()
        elbo.append(log_w.mean(1))
        log_p.append(torch.logsumexp(log_w, 1) - math.log(k))
    return torch.cat(elbo), torch.cat(log_p)


def mean_and_error(values):
    values = values.numpy()
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stages", type=int, default=4, help="stages of the schedule (4 = 40 epochs, 8 = 3,280)")
    parser.add_argument("--k", type=int, default=5000, help="importance samples per test image")
    parser.add_argument("--images", type=int, default=10_000, help="test images the estimate uses (the first N)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    draws = torch.Generator().manual_seed(args.seed)

    all_train = load_images("train")
    held_out = np.random.default_rng(args.seed).permutation(len(all_train))[:400]
    keep = np.ones(len(all_train), dtype=bool)
    keep[held_out] = False
    train = torch.from_numpy(all_train[keep])
    test = torch.bernoulli(torch.from_numpy(load_images("t10k")), generator=torch.Generator().manual_seed(123))
    model = VAE()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-4)
    print(f"torch {torch.__version__}, {args.threads} threads, {len(train)} train / {len(test)} test images, "
          f"784-200-200-50 tanh, batch 20, Adam eps 1e-4, stages 0..{args.stages - 1}", flush=True)

    epoch, train_seconds, history = 0, 0.0, []
    for stage in range(args.stages):
        for group in optimizer.param_groups:
            group["lr"] = 1e-3 * 10 ** (-stage / 7)
        for _ in range(3 ** stage):
            epoch += 1
            start = time.perf_counter()
            order = torch.randperm(len(train), generator=draws)
            train_sum = 0.0
            for i in range(0, len(train), 20):
                x = torch.bernoulli(train[order[i:i + 20]], generator=draws)
                optimizer.zero_grad()
                bce, kl = model.negative_elbo(x)
                loss = (bce + kl) / len(x)
                loss.backward()
                optimizer.step()
                train_sum += float(loss.detach()) * len(x)
            seconds = time.perf_counter() - start
            train_seconds += seconds
            with torch.no_grad():
                bce, kl = model.negative_elbo(test)
            row = {"epoch": epoch, "stage": stage, "train_loss": train_sum / len(train),
                   "test_neg_elbo": float(bce + kl) / len(test), "seconds": seconds}
            history.append(row)
            print(f"epoch {epoch:4d} (stage {stage})  train {row['train_loss']:.3f}  test -ELBO "
                  f"{row['test_neg_elbo']:.3f}  {seconds:.1f} s  {len(train) / seconds:.0f} img/s", flush=True)

    start = time.perf_counter()
    elbo, log_p = importance_weighted(model, test[:args.images], args.k)
    eval_seconds = time.perf_counter() - start
    (elbo_mean, elbo_error), (log_p_mean, log_p_error) = mean_and_error(elbo), mean_and_error(log_p)
    print(f"on {len(log_p)} test images, K = {args.k}: ELBO {elbo_mean:.2f} ± {elbo_error:.2f}, "
          f"log p(x) {log_p_mean:.2f} ± {log_p_error:.2f} nats ({eval_seconds:.0f} s)", flush=True)
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}", "threads": args.threads, "seed": args.seed,
        "stages": args.stages, "epochs": epoch, "train_images": len(train),
        "final_test_neg_elbo": history[-1]["test_neg_elbo"], "k": args.k, "images": len(log_p),
        "elbo": elbo_mean, "elbo_error": elbo_error, "log_p": log_p_mean, "log_p_error": log_p_error,
        "train_seconds": train_seconds, "eval_seconds": eval_seconds,
    }))


if __name__ == "__main__":
    main()
