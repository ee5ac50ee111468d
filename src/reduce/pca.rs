//! Principal component analysis, hand-written.
//!
//! For data X (N, D) with mean μ, the covariance is `C = (X − μ)ᵀ(X − μ) / N` (D, D).
//! Its top-k eigenvectors V (D, k) span the k-dimensional subspace that keeps the
//! most variance, and `x̂ = μ + (x − μ)·V·Vᵀ` is the best rank-k *linear*
//! reconstruction of X: on the data it was fitted to, a linear autoencoder with k
//! latent units can do no better. On test data it is a baseline, not a bound: the
//! one the nonlinear autoencoder is measured against.
//!
//! Eigenvectors: for small D (latent codes), or many components, the
//! eigen-decomposition of C directly; for a few components of a large D (32 of
//! 784 pixels) subspace iteration: `Q ← orth(C·Q)` converges to the top
//! eigenvectors, then the eigen-decomposition of the small matrix `QᵀCQ`
//! (Rayleigh-Ritz) orders them (see `direct`).

use std::ops::Range;

use ndarray::{s, Array1, Array2, ArrayView2, CowArray, Ix2};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::SeedableRng;
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use super::linalg::symmetric_eigen;

/// A fitted PCA.
#[derive(Debug, Clone)]
pub struct Pca {
    /// (D) the data mean μ.
    pub mean: Array1<f32>,
    /// (D, k) unit principal axes as columns, by decreasing variance; each axis's
    /// largest coordinate is positive (a fixed sign convention).
    pub components: Array2<f32>,
    /// (k) the variance along each axis (the eigenvalues).
    pub variances: Array1<f64>,
}

/// Dimensions up to this size decompose the full covariance.
const DIRECT_MAX_DIM: usize = 64;

/// Whether `k` of `d` components are found faster by decomposing the whole
/// covariance (about 5·d³ scalar operations) than by 150 rounds of subspace
/// iteration with k + 8 vectors (2·d²·(k + 8) each, in fast matrix products):
/// for small d, or when k + 8 is more than a sixth of d.
fn direct(d: usize, k: usize) -> bool {
    d <= DIRECT_MAX_DIM || 6 * (k + 8) > d
}

/// Rows per pass of the mean and the covariance: a pass's rows, centred
/// copy and product are all the data memory a fit holds.
pub const FIT_CHUNK_ROWS: usize = 4096;

impl Pca {
    /// Fits `k` components to the rows of `x` (N, D).
    pub fn fit(x: ArrayView2<f32>, k: usize) -> Pca {
        let (n, d) = x.dim();
        Pca::fit_in_chunks(n, d, k, |rows| CowArray::from(x.slice(s![rows, ..])))
    }

    /// [`Pca::fit`] of N rows of D values that `rows(range)` hands over
    /// [`FIT_CHUNK_ROWS`] at a time, in order (twice: for the mean, then for
    /// the covariance): the same numbers bit for bit, without the N rows
    /// in memory at once (the figures' PCA baseline converts 55,000 images).
    pub fn fit_in_chunks<'a>(
        n: usize,
        d: usize,
        k: usize,
        rows: impl Fn(Range<usize>) -> CowArray<'a, f32, Ix2>,
    ) -> Pca {
        assert!(
            k >= 1 && k <= d && n >= 1,
            "Pca::fit: need 1 ≤ k ≤ D and data"
        );
        let chunks = || {
            (0..n)
                .step_by(FIT_CHUNK_ROWS)
                .map(|start| start..(start + FIT_CHUNK_ROWS).min(n))
        };
        let mean = mean(d, chunks().map(&rows), n);
        let covariance = covariance(d, chunks().map(&rows), &mean, n);
        let (variances, mut components) = if direct(d, k) {
            let (values, vectors) = symmetric_eigen(covariance.view());
            (
                values.slice(s![..k]).to_owned(),
                vectors.slice(s![.., ..k]).to_owned(),
            )
        } else {
            top_eigenvectors(&covariance, k)
        };
        for mut axis in components.columns_mut() {
            let largest = axis
                .iter()
                .copied()
                .fold(0.0f64, |m, v| if v.abs() > m.abs() { v } else { m });
            if largest < 0.0 {
                axis.mapv_inplace(|v| -v);
            }
        }
        Pca {
            mean,
            components: components.mapv(|v| v as f32),
            variances,
        }
    }

    /// Coordinates along the axes: `(x − μ)·V`. x: (N, D) → (N, k).
    pub fn project(&self, x: ArrayView2<f32>) -> Array2<f32> {
        (&x - &self.mean).dot(&self.components)
    }

    /// The rank-k reconstruction `μ + (x − μ)·V·Vᵀ`. x: (N, D) → (N, D).
    pub fn reconstruct(&self, x: ArrayView2<f32>) -> Array2<f32> {
        self.project(x).dot(&self.components.t()) + &self.mean
    }
}

