//! What a run measured: one record per epoch (metrics.csv, the report's table)
//! and the run's summary (summary.json). Formatting lives here, once.

use crate::code_usage::CodeUsage;
use crate::config::TrainConfig;

/// What one epoch did. Losses are in the training loss's units: MSE or BCE
/// (means over pixels), or for a VAE nats per image.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    /// Training time of the epoch (evaluation excluded).
    pub seconds: f64,
    pub images_per_second: f64,
    /// A VAE's two terms (reconstruction, KL) on the training and validation sets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub elbo_parts: Option<ElboParts>,
}

/// The negative ELBO's two terms, nats per image.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ElboParts {
    pub train_recon: f64,
    pub train_kl: f64,
    pub val_recon: f64,
    pub val_kl: f64,
}

/// The columns of metrics.csv and of the report's table: a header and one row
/// of formatted cells per epoch (a VAE adds its four ELBO columns).
pub fn metrics_table(history: &[EpochRecord]) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let vae = history.iter().any(|r| r.elbo_parts.is_some());
    let mut header = vec!["epoch", "train_loss", "val_loss"];
    if vae {
        header.extend(["train_recon", "train_kl", "val_recon", "val_kl"]);
    }
    header.extend(["seconds", "images_per_second"]);
    let rows = history
        .iter()
        .map(|r| {
            let mut row = vec![
                r.epoch.to_string(),
                format!("{:.8}", r.train_loss),
                format!("{:.8}", r.val_loss),
            ];
            if let Some(p) = r.elbo_parts.filter(|_| vae) {
                for value in [p.train_recon, p.train_kl, p.val_recon, p.val_kl] {
                    row.push(format!("{value:.6}"));
                }
            }
            row.push(format!("{:.4}", r.seconds));
            row.push(format!("{:.1}", r.images_per_second));
            row
        })
        .collect();
    (header, rows)
}

/// `metrics.csv`: one row per epoch.
pub fn metrics_csv(history: &[EpochRecord]) -> String {
    let (header, rows) = metrics_table(history);
    let mut csv = header.join(",") + "\n";
    for row in rows {
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    csv
}

/// The one line printed after each epoch.
pub fn epoch_line(r: &EpochRecord, epochs: usize) -> String {
    let parts = r.elbo_parts.map_or(String::new(), |p| {
        format!(
            "  (recon {:.2} + KL {:.2}; val {:.2} + {:.2})",
            p.train_recon, p.train_kl, p.val_recon, p.val_kl
        )
    });
    format!(
        "epoch {:>3}/{epochs}  train_loss {:.6}  val_loss {:.6}{parts}  {:.2} s  {:.0} img/s",
        r.epoch, r.train_loss, r.val_loss, r.seconds, r.images_per_second
    )
}

/// The contents of `summary.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Mean squared error of the final model's reconstructions on the test set
    /// (t10k); through z = μ for a VAE.
    pub test_mse: f64,
    /// Test loss in the training loss (equal to test_mse for MSE).
    pub test_loss: f64,
    /// A VAE's test negative ELBO (reconstruction + KL, ε sampled), nats per
    /// image, whatever `--beta` weighted the KL term with in training.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_neg_elbo: Option<f64>,
    /// A VAE's test reconstruction term (BCE summed over pixels, ε sampled), nats per image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_recon: Option<f64>,
    /// A VAE's test KL term, nats per image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_kl: Option<f64>,
    /// A VAE's two terms on the training and validation sets, one entry per
    /// epoch, the first epoch first (as metrics.csv has them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub elbo_per_epoch: Option<Vec<ElboParts>>,
    /// A VAE's KL per code dimension and active units on the test set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_usage: Option<CodeUsage>,
    /// Test MSE of PCA with as many components as the latent size, fitted on
    /// the training images (a linear baseline); null with --no-figures.
    pub pca_test_mse: Option<f64>,
    pub best_val_loss: f64,
    pub best_epoch: usize,
    pub final_train_loss: f64,
    pub final_val_loss: f64,
    pub epochs: usize,
    /// Median training seconds per epoch (evaluation excluded).
    pub seconds_per_epoch: f64,
    /// Training images per second over the median epoch.
    pub images_per_second: f64,
    pub total_seconds: f64,
    pub train_images: usize,
    pub validation_images: usize,
    pub test_images: usize,
    pub parameters: usize,
    pub architecture: String,
    /// The digit judge's scores of generated samples (see `judge`), by generator.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge: Option<serde_json::Value>,
    pub config: SummaryConfig,
}

/// Every hyper-parameter of the run, as run (the thread count resolved).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SummaryConfig {
    #[serde(flatten)]
    pub flags: TrainConfig,
    pub init: &'static str,
    pub optimizer: String,
    /// What the run minimised: `"mse"`, `"bce"` or `"elbo"` (a VAE's, whatever `loss` says).
    pub objective: &'static str,
    /// The matrix-product kernel that ran: "avx512", "avx2" or "portable"
    /// (chosen at run time; `MNIST_AE_SIMD` overrides).
    pub simd: &'static str,
}

/// `summary.json`, pretty-printed.
pub fn summary_json(summary: &Summary) -> String {
    let json = serde_json::to_string_pretty(summary).expect("summary serialises");
    format!("{json}\n")
}
