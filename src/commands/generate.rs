//! `generate`: new digits decoded from sampled codes, into a PNG grid.

use ndarray::Array2;
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::SeedableRng;
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use super::eval::check_width;
use crate::checkpoint::load_model;
use crate::config::GenerateConfig;
use crate::data::mnist::load_split;
use crate::error::{Error, Result};
use crate::figures::draw::image_rows;
use crate::figures::{images, CHUNK, GAUSSIAN_FIT_IMAGES};
use crate::model::{decode, encode, ModelKind};
use crate::reduce::gaussian::Gaussian;
use crate::viz::digits::draw_digit_sheet;

/// The most digits one sheet holds.
pub const MAX_COUNT: usize = 10_000;

/// `generate`: `count` digits decoded from N(μ, Σ) fitted to 5,000 training codes.
pub fn run(config: &GenerateConfig) -> Result<()> {
    if config.count == 0 || config.count > MAX_COUNT {
        return Err(Error::bad_flag(
            "--count",
            format!(
                "must be between 1 and {MAX_COUNT} (one sheet of digits), got {}",
                config.count
            ),
        ));
    }
    let (params, arch) = load_model(&config.model)?;
    let train = load_split(&config.data_dir, "train")?;
    check_width(&arch, train.pixels(), &config.model, &config.data_dir)?;
    let noise = Array2::random_using(
        (config.count, arch.latent),
        StandardNormal,
        &mut StdRng::seed_from_u64(config.seed),
    );
    let (codes, source) = match arch.kind {
        ModelKind::Vae => (noise, "N(0, I), the VAE's prior"),
        ModelKind::Ae => {
            let fit: Vec<usize> = (0..train.len().min(GAUSSIAN_FIT_IMAGES)).collect();
            let codes = encode(&params, &arch, images(&train, &fit).view(), CHUNK);
            let gaussian =
                Gaussian::fit(codes.view()).map_err(|m| Error::bad_file(&config.model, m))?;
            (
                gaussian.sample(noise.view()),
                "N(μ, Σ) fitted to the training codes",
            )
        }
    };
    let digits = decode(&params, &arch, codes.view(), CHUNK);
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
