//! Element-wise activations, applied in place.
//!
//! Every derivative here can be written with the activation's *output* `A`
//! alone, so the backward pass needs no extra cache:
//!
//! ```text
//! activation   forward A = f(Z)             backward dZ = dA ⊙ f'(Z), written with A
//! identity     A = Z                        dZ = dA
//! ReLU         A = max(0, Z)                dZ = dA ⊙ [A > 0]
//! leaky ReLU   A = Z if Z > 0 else 0.01·Z   dZ = dA ⊙ (1 if A > 0 else 0.01)
//! sigmoid      A = σ(Z) = 1/(1 + e^(−Z))    dZ = dA ⊙ A ⊙ (1 − A)
//! tanh         A = tanh(Z)                  dZ = dA ⊙ (1 − A²)
//! ```

use ndarray::{ArrayView2, ArrayViewMut2, Zip};
use rayon::prelude::*;

use crate::parallel::{worth_splitting, PARALLEL_MIN_ELEMENTS};

/// Slope of leaky ReLU for negative inputs (PyTorch's default).
pub const LEAKY_SLOPE: f32 = 0.01;

/// The activations a layer can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Identity,
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
}

impl Activation {
    /// Every activation.
    pub const ALL: [Activation; 5] = [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Sigmoid,
        Activation::Tanh,
    ];

    /// The name used in metadata (the command line writes `_` as `-`).
    pub fn name(self) -> &'static str {
        match self {
            Activation::Identity => "identity",
            Activation::Relu => "relu",
            Activation::LeakyRelu => "leaky_relu",
            Activation::Sigmoid => "sigmoid",
            Activation::Tanh => "tanh",
        }
    }
}

/// `A = f(Z)`, in place: `values` holds Z on entry and A on return. values: (B, O).
pub fn activation_forward(activation: Activation, values: ArrayViewMut2<f32>) {
    match activation {
        Activation::Identity => {}
        Activation::Relu => map_in_place(values, |z| if z < 0.0 { 0.0 } else { z }),
        Activation::LeakyRelu => {
            map_in_place(values, |z| if z > 0.0 { z } else { LEAKY_SLOPE * z })
        }
        Activation::Sigmoid => sigmoid_in_place(values),
        Activation::Tanh => map_in_place(values, f32::tanh),
    }
}

/// `v = f(v)` for every element, on all threads when there are many. Generic
/// over `f` (not a function pointer) so that each activation's loop is compiled
/// on its own and simple ones become vector instructions.
fn map_in_place(values: ArrayViewMut2<f32>, f: impl Fn(f32) -> f32 + Sync + Send) {
    let zip = Zip::from(values);
    if worth_splitting(zip.size(), PARALLEL_MIN_ELEMENTS) {
        zip.par_for_each(|v| *v = f(*v));
    } else {
        zip.for_each(|v| *v = f(*v));
    }
}

/// σ on every element: [`map_in_place`], with the loop compiled for AVX2 when
/// the CPU has it (see [`super::kernel::wide_vectors`]; the same bits either way).
fn sigmoid_in_place(mut values: ArrayViewMut2<f32>) {
    let Some(slice) = values.as_slice_mut() else {
        return map_in_place(values, sigmoid);
    };
    let apply = |chunk: &mut [f32]| {
        #[cfg(target_arch = "x86_64")]
        if super::kernel::wide_vectors() {
            // SAFETY: wide_vectors() says this CPU has AVX2.
            return unsafe { sigmoid_slice_avx2(chunk) };
        }
        sigmoid_slice(chunk)
    };
    if worth_splitting(slice.len(), PARALLEL_MIN_ELEMENTS) {
        slice
            .par_chunks_mut(PARALLEL_MIN_ELEMENTS / 2)
            .for_each(apply);
    } else {
        apply(slice);
    }
}

#[inline(always)]
fn sigmoid_slice(values: &mut [f32]) {
    values.iter_mut().for_each(|v| *v = sigmoid(*v));
}

/// [`sigmoid_slice`] compiled for AVX2: the same operations, the same bits.
///
/// # Safety
/// The CPU must have AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn sigmoid_slice_avx2(values: &mut [f32]) {
    sigmoid_slice(values)
}

