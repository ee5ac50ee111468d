#!/usr/bin/env bash
# Paired A/B timing of two builds' training step (examples/step_throughput.rs):
# runs the two builds PAIRS times side by side (A then B, then B then A, and so
# on, so that a steady drift favours neither), and prints each build's median
# GFLOP/s and the median of the B/A ratios within each pair. The two runs of a
# pair share the machine's state of the moment, so the ratio is steadier than
# either median on a machine whose speed drifts by 10-30% over minutes.
#
# Usage: scripts/ab-step.sh PAIRS BIN_A BIN_B HIDDEN BATCH [STEPS]
# e.g.   git stash; cargo build --release --features examples --example step_throughput
#        cp target/release/examples/step_throughput /tmp/before
#        git stash pop; cargo build --release --features examples --example step_throughput
#        scripts/ab-step.sh 10 /tmp/before target/release/examples/step_throughput 1024,512 256
set -euo pipefail
if [ $# -lt 5 ]; then
  sed -n '2,13p' "$0" >&2
  exit 2
fi
pairs=$1 a=$2 b=$3
shift 3
gflops() { "$1" "${@:2}" | grep -o '[0-9.]* GFLOP/s' | cut -d' ' -f1; }
for i in $(seq "$pairs"); do
  if ((i % 2)); then
    x=$(gflops "$a" "$@"); y=$(gflops "$b" "$@")
  else
    y=$(gflops "$b" "$@"); x=$(gflops "$a" "$@")
  fi
  echo "$x $y"
done | python3 -c '
import statistics, sys
runs = [tuple(map(float, line.split())) for line in sys.stdin]
ratios = [b / a for a, b in runs]
print(f"A: median {statistics.median(a for a, _ in runs):.1f} GFLOP/s")
print(f"B: median {statistics.median(b for _, b in runs):.1f} GFLOP/s")
print(f"B/A: median {statistics.median(ratios):.3f} over {len(runs)} pairs:", " ".join(f"{r:.2f}" for r in ratios))
'
