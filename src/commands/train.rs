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

use crate::checkpoint::{load_checkpoint, save_checkpoint, save_model, Checkpoint};
use crate::config::{resume_config, TrainArgs, TrainConfig};
use crate::data::mnist::{fingerprint, load_splits, Splits};
use crate::error::{Error, Result};
use crate::figures::draw::{draw_figures, Run};
use crate::figures::explorer::explorer_html;
use crate::figures::judging::{judge_line, judge_samples};
use crate::figures::report::{self, ReportInputs};
use crate::figures::{
    class_names, pca_test_mse, snapshots_from_extra, snapshots_to_extra, FigureInputs, Snapshot,
};
use crate::files::{prepare_out_dir, write_atomic, OutDirLock};
use crate::judge::bundled_judge;
use crate::metrics::{
    epoch_line, metrics_csv, summary_json, ElboParts, EpochRecord, Summary, SummaryConfig,
};
use crate::model::Loss;
use crate::model::{Architecture, Objective};
use crate::parallel::build_pool;
use crate::reduce::tsne::TsneOptions;
use crate::train::{
    evaluate, median, Evaluation, Partial, Progress, Settings, TrainState, Trainer,
};
use crate::viz::loss::Baseline;

/// Set by Ctrl-C or SIGTERM: training stops after the current step, figure
/// drawing before the next figure.
pub static STOP: AtomicBool = AtomicBool::new(false);

/// Set while the figures are drawn: the model is saved by then, so a signal
/// ends the process at once instead of waiting for the drawing.
static DRAWING: AtomicBool = AtomicBool::new(false);

/// Runs `train` and returns its summary: the epoch loop, in plain sight.
pub fn run(args: &TrainArgs) -> Result<Summary> {
    let mut run = Session::start(args)?; // configuration, data, model, picture inputs
    for epoch in run.trainer.state.progress.epochs_done + 1..=run.config.epochs {
        let Some(train_loss) = run.train_epoch(epoch)? else {
            return Err(run.save_interrupted(epoch)); // Ctrl-C: checkpoint saved
        };
        let val = run.evaluate_validation();
        let record = run.record(epoch, train_loss, val.loss);
        println!("{}", epoch_line(&record, run.config.epochs));
        run.snapshot_if_drawn(epoch, val.loss.total)?;
        run.write_metrics_and_checkpoint()?;
    }
    finish(&run) // test evaluation, model, summary, figures, report
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
    started: Instant,
    /// Held while the run writes into its folder.
    _lock: OutDirLock,
}

impl Session {
    /// Configuration (merged with --resume's), output folder, data, model, and
    /// the untrained model's snapshot.
    fn start(args: &TrainArgs) -> Result<Session> {
        let (config, resumed) = configure(args)?;
        install_signal_handler();
        let started = Instant::now();
        let lock = prepare_out_dir(&config.out_dir)?;
        let splits = load_splits(&config.data_dir, config.val_size, config.limit, config.seed)?;
        config.check_memory(splits.train.pixels())?;
        let arch = config.architecture(splits.train.pixels());
        print_setup(&config, &splits, &arch);
        let pool = build_pool(config.thread_count())?;
        let inputs = (!config.no_figures).then(|| {
            let names = class_names(&config.data_dir, &splits.test.labels);
            FigureInputs::new(
                &splits,
                config.latent,
                config.tsne_points,
                config.seed,
                names,
            )
        });
        let (mut state, snapshots) =
            initial_state(&config, &arch, &splits, resumed, inputs.as_ref())?;
        state.data_fingerprint = fingerprint(&splits);
        let settings = Settings {
            batch_size: config.batch_size,
            loss: config.loss,
            seed: config.seed,
            noise: config.noise,
        };
        let trainer = Trainer::new(state, settings);
        let mut session = Session {
            config,
            splits,
            arch,
            pool,
            inputs,
            snapshots,
            trainer,
            started,
            _lock: lock,
        };
        if session.snapshots.is_empty() {
            let val = session.evaluate_validation();
            session.snapshot(session.trainer.state.progress.epochs_done, val.loss.total)?;
        }
        Ok(session)
    }

