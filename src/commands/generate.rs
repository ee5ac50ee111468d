//! `generate`: new digits decoded from sampled codes, into a PNG grid.

use ndarray::Array2;
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use super::eval::check_width;
use crate::checkpoint::load_model;
use crate::config::GenerateConfig;
use crate::data::mnist::load_split_prefix;
use crate::error::Result;
use crate::figures::draw::image_rows;
use crate::figures::{images, sample_codes, GAUSSIAN_FIT_IMAGES, ROWS_PER_PASS};
use crate::model::decode;
use crate::seeds::{self, Purpose};
use crate::viz::digits::draw_digit_sheet;

/// `generate`: `count` digits decoded from the model kind's first sampler
/// (for a plain autoencoder, N(μ, Σ) fitted to 5,000 training codes).
pub fn run(config: &GenerateConfig) -> Result<()> {
    let (params, arch) = load_model(&config.model)?;
    // Only the images the Gaussian is fitted to are read.
    let train = load_split_prefix(&config.data_dir, "train", Some(GAUSSIAN_FIT_IMAGES))?;
    check_width(&arch, train.pixels(), &config.model, &config.data_dir)?;
    let noise = Array2::random_using(
        (config.count, arch.latent),
        StandardNormal,
        &mut seeds::rng(config.seed, Purpose::SampleNoise),
    );
    let sampler = arch.kind.rules().samplers[0];
    let fit: Vec<usize> = (0..train.len()).collect();
    let fit_images = images(&train, &fit);
    let codes = sample_codes(sampler, noise.view(), &params, &arch, fit_images.view())?;
    let source = sampler.describe();
    let digits = decode(&params, &arch, codes.view(), ROWS_PER_PASS);
    let title = format!("{} digits sampled from {source}", config.count);
    draw_digit_sheet(
        &config.out,
        &title,
        &image_rows("", digits.view()),
        (train.rows, train.cols),
    )?;
    println!(
        "wrote {} generated digits to {}",
        config.count,
        config.out.display()
    );
    Ok(())
}
