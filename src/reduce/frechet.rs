//! The Fréchet distance between two sets of feature vectors, each summarised
//! by a Gaussian N(μ, Σ) (the FID of Heusel et al. 2017, with the digit
//! judge's hidden layer as the features):
//!
//! ```text
//! d² = ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2 (Σ₁Σ₂)^½)
//! tr (Σ₁Σ₂)^½ = tr (Σ₁^½ Σ₂ Σ₁^½)^½ = Σ_i √λ_i(Σ₁^½ Σ₂ Σ₁^½)
//! ```
//! Σ₁Σ₂ is not symmetric, but it is similar to Σ₁^½ Σ₂ Σ₁^½ (conjugate by
//! Σ₁^½), which is symmetric and positive semi-definite: its eigenvalues
//! λ_i ≥ 0 are those of Σ₁Σ₂, and the trace of the square root is Σ √λ_i.
//! Both square roots go through the symmetric eigen-decomposition
//! ([`symmetric_eigen`]): A = V·Λ·Vᵀ, A^½ = V·Λ^½·Vᵀ, tiny negative
//! eigenvalues (round-off) taken as 0. Everything in f64; the covariances are
//! the unbiased ones, 1/(N − 1) Σ (x − μ)(x − μ)ᵀ, as numpy's `np.cov`.
//!
//! The distance shrinks as the sets grow (the estimate of Σ is noisy): compare
//! two distances only at the same number of samples.

use ndarray::{Array1, Array2, ArrayView2, Axis};

use super::linalg::symmetric_eigen;

/// A set of features summarised by its mean and covariance.
#[derive(Debug, Clone)]
pub struct Moments {
    /// μ, (H).
    pub mean: Array1<f64>,
    /// Σ, (H, H), unbiased.
    pub covariance: Array2<f64>,
}

/// The mean and unbiased covariance of `features` (N, H), N ≥ 2.
pub fn moments(features: ArrayView2<f32>) -> Moments {
    let n = features.nrows();
    assert!(n >= 2, "moments: need at least 2 feature vectors, got {n}");
    let x = features.mapv(f64::from);
    let mean = x.mean_axis(Axis(0)).expect("n ≥ 2");
    let centred = &x - &mean;
    let covariance = centred.t().dot(&centred) / (n - 1) as f64;
    Moments { mean, covariance }
}

/// A^½ = V·Λ^½·Vᵀ for a symmetric positive semi-definite `a` (H, H).
pub fn symmetric_sqrt(a: ArrayView2<f64>) -> Array2<f64> {
    let (values, vectors) = symmetric_eigen(a);
    let roots = values.mapv(|v| v.max(0.0).sqrt());
    (&vectors * &roots).dot(&vectors.t())
}

/// d² between the Gaussians of two [`Moments`] (see the module documentation).
pub fn frechet_from_moments(a: &Moments, b: &Moments) -> f64 {
    FrechetReference::from_moments(a.clone()).distance_to_moments(b)
}

/// d² between the sets `features_a` (N, H) and `features_b` (M, H).
pub fn frechet_distance(features_a: ArrayView2<f32>, features_b: ArrayView2<f32>) -> f64 {
    frechet_from_moments(&moments(features_a), &moments(features_b))
}

/// One side of the distance prepared once (μ₁, Σ₁, Σ₁^½): measuring many sets
/// of samples against the same test digits then costs one eigen-decomposition each.
#[derive(Debug, Clone)]
pub struct FrechetReference {
    pub moments: Moments,
    /// Σ₁^½, (H, H).
    pub sqrt_covariance: Array2<f64>,
}

impl FrechetReference {
    /// The reference set `features` (N, H).
    pub fn new(features: ArrayView2<f32>) -> FrechetReference {
        FrechetReference::from_moments(moments(features))
    }

    pub fn from_moments(moments: Moments) -> FrechetReference {
        let sqrt_covariance = symmetric_sqrt(moments.covariance.view());
        FrechetReference {
            moments,
            sqrt_covariance,
        }
    }

    /// d² from this reference to the set `features` (N, H).
    pub fn distance(&self, features: ArrayView2<f32>) -> f64 {
        self.distance_to_moments(&moments(features))
    }

