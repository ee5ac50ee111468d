//! `eval`: test MSE of saved weights, overall and per class.

use std::path::Path;

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
use crate::train::{denoising_mse, evaluate};

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
    let overall = evaluate(&params, &arch, &test, LossKind::Mse, 1.0, 0).mse;
    println!(
        "{}: {} on {} test images of {}",
        config.model.display(),
        arch.describe(),
        test.len(),
        config.data_dir.display()
    );
    println!("test_mse {overall:.6}");
    println!("class  images  mse");
    let mut per_class = Vec::new();
    for class in 0..=255u8 {
        let indices: Vec<usize> = (0..test.len())
            .filter(|&i| test.labels[i] == class)
            .collect();
        if indices.is_empty() {
            continue;
        }
        let mse = evaluate(
            &params,
            &arch,
            &test.select(&indices),
            LossKind::Mse,
            1.0,
            0,
        )
        .mse;
        println!("{class:>5}  {:>6}  {mse:.6}", indices.len());
        per_class.push(ClassMse {
            class,
            images: indices.len(),
            mse,
        });
    }
    if config.noise > 0.0 {
        let mse = denoising_mse(&params, &arch, &test, config.noise, config.seed);
        println!(
            "test_mse {mse:.6} with noise σ {} added to the inputs (clipped to [0, 1]; targets clean)",
            config.noise
        );
    }
    if let Some(samples) = config.importance_samples {
        importance_weighted_line(config, &params, &arch, &test, samples)?;
    }
    Ok((overall, per_class))
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
