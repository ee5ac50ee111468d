//! The one matrix product everything uses: `C = A·B + β·C`, split over the rows
//! of `C` across rayon's threads when the product is large enough.
//!
//! Each thread computes a fixed band of rows (or columns) with matrixmultiply's single-thread
//! kernel (AVX-512 or AVX2, picked at run time). No two threads write the same
//! element and every element's sum runs in the same order, so the result does not
//! depend on timing: the same inputs and thread count give bit-identical outputs.
//!
//! The three products of a dense layer all have this form:
//! forward `Y = X·W`, input gradient `dX = dY·Wᵀ`, weight gradient `dW = Xᵀ·dY`.
//! Transposed operands are strided views (`.t()`), never copies.

use ndarray::linalg::general_mat_mul;
use ndarray::{ArrayView2, ArrayViewMut2, Axis};

/// Below this many floating-point operations a product runs on one thread:
/// splitting a small product costs more in synchronisation than it saves.
const PARALLEL_MIN_FLOPS: usize = 4_000_000;

/// `C = A·B + β·C`.
///
/// a: (M, K), b: (K, N), c: (M, N). With β = 0, `C` is overwritten; with β = 1 the
/// product is added to it.
///
/// matrixmultiply copies ("packs") both operands into cache-friendly panels.
/// Splitting C by rows makes every thread pack all of B; splitting by columns
/// makes every thread pack all of A. So we split along the side that makes the
/// *smaller* operand the one packed twice.
pub fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>, beta: f32, c: ArrayViewMut2<f32>) {
    let (m, k) = a.dim();
    let n = b.ncols();
    assert_eq!(
        b.nrows(),
        k,
        "matmul: A is {m}×{k} but B has {} rows",
        b.nrows()
    );
    assert_eq!(c.dim(), (m, n), "matmul: C has the wrong shape");
    let threads = rayon::current_num_threads();
    let split = if m * k <= k * n { Axis(1) } else { Axis(0) };
    let len = c.len_of(split);
    if threads == 1 || 2 * m * k * n < PARALLEL_MIN_FLOPS || len < 16 * threads {
        let mut c = c;
        general_mat_mul(1.0, &a, &b, beta, &mut c);
        return;
    }
    // Bands of a multiple of 8 rows or columns (the kernel's tile width).
    let band = len.div_ceil(threads).div_ceil(8) * 8;
    matmul_bands(a, b, beta, c, split, band);
}

/// Splits `C` into bands of `band` rows (`Axis(0)`, with A) or columns
/// (`Axis(1)`, with B) and multiplies the bands in parallel (binary splitting
/// with `rayon::join`: no allocation).
fn matmul_bands(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    beta: f32,
    mut c: ArrayViewMut2<f32>,
    split: Axis,
    band: usize,
) {
    let len = c.len_of(split);
    if len <= band {
        general_mat_mul(1.0, &a, &b, beta, &mut c);
        return;
    }
    let mid = (len.div_ceil(band) / 2) * band;
    let (c1, c2) = c.split_at(split, mid);
    if split == Axis(0) {
        let (a1, a2) = a.split_at(Axis(0), mid);
        rayon::join(
            || matmul_bands(a1, b, beta, c1, split, band),
            || matmul_bands(a2, b, beta, c2, split, band),
        );
    } else {
        let (b1, b2) = b.split_at(Axis(1), mid);
        rayon::join(
            || matmul_bands(a, b1, beta, c1, split, band),
            || matmul_bands(a, b2, beta, c2, split, band),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Naive triple loop in f64: the reference.
    fn reference(a: &Array2<f32>, b: &Array2<f32>) -> Array2<f64> {
        let mut c = Array2::<f64>::zeros((a.nrows(), b.ncols()));
        for i in 0..a.nrows() {
            for j in 0..b.ncols() {
                for k in 0..a.ncols() {
                    c[[i, j]] += a[[i, k]] as f64 * b[[k, j]] as f64;
                }
            }
        }
        c
    }

    fn pseudo_random(rows: usize, cols: usize, salt: usize) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            (((i * 31 + j * 17 + salt * 7) % 23) as f32 - 11.0) / 11.0
        })
    }

    #[test]
    fn parallel_product_matches_reference_including_transposes_and_beta() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        pool.install(|| {
            let a = pseudo_random(301, 97, 1);
            let b = pseudo_random(97, 203, 2);
            let mut c = Array2::<f32>::from_elem((301, 203), 0.5);
            matmul(a.view(), b.view(), 1.0, c.view_mut());
            let expected = reference(&a, &b) + 0.5;
            let err = (&c.mapv(f64::from) - &expected)
                .mapv(f64::abs)
                .fold(0.0, |m: f64, &x| m.max(x));
            assert!(err < 1e-3, "max error {err}");

            // Aᵀ as a strided view.
            let at = a.t().to_owned();
            let mut c2 = Array2::<f32>::zeros((97, 97));
            matmul(at.view(), a.view(), 0.0, c2.view_mut());
            let mut c3 = Array2::<f32>::zeros((97, 97));
            matmul(a.t(), a.view(), 0.0, c3.view_mut());
            let err = (&c2 - &c3).mapv(f32::abs).fold(0.0f32, |m, &x| m.max(x));
            assert!(err < 1e-4, "transposed view differs by {err}");
        });
    }
}
