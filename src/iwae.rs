//! log p(x) of a VAE by importance sampling (Burda, Grosse & Salakhutdinov,
//! 2015): the encoder's q(z|x) proposes K codes, and
//! ```text
//! log p(x) ≈ L_K = log (1/K) Σ_k w_k,   w_k = p(x|z_k)·p(z_k) / q(z_k|x),   z_k ~ q(z|x)
//! log w_k = log p(x|z_k) + log N(z_k; 0, I) − log N(z_k; μ, σ²)
//! ```
//! E\[L_1\] is the ELBO, E\[L_K\] never decreases with K, and L_K → log p(x) as
//! K → ∞. log p(x|z) is the decoder's Bernoulli log-likelihood of the pixels
//! (−BCE summed over pixels, as the training loss has it: for grey-level
//! pixels not a normalised density, so these nats compare with this crate's
//! ELBO, not with binarised-MNIST papers). The sum over k is a log-sum-exp in
//! f64. Shapes: N images, D pixels, Z code width, K samples.

use ndarray::{Array1, Array2, ArrayView1, ArrayView2, Axis};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::SeedableRng;
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use crate::model::{decode, forward, Architecture, Params, Workspace};

/// ln 2π.
const LN_2PI: f64 = 1.837_877_066_409_345_5;
/// Images encoded per pass.
const ENCODE_ROWS: usize = 500;
/// Codes decoded per pass.
const DECODE_ROWS: usize = 1000;

/// Per image, from the same K draws: the ELBO's estimate, the mean of log w_k,
/// and L_K = log of the mean of w_k (never below it, by Jensen).
#[derive(Debug, Clone)]
pub struct Estimates {
    /// (N) 1/K Σ_k log w_k.
    pub elbo: Array1<f64>,
    /// (N) L_K.
    pub log_p: Array1<f64>,
}

/// [`Estimates`] for every image of `images` (N, D) in [0, 1], with K =
/// `samples`; image n's ε are drawn from a generator seeded by (`seed`, n),
/// so the estimate of an image does not depend on the others. Panics if the
/// model is not a VAE.
pub fn importance_weighted(
    params: &Params,
    arch: &Architecture,
    images: ArrayView2<f32>,
    samples: usize,
    seed: u64,
) -> Estimates {
    assert!(arch.variational(), "importance_weighted: not a VAE");
    assert!(samples > 0, "importance_weighted: K = 0");
    let mut out = Estimates {
        elbo: Array1::zeros(images.nrows()),
        log_p: Array1::zeros(images.nrows()),
    };
    let mut ws = Workspace::new(arch, ENCODE_ROWS.min(images.nrows()).max(1));
    for (chunk, start) in images
        .axis_chunks_iter(Axis(0), ENCODE_ROWS)
        .zip((0..).step_by(ENCODE_ROWS))
    {
        let rows = chunk.nrows();
        ws.input_mut(rows).assign(&chunk);
        let sampling = ws.sampling.as_mut().expect("a VAE workspace");
        sampling.eps.fill(0.0);
        forward(params, arch, &mut ws, rows);
        let sampling = ws.sampling.as_ref().expect("a VAE workspace");
        for n in 0..rows {
            let mut rng = StdRng::seed_from_u64(
                seed ^ ((start + n) as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15),
            );
            let log_weights = log_weights(
                params,
                arch,
                chunk.row(n),
                sampling.mu.row(n),
                sampling.log_var.row(n),
                samples,
                &mut rng,
            );
            out.elbo[start + n] = log_weights.iter().sum::<f64>() / samples as f64;
            out.log_p[start + n] = log_mean_exp(&log_weights);
        }
    }
    out
}

/// log w_k, k < K, of one image x (D) whose q(z|x) is N(μ, exp(log σ²)) (Z each).
fn log_weights(
    params: &Params,
    arch: &Architecture,
    x: ArrayView1<f32>,
    mu: ArrayView1<f32>,
    log_var: ArrayView1<f32>,
    samples: usize,
    rng: &mut StdRng,
) -> Vec<f64> {
    let eps: Array2<f32> = Array2::random_using((samples, mu.len()), StandardNormal, rng);
    let sigma = log_var.mapv(|v| (0.5 * v).exp());
    let z = &eps * &sigma + mu; // (K, Z)
    let x_hat = decode(params, arch, z.view(), DECODE_ROWS); // (K, D)
    (0..samples)
        .map(|k| {
            let log_likelihood = bernoulli_log_likelihood(x, x_hat.row(k));
            let (mut log_prior, mut log_q) = (0.0f64, 0.0f64);
            for j in 0..mu.len() {
                let (zj, ej, lv) = (z[[k, j]] as f64, eps[[k, j]] as f64, log_var[j] as f64);
                log_prior -= 0.5 * (LN_2PI + zj * zj);
                log_q -= 0.5 * (LN_2PI + lv + ej * ej);
            }
            log_likelihood + log_prior - log_q
        })
        .collect()
}

/// Σ_d x_d·ln x̂_d + (1 − x_d)·ln(1 − x̂_d), each log floored at −100 as
/// the training loss floors it.
fn bernoulli_log_likelihood(x: ArrayView1<f32>, x_hat: ArrayView1<f32>) -> f64 {
    x.iter()
        .zip(x_hat)
        .map(|(&t, &p)| {
            let (t, p) = (t as f64, p as f64);
            t * p.ln().max(-100.0) + (1.0 - t) * (1.0 - p).ln().max(-100.0)
        })
        .sum()
}

