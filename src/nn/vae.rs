//! The two pieces a variational autoencoder adds to a plain one: sampling the
//! code by the reparameterisation trick, and the KL term that pulls the codes
//! toward N(0, I). Shapes: B = batch, Z = latent size; μ and log σ² are the
//! outputs of the encoder's two heads.
//!
//! ```text
//! reparameterise   z = μ + σ ⊙ ε,  σ = exp(½ log σ²),  ε ~ N(0, I) given
//!    backward      dμ = dz                      (∂z/∂μ = 1)
//!                  d log σ² = dz ⊙ ½ σ ⊙ ε      (∂z/∂log σ² = ½ σ ε)
//! KL               L = 1/B Σ ½ (μ² + σ² − log σ² − 1)      KL(N(μ, σ²) ‖ N(0, I)), per image
//!    backward      dμ += μ / B,   d log σ² += ½ (σ² − 1) / B
//! ```
//! Sampling ε outside the network is the trick: z is then an ordinary
//! differentiable function of μ and log σ², and the randomness is an input.

use ndarray::{ArrayView2, ArrayViewMut2, Zip};

/// `z = μ + exp(½ log σ²) ⊙ ε`.
///
/// z: (B, Z) overwritten; mu, log_var, eps: (B, Z).
pub fn reparameterise_forward(
    z: ArrayViewMut2<f32>,
    mu: ArrayView2<f32>,
    log_var: ArrayView2<f32>,
    eps: ArrayView2<f32>,
) {
    assert_eq!(z.dim(), mu.dim(), "reparameterise_forward: z and μ differ");
    Zip::from(z)
        .and(&mu)
        .and(&log_var)
        .and(&eps)
        .for_each(|z, &m, &lv, &e| *z = m + (0.5 * lv).exp() * e);
}

/// Undoes `z = μ + σ ⊙ ε`: `dμ = dz` (taken in place: `dz_then_dmu` holds dz
/// on entry and dμ on return) and `d log σ² = dz ⊙ ½ σ ⊙ ε` (overwritten).
///
/// dz_then_dmu, d_log_var, log_var, eps: (B, Z).
pub fn reparameterise_backward(
    dz_then_dmu: ArrayView2<f32>,
    d_log_var: ArrayViewMut2<f32>,
    log_var: ArrayView2<f32>,
    eps: ArrayView2<f32>,
) {
    Zip::from(d_log_var)
        .and(&dz_then_dmu)
        .and(&log_var)
        .and(&eps)
        .for_each(|dlv, &dz, &lv, &e| *dlv = dz * 0.5 * (0.5 * lv).exp() * e);
}

/// `L = 1/B Σ ½ (μ² + exp(log σ²) − log σ² − 1)`, nats per image, summed in f64.
///
/// mu, log_var: (B, Z).
pub fn kl_forward(mu: ArrayView2<f32>, log_var: ArrayView2<f32>) -> f64 {
    assert_eq!(mu.dim(), log_var.dim(), "kl_forward: μ and log σ² differ");
    let mut sum = 0.0f64;
    Zip::from(&mu).and(&log_var).for_each(|&m, &lv| {
        let (m, lv) = (m as f64, lv as f64);
        sum += 0.5 * (m * m + lv.exp() - lv - 1.0);
    });
    sum / mu.nrows().max(1) as f64
}

/// Adds the KL term's gradient: `dμ += μ / B`, `d log σ² += ½ (exp(log σ²) − 1) / B`.
///
/// dmu, d_log_var: (B, Z) accumulated; mu, log_var: (B, Z).
pub fn kl_backward(
    dmu: ArrayViewMut2<f32>,
    d_log_var: ArrayViewMut2<f32>,
    mu: ArrayView2<f32>,
    log_var: ArrayView2<f32>,
) {
    let scale = 1.0 / mu.nrows().max(1) as f32;
    Zip::from(dmu).and(&mu).for_each(|d, &m| *d += m * scale);
    Zip::from(d_log_var)
        .and(&log_var)
        .for_each(|d, &lv| *d += 0.5 * (lv.exp() - 1.0) * scale);
}
