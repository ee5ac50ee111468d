#!/usr/bin/env bash
# Measures seconds per training epoch (evaluation excluded) of the two reference
# models on 1 and 2 threads, and the peak resident memory of each run, as used
# in docs/PERFORMANCE.md. Usage: scripts/perf-table.sh [EPOCHS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${1:-3}
runs=${2:-2}
cargo build --release --quiet
bin=target/release/mnist-autoencoder
out=$(mktemp -d)
printf 'model\tthreads\truns\tepochs\tmin_s\tmedian_s\tmax_s\tpeak_rss_mb\ttest_mse\n'
for model in "small:128,64:128" "wide:1024,512:256" "default:384,192:128"; do
  IFS=: read -r name hidden batch <<<"$model"
  for threads in 1 2; do
    seconds=()
    rss=0
    for run in $(seq "$runs"); do
      /usr/bin/time -f '%M' -o "$out/rss" "$bin" train --hidden "$hidden" --latent 32 --batch-size "$batch" --lr 1e-3 \
        --epochs "$epochs" --threads "$threads" --no-figures --out-dir "$out/run" >/dev/null
      rss=$(( $(cat "$out/rss") > rss ? $(cat "$out/rss") : rss ))
      while IFS=, read -r _ _ _ s _; do seconds+=("$s"); done < <(tail -n +2 "$out/run/metrics.csv")
    done
    mse=$(grep '"test_mse"' "$out/run/summary.json" | tr -dc '0-9.')
    printf '%s\n' "${seconds[@]}" | sort -g | awk -v n="$name" -v t="$threads" -v r="$runs" -v e="$epochs" -v m="$rss" -v mse="$mse" \
      '{a[NR]=$1} END {med = (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%s\t%d\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.0f\t%s\n", n, t, r, e, a[1], med, a[NR], m/1024, mse}'
  done
done
rm -rf "$out"
