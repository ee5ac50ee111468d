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

/// Arrays with at least this many elements are processed by all threads
/// (element-wise, so the result does not depend on the split).
const PARALLEL_MIN_ELEMENTS: usize = 1 << 16;

/// Slope of leaky ReLU for negative inputs (PyTorch's default).
pub const LEAKY_SLOPE: f32 = 0.01;

/// The activations a layer can have.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Identity,
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
}

impl Activation {
    /// The name used in metadata and on the command line.
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
        Activation::Sigmoid => map_in_place(values, sigmoid),
        Activation::Tanh => map_in_place(values, f32::tanh),
    }
}

/// `v = f(v)` for every element, on all threads when there are many. Generic
/// over `f` (not a function pointer) so that each activation's loop is compiled
/// on its own and simple ones become vector instructions.
fn map_in_place(values: ArrayViewMut2<f32>, f: impl Fn(f32) -> f32 + Sync + Send) {
    let zip = Zip::from(values);
    if zip.size() >= PARALLEL_MIN_ELEMENTS {
        zip.par_for_each(|v| *v = f(*v));
    } else {
        zip.for_each(|v| *v = f(*v));
    }
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
    if zip.size() >= PARALLEL_MIN_ELEMENTS {
        zip.par_for_each(|g, &a| *g *= derivative(a));
    } else {
        zip.for_each(|g, &a| *g *= derivative(a));
    }
}

/// σ(z) = 1/(1 + e^(−z)), written so that neither branch overflows.
pub fn sigmoid(z: f32) -> f32 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

impl std::str::FromStr for Activation {
    type Err = String;

    /// Parses a [`Activation::name`].
    fn from_str(name: &str) -> Result<Activation, String> {
        [
            Activation::Identity,
            Activation::Relu,
            Activation::LeakyRelu,
            Activation::Sigmoid,
            Activation::Tanh,
        ]
        .into_iter()
        .find(|a| a.name() == name)
        .ok_or_else(|| format!("unknown activation '{name}'"))
    }
}
