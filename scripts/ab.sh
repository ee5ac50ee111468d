#!/usr/bin/env bash
# Interleaved A/B timing of two or more builds of this crate, as used for the
# "what each change bought" rows of docs/PERFORMANCE.md: each round runs every
# binary once, in turn, and prints the images per second of each epoch
# (metrics.csv), one line per binary, in the order run, then its median and range.
#
# Usage: scripts/ab.sh ROUNDS "BIN_A BIN_B ..." -- TRAIN_ARGS...
# e.g.   git stash; cargo build --release; cp target/release/mnist-autoencoder /tmp/before
#        git stash pop; cargo build --release; cp target/release/mnist-autoencoder /tmp/after
#        scripts/ab.sh 3 "/tmp/before /tmp/after" -- --hidden 128,64 --batch-size 128 --lr 1e-3 --epochs 3
set -euo pipefail
rounds=$1
bins=$2
shift 3
out=$(mktemp -d)
for _ in $(seq "$rounds"); do
  for bin in $bins; do
    rm -rf "$out/run"
    if ! "$bin" train "$@" --no-figures --out-dir "$out/run" >"$out/log" 2>&1; then
      echo "ab.sh: $bin failed:" >&2
      tail -n 5 "$out/log" >&2
      exit 1
    fi
    tail -n +2 "$out/run/metrics.csv" | awk -F, -v b="$bin" '{printf "%s %d\n", b, $5}' >>"$out/all"
  done
done
python3 - "$out/all" <<'PY'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    binary, rate = line.split()
    runs.setdefault(binary, []).append(int(rate))
for binary, rates in runs.items():
    print(f"{binary}: {' '.join(map(str, rates))}")
    print(f"  median {statistics.median(rates):,.0f} img/s, range {min(rates):,}-{max(rates):,}")
PY
rm -rf "$out"
