//! Gradient checking: analytic gradients against centered finite differences.
//!
//! For a scalar function L of a tensor θ, the centered difference
//! ```text
//! ∂L/∂θᵢ ≈ (L(θ + ε·eᵢ) − L(θ − ε·eᵢ)) / 2ε          error O(ε²)
//! ```
//! is compared with the hand-written backward pass by the relative error
//! ```text
//! per element   |a − n| / max(|a|, |n|)             (cs231n)
//! per tensor    ‖a − n‖ / max(‖a‖, ‖n‖)             (Euclidean norms)
//! ```
//! Everything runs in f32, so the numeric gradient carries rounding noise of
//! about (f32 epsilon ≈ 6e-8) × |L| / ε: a correct backward pass gives tensor
//! errors around 1e-4 to 1e-3 here, while a wrong transpose, sign, factor or
//! dropped term gives errors of order 0.1 to 1. The per-tensor error is the one
//! tests assert on: an element whose gradient is nearly zero (a dead ReLU unit)
//! can have a large per-element error without anything being wrong. Elements
//! whose ±ε moves a ReLU across its kink at 0 are detected (the pattern of
//! positive ReLU outputs differs between the two evaluations) and skipped: there
//! the difference quotient is not a derivative.

use ndarray::Array2;

use crate::model::{backward, forward, Architecture, Params, Workspace};
use crate::nn::{Activation, LossKind};

/// The numeric gradient of `loss(state)` with respect to the tensor that
/// `slot(state)` returns, by centered differences with step `eps`. The state is
/// restored on return.
pub fn numeric_gradient<T>(
    state: &mut T,
    slot: impl Fn(&mut T) -> &mut [f32],
    eps: f32,
    loss: impl Fn(&T) -> f64,
) -> Vec<f64> {
    let n = slot(state).len();
    let mut grad = Vec::with_capacity(n);
    for i in 0..n {
        let original = slot(state)[i];
        slot(state)[i] = original + eps;
        let plus = loss(state);
        slot(state)[i] = original - eps;
        let minus = loss(state);
        slot(state)[i] = original;
        // Divide by the step actually taken (x ± ε is rounded in f32).
        let step = ((original + eps) as f64) - ((original - eps) as f64);
        grad.push((plus - minus) / step);
    }
    grad
}

/// How an analytic gradient compares with the numeric one.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// ‖a − n‖ / max(‖a‖, ‖n‖).
    pub tensor_error: f64,
    /// max over elements of |a − n| / max(|a|, |n|), elements with both below 1e-7 skipped.
    pub max_element_error: f64,
    /// mean of the same per-element errors.
    pub mean_element_error: f64,
}

/// Compares analytic gradient `analytic` with numeric gradient `numeric`;
/// NaN entries of `numeric` (no valid difference) are left out.
pub fn compare(analytic: &[f32], numeric: &[f64]) -> Comparison {
    assert_eq!(analytic.len(), numeric.len(), "compare: lengths differ");
    let (mut diff2, mut a2, mut n2) = (0.0f64, 0.0f64, 0.0f64);
    let (mut max_err, mut sum_err, mut counted) = (0.0f64, 0.0f64, 0usize);
    for (&a, &n) in analytic.iter().zip(numeric) {
        if n.is_nan() {
            continue; // no valid numeric gradient for this element
        }
        let a = a as f64;
        diff2 += (a - n) * (a - n);
        a2 += a * a;
        n2 += n * n;
        let scale = a.abs().max(n.abs());
        if scale > 1e-7 {
            let err = (a - n).abs() / scale;
            max_err = max_err.max(err);
            sum_err += err;
            counted += 1;
        }
    }
    let scale = a2.sqrt().max(n2.sqrt());
    Comparison {
        tensor_error: if scale > 0.0 {
            diff2.sqrt() / scale
        } else {
            0.0
        },
        max_element_error: max_err,
        mean_element_error: if counted > 0 {
            sum_err / counted as f64
        } else {
            0.0
        },
    }
}

