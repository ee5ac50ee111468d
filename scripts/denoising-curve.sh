#!/usr/bin/env bash
# The denoising figure of docs/WALKTHROUGH.md §10: the default model trained
# with input noise σ = 0, 0.2, 0.4 and 0.6 (`train --noise F`), one run after
# another, each into OUT/train-F (a run whose summary.json exists is kept);
# then every model's test MSE at σ = 0, 0.1, …, 0.8, printed as a table and
# drawn to docs/images/denoising_curve.png (examples/denoising_curve.rs, the
# same measurement as `eval --noise σ`), and the σ 0.4 run's denoising.png
# (noisy test digits, the output, the originals) copied to docs/images/.
#
#   scripts/denoising-curve.sh [OUT] [extra train flags...]
#
# OUT defaults to output/noise. No prior is fitted (--no-prior). Extra flags
# go to every run (the test in tests/walkthrough.rs checks them with --help).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-output/noise}
shift || true
levels=${LEVELS:-"0 0.2 0.4 0.6"}
cargo build --release --quiet --bin mnist-autoencoder --features examples --example denoising_curve
dirs=()
for noise in $levels; do
    dirs+=("$out/train-$noise")
    if [ -f "$out/train-$noise/summary.json" ]; then continue; fi
    started=$(date +%s)
    ./target/release/mnist-autoencoder train --noise "$noise" --no-prior \
        --out-dir "$out/train-$noise" "$@"
    echo "noise $noise: $(( $(date +%s) - started )) s wall"
done
./target/release/examples/denoising_curve "${FIGURE:-docs/images/denoising_curve.png}" "${dirs[@]}"
if [ -f "$out/train-0.4/denoising.png" ]; then
    cp "$out/train-0.4/denoising.png" "${DIGITS_FIGURE:-docs/images/denoising.png}"
fi
