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
//! about (f32 epsilon ≈ 1.19e-7) × |L| / ε: a correct backward pass gives tensor
//! errors around 1e-4 to 1e-3 here, while a wrong transpose, sign, factor or
//! dropped term gives errors of order 0.1 to 1. The per-tensor error is the one
//! tests assert on: an element whose gradient is nearly zero (a dead ReLU unit)
//! can have a large per-element error without anything being wrong.
//!
//! Kinks: where θ ± ε moves a ReLU across 0 the difference quotient is not a
//! derivative. `check_model` therefore evaluates the perturbed losses with every
//! ReLU's on/off pattern frozen at its value at θ: the network is then the smooth
//! piece whose slope the backward pass computed, and a wrong mask in the backward
//! pass still shows (a dead unit contributes nothing to the frozen forward).

use std::cell::{Cell, RefCell};

use ndarray::Array2;

use crate::model::{
    backward, forward, forward_frozen, loss_backward, loss_forward, Architecture, FrozenRelus,
    Params, Workspace,
};
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
    numeric_gradient_at(state, slot, &(0..n).collect::<Vec<_>>(), eps, loss)
}

/// [`numeric_gradient`] at the elements `indices` of the tensor only.
pub fn numeric_gradient_at<T>(
    state: &mut T,
    slot: impl Fn(&mut T) -> &mut [f32],
    indices: &[usize],
    eps: f32,
    loss: impl Fn(&T) -> f64,
) -> Vec<f64> {
    let mut grad = Vec::with_capacity(indices.len());
    for &i in indices {
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
    /// Number of elements compared (all, or an evenly spaced sample).
    pub checked: usize,
    /// Elements whose `θ ± ε` moved some ReLU across its kink at 0; for them the
    /// difference was taken on the frozen linear piece (see `frozen_loss`).
    pub kinks_frozen: usize,
}

/// Checks every parameter tensor of the autoencoder on the batch `x` (B, D):
/// the gradient of the loss (for a VAE: reconstruction + β·KL, with `vae`
/// giving its ε held fixed, (B, Z), and β; None: ε = 0 and β = 1) from
/// `model::backward` against centered differences of the forward pass. Each tensor is checked on about
/// `max_elements` elements (see `sample_elements`; `usize::MAX`: all of them).
pub fn check_model(
    params: &Params,
    arch: &Architecture,
    x: &Array2<f32>,
    vae: Option<(&Array2<f32>, f32)>,
    loss: LossKind,
    eps: f32,
    max_elements: usize,
) -> Vec<TensorCheck> {
    let rows = x.nrows();
    let mut ws = Workspace::new(arch, rows);
    let beta = vae.map_or(1.0, |(_, beta)| beta);
    if let (Some(sampling), Some((vae_eps, _))) = (ws.sampling.as_mut(), vae) {
        sampling.eps.assign(vae_eps);
    }

    // Analytic: one forward, the loss gradient, one backward.
    ws.input_mut(rows).assign(x);
    ws.target.assign(x);
    forward(params, arch, &mut ws, rows);
    loss_backward(arch.kind, loss, beta, &mut ws, rows);
    // NaN, not zeros: backward must overwrite every value, and a gradient
    // added to what the buffer held would show as NaN.
    let mut grads = Params::zeros(arch);
    grads.fill(f32::NAN);
    backward(params, arch, &mut grads, &mut ws, rows);
    // Which ReLU units are on at θ: the linear piece whose slope backward computed.
    let relus = FrozenRelus::of(arch, &ws, rows);
    let ws = RefCell::new(ws);
    let kinks = Cell::new(0usize); // evaluations in which some unit crossed its kink
    let frozen = |params: &Params| {
        let before = relus.crossed.get();
        let value = frozen_loss(params, arch, &mut ws.borrow_mut(), loss, beta, &relus);
        kinks.set(kinks.get() + usize::from(relus.crossed.get() > before));
        value
    };
    let mut state = params.clone();
    let mut checks = Vec::new();
    for (l, g) in grads.layers.iter().enumerate() {
        for is_bias in [false, true] {
            let analytic = if is_bias {
                g.b.as_slice()
            } else {
                g.w.as_slice()
            }
            .expect("contiguous");
            let shape = if is_bias { g.b.shape() } else { g.w.shape() }.to_vec();
            let checked = sample_elements(analytic, max_elements);
            kinks.set(0);
            let numeric = numeric_gradient_at(
                &mut state,
                |p| tensor_mut(p, l, is_bias),
                &checked,
                eps,
                frozen,
            );
            let suffix = if is_bias { "bias" } else { "weight" };
            checks.push(TensorCheck {
                name: format!("{}.{suffix}", arch.layer_name(l)),
                shape,
                comparison: compare(
                    &checked.iter().map(|&i| analytic[i]).collect::<Vec<_>>(),
                    &numeric,
                ),
                checked: checked.len(),
                kinks_frozen: kinks.get(),
            });
        }
    }
    checks
}

/// The loss at `params` with every ReLU's on/off pattern frozen to `relus`
/// (the pattern at the unperturbed θ): [`forward_frozen`], the one forward
/// pass with the gradient check's hook. With the pattern frozen, the network
/// is the smooth function whose gradient the backward pass computes at θ, so
/// a ±ε that crosses a kink no longer spoils the difference; at θ itself it
/// equals `model::forward`. The input and target are those `ws` holds; a
/// VAE's ε is `ws.sampling.eps`.
fn frozen_loss(
    params: &Params,
    arch: &Architecture,
    ws: &mut Workspace,
    loss: LossKind,
    beta: f32,
    relus: &FrozenRelus,
) -> f64 {
    let rows = ws.target.nrows();
    forward_frozen(params, arch, ws, rows, relus);
    loss_forward(arch.kind, loss, beta, ws, rows).total
}

/// Which elements of a gradient to check, at most `max_elements`: all of them
/// if the tensor is small enough, else half the budget on the largest analytic
/// values (where a wrong formula shows most; in MNIST's first layer most
/// gradients are exactly zero because most pixels are) and half evenly spaced.
fn sample_elements(analytic: &[f32], max_elements: usize) -> Vec<usize> {
    let n = analytic.len();
    if n <= max_elements {
        return (0..n).collect();
    }
    let mut by_size: Vec<usize> = (0..n).collect();
    by_size.sort_by(|&a, &b| {
        analytic[b]
            .abs()
            .total_cmp(&analytic[a].abs())
            .then(a.cmp(&b))
    });
    let mut chosen: Vec<usize> = by_size[..max_elements / 2].to_vec();
    let stride = n.div_ceil(max_elements - max_elements / 2);
    chosen.extend((0..n).step_by(stride.max(1)));
    chosen.sort_unstable();
    chosen.dedup();
    chosen
}

/// Layer `l`'s weight (row-major) or bias as a flat slice.
fn tensor_mut(params: &mut Params, l: usize, is_bias: bool) -> &mut [f32] {
    let layer = &mut params.layers[l];
    if is_bias {
        layer.b.as_slice_mut()
    } else {
        layer.w.as_slice_mut()
    }
    .expect("contiguous")
}

/// How a tensor's relative error reads (cs231n's bands, moved for f32).
///
/// cs231n, in f64: above 1e-2 the gradient is probably wrong, below 1e-7 all is
/// well. In f32 the rounding floor of a centered difference is about 1e-4 to 1e-3
/// (see the module doc), so here: OK below 1e-2, WARN up to 1e-1, FAIL above.
/// Every mistake we have tried (a transpose, a sign, a dropped term, a factor
/// of two) lands above 0.3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Band {
    Ok,
    Warn,
    Fail,
}

