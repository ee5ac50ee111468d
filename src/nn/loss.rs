//! Reconstruction losses, with the exact reductions PyTorch uses so that numbers
//! compare: the mean over the batch *and* the pixels.
//!
//! B = batch size, D = pixels per image, x̂ = reconstruction, x = target.
//!
//! ```text
//! MSE   L = 1/(B·D) Σ (x̂ − x)²                     dL/dx̂ = 2(x̂ − x)/(B·D)
//! BCE   L = −1/(B·D) Σ [x·ln x̂ + (1−x)·ln(1−x̂)]    dL/dx̂ = (x̂ − x) / (x̂(1−x̂)) / (B·D)
//! ```
//! As in PyTorch's `nn.BCELoss`, each log is clamped at −100 and the gradient's
//! denominator at 1e-12, so a saturated output gives a large but finite loss.
//! Sums run in f64 in a fixed order (deterministic and accurate): the MSE's
//! rows may be summed on several threads, but they are added in row order. The
//! element-wise gradients run on all threads.

use ndarray::{ArrayView1, ArrayView2, ArrayViewMut2, Zip};
use rayon::prelude::*;

use crate::parallel::{worth_splitting, PARALLEL_MIN_ELEMENTS};

/// Which reconstruction loss to train with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LossKind {
    /// Mean squared error (PyTorch `nn.MSELoss()`).
    Mse,
    /// Binary cross-entropy (PyTorch `nn.BCELoss()`), targets in [0, 1].
    Bce,
}

impl LossKind {
    /// Loss value; x_hat, x: (B, D).
    pub fn forward(self, x_hat: ArrayView2<f32>, x: ArrayView2<f32>) -> f64 {
        match self {
            LossKind::Mse => mse_forward(x_hat, x),
            LossKind::Bce => bce_forward(x_hat, x),
        }
    }

    /// Gradient of the loss with respect to x̂, written into `grad`; all (B, D).
    pub fn backward(self, grad: ArrayViewMut2<f32>, x_hat: ArrayView2<f32>, x: ArrayView2<f32>) {
        match self {
            LossKind::Mse => mse_backward(grad, x_hat, x),
            LossKind::Bce => bce_backward(grad, x_hat, x),
        }
    }
}

/// `L = 1/(B·D) Σ (x̂ − x)²`. x_hat, x: (B, D).
///
/// Each row's sum is computed on its own (rows side by side on a large batch),
/// then the rows are added in order: the same bits on any thread count.
pub fn mse_forward(x_hat: ArrayView2<f32>, x: ArrayView2<f32>) -> f64 {
    assert_eq!(x_hat.dim(), x.dim(), "mse_forward: shapes differ");
    let row_sum = |n: usize| squared_row_distance(x_hat.row(n), x.row(n));
    let row_sums: Vec<f64> = if worth_splitting(x.len(), PARALLEL_MIN_ELEMENTS) {
        (0..x.nrows()).into_par_iter().map(row_sum).collect()
    } else {
        (0..x.nrows()).map(row_sum).collect()
    };
    row_sums.iter().fold(0.0, |sum, &row| sum + row) / x.len() as f64
}

/// Σ (p − t)² over one row, in f64.
fn squared_row_distance(p: ArrayView1<f32>, t: ArrayView1<f32>) -> f64 {
    match (p.to_slice(), t.to_slice()) {
        (Some(p), Some(t)) => squared_distance(p, t),
        _ => p
            .iter()
            .zip(&t)
            .map(|(&p, &t)| ((p - t) as f64).powi(2))
            .sum(),
    }
}

/// Σ (p − t)² in f64, in 8 interleaved partial sums (a fixed order, so the same
/// inputs give the same bits; eight sums let the compiler use vector registers).
fn squared_distance(p: &[f32], t: &[f32]) -> f64 {
    let mut lanes = [0.0f64; 8];
    let (p_chunks, t_chunks) = (p.chunks_exact(8), t.chunks_exact(8));
    let tail: f64 = (p_chunks.remainder().iter().zip(t_chunks.remainder()))
        .map(|(&p, &t)| ((p - t) as f64).powi(2))
        .sum();
    for (p, t) in p_chunks.zip(t_chunks) {
        for i in 0..8 {
            let d = (p[i] - t[i]) as f64;
            lanes[i] += d * d;
        }
    }
    lanes.iter().sum::<f64>() + tail
}

