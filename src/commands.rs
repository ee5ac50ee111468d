//! The subcommands besides `train`: `gradcheck` on a fresh network, and `eval`,
//! `generate`, `reconstruct` on saved weights.

use std::path::Path;

use ndarray::Array2;
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::SeedableRng;
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use crate::checkpoint::load_model;
use crate::config::{EvalConfig, GenerateConfig, GradcheckConfig, ReconstructConfig};
use crate::data::mnist::{fill_batch, load_split};
use crate::error::{Error, Result};
use crate::figures::{image_rows, images, Gaussian};
use crate::gradcheck::{check_model, report, Band};
use crate::model::{decode, encode, reconstruct, Architecture, Params};
use crate::nn::LossKind;
use crate::train::evaluate;
use crate::viz::digits::draw_digit_sheet;

/// Runs `gradcheck`: prints one row per parameter tensor and a verdict, and
/// returns the worst band.
pub fn run_gradcheck(config: &GradcheckConfig) -> Result<Band> {
    use ndarray_rand::rand::rngs::StdRng;
    use ndarray_rand::rand::SeedableRng;
    if config.latent == 0 || config.batch_size == 0 || config.hidden.0.is_empty() {
        return Err(Error::bad_flag(
            "--latent/--batch-size/--hidden",
            "must be positive",
        ));
    }
    if !(config.eps.is_finite() && config.eps > 0.0) {
        return Err(Error::bad_flag(
            "--eps",
            format!("must be a positive finite number, got {}", config.eps),
        ));
    }
    let test = load_split(&config.data_dir, "t10k")?;
    let arch = Architecture {
        input: test.pixels(),
        hidden: config.hidden.0.clone(),
        latent: config.latent,
    };
    let params = Params::init(&arch, &mut StdRng::seed_from_u64(config.seed));
    let indices: Vec<usize> = (0..config.batch_size.min(test.len()))
        .map(|i| (i * 7919 + config.seed as usize) % test.len())
        .collect();
    let mut x = ndarray::Array2::zeros((indices.len(), test.pixels()));
    fill_batch(&test.images, &indices, x.view_mut());
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
    let checks = check_model(&params, &arch, &x, config.loss, config.eps, samples);
    let (table, worst) = report(&checks);
    print!("{table}");
    println!(
        "verdict: {} (tensor error: OK < 1e-2 <= WARN < 1e-1 <= FAIL)",
        worst.name()
    );
    Ok(worst)
}

/// Checks that a dataset's images fit the model.
fn check_width(arch: &Architecture, pixels: usize, model: &Path, data: &Path) -> Result<()> {
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

/// The test MSE of one class.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClassMse {
    pub class: u8,
    pub images: usize,
    pub mse: f64,
}

/// `eval`: test MSE overall and per class. Returns (overall, per class).
pub fn run_eval(config: &EvalConfig) -> Result<(f64, Vec<ClassMse>)> {
    let (params, arch) = load_model(&config.model)?;
    let test = load_split(&config.data_dir, "t10k")?;
    check_width(&arch, test.pixels(), &config.model, &config.data_dir)?;
    let overall = evaluate(&params, &arch, &test, LossKind::Mse).mse;
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
        let mse = evaluate(&params, &arch, &test.select(&indices), LossKind::Mse).mse;
        println!("{class:>5}  {:>6}  {mse:.6}", indices.len());
        per_class.push(ClassMse {
            class,
            images: indices.len(),
            mse,
        });
    }
    Ok((overall, per_class))
}

