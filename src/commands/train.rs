//! `train`: the visible epoch loop, and everything around it (configuration,
//! resume, output files, the summary, the pictures).
//!
//! ```text
//! setup: configuration (merged with --resume's), data, model, fixed picture inputs
//! for each epoch:
//!     train the epoch                         Trainer::train_epoch
//!     evaluate on the validation set          train::evaluate
//!     record and print
//!     snapshot the pictures (drawn epochs)    FigureInputs::snapshot
//!     write metrics.csv and the checkpoint
//! finish: test evaluation, model.safetensors, summary.json, figures, report.html
//! ```

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

use crate::checkpoint::save_checkpoint;
use crate::config::{TrainArgs, TrainConfig};
use crate::data::mnist::Splits;
use crate::error::{Error, Result};
use crate::figures::{snapshots_to_extra, FigureInputs, Snapshot};
use crate::files::{write_atomic, OutDirLock};
use crate::metrics::{epoch_line, metrics_csv, ElboParts, EpochRecord, Summary};
use crate::model::{Architecture, Loss, Objective};
use crate::train::{evaluate, Evaluation, Partial, Progress, Trainer};

mod finish;
mod setup;

/// Set by Ctrl-C or SIGTERM: training stops after the current step, and a
/// run stops at the next boundary between phases (checked by `stop_requested`).
pub static STOP: AtomicBool = AtomicBool::new(false);

/// Set while the checkpoint and the data are read: nothing is written yet
/// (and a read may block), so a signal ends the process at once.
static LOADING: AtomicBool = AtomicBool::new(false);

/// Set while the figures are drawn: the model is saved by then, so a signal
/// ends the process at once instead of waiting for the drawing.
static DRAWING: AtomicBool = AtomicBool::new(false);

/// Runs `train` and returns its summary: the epoch loop, in plain sight.
pub fn run(args: &TrainArgs) -> Result<Summary> {
    let mut run = Session::start(args)?; // configuration, data, model, picture inputs
    stop_requested("before training began; nothing was trained")?;
    for epoch in run.trainer.state.progress.epochs_done + 1..=run.config.epochs {
        let Some(train_loss) = run.train_epoch(epoch).map_err(|e| run.diverged(e))? else {
            return Err(run.save_interrupted(epoch)); // Ctrl-C: checkpoint saved
        };
        let val = run.evaluate_validation();
        let record = run.record(epoch, train_loss, val.loss);
        println!("{}", epoch_line(&record, run.config.epochs));
        run.snapshot_if_drawn(epoch, val.loss.total)?;
        run.write_metrics_and_checkpoint()?;
        stop_requested(&run.saved(&format!("after epoch {epoch}")))?;
    }
    finish::finish(&run) // test evaluation, model, summary, figures, report
}

/// `Err` saying the run was interrupted `when`, if Ctrl-C or SIGTERM came
/// outside a training step; checked at every boundary between phases.
fn stop_requested(when: &str) -> Result<()> {
    if STOP.load(Ordering::SeqCst) {
        return Err(Error::Stopped {
            message: when.to_string(),
        });
    }
    Ok(())
}

/// Everything a training run holds between epochs.
struct Session {
    config: TrainConfig,
    splits: Splits,
    arch: Architecture,
    pool: rayon::ThreadPool,
    /// The fixed inputs of the pictures (None with --no-figures).
    inputs: Option<FigureInputs>,
    snapshots: Vec<Snapshot>,
    trainer: Trainer,
    /// Epochs done when this run started (0, or the resumed checkpoint's).
    resumed_after: usize,
    started: Instant,
    /// Held while the run writes into its folder.
    _lock: OutDirLock,
}

