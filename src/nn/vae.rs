//! The two pieces a variational autoencoder adds to a plain one: sampling the
//! code by the reparameterisation trick, and the KL term that pulls the codes
//! toward N(0, I). Shapes: B = batch, Z = latent size; μ and log σ² are the
//! outputs of the encoder's two heads.
//!
//! ```text
//! reparameterise   z = μ + σ ⊙ ε,  σ = exp(½ log σ²),  ε ~ N(0, I) given
//!    backward      dμ += dz                     (∂z/∂μ = 1)
//!                  d log σ² += dz ⊙ ½ σ ⊙ ε     (∂z/∂log σ² = ½ σ ε)
//! KL               KL = 1/B Σ ½ (μ² + σ² − log σ² − 1)     KL(N(μ, σ²) ‖ N(0, I)), per image
//!    backward      of β·KL:  dμ += β μ / B,   d log σ² += β ½ (σ² − 1) / B
//! ```
//! β is the KL term's weight (`--beta`; 1 gives the ELBO, Higgins et al.'s
//! β-VAE takes β > 1).
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

/// Undoes `z = μ + σ ⊙ ε`: `d log σ² += dz ⊙ ½ σ ⊙ ε` (accumulated onto the
/// KL term's part, which `kl_backward` wrote first). The other half,
/// `dμ += dz`, is a plain sum the caller does.
///
/// dz, d_log_var, log_var, eps: (B, Z).
pub fn reparameterise_backward(
    dz: ArrayView2<f32>,
    d_log_var: ArrayViewMut2<f32>,
    log_var: ArrayView2<f32>,
    eps: ArrayView2<f32>,
) {
    Zip::from(d_log_var)
        .and(&dz)
        .and(&log_var)
        .and(&eps)
        .for_each(|dlv, &dz, &lv, &e| *dlv += dz * 0.5 * (0.5 * lv).exp() * e);
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

/// Adds the gradient of β·KL: `dμ += β μ / B`, `d log σ² += β ½ (exp(log σ²) − 1) / B`.
///
/// dmu, d_log_var: (B, Z) accumulated; mu, log_var: (B, Z); beta: the KL term's weight.
pub fn kl_backward(
    dmu: ArrayViewMut2<f32>,
    d_log_var: ArrayViewMut2<f32>,
    mu: ArrayView2<f32>,
    log_var: ArrayView2<f32>,
    beta: f32,
) {
    let scale = beta / mu.nrows().max(1) as f32;
    Zip::from(dmu).and(&mu).for_each(|d, &m| *d += m * scale);
    Zip::from(d_log_var)
        .and(&log_var)
        .for_each(|d, &lv| *d += 0.5 * (lv.exp() - 1.0) * scale);
}

/// The KL term of each code dimension, averaged over the rows:
/// `KL_u = 1/N Σ_n ½ (μ_nu² + σ_nu² − log σ_nu² − 1)`, in f64. The KL of
/// [`kl_forward`] is their sum.
///
/// mu, log_var: (N, Z) → (Z).
pub fn kl_per_dimension(mu: ArrayView2<f32>, log_var: ArrayView2<f32>) -> Vec<f64> {
    assert_eq!(
        mu.dim(),
        log_var.dim(),
        "kl_per_dimension: μ and log σ² differ"
    );
    let mut sums = vec![0.0f64; mu.ncols()];
    for (m, lv) in mu.rows().into_iter().zip(log_var.rows()) {
        for (u, (&m, &lv)) in m.iter().zip(lv).enumerate() {
            let (m, lv) = (m as f64, lv as f64);
            sums[u] += 0.5 * (m * m + lv.exp() - lv - 1.0);
        }
    }
    let n = mu.nrows().max(1) as f64;
    sums.iter().map(|s| s / n).collect()
}

/// Burda et al.'s activity of each code dimension: `A_u = Cov_x(E_q[z_u])`,
/// the variance over the images of the posterior mean μ_u (divided by N).
/// A dimension whose μ does not move with x carries no information about x.
///
/// mu: (N, Z) → (Z).
pub fn activity(mu: ArrayView2<f32>) -> Vec<f64> {
    let n = mu.nrows().max(1) as f64;
    mu.columns()
        .into_iter()
        .map(|column| {
            let mean = column.iter().map(|&m| m as f64).sum::<f64>() / n;
            column
                .iter()
                .map(|&m| (m as f64 - mean).powi(2))
                .sum::<f64>()
                / n
        })
        .collect()
}

/// Burda et al.'s threshold: a unit is active when its activity exceeds 0.01.
pub const ACTIVE_UNIT_THRESHOLD: f64 = 0.01;

/// How many units have an [`activity`] above [`ACTIVE_UNIT_THRESHOLD`].
pub fn active_units(activity: &[f64]) -> usize {
    activity
        .iter()
        .filter(|&&a| a > ACTIVE_UNIT_THRESHOLD)
        .count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn the_kl_per_dimension_sums_to_the_kl_and_is_zero_at_the_prior() {
        let mu = array![[0.3f32, 0.0, 1.2], [-0.5, 0.0, 0.8]];
        let log_var = array![[-0.4f32, 0.0, -2.0], [0.3, 0.0, -1.5]];
        let per_dimension = kl_per_dimension(mu.view(), log_var.view());
        let total: f64 = per_dimension.iter().sum();
        assert!((total - kl_forward(mu.view(), log_var.view())).abs() < 1e-12);
        assert_eq!(per_dimension[1], 0.0, "μ = 0, σ = 1 is the prior");
        assert!(
            per_dimension[2] > per_dimension[0],
            "far from the prior costs more"
        );
    }

    /// Burda et al.'s count: a dimension whose μ does not move with x is
    /// inactive however large its KL; one whose μ varies by ±0.2 (variance
    /// 0.04) is active.
    #[test]
    fn a_unit_is_active_when_its_posterior_mean_varies_over_x() {
        let mu = array![
            [2.0f32, 0.2, 0.05],
            [2.0, -0.2, -0.05],
            [2.0, 0.2, 0.05],
            [2.0, -0.2, -0.05]
        ];
        let a = activity(mu.view());
        assert_eq!(a[0], 0.0, "constant μ");
        assert!((a[1] - 0.04).abs() < 1e-7, "{}", a[1]);
        assert!(
            (a[2] - 0.0025).abs() < 1e-7,
            "below the 0.01 threshold: {}",
            a[2]
        );
        assert_eq!(active_units(&a), 1);
    }
}
