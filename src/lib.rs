//! # mnist-autoencoder
//!
//! An autoencoder for MNIST written from scratch: every gradient by hand, Adam by
//! hand, checked against finite differences. Read it top to bottom in this order:
//!
//! | module | what it holds |
//! |---|---|
//! | [`data::idx`] | the IDX file format (raw or gzip), parsed generically and defensively |
//! | [`data::mnist`] | dataset folders, the validation split, shuffled mini-batches |
//! | [`nn::dense`] | `Y = X·W + b` and its backward pass `dW = Xᵀ·dY`, `db = Σ dY`, `dX = dY·Wᵀ` |
//! | [`nn::activation`] | ReLU, sigmoid, identity (tanh, leaky ReLU) and their derivatives |
//! | [`nn::loss`] | MSE and BCE with PyTorch's mean reduction, and their gradients |
//! | [`nn::matmul`] | the one matrix product, split over rows across threads |
//! | [`model`] | the architecture, `Params`, the autoencoder's forward and backward |
//! | [`optim`] | Adam with bias correction |
//! | [`train`] | the training loop and evaluation |
//! | [`reduce`] | PCA, t-SNE, and the small linear algebra they need |
//! | [`figures`] | what the pictures show: fixed inputs, snapshots per epoch |
//! | [`viz`] | drawing: plain data in, a PNG, GIF or HTML file out |
//! | [`gradcheck`] | centered finite differences and relative errors |
//! | [`checkpoint`] | weights as PyTorch-compatible safetensors; checkpoints for exact resume |
//! | [`commands`] | `gradcheck`, and `eval`, `generate`, `reconstruct` on saved weights |
//! | [`output`] | metrics.csv, summary.json, atomic writes |
//! | [`config`] | the command line |
//! | [`parallel`] | the thread pool, with denormals flushed to zero |

pub mod checkpoint;
pub mod commands;
pub mod config;
pub mod data;
pub mod error;
pub mod figures;
pub mod gradcheck;
pub mod model;
pub mod nn;
pub mod optim;
pub mod output;
pub mod parallel;
pub mod reduce;
pub mod train;
pub mod viz;

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use config::TrainConfig;
use error::Result;
use figures::Figures;
use model::Architecture;
use output::{Summary, SummaryConfig};
use train::{evaluate, median, Trainer};

/// Runs `train` with `config` (see [`run_train_with`]; no flag counts as explicitly given).
pub fn run_train(config: &TrainConfig) -> Result<Summary> {
    run_train_with(config, &[])
}

/// Set by Ctrl-C or SIGTERM: training stops after the current step.
static STOP: AtomicBool = AtomicBool::new(false);

