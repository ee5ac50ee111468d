"""The pytorch/examples vae/main.py variational autoencoder, as a yardstick for ours.

784-H-Z (H=400, Z=20 by default): encoder Linear(784,H)+ReLU, then two heads
Linear(H,Z) named `mu` and `logvar`; z = mu + exp(0.5*logvar)*eps, eps ~ N(0,I);
decoder Linear(Z,H)+ReLU, Linear(H,784)+Sigmoid. Loss per batch = BCE summed over
pixels + KL = -0.5*sum(1 + logvar - mu^2 - exp(logvar)), divided by the batch
size (nats per image). Adam lr 1e-3, batch 128, reshuffled each epoch (seeded
torch generator), last partial batch used; nn.Linear's default init after
torch.manual_seed(seed). Flush-to-zero on, --threads threads.

Trains on the 55,000 training images left after removing the 5,000 validation
images listed in reference/validation-indices-seed0.txt (our default split);
--all-60000 trains on all 60,000 as the example does. After each epoch prints the
training loss and the test negative ELBO (nats per image over the 10,000 t10k
images, one eps draw per image as in the example) with its reconstruction and
KL parts; at the end a JSON line. Needs torch and numpy; not run by CI.

    cd reference && python3 vae_pytorch.py --epochs 10
    cd reference && python3 vae_pytorch.py --latent 2 --epochs 10
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

from common import load_images, training_images_minus_validation


class VAE(torch.nn.Module):
    def __init__(self, hidden, latent):
        super().__init__()
        # Created in the example's order (fc1, fc21, fc22, fc3, fc4): same init draws.
        self.encoder = torch.nn.Sequential(torch.nn.Linear(784, hidden), torch.nn.ReLU())
        self.mu = torch.nn.Linear(hidden, latent)
        self.logvar = torch.nn.Linear(hidden, latent)
        self.decoder = torch.nn.Sequential(
            torch.nn.Linear(latent, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 784), torch.nn.Sigmoid()
        )

    def forward(self, x):
        h = self.encoder(x)
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)
        return self.decoder(z), mu, logvar


def loss_parts(x_hat, x, mu, logvar):
    """(BCE summed over pixels and images, KL summed over latents and images)."""
    bce = F.binary_cross_entropy(x_hat, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce, kl


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--hidden", type=int, default=400)
    parser.add_argument("--latent", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--all-60000", action="store_true", help="train on all 60,000 training images")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    shuffle = torch.Generator().manual_seed(args.seed)

    train = torch.from_numpy(load_images("train") if args.all_60000 else training_images_minus_validation())
    test = torch.from_numpy(load_images("t10k"))
    model = VAE(args.hidden, args.latent)
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    print(f"torch {torch.__version__}, {args.threads} threads, {len(train)} train / {len(test)} test images, "
          f"784-{args.hidden}-{args.latent}, batch {args.batch_size}, lr {args.lr}, seed {args.seed}", flush=True)

    history, start_all = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(train), generator=shuffle)
        train_sum = 0.0
        for i in range(0, len(train), args.batch_size):
            x = train[order[i : i + args.batch_size]]
            optimizer.zero_grad()
            x_hat, mu, logvar = model(x)
            bce, kl = loss_parts(x_hat, x, mu, logvar)
            loss = (bce + kl) / len(x)
            loss.backward()
            optimizer.step()
            train_sum += float(loss) * len(x)
        train_seconds = time.perf_counter() - start
        model.eval()
        test_bce = test_kl = 0.0
        with torch.no_grad():
            for i in range(0, len(test), args.batch_size):
                x = test[i : i + args.batch_size]
                x_hat, mu, logvar = model(x)
                bce, kl = loss_parts(x_hat, x, mu, logvar)
                test_bce += float(bce)
                test_kl += float(kl)
        seconds = time.perf_counter() - start
        row = {
            "epoch": epoch,
            "train_loss": train_sum / len(train),
            "test_neg_elbo": (test_bce + test_kl) / len(test),
            "test_recon": test_bce / len(test),
            "test_kl": test_kl / len(test),
            "train_seconds": train_seconds,
            "seconds": seconds,
        }
        history.append(row)
        print(f"epoch {epoch:3d}  train {row['train_loss']:.4f}  test -ELBO {row['test_neg_elbo']:.4f} "
              f"(recon {row['test_recon']:.4f} + KL {row['test_kl']:.4f})  {seconds:.1f} s", flush=True)

    print(json.dumps({
        "framework": f"pytorch {torch.__version__}", "hidden": args.hidden, "latent": args.latent,
        "train_images": len(train), "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed,
        "threads": args.threads, "epochs": args.epochs,
        "test_neg_elbo": [round(r["test_neg_elbo"], 4) for r in history],
        "test_recon": [round(r["test_recon"], 4) for r in history],
        "test_kl": [round(r["test_kl"], 4) for r in history],
        "train_loss": [round(r["train_loss"], 4) for r in history],
        "final_test_neg_elbo": history[-1]["test_neg_elbo"] if history else None,
        "total_seconds": time.perf_counter() - start_all,
    }))


if __name__ == "__main__":
    main()