impl Band {
    pub fn of(tensor_error: f64) -> Band {
        if tensor_error.is_nan() || tensor_error >= 1e-1 {
            Band::Fail
        } else if tensor_error < 1e-2 {
            Band::Ok
        } else {
            Band::Warn
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Band::Ok => "OK",
            Band::Warn => "WARN",
            Band::Fail => "FAIL",
        }
    }
}

/// A table of the checks, one row per tensor, and the worst band.
pub fn report(checks: &[TensorCheck]) -> (String, Band) {
    let mut table = format!(
        "{:<20} {:>12} {:>8} {:>12} {:>12} {:>12} {:>6}  band\n",
        "tensor", "shape", "checked", "tensor err", "max rel err", "mean rel err", "kinks"
    );
    let mut worst = Band::Ok;
    for check in checks {
        let band = Band::of(check.comparison.tensor_error);
        worst = worst.max(band);
        let shape: Vec<String> = check.shape.iter().map(|d| d.to_string()).collect();
        table.push_str(&format!(
            "{:<20} {:>12} {:>8} {:>12.2e} {:>12.2e} {:>12.2e} {:>6}  {}\n",
            check.name,
            shape.join("x"),
            check.checked,
            check.comparison.tensor_error,
            check.comparison.max_element_error,
            check.comparison.mean_element_error,
            check.kinks_frozen,
            band.name()
        ));
    }
    (table, worst)
}
