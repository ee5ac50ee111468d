//! `generate`: new digits decoded from sampled codes, into a PNG grid or an
//! IDX file of u8 images like MNIST's.

use std::path::{Path, PathBuf};

use ndarray::{Array2, ArrayView2};
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use super::eval::check_width;
use crate::checkpoint::load_model;
use crate::config::GenerateConfig;
use crate::data::idx::encode_idx;
use crate::data::mnist::load_split_prefix;
use crate::error::{Error, Result};
use crate::figures::draw::image_rows;
use crate::figures::{images, sample_codes, GAUSSIAN_FIT_IMAGES, ROWS_PER_PASS};
use crate::files::write_atomic;
use crate::model::{decode, Architecture, Params};
use crate::prior::{Prior, PriorKind};
use crate::seeds::{self, Purpose};
use crate::viz::digits::draw_digit_sheet;

/// `generate`: `count` digits decoded from codes of the chosen prior
/// (`--prior`, or the default prior's file beside the model if it is there),
/// else of the model kind's first sampler (for a plain autoencoder, N(μ, Σ)
/// fitted to 5,000 training codes).
pub fn run(config: &GenerateConfig) -> Result<()> {
    let (params, arch) = load_model(&config.model)?;
    // Only the images the Gaussian is fitted to are read.
    let train = load_split_prefix(&config.data_dir, "train", Some(GAUSSIAN_FIT_IMAGES))?;
    check_width(&arch, train.pixels(), &config.model, &config.data_dir)?;
    let (codes, source) = match chosen_prior(config, &params, &arch)? {
        Some((prior, path)) => {
            let mut rng = seeds::rng(config.seed, Purpose::SampleNoise);
            let source = format!("{} ({})", prior.describe(), path.display());
            (prior.sample(config.count, &mut rng), source)
        }
        None => {
            let noise = Array2::random_using(
                (config.count, arch.latent),
                StandardNormal,
                &mut seeds::rng(config.seed, Purpose::SampleNoise),
            );
            let sampler = arch.kind.rules().samplers[0];
            let fit: Vec<usize> = (0..train.len()).collect();
            let fit_images = images(&train, &fit);
            let codes = sample_codes(sampler, noise.view(), &params, &arch, fit_images.view())?;
            (codes, sampler.describe().to_string())
        }
    };
    let digits = decode(&params, &arch, codes.view(), ROWS_PER_PASS);
    write_digits(config, digits.view(), (train.rows, train.cols), &source)
}

/// The prior `--prior` names (its file must exist), or without the flag the
/// default prior's file if it is beside the model; None: the model's sampler.
fn chosen_prior(
    config: &GenerateConfig,
    params: &Params,
    arch: &Architecture,
) -> Result<Option<(Prior, PathBuf)>> {
    let folder = config.model.parent().unwrap_or(Path::new("."));
    let kind = config.prior.unwrap_or(PriorKind::DEFAULT);
    let path = folder.join(kind.file_name());
    if !path.exists() {
        if config.prior.is_none() {
            return Ok(None);
        }
        return Err(Error::bad_flag(
            "--prior",
            format!(
                "{} does not exist; fit it first: mnist-autoencoder train-prior --model {} --prior {}",
                path.display(),
                super::train::shell_quote(&config.model.display().to_string()),
                kind.name()
            ),
        ));
    }
    Ok(Some((Prior::load(&path, params, arch.latent)?, path)))
}

/// The digits (N, D) in [0, 1] as a PNG sheet, or as an IDX file of u8
/// images (N, rows, cols) when `--out` ends in .idx.
fn write_digits(
    config: &GenerateConfig,
    digits: ArrayView2<f32>,
    shape: (usize, usize),
    source: &str,
) -> Result<()> {
    let is_idx = config
        .out
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("idx"));
    if is_idx {
        let bytes: Vec<u8> = digits
            .iter()
            .map(|&v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
            .collect();
        write_atomic(
            &config.out,
            &encode_idx(&[config.count, shape.0, shape.1], &bytes),
        )?;
    } else {
        let title = format!("{} digits sampled from {source}", config.count);
        draw_digit_sheet(&config.out, &title, &image_rows("", digits), shape)?;
    }
    println!(
        "wrote {} generated digits to {} (codes from {source})",
        config.count,
        config.out.display()
    );
    Ok(())
}
