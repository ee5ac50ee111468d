"""This crate against PyTorch and JAX, interleaved in one window, in images per second.

Each of --rounds rounds runs, back to back and in this order: this crate's release
binary (`train ... --no-figures`, per-epoch `seconds` from metrics.csv),
bench_pytorch.py, bench_jax.py (under `taskset -c 0..threads-1`, the only way it
restricts threads; it runs --epochs + 1 epochs and its first, compilation, is
dropped), and with --gemm bench_gemm_numpy.py (OPENBLAS_CORETYPE and
OPENBLAS_L2_SIZE removed from that child's environment only). Interleaving spreads
the drift of these shared machines over every implementation alike. Every epoch
becomes one img/s figure (training images / epoch seconds); the table gives best,
median and min per implementation, ours over the best peer, and GFLOP/s by the
3 × 2 × Σ(in·out) × images / seconds convention of docs/PERFORMANCE.md (with
--gemm, also as a percentage of numpy's 1024³ GEMM). Build first
(`cargo build --release`); not run by CI.

    python3 reference/compare.py --model wide --rounds 2 --epochs 3 --gemm --json /tmp/wide.json
    python3 reference/compare.py --model small --only ours,pytorch   # skip some
"""
import argparse
import csv
import datetime
import json
import os
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile

from common import widths

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODELS = {"small": ((128, 64), 128), "default": ((384, 192), 128), "wide": ((1024, 512), 256)}
LATENT = 32
PEERS = ("pytorch", "jax")


def run(cmd, env=None):
    """stdout of cmd run from the repository root; exits with its stderr if it fails."""
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return proc.stdout


def last_json(stdout):
    """The JSON object on the last non-empty line the reference scripts print."""
    return json.loads([line for line in stdout.splitlines() if line.strip()][-1])


def run_ours(args, hidden, batch):
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "run"
        run([args.bin, "train", "--hidden", ",".join(map(str, hidden)), "--latent", str(LATENT),
             "--batch-size", str(batch), "--epochs", str(args.epochs), "--threads", str(args.threads),
             "--lr", "1e-3", "--no-figures", "--out-dir", out])  # the peers' Adam 1e-3
        with open(out / "metrics.csv", newline="") as f:
            seconds = [float(row["seconds"]) for row in csv.DictReader(f)]
        summary = json.loads((out / "summary.json").read_text())
    return {"epoch_seconds": seconds, "images": summary["train_images"], "test_mse": summary["test_mse"]}


def run_peer(name, args, hidden, batch):
    h = ",".join(map(str, hidden))
    if name == "pytorch":
        cmd = [sys.executable, "reference/bench_pytorch.py", "--hidden", h, "--batch-size", str(batch),
               "--epochs", str(args.epochs), "--threads", str(args.threads)]
    else:
        cmd = ["taskset", "-c", f"0-{args.threads - 1}", sys.executable, "reference/bench_jax.py",
               "--hidden", h, "--batch-size", str(batch), "--epochs", str(args.epochs + 1)]
    raw = last_json(run(cmd))
    seconds = raw["seconds_per_epoch"][1:] if name == "jax" else raw["seconds_per_epoch"]
    return {"epoch_seconds": seconds, "images": raw["images"], "test_mse": raw["test_mse_after"], "raw": raw}


def run_gemm(args):
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")}
    return last_json(run([sys.executable, "reference/bench_gemm_numpy.py", "--threads", str(args.threads)], env))


def cpu():
    """lscpu's model name and the AVX2/FMA/AVX-512 flags this CPU reports."""
    text = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    name = re.search(r"^Model name:\s*(.+)$", text, re.M)
    flags = re.search(r"^Flags:\s*(.+)$", text, re.M)
    flags = flags.group(1).split() if flags else []
    return {"model_name": name.group(1).strip() if name else "?",
            "flags": sorted(f for f in flags if f in ("avx2", "fma") or f.startswith("avx512"))}


def stats(runs, flop_per_image):
    ips = [r["images"] / s for r in runs for s in r["epoch_seconds"]]
    best, median, low = max(ips), statistics.median(ips), min(ips)
    return {"best": best, "median": median, "min": low, "epochs": len(ips),
            "gflops_best": best * flop_per_image / 1e9, "gflops_median": median * flop_per_image / 1e9,
            "test_mse": statistics.median(r["test_mse"] for r in runs)}


