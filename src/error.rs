//! One error type for the crate. Every error that comes from a file names the
//! file; every error that comes from a flag names the flag. `main` prints the
//! message on one line and exits with a non-zero status: no panic, no backtrace.

use std::path::{Path, PathBuf};

/// Everything that can go wrong outside the math.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading or writing a file failed (missing, unreadable, unwritable, ...).
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },

    /// A file exists but its content is not what it should be (bad IDX header,
    /// truncated payload, corrupt gzip, mismatched counts, bad checkpoint, ...).
    #[error("{}: {message}", path.display())]
    BadFile { path: PathBuf, message: String },

    /// A command-line flag has a value that cannot be used.
    #[error("{flag}: {message}")]
    BadFlag { flag: &'static str, message: String },

    /// A figure could not be drawn or written.
    #[error("{}: cannot write figure: {message}", path.display())]
    Figure { path: PathBuf, message: String },

    /// Ctrl-C or SIGTERM stopped training; a checkpoint was written.
    #[error(
        "interrupted during epoch {epoch} after step {step}; checkpoint saved to {}; \
         continue with: {resume}",
        checkpoint.display()
    )]
    Interrupted {
        epoch: usize,
        step: usize,
        checkpoint: PathBuf,
        /// The command that continues the run.
        resume: String,
    },

    /// Ctrl-C or SIGTERM between two phases of `train` (outside a training
    /// step); `message` says when and what was saved.
    #[error("interrupted {message}")]
    Stopped { message: String },

    /// The loss or a gradient became NaN or infinite: training stops instead
    /// of writing garbage.
    #[error("training diverged: {what} at epoch {epoch}, step {step}")]
    Diverged {
        epoch: usize,
        step: usize,
        what: String,
    },

    /// `train` stopped on a [`Error::Diverged`]: what to try, and which
    /// checkpoint, if any, is kept (`kept`, e.g. "no checkpoint was written yet").
    #[error("{diverged}; try a smaller learning rate (--lr); {kept}")]
    TrainingDiverged { diverged: Box<Error>, kept: String },

    /// New codes cannot be sampled: the Gaussian fit to the training codes
    /// failed (their covariance is not positive definite even with a ridge).
    #[error("cannot sample new codes: {message}")]
    Sampling { message: String },

    /// `gradcheck` found a tensor whose gradient disagrees with finite differences.
    #[error("gradcheck failed: at least one tensor's gradient disagrees with finite differences")]
    GradcheckFailed,
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An I/O error about `path`.
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }

    /// A content error about `path`.
    pub fn bad_file(path: &Path, message: impl Into<String>) -> Self {
        Error::BadFile {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }

    /// A drawing error about figure `path`.
    pub fn figure(path: &Path, error: impl std::fmt::Display) -> Self {
        Error::Figure {
            path: path.to_path_buf(),
            message: error.to_string(),
        }
    }

    /// An error about the value of command-line flag `flag` (e.g. `"--lr"`).
    pub fn bad_flag(flag: &'static str, message: impl Into<String>) -> Self {
        Error::BadFlag {
            flag,
            message: message.into(),
        }
    }
}