impl Session {
    /// Trains epoch `epoch` (or its rest, after a resume); None if stopped.
    fn train_epoch(&mut self, epoch: usize) -> Result<Option<Loss>> {
        let steps = self.splits.train.len().div_ceil(self.config.batch_size);
        let bar = progress_bar(steps, epoch, self.config.epochs);
        let start = Instant::now();
        let (trainer, train) = (&mut self.trainer, &self.splits.train);
        trainer.state.adam.lr = self.config.lr_schedule.rate(self.config.lr, epoch);
        let outcome = self
            .pool
            .install(|| trainer.train_epoch(train, epoch, &STOP, &bar));
        trainer.state.progress.partial.seconds += start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        outcome
    }

    /// What this run minimises.
    fn objective(&self) -> Objective {
        self.config.model.objective(self.config.loss)
    }

    /// The model's loss on the validation set.
    fn evaluate_validation(&self) -> Evaluation {
        let (params, config) = (&self.trainer.state.params, &self.config);
        self.pool.install(|| {
            evaluate(
                params,
                &self.arch,
                &self.splits.validation,
                config.loss,
                config.beta,
                config.seed,
            )
        })
    }

    /// Appends epoch `epoch`'s record to the history and marks it done.
    fn record(&mut self, epoch: usize, train: Loss, val: Loss) -> EpochRecord {
        let has_kl = self.objective().has_kl();
        let state = &mut self.trainer.state;
        let seconds = state.progress.partial.seconds;
        let record = EpochRecord {
            epoch,
            train_loss: train.total,
            val_loss: val.total,
            seconds,
            images_per_second: self.splits.train.len() as f64 / seconds,
            elbo_parts: has_kl.then_some(ElboParts {
                train_recon: train.recon,
                train_kl: train.kl,
                val_recon: val.recon,
                val_kl: val.kl,
            }),
        };
        state.history.push(record);
        state.progress = Progress {
            epochs_done: epoch,
            partial: Partial::default(),
        };
        record
    }

    /// Takes the pictures' snapshot after every `--frames-every`-th epoch and the last.
    fn snapshot_if_drawn(&mut self, epoch: usize, val_loss: f64) -> Result<()> {
        if epoch.is_multiple_of(self.config.frames_every) || epoch == self.config.epochs {
            self.snapshot(epoch, val_loss)?;
        }
        Ok(())
    }

    fn snapshot(&mut self, epoch: usize, val_loss: f64) -> Result<()> {
        if let Some(inputs) = &self.inputs {
            let (params, arch) = (&self.trainer.state.params, &self.arch);
            let snapshot = self
                .pool
                .install(|| inputs.snapshot(epoch, val_loss, params, arch))?;
            self.snapshots.push(snapshot);
        }
        Ok(())
    }

    /// The images' (rows, cols), recorded in the model and checkpoint files.
    fn image_shape(&self) -> (usize, usize) {
        (self.splits.train.rows, self.splits.train.cols)
    }

    fn checkpoint_path(&self) -> PathBuf {
        self.config.out_dir.join("checkpoint.safetensors")
    }

    /// checkpoint.safetensors, then metrics.csv, after every epoch.
    fn write_metrics_and_checkpoint(&self) -> Result<()> {
        // The checkpoint first: metrics.csv never runs ahead of it.
        let state = &self.trainer.state;
        save_checkpoint(
            &self.checkpoint_path(),
            state,
            &self.config,
            self.image_shape(),
            &snapshots_to_extra(&self.snapshots),
        )?;
        write_atomic(
            &self.config.out_dir.join("metrics.csv"),
            metrics_csv(&state.history).as_bytes(),
        )
    }

    /// `error`, and if training diverged, which checkpoint is kept: the one
    /// this run last wrote, the one it resumed from, or none.
    fn diverged(&self, error: Error) -> Error {
        if !matches!(error, Error::Diverged { .. }) {
            return error;
        }
        let done = self.trainer.state.progress.epochs_done;
        let kept = match &self.config.resume {
            _ if done > self.resumed_after => format!(
                "the checkpoint after epoch {done} is kept in {}",
                self.checkpoint_path().display()
            ),
            Some(resumed) => format!(
                "the checkpoint resumed from, {}, is unchanged",
                resumed.display()
            ),
            None => "no checkpoint was written yet".to_string(),
        };
        Error::TrainingDiverged {
            diverged: Box::new(error),
            kept,
        }
    }

