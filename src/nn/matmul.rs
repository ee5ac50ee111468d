//! The one matrix product everything uses: `C = A·B + β·C`, split over the rows
//! of `C` across rayon's threads when the product is large enough.
//!
//! Each thread computes a fixed band of rows with matrixmultiply's single-thread
//! kernel (AVX-512 or AVX2, picked at run time). No two threads write the same
//! element and every element's sum runs in the same order, so the result does not
//! depend on timing: the same inputs and thread count give bit-identical outputs.
//!
//! The three products of a dense layer all have this form:
//! forward `Y = X·W` splits over batch rows, the input gradient `dX = dY·Wᵀ`
//! over batch rows, the weight gradient `dW = Xᵀ·dY` over input features.
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
pub fn matmul(a: ArrayView2<f32>, b: ArrayView2<f32>, beta: f32, c: ArrayViewMut2<f32>) {
    let (m, k) = a.dim();
    assert_eq!(b.nrows(), k, "matmul: A is {m}×{k} but B has {} rows", b.nrows());
    assert_eq!(c.dim(), (m, b.ncols()), "matmul: C has the wrong shape");
    let threads = rayon::current_num_threads();
    let flops = 2 * m * k * b.ncols();
    if threads == 1 || flops < PARALLEL_MIN_FLOPS || m < 2 * threads {
        let mut c = c;
        general_mat_mul(1.0, &a, &b, beta, &mut c);
        return;
    }
    let rows_per_task = m.div_ceil(threads);
    matmul_row_bands(a, b, beta, c, rows_per_task);
}

/// Splits `C` (and `A`) into bands of `rows_per_task` rows and multiplies the
/// bands in parallel (binary splitting with `rayon::join`: no allocation).
fn matmul_row_bands(
    a: ArrayView2<f32>,
    b: ArrayView2<f32>,
    beta: f32,
    mut c: ArrayViewMut2<f32>,
    rows_per_task: usize,
) {
    let rows = c.nrows();
    if rows <= rows_per_task {
        general_mat_mul(1.0, &a, &b, beta, &mut c);
        return;
    }
    let bands = rows.div_ceil(rows_per_task);
    let mid = (bands / 2) * rows_per_task;
    let (a_top, a_bottom) = a.split_at(Axis(0), mid);
    let (c_top, c_bottom) = c.split_at(Axis(0), mid);
    rayon::join(
        || matmul_row_bands(a_top, b, beta, c_top, rows_per_task),
        || matmul_row_bands(a_bottom, b, beta, c_bottom, rows_per_task),
    );
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
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        pool.install(|| {
            let a = pseudo_random(301, 97, 1);
            let b = pseudo_random(97, 203, 2);
            let mut c = Array2::<f32>::from_elem((301, 203), 0.5);
            matmul(a.view(), b.view(), 1.0, c.view_mut());
            let expected = reference(&a, &b) + 0.5;
            let err = (&c.mapv(f64::from) - &expected).mapv(f64::abs).fold(0.0, |m: f64, &x| m.max(x));
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