/// Installs the Ctrl-C / SIGTERM handler once per process: the first signal asks
/// training to stop after the current step (a checkpoint is then written); a
/// second one exits at once.
fn install_signal_handler() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let installed = ctrlc::set_handler(|| {
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

/// Runs `train`: loads the data, trains (from scratch, or from `--resume`),
/// writes `checkpoint.safetensors` and `metrics.csv` after every epoch, then
/// evaluates on the test set and writes summary.json, model.safetensors and
/// (unless `--no-figures`) every figure and report.html into `out_dir`.
///
/// `explicit` names the flags given on the command line (clap ids such as
/// `"hidden"`): with `--resume`, they override the checkpoint's configuration
/// where that is safe (epochs, output, threads, figures) and must agree with it
/// otherwise.
pub fn run_train_with(config: &TrainConfig, explicit: &[String]) -> Result<Summary> {
    config.validate()?;
    let resumed = match &config.resume {
        Some(path) => Some(checkpoint::load_checkpoint(path)?),
        None => None,
    };
    let config = &match &resumed {
        Some(checkpoint) => resume_config(config, &checkpoint.config, explicit)?,
        None => config.clone(),
    };
    config.validate()?;
    install_signal_handler();
    let started = Instant::now();
    output::prepare_out_dir(&config.out_dir)?;
    let splits =
        data::mnist::load_splits(&config.data_dir, config.val_size, config.limit, config.seed)?;
    let arch = Architecture {
        input: splits.train.pixels(),
        hidden: config.hidden.0.clone(),
        latent: config.latent,
    };
    let threads = config.thread_count();
    println!(
        "data: {} train, {} validation, {} test images of {}x{} from {}",
        splits.train.len(),
        splits.validation.len(),
        splits.test.len(),
        splits.train.rows,
        splits.train.cols,
        config.data_dir.display()
    );
    println!(
        "model: {} ({} parameters), loss {:?}, Adam lr {}, batch {}, {} epochs, {} threads, seed {}",
        arch.describe(),
        model::Params::zeros(&arch).len(),
        config.loss,
        config.lr,
        config.batch_size,
        config.epochs,
        threads,
        config.seed
    );

    let pool = parallel::build_pool(threads)?;
    let mut trainer = Trainer::new(
        arch.clone(),
        config.batch_size,
        config.lr,
        config.loss,
        config.seed,
    );
    let mut pictures = (!config.no_figures)
        .then(|| Figures::new(&splits, config.latent, config.tsne_points, config.seed));
    let mut records = Vec::new();
    let mut progress = train::Progress::default();
    if let Some(checkpoint) = resumed {
        let path = config.resume.as_deref().expect("resuming");
        if checkpoint.arch != arch {
            return Err(error::Error::bad_file(
                path,
                format!(
                    "checkpoint is for a {} model, but the data and flags make a {} model",
                    checkpoint.arch.describe(),
                    arch.describe()
                ),
            ));
        }
        trainer.params = checkpoint.params;
        trainer.adam.m = checkpoint.adam_m;
        trainer.adam.v = checkpoint.adam_v;
        trainer.adam.step = checkpoint.adam_step;
        records = checkpoint.history;
        progress = checkpoint.progress;
        if let Some(pictures) = pictures.as_mut() {
            pictures.snapshots = checkpoint.snapshots;
        }
        println!(
            "resuming from {} after epoch {} (step {} of the next)",
            path.display(),
            progress.epochs_done,
            progress.partial.steps
        );
    }
    if let Some(pictures) = pictures.as_mut().filter(|p| p.snapshots.is_empty()) {
        let now =
            pool.install(|| evaluate(&trainer.params, &arch, &splits.validation, config.loss));
        pool.install(|| pictures.capture(progress.epochs_done, now.loss, &trainer.params, &arch));
    }
    let metrics_path = config.out_dir.join("metrics.csv");
    let checkpoint_path = config.out_dir.join("checkpoint.safetensors");
    let mut on_epoch = |record: &train::EpochRecord,
                        trainer: &Trainer,
                        progress: &train::Progress|
     -> Result<()> {
        println!(
            "epoch {:>3}/{}  train_loss {:.6}  val_loss {:.6}  {:.2} s  {:.0} img/s",
            record.epoch,
            config.epochs,
            record.train_loss,
            record.val_loss,
            record.seconds,
            record.images_per_second
        );
        records.push(*record);
        let drawn = record.epoch % config.frames_every == 0 || record.epoch == config.epochs;
        if let (Some(pictures), true) = (pictures.as_mut(), drawn) {
            pictures.capture(
                record.epoch,
                record.val_loss,
                &trainer.params,
                &trainer.arch,
            );
        }
        output::write_atomic(&metrics_path, output::metrics_csv(&records).as_bytes())?;
        let snapshots = pictures.as_ref().map_or(&[][..], |p| &p.snapshots[..]);
        checkpoint::save_checkpoint(
            &checkpoint_path,
            trainer,
            config,
            progress,
            &records,
            snapshots,
        )
    };
    let progress = pool.install(|| {
        train::train(
            &mut trainer,
            &splits,
            config.epochs,
            config.seed,
            progress,
            &STOP,
            &mut on_epoch,
        )
    })?;
    let history = records;
    if progress.epochs_done < config.epochs {
        let snapshots = pictures.as_ref().map_or(&[][..], |p| &p.snapshots[..]);
        checkpoint::save_checkpoint(
            &checkpoint_path,
            &trainer,
            config,
            &progress,
            &history,
            snapshots,
        )?;
        return Err(error::Error::Interrupted {
            epoch: progress.epochs_done + 1,
            step: progress.partial.steps,
            checkpoint: checkpoint_path,
        });
    }
    let test = pool.install(|| evaluate(&trainer.params, &arch, &splits.test, config.loss));
    checkpoint::save_model(
        &config.out_dir.join("model.safetensors"),
        &trainer.params,
        &arch,
    )?;
    let pca_test_mse = pictures
        .as_ref()
        .map(|_| pool.install(|| figures::pca_test_mse(&splits, config.latent)));

    let seconds: Vec<f64> = history.iter().map(|r| r.seconds).collect();
    let seconds_per_epoch = median(&seconds);
    let best = history
        .iter()
        .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss))
        .expect("at least one epoch");
    let last = history.last().expect("at least one epoch");
    let mut flags = config.clone();
    flags.threads = Some(threads);
    let summary = Summary {
        test_mse: test.mse,
        test_loss: test.loss,
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
        parameters: trainer.params.len(),
        architecture: arch.describe(),
        config: SummaryConfig {
            flags,
            init: "uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases, as torch.nn.Linear",
            optimizer: "adam(beta1=0.9, beta2=0.999, eps=1e-8, bias-corrected)",
        },
    };
    output::write_summary(&config.out_dir.join("summary.json"), &summary)?;
    println!(
        "test_mse {:.6}  best_val_loss {:.6} (epoch {})  median {:.2} s/epoch, {:.0} img/s  -> {}",
        summary.test_mse,
        summary.best_val_loss,
        summary.best_epoch,
        summary.seconds_per_epoch,
        summary.images_per_second,
        config.out_dir.display()
    );
    if let Some(pictures) = pictures {
        let drawing = Instant::now();
        pool.install(|| {
            figures::draw_all(
                &config.out_dir,
                &pictures,
                &trainer.params,
                &arch,
                &history,
                &summary,
            )
        })?;
        println!(
            "figures and report.html written in {:.1} s (PCA-{} test MSE {:.6})",
            drawing.elapsed().as_secs_f64(),
            config.latent,
            summary.pca_test_mse.unwrap_or(f64::NAN)
        );
    }
    Ok(summary)
}

