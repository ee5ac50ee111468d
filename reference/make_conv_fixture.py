"""Writes tests/fixtures/torch_conv.safetensors: PyTorch autograd's answers for
the convolution layers alone (src/nn/conv.rs), for tests/torch_conv.rs.

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
file's bytes differ between runs); 20 KB. Needs torch and safetensors; not run
by CI.

    python3 reference/make_conv_fixture.py
"""
import pathlib

import safetensors
import torch
from safetensors.torch import save_file

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "torch_conv.safetensors"

# name: (kind, in channels, out channels, kernel, stride, padding, output padding, x shape)
CASES = {
    "conv_s2p1": ("conv2d", 3, 4, (3, 3), 2, 1, 0, (2, 3, 9, 8)),
    "conv_s1p0": ("conv2d", 2, 3, (2, 3), 1, 0, 0, (2, 2, 6, 7)),
    "convT_s2p1op1": ("conv_transpose2d", 4, 3, (3, 3), 2, 1, 1, (2, 4, 5, 4)),
    "convT_s1p1": ("conv_transpose2d", 3, 2, (3, 3), 1, 1, 0, (2, 3, 5, 6)),
}


def main():
    torch.manual_seed(0)
    torch.use_deterministic_algorithms(True)
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
    OUT.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(OUT), metadata=metadata)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes) with {metadata}")


if __name__ == "__main__":
    main()
