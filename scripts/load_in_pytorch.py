"""Loads a model.safetensors written by this tool into plain PyTorch modules and
prints its test MSE, to show the weights are PyTorch's layout (not run by CI).

    python3 scripts/load_in_pytorch.py output/model.safetensors

Needs torch and safetensors (pip install torch safetensors). The architecture is
read from the file's metadata; the tensors load with `load_state_dict` as they are.
"""
import gzip
import json
import pathlib
import sys

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import load_file


def sequential(widths, start, stop, last):
    """nn.Sequential of Linear layers widths[start..stop], ReLU between, `last` after."""
    layers = []
    for i in range(start, stop):
        layers.append(torch.nn.Linear(widths[i], widths[i + 1]))
        layers.append(last if i == stop - 1 else torch.nn.ReLU())
    return torch.nn.Sequential(*layers[:-1] if last is None else layers)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "output/model.safetensors"
    with safe_open(path, framework="pt") as f:
        meta = f.metadata()
    widths = [int(w) for w in meta["architecture"].split("-")]
    encoder_layers = len(widths) // 2
    model = torch.nn.ModuleDict({
        "encoder": sequential(widths, 0, encoder_layers, None),
        "decoder": sequential(widths, encoder_layers, len(widths) - 1, torch.nn.Sigmoid()),
    })
    state = load_file(path)
    model.load_state_dict({k: v for k, v in state.items() if not k.startswith(("adam.", "snapshot."))})
    data = pathlib.Path(__file__).resolve().parent.parent / "data" / "mnist" / "t10k-images-idx3-ubyte.gz"
    raw = gzip.open(data).read()
    x = torch.from_numpy(np.frombuffer(raw, np.uint8, offset=16).reshape(-1, widths[0]).astype(np.float32) / 255)
    with torch.no_grad():
        mse = torch.nn.functional.mse_loss(model["decoder"](model["encoder"](x)), x).item()
    print(json.dumps({"model": path, "architecture": meta["architecture"], "torch": torch.__version__, "test_mse": round(mse, 6)}))
    print(model)


if __name__ == "__main__":
    main()
