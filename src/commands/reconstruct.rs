//! `reconstruct`: one PNG digit in, its reconstruction out.

use std::path::Path;

use ndarray::Array2;

use crate::checkpoint::load_model_and_shape;
use crate::config::ReconstructConfig;
use crate::error::{Error, Result};
use crate::files::write_atomic;
use crate::model::reconstruct;
use crate::nn::loss::mse_forward;

/// `reconstruct`: one PNG digit in, its reconstruction out. Returns the MSE
/// between the (polarity-corrected) input and the reconstruction.
pub fn run(config: &ReconstructConfig) -> Result<f64> {
    let (params, arch, image) = load_model_and_shape(&config.model)?;
    // Files written before the image shape was recorded: square images.
    let side = arch.input.isqrt();
    let Some((rows, cols)) = image.or((side * side == arch.input).then_some((side, side))) else {
        return Err(Error::bad_file(
            &config.model,
            format!("this model takes images of {} pixels, and the file (written by an older version) does not record their width and height; retrain it to use reconstruct", arch.input),
        ));
    };
    let (width, height, mut pixels) = read_gray_png(&config.input)?;
    if (height, width) != (rows, cols) {
        return Err(Error::bad_file(
            &config.input,
            format!("image is {width}×{height}; this model takes {cols}×{rows} (width×height) grayscale images (resize it first)"),
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
    let mse = mse_forward(x_hat.view(), x.view());
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

/// The most pixels `read_gray_png` decodes (4096 × 4096).
pub const MAX_PNG_PIXELS: u64 = 1 << 24;

/// Reads a PNG as 8-bit grayscale intensities in [0, 1] (colour is converted by
/// luminance, alpha composited on black, 16-bit reduced to 8).
pub fn read_gray_png(path: &Path) -> Result<(usize, usize, Vec<f32>)> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder
        .read_info()
        .map_err(|e| Error::bad_file(path, format!("not a readable PNG: {e}")))?;
    // The header's size is checked before anything is allocated from it.
    let (width, height) = (reader.info().width, reader.info().height);
    if u64::from(width) * u64::from(height) > MAX_PNG_PIXELS {
        let message = format!(
            "the PNG says it is {width}×{height}: larger than any model's images \
             (at most {MAX_PNG_PIXELS} pixels are read)"
        );
        return Err(Error::bad_file(path, message));
    }
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
    write_atomic(path, &bytes)
}
