#!/usr/bin/env bash
# The β sweep of docs/WALKTHROUGH.md §10: the 400-20 VAE of the README
# (`train --model vae --hidden 400 --latent 20 --epochs 10 --lr 1e-3`) trained
# with the KL term weighted by β = 0.5, 1, 2, 4, 8, one run after another,
# each into OUT/beta-B; then the table and docs/images/beta_sweep.png from the
# five summary.json files (examples/beta_sweep.rs), and the β = 4 run's
# kl_per_dimension.png copied to docs/images/.
#
#   scripts/beta-sweep.sh [OUT] [extra train flags...]
#
# OUT defaults to output/beta-sweep. No prior is fitted (--no-prior): the
# judge scores the VAE's own samples, z ~ N(0, I). Extra flags go to every run
# (the test in tests/walkthrough.rs passes a tiny model and --limit).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-output/beta-sweep}
shift || true
betas=${BETAS:-"0.5 1 2 4 8"}
cargo build --release --quiet --bin mnist-autoencoder --features examples --example beta_sweep
for beta in $betas; do
    started=$(date +%s)
    ./target/release/mnist-autoencoder train --model vae --hidden 400 --latent 20 \
        --epochs 10 --lr 1e-3 --beta "$beta" --no-prior --out-dir "$out/beta-$beta" "$@"
    echo "beta $beta: $(( $(date +%s) - started )) s wall"
done
dirs=()
for beta in $betas; do dirs+=("$out/beta-$beta"); done
./target/release/examples/beta_sweep "${FIGURE:-docs/images/beta_sweep.png}" "${dirs[@]}"
if [ -f "$out/beta-4/kl_per_dimension.png" ]; then
    cp "$out/beta-4/kl_per_dimension.png" "${KL_FIGURE:-docs/images/kl_per_dimension.png}"
fi