/// `dZ = dA ⊙ f'(Z)`, in place: `grad` holds dA on entry and dZ on return;
/// `output` is the forward result A. grad, output: (B, O).
pub fn activation_backward(
    activation: Activation,
    grad: ArrayViewMut2<f32>,
    output: ArrayView2<f32>,
) {
    assert_eq!(
        grad.dim(),
        output.dim(),
        "activation_backward: shapes differ"
    );
    match activation {
        Activation::Identity => {}
        Activation::Relu => scale_in_place(grad, output, |a| if a > 0.0 { 1.0 } else { 0.0 }),
        Activation::LeakyRelu => {
            scale_in_place(grad, output, |a| if a > 0.0 { 1.0 } else { LEAKY_SLOPE })
        }
        Activation::Sigmoid => scale_in_place(grad, output, |a| a * (1.0 - a)),
        Activation::Tanh => scale_in_place(grad, output, |a| 1.0 - a * a),
    }
}

/// `g = g · f'(a)` for every element (the derivative written in terms of the
/// output `a`), on all threads when there are many.
fn scale_in_place(
    grad: ArrayViewMut2<f32>,
    output: ArrayView2<f32>,
    derivative: impl Fn(f32) -> f32 + Sync + Send,
) {
    let zip = Zip::from(grad).and(&output);
    if worth_splitting(zip.size(), PARALLEL_MIN_ELEMENTS) {
        zip.par_for_each(|g, &a| *g *= derivative(a));
    } else {
        zip.for_each(|g, &a| *g *= derivative(a));
    }
}

/// σ(z) = 1/(1 + e^(−z)). For very negative z, e^(−z) is huge and σ is
/// correctly tiny; for very positive z, e^(−z) is 0 and σ is 1.
#[inline(always)]
pub fn sigmoid(z: f32) -> f32 {
    1.0 / (1.0 + exp(-z))
}

/// e^x for f32, within 2 units in the last place of the library's `expf`
/// (checked by a test), as plain arithmetic with no branch and no library call,
/// so that a loop of them becomes vector instructions (a call to `expf` per
/// pixel was a sixth of a small model's training time).
///
/// The method is Cephes' `expf`: write x = n·ln 2 + r with n an integer and
/// |r| ≤ ½ln 2, then e^x = 2ⁿ · e^r, with e^r from a degree-7 polynomial and
/// 2ⁿ built directly in the float's exponent bits.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Beyond these e^x is not a normal f32 (and 2ⁿ below would not fit).
    let x = x.clamp(-87.0, 88.0);
    // n = round(x / ln 2): adding and subtracting 1.5·2²³ rounds to an integer.
    const ROUND: f32 = 12_582_912.0;
    let shifted = x * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    // r = x − n·ln 2, with ln 2 split in two so that n·ln 2 loses no digits.
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.987_569_1e-4;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e_r = p * r * r + r + 1.0;
    // `shifted` is 1.5·2²³ + n exactly, so its bits are those of 1.5·2²³ plus n:
    // n as an integer, read without a cast (`n as i32` saturates, and a loop
    // with it does not become vector instructions).
    let n_int = shifted.to_bits() as i32 - ROUND.to_bits() as i32;
    let two_to_n = f32::from_bits(((n_int + 127) as u32) << 23);
    e_r * two_to_n
}

impl std::str::FromStr for Activation {
    type Err = String;

    /// Parses a [`Activation::name`].
    fn from_str(name: &str) -> Result<Activation, String> {
        Activation::ALL
            .into_iter()
            .find(|a| a.name() == name)
            .ok_or_else(|| format!("unknown activation '{name}'"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_is_within_two_ulp_of_the_library_and_sigmoid_saturates() {
        let mut worst = 0i64;
        for i in -87_000..88_000 {
            let x = i as f32 * 1e-3 + 0.000_37;
            let (ours, libm) = (exp(x), x.exp());
            worst = worst.max((ours.to_bits() as i64 - libm.to_bits() as i64).abs());
        }
        assert!(worst <= 2, "worst error {worst} ulp");
        assert_eq!(sigmoid(200.0), 1.0);
        assert!(sigmoid(-200.0) >= 0.0 && sigmoid(-200.0) < 1e-37);
        assert!(
            sigmoid(f32::NAN).is_nan(),
            "a diverged value must stay visible"
        );
        assert_eq!(sigmoid(0.0), 0.5);
    }
}