    /// "`when`; checkpoint saved to PATH; continue with: COMMAND".
    fn saved(&self, when: &str) -> String {
        let path = self.checkpoint_path();
        format!(
            "{when}; checkpoint saved to {}; continue with: {}",
            path.display(),
            resume_command(&path)
        )
    }

    /// Saves a checkpoint of an interrupted epoch and returns the error that
    /// says how to continue.
    fn save_interrupted(&self, epoch: usize) -> Error {
        let state = &self.trainer.state;
        if let Err(e) = save_checkpoint(
            &self.checkpoint_path(),
            state,
            &self.config,
            self.image_shape(),
            &snapshots_to_extra(&self.snapshots),
        ) {
            return e;
        }
        interrupted(epoch, state.progress.partial.steps, self.checkpoint_path())
    }
}

/// The error that says training was interrupted and how to continue.
fn interrupted(epoch: usize, step: usize, checkpoint: PathBuf) -> Error {
    Error::Interrupted {
        epoch,
        step,
        resume: resume_command(&checkpoint),
        checkpoint,
    }
}

/// The command that continues from `checkpoint`, naming the program as it
/// was invoked, quoted for the shell.
fn resume_command(checkpoint: &std::path::Path) -> String {
    let program = std::env::args()
        .next()
        .unwrap_or_else(|| "mnist-autoencoder".into());
    format!(
        "{} train --resume {}",
        shell_quote(&program),
        shell_quote(&checkpoint.display().to_string())
    )
}

/// `text` as one word for a POSIX shell: unchanged if it holds only safe
/// characters, else in single quotes (a ' inside written as '\'').
pub(crate) fn shell_quote(text: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "/._-+=:,@%".contains(c);
    if !text.is_empty() && text.chars().all(safe) {
        return text.to_string();
    }
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// Installs the Ctrl-C / SIGTERM handler once per process. While the
/// checkpoint and data are read, or the figures drawn, a signal exits at
/// once; otherwise the first asks the run to stop after the current step
/// or phase (a checkpoint is then written), and a second one exits at once.
pub fn install_signal_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if LOADING.load(Ordering::SeqCst) {
                eprintln!("\ninterrupted while reading the checkpoint or the data: nothing was written; exiting");
                std::process::exit(130);
            }
            if DRAWING.load(Ordering::SeqCst) {
                eprintln!("\ninterrupted while drawing the figures: model.safetensors, metrics.csv, summary.json and the checkpoint are written; the figures and report.html are incomplete (an earlier run's were removed before drawing); exiting");
                std::process::exit(130);
            }
            if STOP.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted again: exiting now");
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: stopping after the current step or phase and writing a checkpoint (Ctrl-C again to quit at once)");
        });
        if let Err(e) = installed {
            eprintln!("warning: cannot handle Ctrl-C ({e}); an interrupted run will not save a checkpoint");
        }
    });
}

/// A progress bar on stderr; indicatif hides it when stderr is not a terminal.
fn progress_bar(steps: usize, epoch: usize, epochs: usize) -> ProgressBar {
    let bar = ProgressBar::new(steps as u64);
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {msg} [{bar:30}] {pos}/{len} batches, {per_sec}, eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(format!("{epoch}/{epochs}"));
    bar
}

#[cfg(test)]
mod tests {
    use super::shell_quote;

    /// Issue 28 item 21: a pasted resume hint runs nothing but the tool.
    #[test]
    fn resume_hints_are_quoted_for_the_shell() {
        assert_eq!(
            shell_quote("out/checkpoint.safetensors"),
            "out/checkpoint.safetensors"
        );
        assert_eq!(
            shell_quote("my run;echo INJECTED"),
            "'my run;echo INJECTED'"
        );
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote(""), "''");
    }
}
