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
//! or that sits on a ReLU kink can have a large per-element error without
//! anything being wrong.

use ndarray::Array2;

use crate::model::{backward, forward, Architecture, Params, Workspace};
use crate::nn::LossKind;

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

/// Compares analytic gradient `analytic` with numeric gradient `numeric`.
pub fn compare(analytic: &[f32], numeric: &[f64]) -> Comparison {
    assert_eq!(analytic.len(), numeric.len(), "compare: lengths differ");
    let (mut diff2, mut a2, mut n2) = (0.0f64, 0.0f64, 0.0f64);
    let (mut max_err, mut sum_err, mut counted) = (0.0f64, 0.0f64, 0usize);
    for (&a, &n) in analytic.iter().zip(numeric) {
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
        tensor_error: if scale > 0.0 { diff2.sqrt() / scale } else { 0.0 },
        max_element_error: max_err,
        mean_element_error: if counted > 0 { sum_err / counted as f64 } else { 0.0 },
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
}

/// Checks every parameter tensor of the autoencoder on the batch `x` (B, D):
/// the gradient of `loss(decoder(encoder(x)), x)` from `model::backward` against
/// centered differences of `model::forward`.
pub fn check_model(params: &Params, arch: &Architecture, x: &Array2<f32>, loss: LossKind, eps: f32) -> Vec<TensorCheck> {
    let rows = x.nrows();
    let mut ws = Workspace::new(arch, rows);
    let loss_of = |params: &Params, ws: &mut Workspace| -> f64 {
        ws.input_mut(rows).assign(x);
        forward(params, arch, ws, rows);
        loss.forward(ws.reconstruction(rows), x.view())
    };

    // Analytic: one forward, the loss gradient, one backward.
    loss_of(params, &mut ws);
    let last = arch.layer_count();
    let x_hat = ws.outputs[last].clone();
    loss.backward(ws.grads[last].view_mut(), x_hat.view(), x.view());
    let mut grads = Params::zeros(arch);
    backward(params, arch, &mut grads, &mut ws, rows);

    let mut state = params.clone();
    let ws = std::cell::RefCell::new(ws);
    let mut checks = Vec::new();
    for l in 0..arch.layer_count() {
        let name = arch.layer_name(l);
        let weight_numeric = numeric_gradient(
            &mut state,
            |p| p.layers[l].w.as_slice_mut().expect("contiguous"),
            eps,
            |p| loss_of(p, &mut ws.borrow_mut()),
        );
        let bias_numeric = numeric_gradient(
            &mut state,
            |p| p.layers[l].b.as_slice_mut().expect("contiguous"),
            eps,
            |p| loss_of(p, &mut ws.borrow_mut()),
        );
        let g = &grads.layers[l];
        checks.push(TensorCheck {
            name: format!("{name}.weight"),
            shape: g.w.shape().to_vec(),
            comparison: compare(g.w.as_slice().expect("contiguous"), &weight_numeric),
        });
        checks.push(TensorCheck {
            name: format!("{name}.bias"),
            shape: g.b.shape().to_vec(),
            comparison: compare(g.b.as_slice().expect("contiguous"), &bias_numeric),
        });
    }
    checks
}
