//! Setting up a training run: the configuration (merged with a checkpoint's
//! when resuming), the data, the model, and the state to start from.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{install_signal_handler, Session, LOADING};
use crate::checkpoint::{load_checkpoint, Checkpoint};
use crate::config::{resume_config, TrainArgs, TrainConfig, MAX_TRAINING_BYTES};
use crate::data::mnist::{fingerprint, image_dims, load_splits, Splits};
use crate::error::{Error, Result};
use crate::figures::{class_names, pca_bytes, snapshots_from_extra, FigureInputs, Snapshot};
use crate::files::prepare_out_dir;
use crate::model::Architecture;
use crate::parallel::build_pool;
use crate::train::{Settings, TrainState, Trainer};

/// The fixed inputs of the figures.
fn figure_inputs(config: &TrainConfig, splits: &Splits) -> FigureInputs {
    let names = class_names(&config.data_dir, &splits.test.labels);
    FigureInputs::new(
        splits,
        config.latent,
        config.tsne_points,
        config.seed,
        names,
    )
}

impl Session {
    /// Configuration (merged with --resume's), output folder, data, model, and
    /// the untrained model's snapshot.
    pub(super) fn start(args: &TrainArgs) -> Result<Session> {
        let started = Instant::now();
        install_signal_handler();
        // Until the data is read nothing is written: a signal exits at once.
        LOADING.store(true, Ordering::SeqCst);
        let loaded = load(args);
        LOADING.store(false, Ordering::SeqCst);
        let (config, resumed, splits) = loaded?;
        config.check_memory(splits.train.pixels())?;
        let lock = prepare_out_dir(&config.out_dir)?;
        let arch = config.architecture(splits.train.pixels());
        print_setup(&config, &splits, &arch);
        let pool = build_pool(config.thread_count())?;
        let inputs = (!config.no_figures).then(|| figure_inputs(&config, &splits));
        let (mut state, snapshots) =
            initial_state(&config, &arch, &splits, resumed, inputs.as_ref())?;
        state.data_fingerprint = fingerprint(&splits);
        let settings = Settings {
            batch_size: config.batch_size,
            loss: config.loss,
            beta: config.beta,
            seed: config.seed,
            noise: config.noise,
            binarize: config.binarize,
        };
        let resumed_after = state.progress.epochs_done;
        let trainer = Trainer::new(state, settings);
        let mut session = Session {
            config,
            splits,
            arch,
            pool,
            inputs,
            snapshots,
            trainer,
            resumed_after,
            started,
            _lock: lock,
        };
        if session.snapshots.is_empty() {
            let val = session.evaluate_validation();
            session.snapshot(session.trainer.state.progress.epochs_done, val.loss.total)?;
        }
        Ok(session)
    }
}

/// The configuration, the checkpoint if resuming, and the data. The data
/// and the memory check come before the output folder: a run that fails on
/// them leaves no folder behind.
fn load(args: &TrainArgs) -> Result<(TrainConfig, Option<Checkpoint>, Splits)> {
    let (config, resumed) = configure(args)?;
    check_data_memory(&config)?;
    let mut splits = load_splits(&config.data_dir, config.val_size, config.limit, config.seed)?;
    if config.binarize {
        splits.binarize_held_out();
    }
    Ok((config, resumed, splits))
}

/// Refuses, before any image is read, a run whose buffers would need more
/// than [`MAX_TRAINING_BYTES`]: the IDX headers give the sizes. Training's
/// buffers alone name the model's flags ([`TrainConfig::check_memory`]); with
/// the images, the larger images file; with the figures' PCA baseline
/// ([`pca_bytes`]), `--no-figures`. A header that cannot be read is left for
/// the loader to report.
fn check_data_memory(config: &TrainConfig) -> Result<()> {
    let dims = |split| image_dims(&config.data_dir, split).ok();
    let (Some((train_path, train)), Some((test_path, test))) = (dims("train"), dims("t10k")) else {
        return Ok(());
    };
    let ([train_count, rows, cols], [test_count, test_rows, test_cols]) = (&train[..], &test[..])
    else {
        return Ok(());
    };
    let n_train = (*train_count).min(config.limit.unwrap_or(usize::MAX));
    let pixels = rows * cols;
    config.check_memory(pixels)?;
    let training = config
        .training_bytes(pixels)
        .expect("checked by check_memory");
    // u8 images: the training file's prefix twice (read, then split), the test file once.
    let train_bytes = n_train as u128 * pixels as u128;
    let test_bytes = *test_count as u128 * (test_rows * test_cols) as u128;
    let with_data = training + 2 * train_bytes + test_bytes;
    let gib = |bytes: u128| format!("{:.1} GiB", bytes as f64 / (1u64 << 30) as f64);
    let limit = MAX_TRAINING_BYTES >> 30;
    if with_data > MAX_TRAINING_BYTES {
        let (path, count, shape, bytes) = if train_bytes >= test_bytes {
            (train_path, n_train, (rows, cols), train_bytes)
        } else {
            (test_path, *test_count, (test_rows, test_cols), test_bytes)
        };
        return Err(Error::bad_file(
            &path,
            format!(
                "{count} images of {}×{} take {}: with the rest of the data and training the run would need {} (limit {limit} GiB); use fewer or smaller images (--limit for the training file)",
                shape.0, shape.1, gib(bytes), gib(with_data)
            ),
        ));
    }
    if config.no_figures {
        return Ok(());
    }
    let needed = pca_bytes(n_train, pixels, config.latent).and_then(|b| b.checked_add(with_data));
    match needed {
        Some(bytes) if bytes <= MAX_TRAINING_BYTES => Ok(()),
        _ => Err(Error::bad_flag(
            "--no-figures",
            format!(
                "the figures' PCA baseline of {n_train} training images of {rows}×{cols} pixels would need, with the data and training, {} (limit {limit} GiB); add --no-figures, or train on fewer (--limit) or smaller images",
                needed.map_or("more than 2^128 bytes".into(), gib),
            ),
        )),
    }
}