/// log (1/K) Σ_k e^{a_k}, stable: the largest a_k is taken out first.
pub fn log_mean_exp(values: &[f64]) -> f64 {
    let top = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !top.is_finite() {
        return top;
    }
    let sum: f64 = values.iter().map(|v| (v - top).exp()).sum();
    top + (sum / values.len() as f64).ln()
}

/// The mean of `values` and the standard error of that mean.
pub fn mean_and_error(values: ArrayView1<f64>) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.sum() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    (mean, (variance / n).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{loss_forward, ModelKind};
    use crate::nn::LossKind;
    use ndarray::s;

    /// A small VAE 16-8-Z with its weights drawn from a seed, and 40 images.
    fn small_vae_of(latent: usize) -> (Params, Architecture, Array2<f32>) {
        let mut arch = Architecture::plain(16, vec![8], latent);
        arch.kind = ModelKind::Vae;
        let params = Params::init(&arch, &mut StdRng::seed_from_u64(3));
        let images = Array2::random_using(
            (40, 16),
            ndarray_rand::rand_distr::Uniform::new(0.0f32, 1.0).unwrap(),
            &mut StdRng::seed_from_u64(4),
        );
        (params, arch, images)
    }

    fn small_vae() -> (Params, Architecture, Array2<f32>) {
        small_vae_of(3)
    }

    /// With a 1-d code, log p(x) = log ∫ p(x|z)·N(z; 0, 1) dz is a quadrature
    /// on a grid; L_K with K = 4,000 comes within 0.05 nats of it.
    #[test]
    fn the_estimate_converges_to_log_p_x_where_it_can_be_integrated() {
        let (params, arch, images) = small_vae_of(1);
        let images = images.slice(s![..5, ..]).to_owned();
        let (low, high, points) = (-10.0f64, 10.0f64, 8001usize);
        let step = (high - low) / (points - 1) as f64;
        let grid = Array2::from_shape_fn((points, 1), |(i, _)| (low + i as f64 * step) as f32);
        let x_hat = decode(&params, &arch, grid.view(), 1000);
        let estimate = importance_weighted(&params, &arch, images.view(), 4000, 1).log_p;
        for (n, x) in images.rows().into_iter().enumerate() {
            let terms: Vec<f64> = (0..points)
                .map(|i| {
                    let z = grid[[i, 0]] as f64;
                    bernoulli_log_likelihood(x, x_hat.row(i)) - 0.5 * (LN_2PI + z * z) + step.ln()
                })
                .collect();
            let exact = log_mean_exp(&terms) + (points as f64).ln();
            assert!(
                (estimate[n] - exact).abs() < 0.05,
                "image {n}: L_K {} against log p(x) {exact}",
                estimate[n]
            );
        }
    }

    #[test]
    fn log_mean_exp_is_stable_and_exact() {
        assert!((log_mean_exp(&[0.0, 0.0]) - 0.0).abs() < 1e-15);
        assert!(
            (log_mean_exp(&[-1000.0, -1000.0 + 2f64.ln()]) - (-1000.0 + 1.5f64.ln())).abs() < 1e-12
        );
        assert_eq!(log_mean_exp(&[f64::NEG_INFINITY]), f64::NEG_INFINITY);
    }

    /// E[L_1] is the ELBO: averaged over many draws of ε, L_1 of each image
    /// equals −(BCE + KL) with the closed-form KL, within the Monte Carlo error.
    #[test]
    fn one_sample_estimates_the_elbo_and_more_samples_estimate_more() {
        let (params, arch, images) = small_vae();
        let rows = images.nrows();
        let mut ws = Workspace::new(&arch, rows);
        ws.input_mut(rows).assign(&images);
        ws.target.slice_mut(s![..rows, ..]).assign(&images);
        ws.sampling.as_mut().unwrap().eps.fill(0.0);
        // The ELBO per image with its expectation over ε: average the loss of many ε.
        let draws = 400;
        let mut elbo = 0.0;
        for d in 0..draws {
            let eps = Array2::random_using(
                (rows, 3),
                StandardNormal,
                &mut StdRng::seed_from_u64(100 + d),
            );
            ws.input_mut(rows).assign(&images);
            ws.sampling
                .as_mut()
                .unwrap()
                .eps
                .slice_mut(s![..rows, ..])
                .assign(&eps);
            forward(&params, &arch, &mut ws, rows);
            elbo -= loss_forward(arch.kind, LossKind::Bce, 1.0, &ws, rows).total / draws as f64;
        }
        let one: f64 = (0..draws)
            .map(|d| {
                let estimates = importance_weighted(&params, &arch, images.view(), 1, 7 + d);
                estimates.log_p.mean().unwrap()
            })
            .sum::<f64>()
            / draws as f64;
        assert!(
            (one - elbo).abs() < 0.05 * elbo.abs().max(1.0),
            "E[L_1] {one} against the ELBO {elbo}"
        );
        let k50 = importance_weighted(&params, &arch, images.view(), 50, 9);
        let k500 = importance_weighted(&params, &arch, images.view(), 500, 9);
        let (elbo50, log_p50) = (k50.elbo.mean().unwrap(), k50.log_p.mean().unwrap());
        let log_p500 = k500.log_p.mean().unwrap();
        assert!(
            (elbo50 - elbo).abs() < 0.05 * elbo.abs().max(1.0),
            "mean log w {elbo50} against the ELBO {elbo}"
        );
        assert!(
            k50.log_p.iter().zip(&k50.elbo).all(|(l, e)| l >= e),
            "Jensen"
        );
        assert!(
            log_p50 > one && log_p500 >= log_p50 - 0.02,
            "L_1 {one}, L_50 {log_p50}, L_500 {log_p500}"
        );
    }
}
