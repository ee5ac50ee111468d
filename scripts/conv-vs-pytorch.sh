#!/usr/bin/env bash
# Issue 26's speed line, side by side: training images per second of the conv
# autoencoder (or its VAE) here and in PyTorch (reference/conv_pytorch.py), the
# same model, batch 128, Adam 1e-3, 2 threads, interleaved round by round so
# that both see the same machine. Prints each epoch's images/s and the medians.
# Run it on a quiet machine, from the project's root, after `cargo build --release`.
#
# Usage: scripts/conv-vs-pytorch.sh [ROUNDS] [ae|vae] [EPOCHS]   (defaults: 3 ae 1)
set -euo pipefail
rounds=${1:-3}
model=${2:-ae}
epochs=${3:-1}
bin=target/release/mnist-autoencoder
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
lscpu | grep -E "^Model name" || true
for round in $(seq "$rounds"); do
  rm -rf "$out/run"
  "$bin" train --arch conv --model "$model" --epochs "$epochs" --lr 1e-3 --threads 2 \
    --no-figures --no-prior --out-dir "$out/run" >"$out/ours.log" 2>&1
  tail -n +2 "$out/run/metrics.csv" | awk -F, -v r="$round" '{printf "round %d ours    %d images/s\n", r, $NF}' | tee -a "$out/all"
  (cd reference && python3 conv_pytorch.py --model "$model" --epochs "$epochs" --threads 2) >"$out/torch.log" 2>&1
  grep -oE "\(([0-9]+) images/s\)" "$out/torch.log" | tr -d '()' | awk -v r="$round" '{printf "round %d pytorch %d images/s\n", r, $1}' | tee -a "$out/all"
done
python3 - "$out/all" <<'PY'
import statistics, sys
rates = {}
for line in open(sys.argv[1]):
    _, _, who, rate, _ = line.split()
    rates.setdefault(who, []).append(int(rate))
for who, r in rates.items():
    print(f"{who:8} median {statistics.median(r):.0f} images/s  (range {min(r)}-{max(r)}, {len(r)} epochs)")
if len(rates) == 2:
    print(f"ours / pytorch = {statistics.median(rates['ours']) / statistics.median(rates['pytorch']):.2f}")
PY