/// The configuration of a resumed run: the checkpoint's, with the explicitly
/// given flags that may change (epochs, output, threads, figures, data folder)
/// taken from `flags`; any other explicitly given flag must match the checkpoint.
fn resume_config(
    flags: &TrainConfig,
    saved: &TrainConfig,
    explicit: &[String],
) -> Result<TrainConfig> {
    const MAY_CHANGE: &[&str] = &[
        "epochs",
        "out_dir",
        "threads",
        "no_figures",
        "frames_every",
        "tsne_points",
        "data_dir",
        "resume",
    ];
    let given = serde_json::to_value(flags).expect("config serialises");
    let mut merged = serde_json::to_value(saved).expect("config serialises");
    let path = flags.resume.as_deref().expect("resuming");
    for id in explicit {
        let (Some(value), Some(old)) = (given.get(id), merged.get(id)) else {
            continue;
        };
        if MAY_CHANGE.contains(&id.as_str()) {
            merged[id] = value.clone();
        } else if value != old {
            return Err(error::Error::bad_file(
                path,
                format!(
                    "checkpoint was trained with --{} {old}, but --{} {value} was given",
                    id.replace('_', "-"),
                    id.replace('_', "-")
                ),
            ));
        }
    }
    merged["resume"] = given["resume"].clone();
    let mut config: TrainConfig = serde_json::from_value(merged).map_err(|e| {
        error::Error::bad_file(path, format!("metadata field 'config' is malformed: {e}"))
    })?;
    if !explicit.iter().any(|id| id == "epochs") && config.epochs <= saved.epochs {
        config.epochs = saved.epochs;
    }
    Ok(config)
}
