//! Command-line interface and the training configuration.
//!
//! `TrainConfig` is both the clap definition of `train`'s flags (each `///` line
//! is its `--help` text) and the configuration the library runs with; its
//! `Default` is "no flags given", so the defaults live in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::nn::LossKind;

/// Train an MNIST autoencoder written from scratch: hand-written backprop and Adam.
///
/// With no subcommand, `train` runs with the flags given.
#[derive(Debug, Parser)]
#[command(
    name = "mnist-autoencoder",
    version,
    args_conflicts_with_subcommands = true,
    args_override_self = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub train: TrainConfig,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Train a model and write metrics, summary and weights to --out-dir (the default).
    Train(TrainConfig),
    /// Compare every parameter gradient of a freshly initialised network with
    /// centered finite differences; exit non-zero if any tensor FAILs.
    Gradcheck(GradcheckConfig),
    /// Test MSE (overall and per class) of saved weights.
    Eval(EvalConfig),
    /// Decode new digits sampled from a Gaussian fitted to the training codes into a PNG grid.
    Generate(GenerateConfig),
    /// Reconstruct one grayscale PNG digit through a saved model.
    Reconstruct(ReconstructConfig),
}

/// Settings of `eval`.
#[derive(Debug, Clone, Args)]
pub struct EvalConfig {
    /// A model.safetensors or checkpoint.safetensors written by `train`.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// Folder with the IDX files; the t10k files are evaluated.
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    pub data_dir: PathBuf,
}

/// Settings of `generate`.
#[derive(Debug, Clone, Args)]
pub struct GenerateConfig {
    /// A model.safetensors or checkpoint.safetensors written by `train`.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// Number of digits to generate.
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub count: usize,
    /// Output PNG file.
    #[arg(long, value_name = "FILE.png")]
    pub out: PathBuf,
    /// Seed of the sampled noise.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,
    /// Folder with the training images whose codes the Gaussian is fitted to.
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    pub data_dir: PathBuf,
}

/// Settings of `reconstruct`.
#[derive(Debug, Clone, Args)]
pub struct ReconstructConfig {
    /// A model.safetensors or checkpoint.safetensors written by `train`.
    #[arg(long, value_name = "PATH")]
    pub model: PathBuf,
    /// A grayscale (or colour, converted) PNG of the model's image size, 28×28 for MNIST.
    #[arg(long, value_name = "FILE.png")]
    pub input: PathBuf,
    /// Output PNG: the reconstruction, same size and polarity as the input.
    #[arg(long, value_name = "FILE.png")]
    pub out: PathBuf,
}

/// Settings of the `gradcheck` subcommand.
#[derive(Debug, Clone, Args)]
pub struct GradcheckConfig {
    /// Encoder hidden widths, comma-separated; the decoder mirrors them.
    #[arg(long, value_name = "W,W,...", default_value = "512,256", value_parser = parse_hidden)]
    pub hidden: Hidden,

    /// Size of the latent code.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub latent: usize,

    /// Seed for the initial weights and the choice of images.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// Loss whose gradient is checked.
    #[arg(long, value_enum, default_value_t = LossKind::Mse)]
    pub loss: LossKind,

    /// Training images in the batch.
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub batch_size: usize,

    /// Elements checked per tensor, evenly spaced (0 = every element).
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub samples: usize,

    /// Step ε of the centered differences.
    #[arg(long, value_name = "F", default_value_t = 1e-2)]
    pub eps: f32,

    /// Folder with the IDX files the batch is taken from.
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    pub data_dir: PathBuf,
}

/// Everything a training run depends on.
#[derive(Debug, Clone, Args, serde::Serialize, serde::Deserialize)]
pub struct TrainConfig {
    /// Number of passes over the training set.
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub epochs: usize,

    /// Images per mini-batch (the last, partial batch of an epoch is used too).
    #[arg(long, value_name = "N", default_value_t = 128)]
    pub batch_size: usize,

