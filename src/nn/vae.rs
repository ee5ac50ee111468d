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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{compare, numeric_gradient};
    use ndarray::{array, Array2};

    fn inputs() -> (Array2<f32>, Array2<f32>, Array2<f32>) {
        let mu = array![[0.3f32, -1.2, 0.5], [0.9, 0.1, -0.4]];
        let log_var = array![[-0.5f32, 0.4, -1.5], [0.2, -0.3, 0.7]];
        let eps = array![[1.1f32, -0.3, 0.6], [-0.8, 1.4, 0.2]];
        (mu, log_var, eps)
    }

    /// `Σ c ⊙ z`: a loss whose gradient with respect to z is the fixed `c`.
    fn weighted_z(
        mu: &Array2<f32>,
        log_var: &Array2<f32>,
        eps: &Array2<f32>,
        c: &Array2<f32>,
    ) -> f64 {
        let mut z = Array2::zeros(mu.dim());
        reparameterise_forward(z.view_mut(), mu.view(), log_var.view(), eps.view());
        (&z * c).iter().map(|&v| v as f64).sum()
    }

    #[test]
    fn reparameterisation_backward_matches_finite_differences() {
        let (mu, log_var, eps) = inputs();
        let c = array![[0.7f32, -0.2, 1.3], [0.4, 0.9, -1.1]];
        let dmu = c.clone(); // dz = c, and dμ = dz
        let mut d_log_var = Array2::zeros(mu.dim());
        reparameterise_backward(dmu.view(), d_log_var.view_mut(), log_var.view(), eps.view());
        let mut state = (mu, log_var);
        let numeric_mu = numeric_gradient(
            &mut state,
            |s| s.0.as_slice_mut().unwrap(),
            1e-2,
            |s| weighted_z(&s.0, &s.1, &eps, &c),
        );
        let numeric_lv = numeric_gradient(
            &mut state,
            |s| s.1.as_slice_mut().unwrap(),
            1e-2,
            |s| weighted_z(&s.0, &s.1, &eps, &c),
        );
        assert!(compare(dmu.as_slice().unwrap(), &numeric_mu).tensor_error < 1e-3);
        let error = compare(d_log_var.as_slice().unwrap(), &numeric_lv).tensor_error;
        assert!(error < 1e-3, "d log σ² off by {error}");
    }

    #[test]
    fn kl_is_zero_at_the_prior_and_its_backward_matches_finite_differences() {
        let zeros = Array2::<f32>::zeros((2, 3));
        assert_eq!(kl_forward(zeros.view(), zeros.view()), 0.0);
        let (mu, log_var, _) = inputs();
        let mut dmu = Array2::zeros(mu.dim());
        let mut d_log_var = Array2::zeros(mu.dim());
        kl_backward(
            dmu.view_mut(),
            d_log_var.view_mut(),
            mu.view(),
            log_var.view(),
        );
        let mut state = (mu, log_var);
        let numeric_mu = numeric_gradient(
            &mut state,
            |s| s.0.as_slice_mut().unwrap(),
            1e-2,
            |s| kl_forward(s.0.view(), s.1.view()),
        );
        let numeric_lv = numeric_gradient(
            &mut state,
            |s| s.1.as_slice_mut().unwrap(),
            1e-2,
            |s| kl_forward(s.0.view(), s.1.view()),
        );
        assert!(compare(dmu.as_slice().unwrap(), &numeric_mu).tensor_error < 1e-3);
        assert!(compare(d_log_var.as_slice().unwrap(), &numeric_lv).tensor_error < 1e-3);
    }
}
