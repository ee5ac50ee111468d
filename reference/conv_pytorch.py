"""Issue 26's convolutional autoencoder (and its VAE) in PyTorch, beside ours
(`train --arch conv [--model vae]`).

Encoder Conv2d(1,32,3,s2,p1)+ReLU, Conv2d(32,64,3,s2,p1)+ReLU, Flatten,
Linear(3136,Z); decoder Linear(Z,3136)+ReLU, Unflatten(64,7,7),
ConvTranspose2d(64,32,3,s2,p1,op1)+ReLU, ConvTranspose2d(32,1,3,s2,p1,op1)+Sigmoid.
The module names are those of our model.safetensors (encoder.0, encoder.2,
encoder.5, decoder.0, decoder.3, decoder.5; the VAE's heads mu and logvar on the
flattened features, its encoder ending at the Flatten), so `--load` reads a
model.safetensors written by `train --arch conv` and evaluates it here.

AE: MSE (mean), Adam lr 1e-3, batch 128; VAE: BCE summed over pixels + KL,
nats per image. Default init after torch.manual_seed(seed), reshuffled each
epoch, last partial batch used, flush-to-zero on. Trains on the 55,000 training
images left after the 5,000 validation images of
reference/validation-indices-seed0.txt (our default split). After each epoch:
the test MSE (z = mu for the VAE) and, for the VAE, the test negative ELBO (one
eps draw per image); at the end a JSON line. Needs torch and numpy; not run by CI.

    cd reference && python3 conv_pytorch.py --epochs 10
    cd reference && python3 conv_pytorch.py --model vae --epochs 10
    cd reference && python3 conv_pytorch.py --load ../output/conv/model.safetensors
"""
import argparse
import json
import time

import torch
import torch.nn.functional as F

from common import load_images, training_images_minus_validation


class ConvAE(torch.nn.Module):
    def __init__(self, latent, variational):
        super().__init__()
        nn = torch.nn
        encoder = [nn.Conv2d(1, 32, 3, 2, 1), nn.ReLU(), nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(), nn.Flatten()]
        self.variational = variational
        if variational:
            self.encoder = nn.Sequential(*encoder)
            self.mu = nn.Linear(3136, latent)
        else:
            self.encoder = nn.Sequential(*encoder, nn.Linear(3136, latent))
        self.decoder = nn.Sequential(
            nn.Linear(latent, 3136), nn.ReLU(), nn.Unflatten(1, (64, 7, 7)),
            nn.ConvTranspose2d(64, 32, 3, 2, 1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(32, 1, 3, 2, 1, output_padding=1), nn.Sigmoid(),
        )
        if variational:  # created last: our log σ² head is the last stored layer
            self.logvar = nn.Linear(3136, latent)

    def forward(self, x, sample=True):
        h = self.encoder(x.view(-1, 1, 28, 28))
        if not self.variational:
            return self.decoder(h).view(-1, 784), None, None
        mu, logvar = self.mu(h), self.logvar(h)
        z = mu + torch.exp(0.5 * logvar) * torch.randn_like(mu) if sample else mu
        return self.decoder(z).view(-1, 784), mu, logvar


def elbo_parts(x_hat, x, mu, logvar):
    """(BCE summed over pixels and images, KL summed over latents and images)."""
    bce = F.binary_cross_entropy(x_hat, x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp())
    return bce, kl


def evaluate(model, test, batch):
    """(test MSE with z = mu, test negative ELBO or None) over every test image."""
    model.eval()
    sq = elbo = 0.0
    with torch.no_grad():
        for i in range(0, len(test), batch):
            x = test[i : i + batch]
            x_hat, _, _ = model(x, sample=False)
            sq += float(F.mse_loss(x_hat, x, reduction="sum"))
            if model.variational:
                x_hat, mu, logvar = model(x)
                bce, kl = elbo_parts(x_hat, x, mu, logvar)
                elbo += float(bce + kl)
    mse = sq / test.numel()
    return mse, (elbo / len(test) if model.variational else None)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", choices=["ae", "vae"], default="ae")
    parser.add_argument("--latent", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--load", help="evaluate a model.safetensors written by train --arch conv, then stop")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    torch.manual_seed(args.seed)
    shuffle = torch.Generator().manual_seed(args.seed)
    test = torch.from_numpy(load_images("t10k"))

    if args.load:
        from safetensors import safe_open

        with safe_open(args.load, "pt") as f:
            meta = f.metadata()
            state = {k: f.get_tensor(k) for k in f.keys()}
        model = ConvAE(int(meta["latent"]), meta["kind"] == "vae")
        model.load_state_dict(state)  # strict: every name and shape must match
        mse, elbo = evaluate(model, test, args.batch_size)
        print(json.dumps({"loaded": args.load, "architecture": meta["architecture"], "test_mse": mse,
                          "test_neg_elbo": elbo}))
        return

    train = torch.from_numpy(training_images_minus_validation())
    model = ConvAE(args.latent, args.model == "vae")
    optimizer = torch.optim.Adam(model.parameters(), lr=args.lr)
    count = sum(p.numel() for p in model.parameters())
    print(f"torch {torch.__version__}, {args.threads} threads, {len(train)} train / {len(test)} test images, "
          f"conv {args.model}, latent {args.latent}, {count} parameters, batch {args.batch_size}, lr {args.lr}, "
          f"seed {args.seed}", flush=True)
    history, start_all = [], time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(len(train), generator=shuffle)
        for i in range(0, len(train), args.batch_size):
            x = train[order[i : i + args.batch_size]]
            optimizer.zero_grad()
            x_hat, mu, logvar = model(x)
            if model.variational:
                bce, kl = elbo_parts(x_hat, x, mu, logvar)
                loss = (bce + kl) / len(x)
            else:
                loss = F.mse_loss(x_hat, x)
            loss.backward()
            optimizer.step()
        train_seconds = time.perf_counter() - start
        mse, elbo = evaluate(model, test, 1000)
        row = {"epoch": epoch, "test_mse": mse, "test_neg_elbo": elbo, "train_seconds": train_seconds,
               "images_per_second": len(train) / train_seconds}
        history.append(row)
        extra = f"  test -ELBO {elbo:.4f}" if elbo is not None else ""
        print(f"epoch {epoch:3d}  test MSE {mse:.6f}{extra}  {train_seconds:.1f} s "
              f"({row['images_per_second']:.0f} images/s)", flush=True)
    print(json.dumps({
        "framework": f"pytorch {torch.__version__}", "model": f"conv {args.model}", "latent": args.latent,
        "parameters": count, "train_images": len(train), "batch_size": args.batch_size, "lr": args.lr,
        "seed": args.seed, "threads": args.threads, "epochs": args.epochs,
        "test_mse": [round(r["test_mse"], 6) for r in history],
        "test_neg_elbo": [round(r["test_neg_elbo"], 4) for r in history] if args.model == "vae" else None,
        "train_seconds": [round(r["train_seconds"], 2) for r in history],
        "total_seconds": time.perf_counter() - start_all,
    }))


if __name__ == "__main__":
    main()
