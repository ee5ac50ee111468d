"""Writes tests/fixtures/torch_reference.safetensors: PyTorch autograd's answers
for a small autoencoder of this project's kind, for tests/torch_reference.rs.

Model 784-32-8-32-784 (ReLU, linear latent, sigmoid output), nn.Linear's default
init under torch.manual_seed(0), a batch of the first 16 MNIST test images.
For MSE and BCE (both mean-reduced): the loss, every parameter's gradient, and
the weights after 1 and after 10 Adam steps (lr 1e-3, same batch each step).
The fixture is small (about 1.5 MB) and reproducible: same seed, same numbers.
Needs torch, numpy and safetensors; not run by CI.

    python3 reference/make_fixture.py
"""
import pathlib
import sys

import numpy as np
import safetensors
import torch
from safetensors.torch import save_file

from common import load_images, widths

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch_reference.safetensors"
HIDDEN, LATENT, BATCH = [32], 8, 16


def build():
    w = widths(HIDDEN, LATENT)
    enc, dec = [], []
    n_enc = len(HIDDEN) + 1
    for i, (a, b) in enumerate(zip(w[:-1], w[1:])):
        target = enc if i < n_enc else dec
        target.append(torch.nn.Linear(a, b))
        if i == len(w) - 2:
            target.append(torch.nn.Sigmoid())
        elif i != n_enc - 1:
            target.append(torch.nn.ReLU())
    return torch.nn.ModuleDict({"encoder": torch.nn.Sequential(*enc), "decoder": torch.nn.Sequential(*dec)})


def forward(model, x):
    return model["decoder"](model["encoder"](x))


def main():
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
    model = build()
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    x = torch.from_numpy(load_images("t10k")[:BATCH])
    tensors = {"batch": x}
    tensors.update({f"init.{k}": v for k, v in init.items()})
    losses = {"mse": torch.nn.MSELoss(), "bce": torch.nn.BCELoss()}
    for name, loss_fn in losses.items():
        model.load_state_dict(init)
        model.zero_grad()
        loss = loss_fn(forward(model, x), x)
        loss.backward()
        tensors[f"{name}.loss"] = loss.detach().reshape(1)
        for k, p in model.named_parameters():
            tensors[f"{name}.grad.{k}"] = p.grad.detach().clone()
        model.load_state_dict(init)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        for step in range(1, 11):
            optimizer.zero_grad()
            loss_fn(forward(model, x), x).backward()
            optimizer.step()
            if step in (1, 10):
                for k, v in model.state_dict().items():
                    tensors[f"{name}.step{step}.{k}"] = v.detach().clone()
    OUT.parent.mkdir(parents=True, exist_ok=True)
    metadata = {
        "generator": "reference/make_fixture.py",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "python": sys.version.split()[0],
        "hidden": ",".join(map(str, HIDDEN)),
        "latent": str(LATENT),
    }
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT), metadata=metadata)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes) with {metadata}")


if __name__ == "__main__":
    main()