/// The run's configuration (validated; merged with the checkpoint's when
/// resuming) and the checkpoint, if any.
pub(super) fn configure(args: &TrainArgs) -> Result<(TrainConfig, Option<Checkpoint>)> {
    args.validate()?;
    let Some(path) = &args.config.resume else {
        return Ok((args.config.clone(), None));
    };
    let checkpoint = load_checkpoint(path)?;
    let config = resume_config(args, &checkpoint.config, path)?;
    config.validate()?;
    let recorded = &checkpoint.config.out_dir;
    let same = |a: &Path, b: &Path| a.canonicalize().ok() == b.canonicalize().ok();
    if !args.given.iter().any(|id| id == "out_dir") && !same(recorded, &config.out_dir) {
        println!(
            "note: continuing in the checkpoint's folder {}, not {} where it was first written (--out-dir chooses another)",
            config.out_dir.display(),
            recorded.display()
        );
    }
    Ok((config, Some(checkpoint)))
}

/// The training state to start from: fresh, or the checkpoint's after checking
/// that it fits this run; and the figure snapshots to continue.
pub(super) fn initial_state(
    config: &TrainConfig,
    arch: &Architecture,
    splits: &Splits,
    resumed: Option<Checkpoint>,
    inputs: Option<&FigureInputs>,
) -> Result<(TrainState, Vec<Snapshot>)> {
    let Some(checkpoint) = resumed else {
        let mut state = TrainState::new(arch.clone(), config.lr, config.seed);
        state.adam.eps = config.adam_eps;
        return Ok((state, Vec::new()));
    };
    let path = config.resume.as_deref().expect("resuming");
    check_resumable(&checkpoint.state, config, arch, splits, path)?;
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
    let state = checkpoint.state;
    println!(
        "resuming from {} after epoch {} (step {} of the next)",
        path.display(),
        state.progress.epochs_done,
        state.progress.partial.steps
    );
    Ok((state, snapshots))
}

/// Refuses a checkpoint at `path` that does not continue this run: another
/// model, other data, or progress that the flags contradict.
fn check_resumable(
    state: &TrainState,
    config: &TrainConfig,
    arch: &Architecture,
    splits: &Splits,
    path: &Path,
) -> Result<()> {
    let refuse = |message: String| Err(Error::bad_file(path, message));
    if state.arch != *arch {
        return refuse(format!(
            "checkpoint is for a {} model, but the data and flags make a {} model",
            state.arch.describe(),
            arch.describe()
        ));
    }
    let data = fingerprint(splits);
    if !state.data_fingerprint.is_empty() && state.data_fingerprint != data {
        return refuse(format!(
            "checkpoint was trained on other data (fingerprint {}; {} has {data}): \
             resuming on it would not continue the same run; train from scratch instead",
            state.data_fingerprint,
            config.data_dir.display()
        ));
    }
    let steps_per_epoch = splits.train.len().div_ceil(config.batch_size);
    if state.progress.partial.steps >= steps_per_epoch {
        return refuse(format!(
            "progress says {} steps of an epoch of {steps_per_epoch} are done",
            state.progress.partial.steps
        ));
    }
    if state.progress.epochs_done > config.epochs {
        return refuse(format!(
            "the checkpoint has {} epochs done, more than --epochs {}",
            state.progress.epochs_done, config.epochs
        ));
    }
    Ok(())
}

/// The two lines printed before training.
pub(super) fn print_setup(config: &TrainConfig, splits: &Splits, arch: &Architecture) {
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
    let mut noise = if config.noise > 0.0 {
        format!(", denoising σ {}", config.noise)
    } else {
        String::new()
    };
    if config.model.objective(config.loss).has_kl() {
        noise = format!(" with KL weight β {}{noise}", config.beta);
    }
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
