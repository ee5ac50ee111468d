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

use ndarray::{s, Array2, ArrayView1, ArrayView2, ArrayViewMut1, ArrayViewMut2, Axis, Zip};

use super::matmul::{matmul, matmul_in_pieces, piece_ends};
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
    fill_rows(y.view_mut(), b);
    matmul(x, w, 1.0, y); // Y = b + X·W
}

/// Every row of Y set to b: the product is then added to it.
fn fill_rows(mut y: ArrayViewMut2<f32>, b: ArrayView1<f32>) {
    if worth_splitting(y.len(), PARALLEL_MIN_ELEMENTS) {
        Zip::from(y.rows_mut()).par_for_each(|mut row| row.assign(&b));
    } else {
        for mut row in y.rows_mut() {
            row.assign(&b);
        }
    }
}

/// Undoes `Y = X·W + b`: `dW = Xᵀ·dY`, `db = Σ_rows dY`, and `dX = dY·Wᵀ` if
/// `dx` is given (the first layer does not need it).
///
/// All three are overwritten (β = 0 in the products), so callers need not zero
/// them: each weight matrix appears in one product of the forward pass, so
/// dLoss/dW has a single term. A value used twice gets the sum of two terms,
/// added by [`dense_backward_add_dx`] (β = 1). Overwriting saves zeroing every
/// gradient before each step, and reading it back in each product.
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

/// The first layer's input columns that hold a non-zero value in some row of
/// the batch, and room to multiply those columns alone.
///
/// A pixel that is 0 in every image of a batch adds `0·W[i,o]` to every `Y[n,o]`
/// and gives `dW[i,o] = Σ_n 0·dY[n,o] = 0`: its row of W takes no part in the
/// batch. MNIST's digits leave the border blank, and a batch of 256 images has
/// about 227 of its 784 pixels at 0 in every image (29%), so the first layer's
/// two products can skip that share of their work:
///
/// ```text
/// J = the columns of X with a non-zero value          (n ≤ I of them)
/// forward    Y = X[:, J]·W[J, :] + b                 (B,n)·(n,O)
/// backward   dW[J, :] = X[:, J]ᵀ·dY,  dW[i, :] = 0 for i ∉ J
/// ```
/// Both are the same to the bit as without skipping: `dW`'s sums run over the
/// batch as before, and `Y`'s leave out only terms `0·W[i,o]`, which added
/// nothing, while the rest are summed in the same pieces of I as the whole
/// product would use ([`matmul_in_pieces`]). `dX` needs every row of W, so this
/// serves only the first layer, whose `dX` no one needs.
#[derive(Debug, Clone)]
pub struct ZeroColumns {
    /// J, in increasing order.
    columns: Vec<usize>,
    /// `X[:, J]` in its first n columns: (capacity B, I).
    x: Array2<f32>,
    /// `W[J, :]` (forward) or `dW[J, :]` (backward) in its first n rows: (I, O).
    w: Array2<f32>,
    /// Whether the last forward pass skipped columns (false if too few were zero).
    skipping: bool,
}

impl ZeroColumns {
    /// Skip the zero columns only where they are at least this share of X:
    /// gathering the others costs about a tenth of what skipping saves.
    const MIN_SHARE: f32 = 0.05;

    /// Room for batches of up to `capacity` rows through a layer of `inputs` ×
    /// `outputs` weights: (capacity + outputs) × inputs floats. With no room
    /// (`new(0, 0, 0)`), the layer never skips.
    pub fn new(capacity: usize, inputs: usize, outputs: usize) -> ZeroColumns {
        ZeroColumns {
            columns: Vec::with_capacity(inputs),
            x: Array2::zeros((capacity, inputs)),
            w: Array2::zeros((inputs, outputs)),
            skipping: false,
        }
    }

