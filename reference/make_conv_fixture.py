"""Writes two fixtures for tests/torch_conv.rs: PyTorch autograd's answers for
the convolution layers alone (src/nn/conv.rs), tests/fixtures/torch_conv.safetensors,
and for the whole convolutional autoencoder, tests/fixtures/torch_conv_model.safetensors.

The layers alone:

Four cases, each one layer on a small batch with fixed random x, weights, bias
and an upstream gradient dy (torch.manual_seed(0)), in float32:

    conv_s2p1       Conv2d(3->4, 3x3, stride 2, padding 1)                  x (2, 3, 9, 8)
    conv_s1p0       Conv2d(2->3, 2x3, stride 1, padding 0)                  x (2, 2, 6, 7)
    convT_s2p1op1   ConvTranspose2d(4->3, 3x3, s2, p1, output_padding 1)    x (2, 4, 5, 4)
    convT_s1p1      ConvTranspose2d(3->2, 3x3, stride 1, padding 1)         x (2, 3, 5, 6)

For each case `{case}.x`, `.weight` (PyTorch's layout: (out, in, kh, kw) for
Conv2d, (in, out, kh, kw) for ConvTranspose2d), `.bias`, `.y` = layer(x), `.dy`,
and the gradients of L = sum(y * dy): `.dx`, `.dweight`, `.dbias`. The metadata
entry `{case}` reads e.g. "conv2d stride=2 padding=1 output_padding=0". Same
seed, same tensors (the header lists the metadata in varying order, so the
file's bytes differ between runs); 20 KB.

The whole model: issue 26's chain with fewer channels so that the file stays
small (about 0.2 MB): Conv2d(1->4, 3x3, s2, p1)-ReLU-Conv2d(4->8, ...)-ReLU-
Flatten-Linear(392->8) | Linear(8->392)-ReLU-Unflatten(8, 7, 7)-
ConvTranspose2d(8->4, 3x3, s2, p1, op1)-ReLU-ConvTranspose2d(4->1, ...)-Sigmoid
on 28x28 images (the real model's geometry: 28 -> 14 -> 7 and back), the
default init under torch.manual_seed(0) with biases drawn from U(-0.2, 0.2) so
that none is zero, a batch of the first 8 MNIST test images, MSE (mean). It
holds `batch`, `init.{layer}.weight/.bias` (PyTorch's layout and names, as
model.safetensors writes them), `reconstruction` (the forward pass), `loss`,
`grad.{layer}.*`, and the weights after 1 and after 10 Adam steps (lr 1e-3,
the same batch each step), `step1.*` and `step10.*`. The metadata gives the
channels and the latent size.

Needs torch, numpy and safetensors; not run by CI.

    python3 reference/make_conv_fixture.py
"""
import pathlib

import numpy as np
import safetensors
import torch
from safetensors.torch import save_file

from common import load_images

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures"
OUT = FIXTURES / "torch_conv.safetensors"
MODEL_OUT = FIXTURES / "torch_conv_model.safetensors"
# The whole model's encoder channels, code size and batch.
CHANNELS, LATENT, BATCH = (4, 8), 8, 8

# name: (kind, in channels, out channels, kernel, stride, padding, output padding, x shape)
CASES = {
    "conv_s2p1": ("conv2d", 3, 4, (3, 3), 2, 1, 0, (2, 3, 9, 8)),
    "conv_s1p0": ("conv2d", 2, 3, (2, 3), 1, 0, 0, (2, 2, 6, 7)),
    "convT_s2p1op1": ("conv_transpose2d", 4, 3, (3, 3), 2, 1, 1, (2, 4, 5, 4)),
    "convT_s1p1": ("conv_transpose2d", 3, 2, (3, 3), 1, 1, 0, (2, 3, 5, 6)),
}


