//! Anomaly detection by reconstruction error (`eval --anomaly-data DIR`).
//!
//! A model trained on MNIST has learned the surface its decoder can reach
//! (§0 of the walkthrough) from digits; an image unlike them lies farther from
//! it and comes back worse. So each image gets a score, higher for "less like
//! the training data":
//!
//! ```text
//! s(x) = 1/D Σ_d (x̂_d − x_d)²                 reconstruction error (z = μ for a VAE)
//! s(x) = −1/K Σ_k log w_k                     a VAE's negative ELBO (nats), K = ELBO_SAMPLES
//! ```
//! (w_k as in [`crate::iwae`]). How well a score tells another dataset's
//! images (the positives) from MNIST's test images (the negatives) is its ROC
//! AUC, [`crate::reduce::roc::roc_auc`]. Shapes: N images, D pixels.

use ndarray::{s, Array2};

use crate::data::mnist::{fill_batch, Dataset};
use crate::iwae::importance_weighted;
use crate::model::{forward, Architecture, Params, Workspace};
use crate::train::EVAL_CHUNK;

/// Samples of ε per image in the negative-ELBO score.
pub const ELBO_SAMPLES: usize = 10;

/// (N) the reconstruction error `1/D Σ_d (x̂_d − x_d)²` of every image of
/// `data`, in order; z = μ for a VAE. Its mean is `evaluate`'s MSE.
pub fn reconstruction_errors(params: &Params, arch: &Architecture, data: &Dataset) -> Vec<f64> {
    let rows = arch.rows_per_pass(EVAL_CHUNK).min(data.len()).max(1);
    let mut ws = Workspace::for_inference(arch, rows); // ε = 0: z = μ
    let indices: Vec<usize> = (0..data.len()).collect();
    let mut errors = Vec::with_capacity(data.len());
    for chunk in indices.chunks(ws.capacity) {
        let rows = chunk.len();
        fill_batch(&data.images, chunk, ws.input_mut(rows));
        forward(params, arch, &mut ws, rows);
        let x = ws.outputs[0].slice(s![..rows, ..]);
        for (x_hat, x) in ws.reconstruction(rows).outer_iter().zip(x.outer_iter()) {
            let sum: f64 = x_hat
                .iter()
                .zip(x)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum();
            errors.push(sum / x.len() as f64);
        }
    }
    errors
}

/// (N) a VAE's negative ELBO per image of `data` (nats), each the mean of
/// −log w over ELBO_SAMPLES draws of ε seeded by (`seed`, image index).
/// Panics if the model is not a VAE.
pub fn negative_elbos(params: &Params, arch: &Architecture, data: &Dataset, seed: u64) -> Vec<f64> {
    let mut x = Array2::zeros((data.len(), data.pixels())); // (N, D) in [0, 1]
    fill_batch(
        &data.images,
        &(0..data.len()).collect::<Vec<_>>(),
        x.view_mut(),
    );
    let estimates = importance_weighted(params, arch, x.view(), ELBO_SAMPLES, seed);
    estimates.elbo.iter().map(|&elbo| -elbo).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::LossKind;
    use crate::train::evaluate;
    use ndarray_rand::rand::rngs::StdRng;
    use ndarray_rand::rand::SeedableRng;

    #[test]
    fn the_errors_average_to_the_evaluated_mse() {
        let arch = Architecture::plain(12, vec![7], 3);
        let params = Params::init(&arch, &mut StdRng::seed_from_u64(4));
        let pixels = Array2::from_shape_fn((9, 12), |(i, j)| ((i * 31 + j * 17) % 256) as u8);
        let data = Dataset {
            images: pixels,
            labels: vec![0; 9],
            rows: 3,
            cols: 4,
        };
        let errors = reconstruction_errors(&params, &arch, &data);
        assert_eq!(errors.len(), 9);
        let mean = errors.iter().sum::<f64>() / 9.0;
        let mse = evaluate(&params, &arch, &data, LossKind::Mse, 1.0, 0).mse;
        assert!((mean - mse).abs() < 1e-6 * mse, "{mean} against {mse}");
    }
}