def target_verdict(model, ours, peers, g_best, g_median):
    """Issue 9's targets for this window, for the best epochs and for the medians,
    in GFLOP/s. Small: ours ≥ 1.3 · peer. Wide (only with --gemm):
    ours ≥ min(1.15 · peer, 0.9 · GEMM) and ours ≥ 0.8 · GEMM, where peer is the
    best peer and GEMM numpy's 1024³ figure. None for other models."""
    lines, met = [], {}
    for stat, gemm in (("best", g_best), ("median", g_median)):
        mine = ours["gflops_" + stat]
        peer = max(p["gflops_" + stat] for p in peers.values())
        if model == "small":
            met[stat] = mine >= 1.3 * peer
            lines.append(f"{stat}: {mine / peer:.2f}× the best peer, target 1.30×: {'met' if met[stat] else 'not met'}")
        elif model == "wide" and gemm:
            need = min(1.15 * peer, 0.9 * gemm)
            met[stat] = mine >= need and mine >= 0.8 * gemm
            rule = "1.15× the best peer" if need < 0.9 * gemm else "90% of the GEMM (1.15× the best peer needs more)"
            lines.append(f"{stat}: {mine:.1f} GFLOP/s, {100 * mine / gemm:.0f}% of the GEMM; needs {need:.1f} "
                         f"({rule}) and {0.8 * gemm:.1f} (80%): {'met' if met[stat] else 'not met'}")
    if not lines:
        return None
    title = "target 1 (small ≥ 1.3× best peer)" if model == "small" else "target 2 (wide)"
    return {"met": met, "text": f"{title}, issue 9:\n  " + "\n  ".join(lines)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", choices=MODELS, default="small")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per run (JAX runs one more)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--gemm", action="store_true", help="also bench_gemm_numpy.py once per round")
    parser.add_argument("--only", default="ours,pytorch,jax", help="comma-separated subset to run")
    parser.add_argument("--bin", default=str(ROOT / "target/release/mnist-autoencoder"))
    parser.add_argument("--json", help="write the raw results here")
    args = parser.parse_args()
    hidden, batch = MODELS[args.model]
    w = widths(list(hidden), LATENT)
    flop_per_image = 3 * 2 * sum(a * b for a, b in zip(w[:-1], w[1:]))
    impls = [i for i in ("ours", *PEERS) if i in args.only.split(",")]
    runs, gemm = {i: [] for i in impls}, []
    for r in range(args.rounds):
        for impl in impls:
            print(f"round {r + 1}/{args.rounds}: {impl}", file=sys.stderr, flush=True)
            runs[impl].append(run_ours(args, hidden, batch) if impl == "ours" else run_peer(impl, args, hidden, batch))
        if args.gemm:
            print(f"round {r + 1}/{args.rounds}: numpy GEMM", file=sys.stderr, flush=True)
            gemm.append(run_gemm(args))
    summary = {i: stats(runs[i], flop_per_image) for i in impls}
    machine, date = cpu(), datetime.datetime.now().astimezone().isoformat(timespec="seconds")

    print(f"{date}; CPU: {machine['model_name']}, flags: {' '.join(machine['flags']) or 'none of avx2/fma/avx512'}; "
          f"{args.threads} threads")
    print(f"model {args.model}: {'-'.join(map(str, w))}, batch {batch}, {flop_per_image / 1e6:.2f} MFLOP per image "
          f"(3 × 2 × Σ in·out); {args.rounds} rounds × {args.epochs} epochs, interleaved\n")
    g_best = max(g["gflops_best"] for g in gemm) if gemm else None
    g_median = statistics.median(g["gflops_median"] for g in gemm) if gemm else None
    pct = " | % of GEMM (best / median)" if gemm else ""
    print(f"| implementation | best img/s | median img/s | min img/s | epochs | GFLOP/s (best / median){pct} | test MSE |")
    print("|---|---|---|---|---|---|" + ("---|" if gemm else "") + "---|")
    names = {"ours": "this crate", **{p: runs[p][0]["raw"]["framework"] for p in PEERS if p in impls}}
    for i, s in summary.items():
        cells = [names[i], f"{s['best']:,.0f}", f"{s['median']:,.0f}", f"{s['min']:,.0f}", str(s["epochs"]),
                 f"{s['gflops_best']:.1f} / {s['gflops_median']:.1f}"]
        if gemm:
            cells.append(f"{100 * s['gflops_best'] / g_best:.0f}% / {100 * s['gflops_median'] / g_median:.0f}%")
        print("| " + " | ".join(cells + [f"{s['test_mse']:.4f}"]) + " |")
    if gemm:
        blas = gemm[0]["blas"][0] if gemm[0]["blas"] else {}
        print(f"| numpy GEMM 1024³ f32 ({blas.get('internal_api')} {blas.get('version')}, kernel "
              f"{blas.get('architecture')}, {blas.get('num_threads')} threads) | | | | "
              f"{sum(g['reps'] for g in gemm)} products | {g_best:.1f} / {g_median:.1f} | 100% | |")

    peers = {p: summary[p] for p in PEERS if p in summary}
    ratios = {}
    if "ours" in summary and peers:
        ours = summary["ours"]
        top_best = max(peers, key=lambda p: peers[p]["best"])
        top_median = max(peers, key=lambda p: peers[p]["median"])
        ratios = {"best": ours["best"] / peers[top_best]["best"], "best_peer_best": top_best,
                  "median": ours["median"] / peers[top_median]["median"], "best_peer_median": top_median}
        print(f"\nthis crate / best peer: best {ratios['best']:.2f}× ({names[top_best]}), "
              f"median {ratios['median']:.2f}× ({names[top_median]})")
        verdict = target_verdict(args.model, ours, peers, g_best, g_median)
        if verdict:
            ratios["verdict"] = verdict
            print(verdict["text"])

    if args.json:
        pathlib.Path(args.json).write_text(json.dumps({
            "date": date, "cpu": machine, "model": args.model, "widths": w, "batch_size": batch,
            "threads": args.threads, "rounds": args.rounds, "epochs": args.epochs,
            "flop_per_image": flop_per_image, "runs": runs, "gemm": gemm, "summary": summary, "ratios": ratios,
        }, indent=1) + "\n")


if __name__ == "__main__":
    main()