/// One parameter tensor's check.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorCheck {
    /// PyTorch-style name: `encoder.0.weight`, ...
    pub name: String,
    /// Shape as stored here: weights (in, out), biases (out).
    pub shape: Vec<usize>,
    pub comparison: Comparison,
    /// Elements left out because `θ ± ε` moved a ReLU across its kink at 0,
    /// where the finite difference is not a derivative.
    pub kinks_skipped: usize,
}

/// Checks every parameter tensor of the autoencoder on the batch `x` (B, D):
/// the gradient of `loss(decoder(encoder(x)), x)` from `model::backward` against
/// centered differences of `model::forward`.
pub fn check_model(
    params: &Params,
    arch: &Architecture,
    x: &Array2<f32>,
    loss: LossKind,
    eps: f32,
) -> Vec<TensorCheck> {
    let rows = x.nrows();
    let mut ws = Workspace::new(arch, rows);
    // The loss, and which ReLU outputs are positive (the side of every kink).
    let loss_and_pattern = |params: &Params, ws: &mut Workspace| -> (f64, Vec<bool>) {
        ws.input_mut(rows).assign(x);
        forward(params, arch, ws, rows);
        let pattern = (0..arch.layer_count())
            .filter(|&l| arch.activation(l) == Activation::Relu)
            .flat_map(|l| {
                ws.outputs[l + 1]
                    .iter()
                    .map(|&a| a > 0.0)
                    .collect::<Vec<_>>()
            })
            .collect();
        (loss.forward(ws.reconstruction(rows), x.view()), pattern)
    };

    // Analytic: one forward, the loss gradient, one backward.
    loss_and_pattern(params, &mut ws);
    let last = arch.layer_count();
    let x_hat = ws.outputs[last].clone();
    loss.backward(ws.grads[last].view_mut(), x_hat.view(), x.view());
    let mut grads = Params::zeros(arch);
    backward(params, arch, &mut grads, &mut ws, rows);

    let mut state = params.clone();
    let mut checks = Vec::new();
    for l in 0..arch.layer_count() {
        for is_bias in [false, true] {
            let g = &grads.layers[l];
            let (analytic, shape) = if is_bias {
                (g.b.as_slice().expect("contiguous"), g.b.shape().to_vec())
            } else {
                (g.w.as_slice().expect("contiguous"), g.w.shape().to_vec())
            };
            let mut numeric = Vec::with_capacity(analytic.len());
            let mut kinks_skipped = 0;
            for i in 0..analytic.len() {
                let original = *element(&mut state, l, is_bias, i);
                *element(&mut state, l, is_bias, i) = original + eps;
                let (plus, pattern_plus) = loss_and_pattern(&state, &mut ws);
                *element(&mut state, l, is_bias, i) = original - eps;
                let (minus, pattern_minus) = loss_and_pattern(&state, &mut ws);
                *element(&mut state, l, is_bias, i) = original;
                if pattern_plus == pattern_minus {
                    let step = ((original + eps) as f64) - ((original - eps) as f64);
                    numeric.push((plus - minus) / step);
                } else {
                    numeric.push(f64::NAN);
                    kinks_skipped += 1;
                }
            }
            let suffix = if is_bias { "bias" } else { "weight" };
            checks.push(TensorCheck {
                name: format!("{}.{suffix}", arch.layer_name(l)),
                shape,
                comparison: compare(analytic, &numeric),
                kinks_skipped,
            });
        }
    }
    checks
}

/// Element `i` of layer `l`'s weight (row-major) or bias.
fn element(params: &mut Params, l: usize, is_bias: bool, i: usize) -> &mut f32 {
    let layer = &mut params.layers[l];
    if is_bias {
        &mut layer.b[i]
    } else {
        &mut layer.w.as_slice_mut().expect("contiguous")[i]
    }
}
