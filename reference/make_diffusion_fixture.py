"""The latent diffusion prior's ε-network (src/prior/diffusion.rs) in PyTorch
autograd: one DDPM loss at fixed steps t and noise ε, its gradient for every
tensor, and the weights after 10 Adam steps on the same batch.

    python3 reference/make_diffusion_fixture.py   # writes tests/fixtures/torch_diffusion.safetensors

The network: Z = 3, E = 4, hidden widths 6 and 5, SiLU; layer l reads
[A_l, emb(t)] (the activations, then the time embedding), as in the Rust code.
Weights are stored (out, in) as nn.Linear stores them. The cosine schedule's
ᾱ and the embedding's angles are computed in float64 and cast to float32, as
the Rust code does; everything else is float32.
"""

import math

import torch
from safetensors.torch import save_file

T = 1000
Z, E, HIDDEN = 3, 4, [6, 5]
B = 5
FASTEST = 2 * math.pi / 20
SLOWEST = math.pi / 2 / T


def alpha_bar(t):
    f = lambda s: math.cos((s / T + 0.008) / 1.008 * math.pi / 2) ** 2
    product = 1.0
    for s in range(1, t + 1):
        product *= 1.0 - min(1.0 - f(s) / f(s - 1), 0.999)
    return product


def embedding(steps):
    half = E // 2
    rows = []
    for t in steps:
        omegas = [FASTEST * (SLOWEST / FASTEST) ** (k / (max(half, 2) - 1)) for k in range(half)]
        rows.append([math.sin(t * w) for w in omegas] + [math.cos(t * w) for w in omegas])
    return torch.tensor(rows, dtype=torch.float64).float()


def main():
    torch.manual_seed(0)
    widths = [Z] + HIDDEN + [Z]
    layers = [torch.nn.Linear(i + E, o) for i, o in zip(widths[:-1], widths[1:])]
    with torch.no_grad():
        for layer in layers:  # non-trivial biases
            layer.bias.uniform_(-0.5, 0.5)
    x0 = torch.randn(B, Z)
    noise = torch.randn(B, Z)
    steps = [1, 17, 250, 640, 1000]
    signal = torch.tensor([math.sqrt(alpha_bar(t)) for t in steps], dtype=torch.float64).float()
    spread = torch.tensor([math.sqrt(1 - alpha_bar(t)) for t in steps], dtype=torch.float64).float()
    emb = embedding(steps)

    def loss_of():
        a = signal[:, None] * x0 + spread[:, None] * noise  # xₜ
        for l, layer in enumerate(layers):
            z = layer(torch.cat([a, emb], dim=1))
            a = torch.nn.functional.silu(z) if l < len(layers) - 1 else z
        return ((a - noise) ** 2).mean()

    tensors = {
        "x0": x0,
        "noise": noise,
        "steps": torch.tensor(steps, dtype=torch.float32),
    }
    for l, layer in enumerate(layers):
        tensors[f"eps.{l}.weight"] = layer.weight.detach().clone()
        tensors[f"eps.{l}.bias"] = layer.bias.detach().clone()
    loss = loss_of()
    loss.backward()
    tensors["loss"] = loss.detach().reshape(1)
    for l, layer in enumerate(layers):
        tensors[f"grad.eps.{l}.weight"] = layer.weight.grad.clone()
        tensors[f"grad.eps.{l}.bias"] = layer.bias.grad.clone()

    params = [p for layer in layers for p in (layer.weight, layer.bias)]
    adam = torch.optim.Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
    losses = []
    for _ in range(10):
        adam.zero_grad()
        loss = loss_of()
        loss.backward()
        adam.step()
        losses.append(loss.item())
    tensors["adam_losses"] = torch.tensor(losses, dtype=torch.float32)
    for l, layer in enumerate(layers):
        tensors[f"adam.eps.{l}.weight"] = layer.weight.detach().clone()
        tensors[f"adam.eps.{l}.bias"] = layer.bias.detach().clone()
    save_file(
        {k: v.contiguous() for k, v in tensors.items()},
        "tests/fixtures/torch_diffusion.safetensors",
        metadata={"made_by": "reference/make_diffusion_fixture.py", "torch": torch.__version__},
    )
    print(f"loss {tensors['loss'].item():.6f}, after 10 Adam steps {losses[-1]:.6f}")


if __name__ == "__main__":
    main()