/// `dL/dx̂ = 2(x̂ − x)/(B·D)`, written into grad. grad, x_hat, x: (B, D).
pub fn mse_backward(grad: ArrayViewMut2<f32>, x_hat: ArrayView2<f32>, x: ArrayView2<f32>) {
    assert_eq!(x_hat.dim(), x.dim(), "mse_backward: shapes differ");
    let scale = 2.0 / x.len() as f32;
    let zip = Zip::from(grad).and(&x_hat).and(&x);
    let gradient = |g: &mut f32, &p: &f32, &t: &f32| *g = scale * (p - t);
    if worth_splitting(zip.size(), PARALLEL_MIN_ELEMENTS) {
        zip.par_for_each(gradient);
    } else {
        zip.for_each(gradient);
    }
}

/// `L = −1/(B·D) Σ [x·ln x̂ + (1−x)·ln(1−x̂)]`, logs clamped at −100. x_hat, x: (B, D).
pub fn bce_forward(x_hat: ArrayView2<f32>, x: ArrayView2<f32>) -> f64 {
    assert_eq!(x_hat.dim(), x.dim(), "bce_forward: shapes differ");
    let mut sum = 0.0f64;
    Zip::from(&x_hat).and(&x).for_each(|&p, &t| {
        let (p, t) = (p as f64, t as f64);
        let log_p = p.ln().max(-100.0);
        let log_1mp = (1.0 - p).ln().max(-100.0);
        sum -= t * log_p + (1.0 - t) * log_1mp;
    });
    sum / x.len() as f64
}

/// `dL/dx̂ = (x̂ − x) / max(x̂(1−x̂), 1e-12) / (B·D)`, written into grad.
pub fn bce_backward(grad: ArrayViewMut2<f32>, x_hat: ArrayView2<f32>, x: ArrayView2<f32>) {
    bce_gradient(grad, x_hat, x, 1.0 / x.len() as f32);
}

/// The VAE's reconstruction term, in nats per image: BCE *summed* over the D
/// pixels, averaged over the B images, `L = −1/B Σ [x·ln x̂ + (1−x)·ln(1−x̂)]`.
/// It is D times [`bce_forward`]: with the mean over pixels the reconstruction
/// would weigh 784 times too little against the KL term. x_hat, x: (B, D).
pub fn bce_summed_forward(x_hat: ArrayView2<f32>, x: ArrayView2<f32>) -> f64 {
    bce_forward(x_hat, x) * x.ncols() as f64
}

/// `dL/dx̂ = (x̂ − x) / max(x̂(1−x̂), 1e-12) / B`, written into grad.
pub fn bce_summed_backward(grad: ArrayViewMut2<f32>, x_hat: ArrayView2<f32>, x: ArrayView2<f32>) {
    bce_gradient(grad, x_hat, x, 1.0 / x.nrows() as f32);
}

/// `grad = scale · (x̂ − x) / max(x̂(1−x̂), 1e-12)`.
fn bce_gradient(grad: ArrayViewMut2<f32>, x_hat: ArrayView2<f32>, x: ArrayView2<f32>, scale: f32) {
    assert_eq!(x_hat.dim(), x.dim(), "bce_backward: shapes differ");
    let zip = Zip::from(grad).and(&x_hat).and(&x);
    let gradient = |g: &mut f32, &p: &f32, &t: &f32| {
        *g = scale * (p - t) / (p * (1.0 - p)).max(1e-12);
    };
    if worth_splitting(zip.size(), PARALLEL_MIN_ELEMENTS) {
        zip.par_for_each(gradient);
    } else {
        zip.for_each(gradient);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn mse_adds_the_rows_in_order_on_any_thread_count() {
        // 128 × 784 is above the size that splits rows between threads.
        let value = |salt: usize| {
            move |(n, d): (usize, usize)| ((n * 131 + d * 71 + salt) % 997) as f32 / 997.0
        };
        let x_hat = Array2::from_shape_fn((128, 784), value(3));
        let x = Array2::from_shape_fn((128, 784), value(11));
        let mut in_order = 0.0f64;
        for (p, t) in x_hat.rows().into_iter().zip(x.rows()) {
            in_order += squared_distance(p.to_slice().unwrap(), t.to_slice().unwrap());
        }
        let expected = in_order / x.len() as f64;
        for threads in [1, 2, 3] {
            let pool = crate::parallel::build_pool(threads).unwrap();
            let loss = pool.install(|| mse_forward(x_hat.view(), x.view()));
            assert_eq!(loss.to_bits(), expected.to_bits(), "{threads} threads");
        }
    }
}