    /// Trains epoch `epoch` (or its rest, after a resume); None if stopped.
    fn train_epoch(&mut self, epoch: usize) -> Result<Option<Loss>> {
        let steps = self.splits.train.len().div_ceil(self.config.batch_size);
        let bar = progress_bar(steps, epoch, self.config.epochs);
        let start = Instant::now();
        let (trainer, train) = (&mut self.trainer, &self.splits.train);
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

    fn checkpoint_path(&self) -> PathBuf {
        self.config.out_dir.join("checkpoint.safetensors")
    }

    /// metrics.csv and checkpoint.safetensors, after every epoch.
    fn write_metrics_and_checkpoint(&self) -> Result<()> {
        let state = &self.trainer.state;
        write_atomic(
            &self.config.out_dir.join("metrics.csv"),
            metrics_csv(&state.history).as_bytes(),
        )?;
        save_checkpoint(
            &self.checkpoint_path(),
            state,
            &self.config,
            &snapshots_to_extra(&self.snapshots),
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
            &snapshots_to_extra(&self.snapshots),
        ) {
            return e;
        }
        interrupted(epoch, state.progress.partial.steps, self.checkpoint_path())
    }
}

/// The run's configuration (validated; merged with the checkpoint's when
/// resuming) and the checkpoint, if any.
fn configure(args: &TrainArgs) -> Result<(TrainConfig, Option<Checkpoint>)> {
    args.validate()?;
    let Some(path) = &args.config.resume else {
        return Ok((args.config.clone(), None));
    };
    let checkpoint = load_checkpoint(path)?;
    let config = resume_config(args, &checkpoint.config, path)?;
    config.validate()?;
    Ok((config, Some(checkpoint)))
}

/// The training state to start from: fresh, or the checkpoint's after checking
/// that it fits this run; and the figure snapshots to continue.
fn initial_state(
    config: &TrainConfig,
    arch: &Architecture,
    splits: &Splits,
    resumed: Option<Checkpoint>,
    inputs: Option<&FigureInputs>,
) -> Result<(TrainState, Vec<Snapshot>)> {
    let Some(checkpoint) = resumed else {
        return Ok((
            TrainState::new(arch.clone(), config.lr, config.seed),
            Vec::new(),
        ));
    };
    let path = config.resume.as_deref().expect("resuming");
    let state = checkpoint.state;
    if state.arch != *arch {
        let message = format!(
            "checkpoint is for a {} model, but the data and flags make a {} model",
            state.arch.describe(),
            arch.describe()
        );
        return Err(Error::bad_file(path, message));
    }
    let data = fingerprint(splits);
    if !state.data_fingerprint.is_empty() && state.data_fingerprint != data {
        let message = format!(
            "checkpoint was trained on other data (fingerprint {}; {} has {data}): \
             resuming on it would not continue the same run; train from scratch instead",
            state.data_fingerprint,
            config.data_dir.display()
        );
        return Err(Error::bad_file(path, message));
    }
    let steps_per_epoch = splits.train.len().div_ceil(config.batch_size);
    if state.progress.partial.steps >= steps_per_epoch {
        let message = format!(
            "progress says {} steps of an epoch of {steps_per_epoch} are done",
            state.progress.partial.steps
        );
        return Err(Error::bad_file(path, message));
    }
    if state.progress.epochs_done > config.epochs {
        let message = format!(
            "the checkpoint has {} epochs done, more than --epochs {}",
            state.progress.epochs_done, config.epochs
        );
        return Err(Error::bad_file(path, message));
    }
    let snapshots = match inputs {
        Some(inputs) => {
            let (snapshots, note) = snapshots_from_extra(&checkpoint.extra, inputs, path)?;
            if let Some(note) = note {
                println!("note: {note}");
            }
            snapshots
        }
        None => Vec::new(),
    };
    println!(
        "resuming from {} after epoch {} (step {} of the next)",
        path.display(),
        state.progress.epochs_done,
        state.progress.partial.steps
    );
    Ok((state, snapshots))
}

/// After the last epoch: test evaluation, model file, summary, figures and report.
fn finish(run: &Session) -> Result<Summary> {
    let (config, state, splits, pool) = (&run.config, &run.trainer.state, &run.splits, &run.pool);
    let (inputs, snapshots, started) = (run.inputs.as_ref(), &run.snapshots[..], run.started);
    let (arch, history) = (&state.arch, &state.history);
    if history.is_empty() {
        return Err(Error::bad_flag(
            "--epochs",
            format!(
                "the checkpoint already has {} epochs done; ask for more to train",
                state.progress.epochs_done
            ),
        ));
    }
    let test =
        pool.install(|| evaluate(&state.params, arch, &splits.test, config.loss, config.seed));
    save_model(
        &config.out_dir.join("model.safetensors"),
        &state.params,
        arch,
    )?;
    let pca_test_mse = inputs.map(|_| pool.install(|| pca_test_mse(splits, config.latent)));
    let mut summary = summary(
        config,
        state,
        splits,
        test.loss,
        test.mse,
        pca_test_mse,
        started,
    );
    if let Some(inputs) = inputs {
        summary.judge = pool.install(|| judge_generated(config, state, splits, inputs))?;
    }
    write_atomic(
        &config.out_dir.join("summary.json"),
        summary_json(&summary).as_bytes(),
    )?;
    write_atomic(
        &config.out_dir.join("metrics.csv"),
        metrics_csv(history).as_bytes(),
    )?;
    println!(
        "test_mse {:.6}  best_val_loss {:.6} (epoch {})  median {:.2} s/epoch, {:.0} img/s  -> {}",
        summary.test_mse,
        summary.best_val_loss,
        summary.best_epoch,
        summary.seconds_per_epoch,
        summary.images_per_second,
        config.out_dir.display()
    );
    if let Some(elbo) = summary.test_neg_elbo {
        println!("test_neg_elbo {elbo:.2} nats per image (ε sampled; test_mse uses z = μ)");
    }
    if let Some(inputs) = inputs {
        let drawing = Instant::now();
        DRAWING.store(true, Ordering::SeqCst);
        let drawn = pool.install(|| draw_everything(config, state, inputs, snapshots, &summary));
        DRAWING.store(false, Ordering::SeqCst);
        drawn?;
        println!(
            "figures and report.html written in {:.1} s (PCA-{} test MSE {:.6})",
            drawing.elapsed().as_secs_f64(),
            config.latent,
            summary.pca_test_mse.unwrap_or(f64::NAN)
        );
    }
    Ok(summary)
}

/// The digit judge's scores of 1,000 samples of each generator (see
/// `figures::judging`), or None with a note when it does not apply.
fn judge_generated(
    config: &TrainConfig,
    state: &TrainState,
    splits: &Splits,
    inputs: &FigureInputs,
) -> Result<Option<serde_json::Value>> {
    let judge = bundled_judge()?;
    let verdict = judge_samples(
        &judge,
        inputs,
        &state.params,
        &state.arch,
        &splits.test,
        config.seed,
    )?;
    match verdict {
        Ok(scores) => {
            println!("digit judge (1,000 samples each): {}", judge_line(&scores));
            Ok(Some(scores))
        }
        Err(reason) => {
            println!("note: no digit-judge scores: {reason}");
            Ok(None)
        }
    }
}

/// Every figure, then report.html.
fn draw_everything(
    config: &TrainConfig,
    state: &TrainState,
    inputs: &FigureInputs,
    snapshots: &[Snapshot],
    summary: &Summary,
) -> Result<()> {
    let arch = &state.arch;
    let objective = config.model.objective(config.loss);
    let baseline = summary
        .pca_test_mse
        .filter(|_| objective.compares_with_pca())
        .map(|value| Baseline {
            label: format!("PCA-{} (linear baseline)", arch.latent),
            value,
        });
    let perplexity = TsneOptions::default().perplexity;
    let run = Run {
        out_dir: &config.out_dir,
        inputs,
        snapshots,
        params: &state.params,
        arch,
        history: &state.history,
        loss_name: objective.label(),
        baseline,
        noise: config.noise,
        seed: config.seed,
        perplexity,
    };
    let pca_frames = draw_figures(&run)?;
    let last = snapshots.last().expect("at least the untrained snapshot");
    let map = pca_frames.last().expect("one frame per snapshot");
    let explorer = explorer_html(inputs, last.codes.view(), map.view(), &state.params, arch)?;
    report::write(&ReportInputs {
        out_dir: &config.out_dir,
        arch,
        history: &state.history,
        summary,
        loss_name: objective.label(),
        frames: snapshots.len(),
        points: inputs.mapped_labels.len(),
        perplexity,
        denoising: config.noise > 0.0,
        manifold: arch.draws_manifold(),
        explorer,
    })
}

/// summary.json's contents.
fn summary(
    config: &TrainConfig,
    state: &TrainState,
    splits: &Splits,
    test: Loss,
    test_mse: f64,
    pca_test_mse: Option<f64>,
    started: Instant,
) -> Summary {
    let history = &state.history;
    let seconds: Vec<f64> = history.iter().map(|r| r.seconds).collect();
    let seconds_per_epoch = median(&seconds);
    let best = history
        .iter()
        .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss))
        .expect("at least one epoch");
    let last = history.last().expect("at least one epoch");
    let mut flags = config.clone();
    flags.threads = Some(config.thread_count());
    Summary {
        test_mse,
        test_loss: test.total,
        test_neg_elbo: config
            .model
            .objective(config.loss)
            .has_kl()
            .then_some(test.total),
        pca_test_mse,
        best_val_loss: best.val_loss,
        best_epoch: best.epoch,
        final_train_loss: last.train_loss,
        final_val_loss: last.val_loss,
        epochs: history.len(),
        seconds_per_epoch,
        images_per_second: splits.train.len() as f64 / seconds_per_epoch,
        total_seconds: started.elapsed().as_secs_f64(),
        train_images: splits.train.len(),
        validation_images: splits.validation.len(),
        test_images: splits.test.len(),
        parameters: state.params.len(),
        architecture: state.arch.describe(),
        judge: None,
        config: SummaryConfig {
            flags,
            init: "uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases, as torch.nn.Linear",
            optimizer: state.adam.describe(),
            objective: config.model.objective(config.loss).key(),
            simd: crate::nn::kernel::selected().name(),
        },
    }
}

