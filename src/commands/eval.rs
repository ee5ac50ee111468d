//! `eval`: test MSE of saved weights, overall and per class; with flags, the
//! test MSE of noisy inputs, a VAE's log p(x), and anomaly detection.

use std::path::Path;

use crate::anomaly::{negative_elbos, reconstruction_errors, ELBO_SAMPLES};
use crate::checkpoint::load_model;
use crate::config::{EvalConfig, MAX_TRAINING_BYTES};
use crate::data::binarize::{binarize_once, FIXED_SEED};
use crate::data::mnist::Dataset;
use crate::data::mnist::{image_dims, load_split};
use crate::error::{Error, Result};
use crate::figures::images;
use crate::iwae::{importance_weighted, mean_and_error};
use crate::model::{Architecture, Params};
use crate::nn::LossKind;
use crate::reduce::roc::roc_auc;
use crate::train::{denoising_mse, evaluate, median};
use crate::viz::histograms::{draw_histograms, Histogram};

/// Checks that a dataset's images fit the model.
pub fn check_width(arch: &Architecture, pixels: usize, model: &Path, data: &Path) -> Result<()> {
    if arch.input != pixels {
        return Err(Error::bad_file(
            model,
            format!(
                "model takes {} pixels but the images in {} have {pixels}",
                arch.input,
                data.display()
            ),
        ));
    }
    Ok(())
}

/// Refuses a test file whose images (read once as u8, and once more split
/// by class) would take more than the memory limit, from its header alone.
fn check_test_memory(data_dir: &Path) -> Result<()> {
    let Ok((path, dims)) = image_dims(data_dir, "t10k") else {
        return Ok(()); // reading it gives the precise error
    };
    let bytes = dims.iter().map(|&d| d as u128).product::<u128>() * 2;
    if bytes > MAX_TRAINING_BYTES {
        let gib = |b: u128| b as f64 / (1u64 << 30) as f64;
        return Err(Error::bad_file(
            &path,
            format!(
                "{} images of {} pixels: evaluating them would take {:.1} GiB (limit {:.0} GiB)",
                dims.first().copied().unwrap_or(0),
                dims.iter().skip(1).product::<usize>(),
                gib(bytes),
                gib(MAX_TRAINING_BYTES)
            ),
        ));
    }
    Ok(())
}

/// The test MSE of one class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassMse {
    pub class: u8,
    pub images: usize,
    pub mse: f64,
}

/// `eval`: test MSE overall and per class. Returns (overall, per class).
pub fn run(config: &EvalConfig) -> Result<(f64, Vec<ClassMse>)> {
    let (params, arch) = load_model(&config.model)?;
    check_test_memory(&config.data_dir)?;
    let mut test = load_split(&config.data_dir, "t10k")?;
    if config.binarize {
        test = binarize_once(&test, FIXED_SEED);
    }
    check_width(&arch, test.pixels(), &config.model, &config.data_dir)?;
    let anomalies = (config.anomaly_data.as_deref())
        .map(|dir| load_anomaly_data(config, &test, dir))
        .transpose()?; // refused before any work
    let overall = evaluate(&params, &arch, &test, LossKind::Mse, 1.0, 0).mse;
    println!(
        "{}: {} on {} test images of {}",
        config.model.display(),
        arch.describe(),
        test.len(),
        config.data_dir.display()
    );
    println!("test_mse {overall:.6}");
    let per_class = per_class_lines(&params, &arch, &test);
    if config.noise > 0.0 {
        let denoising = denoising_mse(&params, &arch, &test, config.noise, config.seed);
        println!(
            "test_mse {:.6} with noise σ {} added to the inputs (clipped to [0, 1]; targets clean); the noisy inputs themselves: {:.6}",
            denoising.mse, config.noise, denoising.input_mse
        );
    }
    if let Some(samples) = config.importance_samples {
        importance_weighted_line(config, &params, &arch, &test, samples)?;
    }
    if let (Some(dir), Some(others)) = (&config.anomaly_data, &anomalies) {
        anomaly_lines(config, &params, &arch, &test, others, dir)?;
    }
    Ok((overall, per_class))
}

/// Prints the test MSE of each class of `test` (a table) and returns them.
fn per_class_lines(params: &Params, arch: &Architecture, test: &Dataset) -> Vec<ClassMse> {
    println!("class  images  mse");
    let mut per_class = Vec::new();
    for class in 0..=255u8 {
        let indices: Vec<usize> = (0..test.len())
            .filter(|&i| test.labels[i] == class)
            .collect();
        if indices.is_empty() {
            continue;
        }
        let subset = test.select(&indices);
        let mse = evaluate(params, arch, &subset, LossKind::Mse, 1.0, 0).mse;
        println!("{class:>5}  {:>6}  {mse:.6}", indices.len());
        per_class.push(ClassMse {
            class,
            images: indices.len(),
            mse,
        });
    }
    per_class
}

