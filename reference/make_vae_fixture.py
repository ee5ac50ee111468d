"""Writes tests/fixtures/torch_vae.safetensors: PyTorch autograd's answers for a
small variational autoencoder laid out like this crate's, for a Rust test.

Model: encoder `encoder.0` Linear(784,32)+ReLU, `encoder.2` Linear(32,16)+ReLU;
heads `mu` Linear(16,8) and `logvar` Linear(16,8) (no activation);
z = mu + exp(0.5*logvar)*eps; decoder `decoder.0` Linear(8,16)+ReLU,
`decoder.2` Linear(16,32)+ReLU, `decoder.4` Linear(32,784)+Sigmoid.
Weights are stored out x in, as nn.Linear's state_dict has them.
nn.Linear's default init under torch.manual_seed(0); batch = the first 16 MNIST
test images; eps = torch.randn(16, 8) after torch.manual_seed(1), stored and
reused at every step. Loss = (BCE summed over pixels + KL) / 16 with
KL = -0.5*sum(1 + logvar - mu^2 - exp(logvar)) and BCE from
F.binary_cross_entropy(reduction="sum") (which clamps log at -100).

Stored (float32): batch, eps, init.<p>, loss, recon (BCE/B), kl (KL/B), z, x_hat,
dmu and dlogvar (d loss / d mu, d logvar), grad.<p>, and the weights after 1 and
10 Adam steps (lr 1e-3, same batch and eps each step) as step1.<p>, step10.<p>.
Small (under 1 MB) and reproducible. Needs torch, numpy and safetensors; not run by CI.

    python3 reference/make_vae_fixture.py
"""
import pathlib
import sys

import numpy as np
import safetensors
import torch
import torch.nn.functional as F
from safetensors.torch import save_file

from common import load_images

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch_vae.safetensors"
HIDDEN, LATENT, BATCH = [32, 16], 8, 16


def build():
    """encoder.{0,2,..} / mu / logvar / decoder.{0,2,..,2k}, created in that order."""
    enc, dec = [], []
    widths = [784, *HIDDEN]
    for a, b in zip(widths[:-1], widths[1:]):
        enc += [torch.nn.Linear(a, b), torch.nn.ReLU()]
    back = [LATENT, *reversed(HIDDEN), 784]
    for i, (a, b) in enumerate(zip(back[:-1], back[1:])):
        dec += [torch.nn.Linear(a, b), torch.nn.Sigmoid() if i == len(back) - 2 else torch.nn.ReLU()]
    return torch.nn.ModuleDict({
        "encoder": torch.nn.Sequential(*enc),
        "mu": torch.nn.Linear(HIDDEN[-1], LATENT),
        "logvar": torch.nn.Linear(HIDDEN[-1], LATENT),
        "decoder": torch.nn.Sequential(*dec),
    })


def forward(model, x, eps):
    """(loss, bce/B, kl/B, mu, logvar, z, x_hat), loss = (BCE sum + KL) / B."""
    h = model["encoder"](x)
    mu, logvar = model["mu"](h), model["logvar"](h)
    z = mu + torch.exp(0.5 * logvar) * eps
    x_hat = model["decoder"](z)
    bce = F.binary_cross_entropy(x_hat, x, reduction="sum") / len(x)
    kl = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / len(x)
    return bce + kl, bce, kl, mu, logvar, z, x_hat


def main():
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    model = build()
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    torch.manual_seed(1)
    eps = torch.randn(BATCH, LATENT)
    x = torch.from_numpy(load_images("t10k")[:BATCH])
    tensors = {"batch": x, "eps": eps}
    tensors.update({f"init.{k}": v for k, v in init.items()})

    model.zero_grad()
    loss, bce, kl, mu, logvar, z, x_hat = forward(model, x, eps)
    mu.retain_grad()
    logvar.retain_grad()
    loss.backward()
    tensors.update({
        "loss": loss.detach().reshape(1),
        "recon": bce.detach().reshape(1),
        "kl": kl.detach().reshape(1),
        "z": z.detach().clone(),
        "x_hat": x_hat.detach().clone(),
        "dmu": mu.grad.detach().clone(),
        "dlogvar": logvar.grad.detach().clone(),
    })
    for k, p in model.named_parameters():
        tensors[f"grad.{k}"] = p.grad.detach().clone()

    model.load_state_dict(init)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(1, 11):
        optimizer.zero_grad()
        forward(model, x, eps)[0].backward()
        optimizer.step()
        if step in (1, 10):
            for k, v in model.state_dict().items():
                tensors[f"step{step}.{k}"] = v.detach().clone()

    OUT.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "generator": "reference/make_vae_fixture.py",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "python": sys.version.split()[0],
        "hidden": ",".join(map(str, HIDDEN)),
        "latent": str(LATENT),
    }
    assert all(v.dtype == torch.float32 for v in tensors.values())
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT), metadata=metadata)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes) with {metadata}")
    print(f"loss {loss.item():.6f} = recon {bce.item():.6f} + kl {kl.item():.6f}")


if __name__ == "__main__":
    main()