    /// Finds J for this batch, and whether enough columns are zero to skip them.
    fn find(&mut self, x: ArrayView2<f32>) {
        self.skipping = false;
        if self.x.nrows() < x.nrows() || self.x.ncols() != x.ncols() {
            return; // no room
        }
        let mut non_zero = vec![false; x.ncols()];
        for row in x.rows() {
            // No early exit: the compiler then compares 4 or 8 floats at once.
            Zip::from(&mut non_zero)
                .and(&row)
                .for_each(|seen, &v| *seen |= v != 0.0);
        }
        self.columns.clear();
        self.columns.extend((0..x.ncols()).filter(|&i| non_zero[i]));
        let zero = x.ncols() - self.columns.len();
        self.skipping = zero as f32 >= Self::MIN_SHARE * x.ncols() as f32;
    }

    /// The ends of the whole product's pieces of I ([`piece_ends`]), counted in
    /// columns of J: the pieces to sum `X[:, J]·W[J, :]` in.
    fn pieces(&self, inputs: usize) -> Vec<usize> {
        let ends = piece_ends(inputs).into_iter();
        ends.map(|end| self.columns.partition_point(|&i| i < end))
            .collect()
    }

    /// Copies `X[:, J]` into the first n columns of `self.x`.
    fn gather_x(&mut self, x: ArrayView2<f32>) {
        let (columns, n) = (&self.columns, self.columns.len());
        let mut gathered = self.x.slice_mut(s![..x.nrows(), ..n]);
        let gather = |mut to: ArrayViewMut1<f32>, from: ArrayView1<f32>| {
            for (t, &i) in to.iter_mut().zip(columns) {
                *t = from[i];
            }
        };
        if worth_splitting(x.len(), PARALLEL_MIN_ELEMENTS) {
            Zip::from(gathered.rows_mut())
                .and(x.rows())
                .par_for_each(gather);
        } else {
            Zip::from(gathered.rows_mut())
                .and(x.rows())
                .for_each(gather);
        }
    }
}

/// [`dense_forward`] for the first layer: `Y = X[:, J]·W[J, :] + b`, skipping
/// the columns of X that are zero in every row (see [`ZeroColumns`]).
pub fn dense_forward_skipping_zeros(
    mut y: ArrayViewMut2<f32>,
    x: ArrayView2<f32>,
    w: ArrayView2<f32>,
    b: ArrayView1<f32>,
    skip: &mut ZeroColumns,
) {
    skip.find(x);
    if !skip.skipping {
        return dense_forward(y, x, w, b);
    }
    skip.gather_x(x);
    let (n, pieces) = (skip.columns.len(), skip.pieces(x.ncols()));
    let mut w_used = skip.w.slice_mut(s![..n, ..]);
    let rows = Zip::from(w_used.rows_mut()).and(&skip.columns);
    let copy = |mut to: ArrayViewMut1<f32>, &i: &usize| to.assign(&w.row(i));
    if worth_splitting(n * w.ncols(), PARALLEL_MIN_ELEMENTS) {
        rows.par_for_each(copy);
    } else {
        rows.for_each(copy);
    }
    fill_rows(y.view_mut(), b);
    let x_used = skip.x.slice(s![..x.nrows(), ..n]);
    matmul_in_pieces(x_used, w_used.view(), 1.0, y, &pieces);
}