/// `--anomaly-data`: the other dataset's t10k images, refused with a message
/// naming the flag unless they read and have the size of `test`'s.
fn load_anomaly_data(config: &EvalConfig, test: &Dataset, dir: &Path) -> Result<Dataset> {
    check_test_memory(dir)?;
    let flag_error = |e: Error| Error::bad_flag("--anomaly-data", e.to_string());
    let mut other = load_split(dir, "t10k").map_err(flag_error)?;
    if config.binarize {
        other = binarize_once(&other, FIXED_SEED);
    }
    if (other.rows, other.cols) != (test.rows, test.cols) {
        return Err(Error::bad_flag(
            "--anomaly-data",
            format!(
                "the images in {} are {}×{}, the model's test images {}×{}",
                dir.display(),
                other.rows,
                other.cols,
                test.rows,
                test.cols
            ),
        ));
    }
    Ok(other)
}

/// Prints one anomaly score's ROC AUC (the other dataset's images as the
/// positives) and its mean and median on both datasets; returns the AUC.
fn anomaly_line(name: &str, normal: &[f64], other: &[f64]) -> f64 {
    let auc = roc_auc(normal, other);
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
    println!(
        "anomaly_auc {auc:.4} by {name}: mean {:.6}, median {:.6} on the test images; mean {:.6}, median {:.6} on the others",
        mean(normal),
        median(normal),
        mean(other),
        median(other)
    );
    auc
}

/// Prints the reconstruction error's AUC against each class of the other
/// dataset alone (its labels, e.g. Fashion-MNIST's 0 T-shirt … 9 ankle boot).
fn per_class_line(normal: &[f64], other: &[f64], labels: &[u8]) {
    let mut cells = Vec::new();
    for class in 0..=255u8 {
        let scores: Vec<f64> = (0..other.len())
            .filter(|&i| labels[i] == class)
            .map(|i| other[i])
            .collect();
        if !scores.is_empty() {
            cells.push(format!("{class} {:.4}", roc_auc(normal, &scores)));
        }
    }
    println!("anomaly_auc per class of the others: {}", cells.join(", "));
}

/// `eval --anomaly-data DIR`: scores every image of `test` (the normal ones)
/// and of `other` (DIR's) by reconstruction error, and a VAE's also by
/// negative ELBO (see [`crate::anomaly`]); prints each score's AUC, and draws
/// the errors' histograms to `--anomaly-figure` if given.
fn anomaly_lines(
    config: &EvalConfig,
    params: &Params,
    arch: &Architecture,
    test: &Dataset,
    other: &Dataset,
    dir: &Path,
) -> Result<()> {
    println!(
        "anomaly detection: {} test images of {} (normal) against {} of {}",
        test.len(),
        config.data_dir.display(),
        other.len(),
        dir.display()
    );
    let normal_errors = reconstruction_errors(params, arch, test);
    let other_errors = reconstruction_errors(params, arch, other);
    anomaly_line("reconstruction MSE", &normal_errors, &other_errors);
    per_class_line(&normal_errors, &other_errors, &other.labels);
    if arch.variational() {
        let seed = config.seed;
        let normal = negative_elbos(params, arch, test, seed);
        let other = negative_elbos(params, arch, other, seed);
        let name = format!("negative ELBO (nats, K = {ELBO_SAMPLES})");
        anomaly_line(&name, &normal, &other);
    }
    if let Some(figure) = &config.anomaly_figure {
        let histogram = |dir: &Path, values: Vec<f64>| Histogram {
            name: format!("{} ({} test images)", dir.display(), values.len()),
            values,
        };
        let histograms = [
            histogram(&config.data_dir, normal_errors),
            histogram(dir, other_errors),
        ];
        let title = "Reconstruction error per image: the training data's test set and another";
        draw_histograms(figure, title, "per-image MSE (log scale)", &histograms)?;
        println!("-> {}", figure.display());
    }
    Ok(())
}

/// Prints the VAE's ELBO and its importance-weighted estimate of log p(x)
/// with K = `samples` on the first `--images` test images.
fn importance_weighted_line(
    config: &EvalConfig,
    params: &Params,
    arch: &Architecture,
    test: &Dataset,
    samples: usize,
) -> Result<()> {
    if !arch.variational() {
        return Err(Error::bad_flag(
            "--importance-samples",
            format!(
                "needs a VAE; {} is a plain autoencoder",
                config.model.display()
            ),
        ));
    }
    let n = config.images.min(test.len());
    let first = test.first(n);
    let x = images(&first, &(0..n).collect::<Vec<_>>());
    let started = std::time::Instant::now();
    let estimates = importance_weighted(params, arch, x.view(), samples, config.seed);
    let (elbo, elbo_error) = mean_and_error(estimates.elbo.view());
    let (log_p, log_p_error) = mean_and_error(estimates.log_p.view());
    println!(
        "on {n} test images, K = {samples} samples each: ELBO {elbo:.2} ± {elbo_error:.2} nats (mean log w); importance-weighted log p(x) {log_p:.2} ± {log_p_error:.2} nats (log mean w); gap {:.2} nats ({:.1} s)",
        log_p - elbo,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
