//! Softmax and the cross-entropy of a classifier, with its gradient.
//!
//! Shapes: B = batch size, C = classes; `logits` are the last dense layer's
//! outputs (no activation), `labels` the true classes y.
//!
//! ```text
//! softmax          p[n,c] = exp(l[n,c] − m[n]) / Σ_k exp(l[n,k] − m[n]),   m[n] = max_k l[n,k]
//! cross-entropy    L = −1/B Σ_n log p[n,y[n]]
//!                    = 1/B Σ_n (m[n] + log Σ_k exp(l[n,k] − m[n]) − l[n,y[n]])
//!    backward      dL/dl[n,c] = (p[n,c] − [c = y[n]]) / B
//! ```
//! Why the gradient is so short: `log p[n,y] = l[n,y] − log Σ_k exp(l[n,k])`,
//! so `∂(−log p[n,y])/∂l[n,c] = exp(l[n,c]) / Σ_k exp(l[n,k]) − [c = y] =
//! p[n,c] − [c = y]`. Subtracting the row's maximum m changes nothing in the
//! math (it cancels between numerator and denominator) but keeps every exp ≤ 1,
//! so large logits cannot overflow. Loss sums run in f64 in a fixed order.

use ndarray::{Array2, ArrayView1, ArrayView2, ArrayViewMut2, Zip};

/// `log Σ_k exp(l[k])` of one row, computed as `m + log Σ_k exp(l[k] − m)`
/// with m the row's maximum, in f64. row: (C).
fn log_sum_exp(row: ArrayView1<f32>) -> f64 {
    let max = row.iter().fold(f32::NEG_INFINITY, |m, &l| m.max(l)) as f64;
    let sum: f64 = row.iter().map(|&l| (l as f64 - max).exp()).sum();
    max + sum.ln()
}

/// `p[n,c] = exp(l[n,c] − m[n]) / Σ_k exp(l[n,k] − m[n])`: each row of the
/// result is a probability distribution over the C classes.
///
/// logits: (B, C); returns (B, C).
pub fn softmax(logits: ArrayView2<f32>) -> Array2<f32> {
    let mut probabilities = Array2::zeros(logits.dim());
    Zip::from(probabilities.rows_mut())
        .and(logits.rows())
        .for_each(|mut p, l| {
            let log_sum = log_sum_exp(l);
            Zip::from(&mut p)
                .and(&l)
                .for_each(|p, &l| *p = (l as f64 - log_sum).exp() as f32);
        });
    probabilities
}

/// `L = −1/B Σ_n log softmax(l)[n,y[n]]`, nats per image, summed in f64.
///
/// logits: (B, C); labels: B classes, each < C.
pub fn softmax_cross_entropy_forward(logits: ArrayView2<f32>, labels: &[u8]) -> f64 {
    check_labels("softmax_cross_entropy_forward", logits, labels);
    let mut sum = 0.0f64;
    for (row, &label) in logits.rows().into_iter().zip(labels) {
        sum += log_sum_exp(row) - row[label as usize] as f64;
    }
    sum / labels.len().max(1) as f64
}

/// Undoes `L = −1/B Σ_n log softmax(l)[n,y[n]]`:
/// `dl[n,c] = (softmax(l)[n,c] − [c = y[n]]) / B`, written into `d_logits`.
///
/// d_logits: (B, C) overwritten; logits: (B, C); labels: B classes, each < C.
pub fn softmax_cross_entropy_backward(
    mut d_logits: ArrayViewMut2<f32>,
    logits: ArrayView2<f32>,
    labels: &[u8],
) {
    check_labels("softmax_cross_entropy_backward", logits, labels);
    assert_eq!(
        d_logits.dim(),
        logits.dim(),
        "softmax_cross_entropy_backward: d_logits has the wrong shape"
    );
    let scale = 1.0 / labels.len().max(1) as f64;
    for ((mut d, l), &label) in d_logits
        .rows_mut()
        .into_iter()
        .zip(logits.rows())
        .zip(labels)
    {
        let log_sum = log_sum_exp(l);
        for (c, (d, &l)) in d.iter_mut().zip(&l).enumerate() {
            let one_hot = if c == label as usize { 1.0 } else { 0.0 };
            *d = (((l as f64 - log_sum).exp() - one_hot) * scale) as f32;
        }
    }
}