/// The two lines printed before training.
fn print_setup(config: &TrainConfig, splits: &Splits, arch: &Architecture) {
    println!(
        "data: {} train, {} validation, {} test images of {}x{} from {}",
        splits.train.len(),
        splits.validation.len(),
        splits.test.len(),
        splits.train.rows,
        splits.train.cols,
        config.data_dir.display()
    );
    let loss = config.model.objective(config.loss).describe();
    let noise = if config.noise > 0.0 {
        format!(", denoising σ {}", config.noise)
    } else {
        String::new()
    };
    println!(
        "model: {} {} ({} parameters), loss {loss}{noise}, Adam lr {}, batch {}, {} epochs, {} threads ({} kernel), seed {}",
        arch.kind.name(),
        arch.describe(),
        arch.parameter_count(),
        config.lr,
        config.batch_size,
        config.epochs,
        config.thread_count(),
        crate::nn::kernel::selected().name(),
        config.seed
    );
}

/// The error that says training was interrupted and how to continue, naming
/// the program as it was invoked.
fn interrupted(epoch: usize, step: usize, checkpoint: PathBuf) -> Error {
    let program = std::env::args()
        .next()
        .unwrap_or_else(|| "mnist-autoencoder".into());
    Error::Interrupted {
        epoch,
        step,
        resume: format!("{program} train --resume {}", checkpoint.display()),
        checkpoint,
    }
}

/// Installs the Ctrl-C / SIGTERM handler once per process: the first signal asks
/// training to stop after the current step (a checkpoint is then written); a
/// second one exits at once.
pub fn install_signal_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let installed = ctrlc::set_handler(|| {
            if DRAWING.load(Ordering::SeqCst) {
                eprintln!("\ninterrupted while drawing the figures: model.safetensors, metrics.csv, summary.json and the checkpoint are already written; exiting");
                std::process::exit(130);
            }
            if STOP.swap(true, Ordering::SeqCst) {
                eprintln!("\ninterrupted again: exiting now");
                std::process::exit(130);
            }
            eprintln!("\ninterrupted: finishing the current step and writing a checkpoint (Ctrl-C again to quit at once)");
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
