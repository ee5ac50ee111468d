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

/// Slope of leaky ReLU for negative inputs (PyTorch's default).
pub const LEAKY_SLOPE: f32 = 0.01;

/// The activations a layer can have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    Identity,
    Relu,
    LeakyRelu,
    Sigmoid,
    Tanh,
}

impl Activation {
    /// The name PyTorch gives the module (`nn.ReLU`, ...), for metadata.
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
pub fn activation_forward(activation: Activation, mut values: ArrayViewMut2<f32>) {
    match activation {
        Activation::Identity => {}
        // Written so that NaN passes through (f32::max would turn it into 0 and
        // hide a diverging run).
        Activation::Relu => values.mapv_inplace(|z| if z < 0.0 { 0.0 } else { z }),
        Activation::LeakyRelu => values.mapv_inplace(|z| if z > 0.0 { z } else { LEAKY_SLOPE * z }),
        Activation::Sigmoid => values.mapv_inplace(sigmoid),
        Activation::Tanh => values.mapv_inplace(f32::tanh),
    }
}

/// `dZ = dA ⊙ f'(Z)`, in place: `grad` holds dA on entry and dZ on return;
/// `output` is the forward result A. grad, output: (B, O).
pub fn activation_backward(
    activation: Activation,
    mut grad: ArrayViewMut2<f32>,
    output: ArrayView2<f32>,
) {
    assert_eq!(
        grad.dim(),
        output.dim(),
        "activation_backward: shapes differ"
    );
    let zip = Zip::from(&mut grad).and(&output);
    match activation {
        Activation::Identity => {}
        Activation::Relu => zip.for_each(|g, &a| {
            if a <= 0.0 {
                *g = 0.0
            }
        }),
        Activation::LeakyRelu => zip.for_each(|g, &a| {
            if a <= 0.0 {
                *g *= LEAKY_SLOPE
            }
        }),
        Activation::Sigmoid => zip.for_each(|g, &a| *g *= a * (1.0 - a)),
        Activation::Tanh => zip.for_each(|g, &a| *g *= 1.0 - a * a),
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
