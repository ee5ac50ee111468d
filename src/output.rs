//! Files a run writes: metrics.csv, summary.json (and, via checkpoint.rs,
//! model.safetensors). Every file is written to a temporary file in the same
//! folder and renamed into place, so a crash never leaves a half-written file.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::config::TrainConfig;
use crate::error::{Error, Result};
use crate::train::EpochRecord;

/// `path` with `.tmp` appended: where a file is written before it is renamed.
pub fn temp_sibling(path: &Path) -> PathBuf {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    PathBuf::from(tmp)
}

/// Writes `bytes` to `path` atomically: `path.tmp` first, then a rename.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = temp_sibling(path);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

/// Creates `dir` if needed and checks that files can be written in it, so a
/// run fails before training rather than after.
pub fn prepare_out_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let probe = dir.join(".write-test");
    write_atomic(&probe, b"ok")?;
    std::fs::remove_file(&probe).map_err(|e| Error::io(&probe, e))
}

/// `metrics.csv`: one row per epoch.
pub fn metrics_csv(history: &[EpochRecord]) -> String {
    let mut csv = String::from("epoch,train_loss,val_loss,seconds,images_per_second\n");
    for r in history {
        csv.push_str(&format!(
            "{},{:.8},{:.8},{:.4},{:.1}\n",
            r.epoch, r.train_loss, r.val_loss, r.seconds, r.images_per_second
        ));
    }
    csv
}

/// The contents of `summary.json`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Summary {
    /// Mean squared error of the final model on the test set (t10k).
    pub test_mse: f64,
    /// Test loss in the training loss (equal to test_mse for MSE).
    pub test_loss: f64,
    /// Test MSE of PCA with as many components as the latent size, fitted on
    /// the training images (the best linear autoencoder); null with --no-figures.
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
    pub config: SummaryConfig,
}

/// Every hyper-parameter of the run, as run (the thread count resolved).
#[derive(Debug, Clone, serde::Serialize)]
pub struct SummaryConfig {
    #[serde(flatten)]
    pub flags: TrainConfig,
    pub init: &'static str,
    pub optimizer: &'static str,
}

/// Writes `summary.json`, pretty-printed.
pub fn write_summary(path: &Path, summary: &Summary) -> Result<()> {
    let json = serde_json::to_string_pretty(summary).expect("summary serialises");
    write_atomic(path, format!("{json}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_write_leaves_the_old_file_intact() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("summary.json");
        write_atomic(&path, b"old").unwrap();
        // Make the temporary file impossible to create: a folder stands in its place.
        std::fs::create_dir(dir.path().join("summary.json.tmp")).unwrap();
        let error = write_atomic(&path, b"new").unwrap_err();
        assert!(error.to_string().contains("summary.json"), "{error}");
        assert_eq!(std::fs::read(&path).unwrap(), b"old");
    }
}
