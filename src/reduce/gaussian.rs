//! A Gaussian N(μ, Σ) fitted to latent codes, for sampling new codes from the
//! region where the training codes live (a plain autoencoder has no prior).
//!
//! ```text
//! μ = mean of the codes            Σ = 1/N Σᵢ (zᵢ − μ)(zᵢ − μ)ᵀ
//! Σ = L·Lᵀ (Cholesky)              a sample: z = μ + L·ε,  ε ~ N(0, I)
//! ```

use ndarray::{Array1, Array2, ArrayView2, Axis};

use super::linalg::cholesky;

/// Tries of the Cholesky factorisation, each with a ten times larger ridge.
const MAX_TRIES: usize = 12;

/// The most dimensions fitted: the covariance takes Z² memory and N·Z² time
/// to form, its Cholesky factor Z³/3 (at 20,000 dimensions: 3.2 GB and hours).
pub const MAX_DIMENSIONS: usize = 1024;

/// A Gaussian N(μ, Σ) with Σ = L·Lᵀ.
#[derive(Debug, Clone)]
pub struct Gaussian {
    /// μ, (Z).
    pub mean: Array1<f32>,
    /// L, (Z, Z) lower triangular.
    pub cholesky: Array2<f32>,
}

impl Gaussian {
    /// Mean and full covariance of `codes` (N, Z). A tiny ridge keeps Σ
    /// positive definite; if even a ridge of 10⁵ × the mean variance cannot,
    /// or a code is NaN or infinite, it gives up with a message.
    pub fn fit(codes: ArrayView2<f32>) -> Result<Gaussian, String> {
        if codes.nrows() == 0 {
            return Err("no codes to fit a Gaussian to".into());
        }
        if codes.ncols() > MAX_DIMENSIONS {
            return Err(format!(
                "a {}-dimensional code is too large for a full-covariance Gaussian (at most {MAX_DIMENSIONS} dimensions: memory grows as Z², time as Z³)",
                codes.ncols()
            ));
        }
        if codes.iter().any(|v| !v.is_finite()) {
            return Err("the codes hold NaN or infinite values (the weights are broken)".into());
        }
        let mean = codes.mean_axis(Axis(0)).expect("at least one code");
        let centred = (&codes - &mean).mapv(f64::from);
        let mut covariance = centred.t().dot(&centred) / codes.nrows() as f64;
        let scale = covariance.diag().mean().unwrap_or(1.0).max(1e-12);
        let mut ridge = 1e-6 * scale;
        for _ in 0..MAX_TRIES {
            if let Some(l) = cholesky(covariance.view()) {
                let cholesky = l.mapv(|v| v as f32);
                return Ok(Gaussian { mean, cholesky });
            }
            covariance.diag_mut().mapv_inplace(|v| v + ridge);
            ridge *= 10.0;
        }
        Err(format!(
            "the codes' covariance is not positive definite after {MAX_TRIES} tries"
        ))
    }

    /// z = μ + L·ε for each row ε of `noise` (N, Z).
    pub fn sample(&self, noise: ArrayView2<f32>) -> Array2<f32> {
        noise.dot(&self.cholesky.t()) + &self.mean
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn fit_recovers_a_known_covariance_and_gives_up_on_nan() {
        let codes = array![[1.0f32, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]];
        let g = Gaussian::fit(codes.view()).unwrap();
        let sigma = g.cholesky.dot(&g.cholesky.t());
        assert!((sigma[[0, 0]] - 0.5).abs() < 1e-5 && (sigma[[1, 1]] - 2.0).abs() < 1e-5);
        let broken = array![[f32::NAN, 0.0], [1.0, 1.0]];
        assert!(Gaussian::fit(broken.view()).unwrap_err().contains("NaN"));
        // Issue 28 item 5: refused at once above the bound, not O(Z³) later.
        let wide = Array2::<f32>::zeros((2, MAX_DIMENSIONS + 1));
        assert!(Gaussian::fit(wide.view())
            .unwrap_err()
            .contains("at most 1024"));
    }
}
