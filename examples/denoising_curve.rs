//! The denoising figure of docs/WALKTHROUGH.md §10, from the runs that
//! scripts/denoising-curve.sh made (one per training noise level):
//!
//! ```text
//! denoising_curve FIGURE.png RUN_DIR...     (each with model.safetensors and summary.json)
//! ```
//! Measures every model's test MSE at input noise σ = 0, 0.1, …, 0.8 with
//! `train::denoising_mse` (what `eval --noise σ` prints, seed 0), and the noisy
//! input's own MSE; prints a markdown table and draws FIGURE.png with the
//! crate's plotting code. The test images are DATA_DIR's (default data/mnist).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use mnist_autoencoder::checkpoint::load_model;
use mnist_autoencoder::data::mnist::load_split;
use mnist_autoencoder::train::denoising_mse;
use mnist_autoencoder::viz::curves::{draw_curves, Curve};
use serde_json::Value;

/// The input noise levels measured (σ).
const LEVELS: [f32; 9] = [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8];

/// The noise level a run was trained at, from its summary.json.
fn training_noise(dir: &Path) -> Result<f64, String> {
    let file = dir.join("summary.json");
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let summary: Value =
        serde_json::from_str(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    summary
        .pointer("/config/noise")
        .and_then(Value::as_f64)
        .ok_or_else(|| format!("{}: no number at /config/noise", file.display()))
}

fn row(name: &str, values: &[f64]) {
    let cells: Vec<String> = values.iter().map(|v| format!("{v:.6}")).collect();
    println!("| {name} | {} |", cells.join(" | "));
}

fn run(figure: &Path, dirs: &[PathBuf]) -> Result<(), String> {
    let data_dir = std::env::var("DATA_DIR").unwrap_or_else(|_| "data/mnist".into());
    let test = load_split(data_dir.as_ref(), "t10k").map_err(|e| e.to_string())?;
    let mut runs = dirs
        .iter()
        .map(|d| Ok((training_noise(d)?, d)))
        .collect::<Result<Vec<_>, String>>()?;
    runs.sort_by(|a, b| a.0.total_cmp(&b.0));
    let header: Vec<String> = LEVELS.iter().map(|s| format!("σ {s}")).collect();
    println!("| test MSE at input noise | {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(LEVELS.len()));
    let mut curves = Vec::new();
    let mut nothing = Vec::new();
    for (noise, dir) in &runs {
        let (params, arch) =
            load_model(&dir.join("model.safetensors")).map_err(|e| e.to_string())?;
        let measured: Vec<_> = LEVELS
            .iter()
            .map(|&s| denoising_mse(&params, &arch, &test, s, 0))
            .collect();
        nothing = measured.iter().map(|m| m.input_mse).collect();
        let values: Vec<f64> = measured.iter().map(|m| m.mse).collect();
        let name = format!("trained at σ {noise}");
        row(&name, &values);
        curves.push(Curve {
            name,
            values,
            reference: false,
        });
    }
    row("the noisy input itself (no model)", &nothing);
    curves.push(Curve {
        name: "the noisy input itself".into(),
        values: nothing, // 0 at σ = 0: not drawn on the log axis
        reference: true,
    });
    let title = format!(
        "Denoising: test MSE against the clean digits ({} images)",
        test.len()
    );
    let axes = ("noise σ added to the test inputs", "test MSE (log scale)");
    let levels: Vec<f64> = LEVELS.iter().map(|&s| f64::from(s)).collect();
    draw_curves(figure, &title, axes, &levels, &curves).map_err(|e| e.to_string())?;
    println!("-> {}", figure.display());
    Ok(())
}

fn main() -> ExitCode {
    let args: Vec<PathBuf> = std::env::args_os().skip(1).map(PathBuf::from).collect();
    let Some((figure, dirs)) = args.split_first().filter(|(_, d)| !d.is_empty()) else {
        eprintln!("usage: denoising_curve FIGURE.png RUN_DIR...");
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