/// One label per row, each naming one of the C columns.
fn check_labels(caller: &str, logits: ArrayView2<f32>, labels: &[u8]) {
    assert_eq!(
        labels.len(),
        logits.nrows(),
        "{caller}: {} labels for {} rows of logits",
        labels.len(),
        logits.nrows()
    );
    if let Some(&bad) = labels.iter().find(|&&y| y as usize >= logits.ncols()) {
        panic!("{caller}: label {bad} but only {} classes", logits.ncols());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{compare, numeric_gradient};
    use ndarray::array;

    #[test]
    fn softmax_rows_sum_to_one_and_survive_huge_logits() {
        let p = softmax(array![[1.0f32, 2.0, 3.0], [1000.0, 1000.0, -1000.0]].view());
        let e = [1.0f64.exp(), 2.0f64.exp(), 3.0f64.exp()];
        let total: f64 = e.iter().sum();
        for c in 0..3 {
            assert!((p[[0, c]] as f64 - e[c] / total).abs() < 1e-6);
        }
        assert_eq!(p.row(1).to_vec(), vec![0.5, 0.5, 0.0], "no overflow to NaN");
    }

    /// By hand: logits (0, ln 3) give p = (1/4, 3/4); the loss of label 0 is
    /// ln 4 and of label 1 is ln(4/3), so their mean is ½ ln(16/3).
    #[test]
    fn cross_entropy_matches_a_value_worked_by_hand() {
        let logits = array![[0.0f32, 3.0f32.ln()], [0.0, 3.0f32.ln()]];
        let loss = softmax_cross_entropy_forward(logits.view(), &[0, 1]);
        assert!((loss - 0.5 * (16.0f64 / 3.0).ln()).abs() < 1e-6, "{loss}");
        let mut d = Array2::zeros((2, 2));
        softmax_cross_entropy_backward(d.view_mut(), logits.view(), &[0, 1]);
        // (p − onehot)/B: row 0 (1/4 − 1, 3/4)/2, row 1 (1/4, 3/4 − 1)/2.
        let expected = array![[-0.375f32, 0.375], [0.125, -0.125]];
        for (a, e) in d.iter().zip(&expected) {
            assert!((a - e).abs() < 1e-6, "{d} vs {expected}");
        }
        // Shifting every logit of a row by the same amount changes nothing.
        let shifted = &logits + 500.0;
        let loss_shifted = softmax_cross_entropy_forward(shifted.view(), &[0, 1]);
        assert!(
            (loss - loss_shifted).abs() < 1e-4,
            "{loss} vs {loss_shifted}"
        );
    }

    #[test]
    fn cross_entropy_backward_matches_finite_differences() {
        let logits = array![
            [0.3f32, -1.2, 0.5, 2.0],
            [0.9, 0.1, -0.4, -2.5],
            [-0.7, 1.6, 0.2, 0.0]
        ];
        let labels = [3u8, 0, 2];
        let mut d = Array2::zeros(logits.dim());
        softmax_cross_entropy_backward(d.view_mut(), logits.view(), &labels);
        let mut state = logits;
        let numeric = numeric_gradient(
            &mut state,
            |l| l.as_slice_mut().unwrap(),
            1e-2,
            |l| softmax_cross_entropy_forward(l.view(), &labels),
        );
        let error = compare(d.as_slice().unwrap(), &numeric).tensor_error;
        assert!(error < 1e-3, "d_logits off by {error}");
    }
}
