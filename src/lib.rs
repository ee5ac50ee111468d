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
//! | [`checkpoint`] | weights as PyTorch-compatible safetensors |
//! | [`output`] | metrics.csv, summary.json, atomic writes |
//! | [`config`] | the command line |
//! | [`parallel`] | the thread pool, with denormals flushed to zero |

pub mod checkpoint;
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

use std::time::Instant;

use config::TrainConfig;
use error::Result;
use figures::Figures;
use model::Architecture;
use output::{Summary, SummaryConfig};
use train::{evaluate, median, Trainer};

/// Runs `train` with `config`: loads the data, trains, evaluates on the test
/// set, and writes metrics.csv, summary.json and model.safetensors into
/// `config.out_dir`, then (unless `--no-figures`) every figure and report.html.
/// Prints one line per epoch to stdout.
pub fn run_train(config: &TrainConfig) -> Result<Summary> {
    config.validate()?;
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
    if let Some(pictures) = pictures.as_mut() {
        let untrained =
            pool.install(|| evaluate(&trainer.params, &arch, &splits.validation, config.loss));
        pool.install(|| pictures.capture(0, untrained.loss, &trainer.params, &arch));
    }
    let metrics_path = config.out_dir.join("metrics.csv");
    let mut records = Vec::new();
    let mut on_epoch = |record: &train::EpochRecord, trainer: &Trainer| -> Result<()> {
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
        output::write_atomic(&metrics_path, output::metrics_csv(&records).as_bytes())
    };
    let history = pool.install(|| {
        train::train(
            &mut trainer,
            &splits.train,
            &splits.validation,
            config.epochs,
            config.seed,
            &mut on_epoch,
        )
    })?;
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

/// Runs `gradcheck`: prints one row per parameter tensor and a verdict, and
/// returns the worst band.
pub fn run_gradcheck(config: &config::GradcheckConfig) -> Result<gradcheck::Band> {
    use ndarray_rand::rand::rngs::StdRng;
    use ndarray_rand::rand::SeedableRng;
    if config.latent == 0 || config.batch_size == 0 || config.hidden.0.is_empty() {
        return Err(error::Error::bad_flag(
            "--latent/--batch-size/--hidden",
            "must be positive",
        ));
    }
    if !(config.eps.is_finite() && config.eps > 0.0) {
        return Err(error::Error::bad_flag(
            "--eps",
            format!("must be a positive finite number, got {}", config.eps),
        ));
    }
    let test = data::mnist::load_split(&config.data_dir, "t10k")?;
    let arch = Architecture {
        input: test.pixels(),
        hidden: config.hidden.0.clone(),
        latent: config.latent,
    };
    let params = model::Params::init(&arch, &mut StdRng::seed_from_u64(config.seed));
    let indices: Vec<usize> = (0..config.batch_size.min(test.len()))
        .map(|i| (i * 7919 + config.seed as usize) % test.len())
        .collect();
    let mut x = ndarray::Array2::zeros((indices.len(), test.pixels()));
    data::mnist::fill_batch(&test.images, &indices, x.view_mut());
    let samples = if config.samples == 0 {
        usize::MAX
    } else {
        config.samples
    };
    println!(
        "gradcheck: {} ({} parameters), {:?} loss, batch of {} test images, eps {}, {} elements per tensor",
        arch.describe(),
        params.len(),
        config.loss,
        indices.len(),
        config.eps,
        if config.samples == 0 { "all".to_string() } else { format!("up to {}", config.samples) }
    );
    let checks = gradcheck::check_model(&params, &arch, &x, config.loss, config.eps, samples);
    let (table, worst) = gradcheck::report(&checks);
    print!("{table}");
    println!(
        "verdict: {} (tensor error: OK < 1e-2 <= WARN < 1e-1 <= FAIL)",
        worst.name()
    );
    Ok(worst)
}