    /// d² from this reference to a set summarised by `other`.
    pub fn distance_to_moments(&self, other: &Moments) -> f64 {
        let (m1, m2) = (&self.moments, other);
        assert_eq!(
            m1.mean.len(),
            m2.mean.len(),
            "frechet: feature widths differ"
        );
        let difference = &m1.mean - &m2.mean;
        let root = &self.sqrt_covariance;
        let middle = root.dot(&m2.covariance).dot(root); // Σ₁^½ Σ₂ Σ₁^½, (H, H)
        let symmetric = (&middle + &middle.t()) * 0.5; // exactly symmetric
        let (values, _) = symmetric_eigen(symmetric.view());
        let trace_root: f64 = values.iter().map(|v| v.max(0.0).sqrt()).sum();
        difference.dot(&difference) + m1.covariance.diag().sum() + m2.covariance.diag().sum()
            - 2.0 * trace_root
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn features(n: usize, h: usize, seed: usize) -> Array2<f32> {
        Array2::from_shape_fn((n, h), |(i, j)| {
            (((i * 31 + j * 17 + seed) as f32 * 0.7).sin() * (j + 1) as f32).max(0.0)
        })
    }

    #[test]
    fn a_set_is_at_distance_zero_from_itself() {
        let a = features(500, 12, 0);
        let trace = moments(a.view()).covariance.diag().sum();
        let d = frechet_distance(a.view(), a.view());
        assert!(d.abs() < 1e-9 * trace, "{d} (trace {trace})");
        let b = features(500, 12, 3);
        assert!(frechet_distance(a.view(), b.view()) > 1e-3);
    }

    /// Diagonal covariances commute: d² = ‖μ₁ − μ₂‖² + Σ_i (σ₁ᵢ − σ₂ᵢ)².
    #[test]
    fn diagonal_gaussians_match_the_closed_form() {
        let a = Moments {
            mean: array![1.0, 2.0, 0.0],
            covariance: Array2::from_diag(&array![4.0, 1.0, 0.25]),
        };
        let b = Moments {
            mean: array![0.0, 2.0, 3.0],
            covariance: Array2::from_diag(&array![1.0, 9.0, 0.25]),
        };
        let want = (1.0 + 0.0 + 9.0) + (1.0 + 4.0 + 0.0);
        let got = frechet_from_moments(&a, &b);
        assert!((got - want).abs() < 1e-10, "{got} vs {want}");
    }

    /// Full 2×2 covariances that do not commute: for 2×2 with real positive
    /// eigenvalues, tr M^½ = √(tr M + 2√det M), so
    /// tr (Σ₁Σ₂)^½ = √(tr Σ₁Σ₂ + 2√(det Σ₁ det Σ₂)).
    #[test]
    fn full_two_by_two_gaussians_match_the_closed_form() {
        let s1 = array![[2.0, 0.8], [0.8, 1.0]];
        let s2 = array![[0.5, -0.3], [-0.3, 3.0]];
        let det = |s: &Array2<f64>| s[[0, 0]] * s[[1, 1]] - s[[0, 1]] * s[[1, 0]];
        let trace_root = (s1.dot(&s2).diag().sum() + 2.0 * (det(&s1) * det(&s2)).sqrt()).sqrt();
        let want = 0.5f64.powi(2) + 1.0 + s1.diag().sum() + s2.diag().sum() - 2.0 * trace_root;
        let a = Moments {
            mean: array![0.5, 0.0],
            covariance: s1,
        };
        let b = Moments {
            mean: array![0.0, 1.0],
            covariance: s2,
        };
        for got in [frechet_from_moments(&a, &b), frechet_from_moments(&b, &a)] {
            assert!((got - want).abs() < 1e-10, "{got} vs {want}");
        }
    }

    #[test]
    fn square_root_squares_back() {
        let a = array![[4.0, 1.0, 0.0], [1.0, 3.0, 0.5], [0.0, 0.5, 2.0]];
        let root = symmetric_sqrt(a.view());
        assert!((&root.dot(&root) - &a).iter().all(|d| d.abs() < 1e-10));
    }
}
