//! The β sweep's table and figure (docs/WALKTHROUGH.md §10), from the
//! summary.json of each run that scripts/beta-sweep.sh made:
//!
//! ```text
//! beta_sweep FIGURE.png RUN_DIR...      (one run directory per β, any order)
//! ```
//! Prints a markdown table (β, test reconstruction and KL, negative ELBO,
//! active units, the judge's score and confident share of z ~ N(0, I)
//! samples) and draws FIGURE.png with the crate's own plotting code.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mnist_autoencoder::viz::sweep::{draw_sweep, Panel};
use serde_json::Value;

/// What the table and the figure take from one run's summary.json.
struct Row {
    beta: f64,
    recon: f64,
    kl: f64,
    neg_elbo: f64,
    active_units: f64,
    latent: f64,
    score: f64,
    confident: f64,
    fd: f64,
}

fn number(summary: &Value, pointer: &str, file: &Path) -> Result<f64, String> {
    summary
        .pointer(pointer)
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("{}: no number at {pointer}", file.display()))
}

fn read_row(dir: &Path) -> Result<Row, String> {
    let file = dir.join("summary.json");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let s: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let n = |pointer: &str| number(&s, pointer, &file);
    Ok(Row {
        beta: n("/config/beta")?,
        recon: n("/test_recon")?,
        kl: n("/test_kl")?,
        neg_elbo: n("/test_neg_elbo")?,
        active_units: n("/code_usage/active_units")?,
        latent: n("/config/latent")?,
        score: n("/judge/vae_normal/score")?,
        confident: n("/judge/vae_normal/confident")?,
        fd: n("/judge/vae_normal/fd")?,
    })
}

fn run(figure: &Path, dirs: &[PathBuf]) -> Result<(), String> {
    let mut rows = dirs
        .iter()
        .map(|d| read_row(d))
        .collect::<Result<Vec<_>, _>>()?;
    rows.sort_by(|a, b| a.beta.total_cmp(&b.beta));
    println!("| β | test reconstruction (nats) | test KL (nats) | test negative ELBO | active units | judge score, z ~ N(0, I) | confident | fd |");
    println!("|---|---|---|---|---|---|---|---|");
    for r in &rows {
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {} of {} | {:.2} | {:.3} | {:.1} |",
            r.beta, r.recon, r.kl, r.neg_elbo, r.active_units, r.latent, r.score, r.confident, r.fd
        );
    }
    let column = |f: fn(&Row) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let panels = [
        Panel {
            name: "reconstruction (nats)".into(),
            values: column(|r| r.recon),
        },
        Panel {
            name: "KL (nats)".into(),
            values: column(|r| r.kl),
        },
        Panel {
            name: "active units".into(),
            values: column(|r| r.active_units),
        },
        Panel {
            name: "judge score of N(0, I) samples".into(),
            values: column(|r| r.score),
        },
    ];
    let title = "β-VAE 784-400-20, test set: reconstruction + β·KL";
    draw_sweep(figure, title, "β", &column(|r| r.beta), &panels).map_err(|e| e.to_string())?;
    println!("-> {}", figure.display());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let Some((figure, dirs)) = args.split_first().filter(|(_, d)| !d.is_empty()) else {
        eprintln!("usage: beta_sweep FIGURE.png RUN_DIR...");
        return ExitCode::FAILURE;
    };
    match run(figure, dirs) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