    /// Adam's learning rate.
    #[arg(
        long,
        value_name = "F",
        default_value_t = 1e-3,
        allow_negative_numbers = true
    )]
    pub lr: f32,

    /// Encoder hidden widths, comma-separated, outermost first; the decoder mirrors them.
    #[arg(long, value_name = "W,W,...", default_value = "512,256", value_parser = parse_hidden)]
    pub hidden: Hidden,

    /// Size of the latent code.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub latent: usize,

    /// Reconstruction loss: mean squared error or binary cross-entropy (both mean-reduced).
    #[arg(long, value_enum, default_value_t = LossKind::Mse)]
    pub loss: LossKind,

    /// Seed for initialisation, validation split and shuffling.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub seed: u64,

    /// Worker threads [default: all cores].
    #[arg(long, value_name = "N")]
    pub threads: Option<usize>,

    /// Folder with the four IDX files (train/t10k images/labels, .gz or raw).
    #[arg(long, value_name = "PATH", default_value = "data/mnist")]
    pub data_dir: PathBuf,

    /// Folder for metrics.csv, summary.json, model.safetensors (created if missing).
    #[arg(long, value_name = "PATH", default_value = "output")]
    pub out_dir: PathBuf,

    /// Training images held out (seeded choice) for validation.
    #[arg(long, value_name = "N", default_value_t = 5000)]
    pub val_size: usize,

    /// Use only the first N images of the training file, before the validation split.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,

    /// Continue training from a checkpoint (OUT/checkpoint.safetensors) up to --epochs in total.
    #[arg(long, value_name = "PATH")]
    #[serde(default)]
    pub resume: Option<PathBuf>,

    /// Skip the pictures and report (for benchmarks and tests).
    #[arg(long)]
    pub no_figures: bool,

    /// Draw every Nth epoch in the animations (the untrained model and the last epoch are always drawn).
    #[arg(long, value_name = "N", default_value_t = 1)]
    pub frames_every: usize,

    /// Test images (class-balanced, fixed by the seed) in the latent-space maps.
    #[arg(long, value_name = "N", default_value_t = 2000)]
    pub tsne_points: usize,
}

/// Encoder hidden widths, e.g. `[256, 128]`; parsed from and shown as `256,128`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Hidden(pub Vec<usize>);

impl std::fmt::Display for Hidden {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parts: Vec<String> = self.0.iter().map(|w| w.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// Parses `--hidden`: comma-separated positive integers.
pub fn parse_hidden(text: &str) -> std::result::Result<Hidden, String> {
    let malformed =
        || format!("expected comma-separated positive widths such as 256,128, got '{text}'");
    let widths: Vec<usize> = text
        .split(',')
        .map(|part| part.trim().parse::<usize>().ok().filter(|&w| w > 0))
        .collect::<Option<_>>()
        .ok_or_else(malformed)?;
    Ok(Hidden(widths))
}

impl Default for TrainConfig {
    /// The configuration of a run with no flags.
    fn default() -> Self {
        Cli::parse_from(["mnist-autoencoder"]).train
    }
}

impl TrainConfig {
    /// Checks every value a flag can get wrong; the error names the flag.
    pub fn validate(&self) -> Result<()> {
        let positive = |flag: &'static str, value: usize| {
            if value == 0 {
                Err(Error::bad_flag(flag, "must be at least 1, got 0"))
            } else {
                Ok(())
            }
        };
        positive("--epochs", self.epochs)?;
        positive("--batch-size", self.batch_size)?;
        positive("--latent", self.latent)?;
        if let Some(threads) = self.threads {
            positive("--threads", threads)?;
        }
        if let Some(limit) = self.limit {
            positive("--limit", limit)?;
        }
        positive("--val-size", self.val_size)?;
        positive("--frames-every", self.frames_every)?;
        if self.tsne_points < 10 {
            return Err(Error::bad_flag(
                "--tsne-points",
                format!(
                    "must be at least 10 (one per class), got {}",
                    self.tsne_points
                ),
            ));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(Error::bad_flag(
                "--lr",
                format!("must be a positive finite number, got {}", self.lr),
            ));
        }
        if self.hidden.0.is_empty() || self.hidden.0.contains(&0) {
            return Err(Error::bad_flag(
                "--hidden",
                "widths must be positive integers such as 256,128",
            ));
        }
        Ok(())
    }

    /// The thread count this run uses: `--threads`, or every core.
    pub fn thread_count(&self) -> usize {
        self.threads
            .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hidden_parses_and_refuses_malformed_lists() {
        assert_eq!(parse_hidden("256,128").unwrap(), Hidden(vec![256, 128]));
        assert_eq!(parse_hidden("64").unwrap(), Hidden(vec![64]));
        for bad in ["", "256,", "a,b", "0,5", "-3", "1.5"] {
            assert!(parse_hidden(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn validate_names_the_flag() {
        let cases: Vec<(TrainConfig, &str)> = vec![
            (
                TrainConfig {
                    epochs: 0,
                    ..Default::default()
                },
                "--epochs",
            ),
            (
                TrainConfig {
                    batch_size: 0,
                    ..Default::default()
                },
                "--batch-size",
            ),
            (
                TrainConfig {
                    latent: 0,
                    ..Default::default()
                },
                "--latent",
            ),
            (
                TrainConfig {
                    lr: -1.0,
                    ..Default::default()
                },
                "--lr",
            ),
            (
                TrainConfig {
                    lr: f32::NAN,
                    ..Default::default()
                },
                "--lr",
            ),
            (
                TrainConfig {
                    lr: f32::INFINITY,
                    ..Default::default()
                },
                "--lr",
            ),
            (
                TrainConfig {
                    threads: Some(0),
                    ..Default::default()
                },
                "--threads",
            ),
        ];
        for (config, flag) in cases {
            let message = config.validate().unwrap_err().to_string();
            assert!(message.starts_with(flag), "{message}");
        }
        TrainConfig::default().validate().unwrap();
    }
}