/// [`dense_backward`] for the first layer (no dX): `dW[J, :] = X[:, J]ᵀ·dY`,
/// the other rows of dW zero, `db = Σ_rows dY`. `skip` holds J from
/// [`dense_forward_skipping_zeros`] on the same X.
pub fn dense_backward_skipping_zeros(
    mut dw: ArrayViewMut2<f32>,
    db: ArrayViewMut1<f32>,
    dy: ArrayView2<f32>,
    x: ArrayView2<f32>,
    skip: &mut ZeroColumns,
) {
    column_sums(db, dy);
    if !skip.skipping {
        return matmul(x.t(), dy, 0.0, dw); // dW = Xᵀ·dY, as in dense_backward
    }
    let n = skip.columns.len();
    let mut dw_used = skip.w.slice_mut(s![..n, ..]);
    matmul(
        skip.x.slice(s![..x.nrows(), ..n]).t(),
        dy,
        0.0,
        dw_used.view_mut(),
    );
    // Each row of dW: its row of dW[J, :], or 0.
    let mut source = vec![None; dw.nrows()];
    for (r, &i) in skip.columns.iter().enumerate() {
        source[i] = Some(r);
    }
    let scatter = |mut to: ArrayViewMut1<f32>, r: &Option<usize>| match *r {
        Some(r) => to.assign(&dw_used.row(r)),
        None => to.fill(0.0),
    };
    let split = worth_splitting(dw.len(), PARALLEL_MIN_ELEMENTS);
    let rows = Zip::from(dw.rows_mut()).and(&source);
    if split {
        rows.par_for_each(scatter);
    } else {
        rows.for_each(scatter);
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

    /// X (B, I) whose columns `i % 3 == 0` are zero in every row (a third of
    /// them, as MNIST's border is), W (I, O), b (O), dY (B, O).
    fn layer_with_zero_columns(
        b: usize,
        i: usize,
        o: usize,
    ) -> (Array2<f32>, Array2<f32>, Array1<f32>, Array2<f32>) {
        let value = |n: usize, salt: usize| ((n * 2654435761 + salt) % 1000) as f32 / 500.0 - 1.0;
        let x = Array2::from_shape_fn(
            (b, i),
            |(r, c)| {
                if c % 3 == 0 {
                    0.0
                } else {
                    value(r * i + c, 1)
                }
            },
        );
        let w = Array2::from_shape_fn((i, o), |(r, c)| value(r * o + c, 2));
        let bias = Array1::from_shape_fn(o, |c| value(c, 3));
        let dy = Array2::from_shape_fn((b, o), |(r, c)| value(r * o + c, 4));
        (x, w, bias, dy)
    }

    #[test]
    fn skipping_zero_columns_gives_the_same_layer() {
        // I = 784 > 256: the product sums I in pieces (4 × 196), and Y is the
        // same only if the kept columns are summed in the same pieces.
        for threads in [1, 2] {
            let pool = crate::parallel::build_pool(threads).unwrap();
            let (x, w, bias, dy) = layer_with_zero_columns(40, 784, 48);
            let mut skip = ZeroColumns::new(64, 784, 48);
            let (mut y, mut y_skipped) = (Array2::zeros((40, 48)), Array2::zeros((40, 48)));
            let (mut dw, mut dw_skipped) = (Array2::zeros((784, 48)), Array2::zeros((784, 48)));
            let (mut db, mut db_skipped) = (Array1::zeros(48), Array1::zeros(48));
            dw_skipped.fill(f32::NAN); // every row must be written, the zero ones too
            pool.install(|| {
                dense_forward(y.view_mut(), x.view(), w.view(), bias.view());
                dense_backward(
                    None,
                    dw.view_mut(),
                    db.view_mut(),
                    dy.view(),
                    x.view(),
                    w.view(),
                );
                let y_view = y_skipped.view_mut();
                dense_forward_skipping_zeros(y_view, x.view(), w.view(), bias.view(), &mut skip);
                let (dw_view, db_view) = (dw_skipped.view_mut(), db_skipped.view_mut());
                dense_backward_skipping_zeros(dw_view, db_view, dy.view(), x.view(), &mut skip);
            });
            assert!(skip.skipping, "a third of the columns are zero");
            assert_eq!(skip.columns.len(), 784 - 784_usize.div_ceil(3));
            assert_eq!(y, y_skipped, "{threads} threads: Y");
            assert_eq!(dw, dw_skipped, "{threads} threads: dW");
            assert_eq!(db, db_skipped, "{threads} threads: db");
        }
    }

    #[test]
    fn a_batch_with_few_zero_columns_takes_the_plain_product() {
        let (mut x, w, bias, _) = layer_with_zero_columns(8, 100, 16);
        x.column_mut(3).fill(1.0); // 33 zero columns of 100 …
        for c in (6..100).step_by(3) {
            x.column_mut(c).fill(0.5); // … down to 1: below 5%, not worth a gather
        }
        let mut skip = ZeroColumns::new(8, 100, 16);
        let (mut y, mut y_plain) = (Array2::zeros((8, 16)), Array2::zeros((8, 16)));
        dense_forward_skipping_zeros(y.view_mut(), x.view(), w.view(), bias.view(), &mut skip);
        dense_forward(y_plain.view_mut(), x.view(), w.view(), bias.view());
        assert!(!skip.skipping);
        assert_eq!(y, y_plain);
    }

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