def layers():
    """The four single-layer cases (the first fixture)."""
    torch.manual_seed(0)
    tensors, metadata = {}, {"torch": torch.__version__, "safetensors": safetensors.__version__}
    for name, (kind, cin, cout, kernel, stride, padding, output_padding, x_shape) in CASES.items():
        if kind == "conv2d":
            layer = torch.nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding)
        else:
            layer = torch.nn.ConvTranspose2d(
                cin, cout, kernel, stride=stride, padding=padding, output_padding=output_padding
            )
        with torch.no_grad():
            layer.bias.uniform_(-0.5, 0.5)  # non-zero biases, larger than the default init's
        x = torch.randn(x_shape, requires_grad=True)
        y = layer(x)
        dy = torch.randn(y.shape)
        y.backward(dy)
        tensors.update(
            {
                f"{name}.x": x.detach(),
                f"{name}.weight": layer.weight.detach(),
                f"{name}.bias": layer.bias.detach(),
                f"{name}.y": y.detach(),
                f"{name}.dy": dy,
                f"{name}.dx": x.grad,
                f"{name}.dweight": layer.weight.grad,
                f"{name}.dbias": layer.bias.grad,
            }
        )
        metadata[name] = f"{kind} stride={stride} padding={padding} output_padding={output_padding}"
    write(OUT, tensors, metadata)


def build_model():
    """The reduced-channel conv autoencoder, with our model.safetensors' names."""
    nn = torch.nn
    (c1, c2), side = CHANNELS, 7
    flat = c2 * side * side
    encoder = nn.Sequential(
        nn.Conv2d(1, c1, 3, 2, 1), nn.ReLU(), nn.Conv2d(c1, c2, 3, 2, 1), nn.ReLU(),
        nn.Flatten(), nn.Linear(flat, LATENT),
    )
    decoder = nn.Sequential(
        nn.Linear(LATENT, flat), nn.ReLU(), nn.Unflatten(1, (c2, side, side)),
        nn.ConvTranspose2d(c2, c1, 3, 2, 1, output_padding=1), nn.ReLU(),
        nn.ConvTranspose2d(c1, 1, 3, 2, 1, output_padding=1), nn.Sigmoid(),
    )
    return nn.ModuleDict({"encoder": encoder, "decoder": decoder})


def reconstruct(model, x):
    return model["decoder"](model["encoder"](x.view(-1, 1, 28, 28))).view(-1, 784)


def whole_model():
    """Forward, every gradient and 10 Adam steps of the whole model (the second fixture)."""
    torch.manual_seed(0)
    model = build_model()
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.uniform_(-0.2, 0.2)
    init = {k: v.detach().clone() for k, v in model.state_dict().items()}
    x = torch.from_numpy(load_images("t10k")[:BATCH])
    tensors = {"batch": x}
    tensors.update({f"init.{k}": v for k, v in init.items()})
    loss_fn = torch.nn.MSELoss()
    x_hat = reconstruct(model, x)
    loss = loss_fn(x_hat, x)
    loss.backward()
    tensors["reconstruction"] = x_hat.detach()
    tensors["loss"] = loss.detach().reshape(1)
    for k, p in model.named_parameters():
        tensors[f"grad.{k}"] = p.grad.detach().clone()
    model.load_state_dict(init)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    for step in range(1, 11):
        optimizer.zero_grad()
        loss_fn(reconstruct(model, x), x).backward()
        optimizer.step()
        if step in (1, 10):
            for k, v in model.state_dict().items():
                tensors[f"step{step}.{k}"] = v.detach().clone()
    metadata = {
        "generator": "reference/make_conv_fixture.py",
        "torch": torch.__version__,
        "numpy": np.__version__,
        "safetensors": safetensors.__version__,
        "channels": ",".join(map(str, CHANNELS)),
        "latent": str(LATENT),
    }
    write(MODEL_OUT, tensors, metadata)


def write(path, tensors, metadata):
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata=metadata)
    print(f"wrote {path} ({path.stat().st_size} bytes) with {metadata}")


def main():
    torch.use_deterministic_algorithms(True)
    layers()
    whole_model()


if __name__ == "__main__":
    main()
