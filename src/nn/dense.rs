//! The dense (fully connected) layer.
//!
//! Shapes: B = batch size, I = input features, O = output features.
//!
//! ```text
//! forward    Y = X·W + b                 X (B,I), W (I,O), b (O), Y (B,O)
//! backward   dW = Xᵀ·dY                  (I,B)·(B,O) = (I,O)
//!            db = Σ_rows dY              (O)
//!            dX = dY·Wᵀ                  (B,O)·(O,I) = (B,I)
//! ```
//! Why: `Y[n,o] = Σ_i X[n,i]·W[i,o] + b[o]`, so `∂Y[n,o]/∂W[i,o] = X[n,i]`; summing
//! over the batch rows n gives `dW[i,o] = Σ_n X[n,i]·dY[n,o]`, which is `Xᵀ·dY`.
//! Every row adds the same `b`, so `db` sums `dY` over rows. `∂Y[n,o]/∂X[n,i] =
//! W[i,o]`, so `dX[n,i] = Σ_o dY[n,o]·W[i,o]`, which is `dY·Wᵀ`.
//!
//! W is stored (I, O) so the forward pass reads as the math; checkpoints store
//! its transpose (O, I), as PyTorch's `nn.Linear` does.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};

use super::matmul::matmul;
use crate::parallel::{worth_splitting, PARALLEL_MIN_ELEMENTS};

/// `Y = X·W + b`.
///
/// y: (B, O) output, overwritten; x: (B, I); w: (I, O); b: (O).
pub fn dense_forward(
    mut y: ArrayViewMut2<f32>,
    x: ArrayView2<f32>,
    w: ArrayView2<f32>,
    b: ArrayView1<f32>,
) {
    assert_eq!(
        y.dim(),
        (x.nrows(), w.ncols()),
        "dense_forward: Y has the wrong shape"
    );
    assert_eq!(b.len(), w.ncols(), "dense_forward: b has the wrong length");
    // Every row of Y starts as b; the product is then added to it.
    if worth_splitting(y.len(), PARALLEL_MIN_ELEMENTS) {
        Zip::from(y.rows_mut()).par_for_each(|mut row| row.assign(&b));
    } else {
        for mut row in y.rows_mut() {
            row.assign(&b);
        }
    }
    matmul(x, w, 1.0, y);
}

/// Undoes `Y = X·W + b`: `dW = Xᵀ·dY`, `db = Σ_rows dY`, and `dX = dY·Wᵀ` if
/// `dx` is given (the first layer does not need it).
///
/// All three are overwritten (β = 0 in the products), so callers need not zero
/// them: each weight matrix appears in one product of the forward pass, so
/// dLoss/dW has a single term. A value used twice gets the sum of two terms,
/// added by [`dense_backward_add_dx`] (β = 1). Why not add always, as PyTorch's
/// `.grad` does: see docs/PERFORMANCE.md, sixth round.
///
/// dx: (B, I), or None; dw: (I, O); db: (O);
/// dy: (B, O); x: (B, I) the forward input; w: (I, O).
pub fn dense_backward(
    dx: Option<ArrayViewMut2<f32>>,
    dw: ArrayViewMut2<f32>,
    db: ArrayViewMut1<f32>,
    dy: ArrayView2<f32>,
    x: ArrayView2<f32>,
    w: ArrayView2<f32>,
) {
    assert_eq!(
        dy.nrows(),
        x.nrows(),
        "dense_backward: dY and X differ in batch size"
    );
    assert_eq!(dw.dim(), w.dim(), "dense_backward: dW has the wrong shape");
    matmul(x.t(), dy, 0.0, dw);
    column_sums(db, dy);
    if let Some(dx) = dx {
        matmul(dy, w.t(), 0.0, dx);
    }
}

/// `db = Σ_rows dY`, row by row, so that memory is read in order and 8 columns
/// add at once. A large dY is split by columns between threads, in halves and
/// halves again until a piece is small (a 256 × 1024 dY makes 4 pieces); each
/// bias still sums its column top to bottom, whatever the thread count.
///
/// db: (O) overwritten; dy: (B, O).
fn column_sums(mut db: ArrayViewMut1<f32>, dy: ArrayView2<f32>) {
    if worth_splitting(dy.len(), PARALLEL_MIN_ELEMENTS) && db.len() > 1 {
        let half = db.len() / 2;
        let (db_left, db_right) = db.split_at(Axis(0), half);
        let (dy_left, dy_right) = dy.split_at(Axis(1), half);
        rayon::join(
            || column_sums(db_left, dy_left),
            || column_sums(db_right, dy_right),
        );
        return;
    }
    db.fill(0.0);
    for row in dy.rows() {
        Zip::from(&mut db).and(&row).for_each(|b, &d| *b += d);
    }
}

/// `dX += dY·Wᵀ`: the input gradient of a second layer that reads the same X
/// (the VAE's μ and log σ² heads both read the last hidden layer, so its
/// gradient is the sum of what each head sends back).
///
/// dx: (B, I) accumulated; dy: (B, O); w: (I, O).
pub fn dense_backward_add_dx(dx: ArrayViewMut2<f32>, dy: ArrayView2<f32>, w: ArrayView2<f32>) {
    matmul(dy, w.t(), 1.0, dx);
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2};

    #[test]
    fn a_wide_bias_gradient_sums_each_column_in_order_on_any_thread_count() {
        // 128 × 1000 is above the size that splits columns between threads.
        let dy = Array2::from_shape_fn((128, 1000), |(n, o)| ((n * 37 + o * 11) % 29) as f32 * 0.1);
        let mut expected = Array1::<f32>::zeros(1000);
        for (o, sum) in expected.iter_mut().enumerate() {
            for n in 0..128 {
                *sum += dy[[n, o]];
            }
        }
        for threads in [1, 2, 3] {
            let pool = crate::parallel::build_pool(threads).unwrap();
            let mut db = Array1::<f32>::from_elem(1000, f32::NAN);
            pool.install(|| column_sums(db.view_mut(), dy.view()));
            assert_eq!(db, expected, "{threads} threads");
        }
    }
}