/// `generate`: `count` digits decoded from N(μ, Σ) fitted to 5,000 training codes.
pub fn run_generate(config: &GenerateConfig) -> Result<()> {
    if config.count == 0 {
        return Err(Error::bad_flag("--count", "must be at least 1, got 0"));
    }
    let (params, arch) = load_model(&config.model)?;
    let train = load_split(&config.data_dir, "train")?;
    check_width(&arch, train.pixels(), &config.model, &config.data_dir)?;
    let fit: Vec<usize> = (0..train.len().min(5000)).collect();
    let gaussian = Gaussian::fit(encode(&params, &arch, images(&train, &fit).view(), 1000).view());
    let noise = Array2::random_using(
        (config.count, arch.latent),
        StandardNormal,
        &mut StdRng::seed_from_u64(config.seed),
    );
    let digits = decode(&params, &arch, gaussian.sample(noise.view()).view(), 1000);
    let title = format!(
        "{} digits sampled from N(μ, Σ) fitted to the training codes",
        config.count
    );
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

/// `reconstruct`: one PNG digit in, its reconstruction out. Returns the MSE
/// between the (polarity-corrected) input and the reconstruction.
pub fn run_reconstruct(config: &ReconstructConfig) -> Result<f64> {
    let (params, arch) = load_model(&config.model)?;
    let (width, height, mut pixels) = read_gray_png(&config.input)?;
    if width * height != arch.input || width != height {
        return Err(Error::bad_file(
            &config.input,
            format!("image is {width}×{height}; this model takes {side}×{side} grayscale images (resize it first)", side = (arch.input as f64).sqrt() as usize),
        ));
    }
    // MNIST digits are light ink on a dark background; a mostly light image is
    // taken to be dark ink on paper and inverted for the model (and back).
    let inverted = pixels.iter().sum::<f32>() / pixels.len() as f32 > 0.5;
    if inverted {
        pixels.iter_mut().for_each(|p| *p = 1.0 - *p);
        println!(
            "{}: light background, inverted to MNIST's light-on-dark and back",
            config.input.display()
        );
    }
    let x = Array2::from_shape_vec((1, arch.input), pixels).expect("size checked");
    let x_hat = reconstruct(&params, &arch, x.view(), 1);
    let mse = crate::reduce::pca::mean_squared_error(x_hat.view(), x.view());
    let out: Vec<u8> = x_hat
        .iter()
        .map(|&v| if inverted { 1.0 - v } else { v })
        .map(|v| (v.clamp(0.0, 1.0) * 255.0).round() as u8)
        .collect();
    write_gray_png(&config.out, width, height, &out)?;
    println!(
        "wrote the reconstruction of {} to {} (MSE {mse:.6})",
        config.input.display(),
        config.out.display()
    );
    Ok(mse)
}

/// Reads a PNG as 8-bit grayscale intensities in [0, 1] (colour is converted by
/// luminance, alpha composited on black, 16-bit reduced to 8).
pub fn read_gray_png(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| Error::bad_file(path, format!("not a readable PNG: {e}")))?;
    let mut buffer = vec![0; reader.output_buffer_size()];
    let info = reader
        .next_frame(&mut buffer)
        .map_err(|e| Error::bad_file(path, format!("not a readable PNG: {e}")))?;
    let (width, height) = (info.width as usize, info.height as usize);
    let channels = info.color_type.samples();
    let pixels = buffer[..info.buffer_size()]
        .chunks_exact(channels)
        .map(|p| {
            let (value, alpha) = match p.len() {
                1 => (p[0] as f32, 255.0),
                2 => (p[0] as f32, p[1] as f32),
                3 => (
                    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32,
                    255.0,
                ),
                _ => (
                    0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32,
                    p[3] as f32,
                ),
            };
            value * alpha / (255.0 * 255.0)
        })
        .collect();
    Ok((width, height, pixels))
}

/// Writes 8-bit grayscale pixels as a PNG (atomically).
pub fn write_gray_png(path: &Path, width: usize, height: usize, pixels: &[u8]) -> Result<()> {
    let mut bytes = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut bytes, width as u32, height as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder
            .write_header()
            .map_err(|e| Error::bad_file(path, e.to_string()))?;
        writer
            .write_image_data(pixels)
            .map_err(|e| Error::bad_file(path, e.to_string()))?;
    }
    crate::output::write_atomic(path, &bytes)
}