/// μ = Σ x_n / N (D) in f32 of the N rows in `chunks`, each row added in
/// turn (the order of ndarray's `mean_axis(Axis(0))`, so the same bits).
fn mean<'a>(
    d: usize,
    chunks: impl Iterator<Item = CowArray<'a, f32, Ix2>>,
    n: usize,
) -> Array1<f32> {
    let mut sum = Array1::<f32>::zeros(d);
    for chunk in chunks {
        for row in chunk.rows() {
            sum += &row;
        }
    }
    sum.mapv(|s| s / n as f32)
}

/// `(X − μ)ᵀ(X − μ) / N` (D, D) in f64 of the N rows in `chunks`, a
/// product per chunk, so the centred copy stays small.
fn covariance<'a>(
    d: usize,
    chunks: impl Iterator<Item = CowArray<'a, f32, Ix2>>,
    mean: &Array1<f32>,
    n: usize,
) -> Array2<f64> {
    let mut sum = Array2::<f64>::zeros((d, d));
    let mut product = Array2::<f32>::zeros((d, d));
    for chunk in chunks {
        let centred = &chunk - mean;
        crate::nn::matmul::matmul(centred.t(), centred.view(), 0.0, product.view_mut());
        sum.zip_mut_with(&product, |s, &p| *s += p as f64);
    }
    sum / n as f64
}

/// Top-k eigenpairs of a large symmetric positive semi-definite matrix by
/// subspace iteration with 8 extra vectors, then Rayleigh-Ritz.
fn top_eigenvectors(c: &Array2<f64>, k: usize) -> (Array1<f64>, Array2<f64>) {
    let d = c.nrows();
    let width = (k + 8).min(d);
    let mut q =
        Array2::<f64>::random_using((d, width), StandardNormal, &mut StdRng::seed_from_u64(0));
    orthonormalize(&mut q);
    for _ in 0..150 {
        q = c.dot(&q);
        orthonormalize(&mut q);
    }
    let small = q.t().dot(c).dot(&q);
    let (values, vectors) = symmetric_eigen(small.view());
    let components = q.dot(&vectors.slice(s![.., ..k]));
    (values.slice(s![..k]).to_owned(), components)
}

/// Modified Gram-Schmidt on the columns of `q`.
fn orthonormalize(q: &mut Array2<f64>) {
    for j in 0..q.ncols() {
        for i in 0..j {
            let dot = q.column(i).dot(&q.column(j));
            let qi = q.column(i).to_owned();
            q.column_mut(j).scaled_add(-dot, &qi);
        }
        let norm = q.column(j).dot(&q.column(j)).sqrt().max(1e-300);
        q.column_mut(j).mapv_inplace(|v| v / norm);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nn::loss::mse_forward as mean_squared_error;
    use ndarray_rand::rand_distr::Normal;

    /// Data with known axes: standard deviations 10, 3, 1 along (1,1,0,…)/√2,
    /// (0,0,1,0,…) and (1,−1,0,…)/√2, plus tiny noise, in D dimensions.
    fn known(d: usize) -> (Array2<f32>, Vec<Array1<f32>>) {
        let mut rng = StdRng::seed_from_u64(5);
        let r = std::f32::consts::FRAC_1_SQRT_2;
        let mut axes = vec![Array1::zeros(d), Array1::zeros(d), Array1::zeros(d)];
        axes[0][0] = r;
        axes[0][1] = r;
        axes[1][2] = 1.0;
        axes[2][0] = r;
        axes[2][1] = -r;
        let coeffs = Array2::<f32>::random_using((4000, 3), StandardNormal, &mut rng);
        let noise =
            Array2::<f32>::random_using((4000, d), Normal::new(0.0, 0.01).unwrap(), &mut rng);
        let mut x = noise + 2.0;
        for (i, (axis, sd)) in axes.iter().zip([10.0f32, 3.0, 1.0]).enumerate() {
            for (mut row, c) in x.rows_mut().into_iter().zip(coeffs.column(i)) {
                row.scaled_add(c * sd, axis);
            }
        }
        (x, axes)
    }

    fn check(d: usize) {
        let (x, axes) = known(d);
        let pca = Pca::fit(x.view(), 2);
        for (j, sd) in [10.0f64, 3.0].iter().enumerate() {
            let cosine = pca.components.column(j).dot(&axes[j]).abs();
            assert!(cosine > 0.999, "D={d}: axis {j} off by cosine {cosine}");
            let ratio = pca.variances[j] / (sd * sd);
            assert!(
                (ratio - 1.0).abs() < 0.1,
                "D={d}: variance {j} ratio {ratio}"
            );
        }
        // Rank-2 reconstruction loses exactly the third axis: variance ≈ 1 over D dims.
        let mse = mean_squared_error(pca.reconstruct(x.view()).view(), x.view());
        assert!(
            (mse * d as f64 - 1.0).abs() < 0.15,
            "D={d}: mse×D = {}",
            mse * d as f64
        );
    }

    #[test]
    fn direct_path_finds_known_components() {
        check(8);
    }

    #[test]
    fn subspace_iteration_path_finds_known_components() {
        check(100);
    }
}
