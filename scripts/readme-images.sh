#!/usr/bin/env bash
# Regenerates the pictures shown in README.md: a default run, then copies of
# five of its figures into docs/images/.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo run --release -- train --out-dir output
mkdir -p docs/images
cp output/losses.png output/reconstructions.gif output/latent_tsne.gif output/samples.png \
  output/code_marginals.png docs/images/
ls -l docs/images/
