//! SiLU (the swish), `A = Z ⊙ σ(Z)`, and its derivative.
//!
//! Shapes: B = batch size, O = features.
//!
//! ```text
//! forward    A = Z·σ(Z)                         Z (B,O), A (B,O)
//! backward   dZ = dA ⊙ σ(Z)·(1 + Z·(1 − σ(Z)))
//! ```
//! Why: `d/dz [z·σ(z)] = σ(z) + z·σ(z)·(1 − σ(z))`, with σ' = σ·(1 − σ). Unlike
//! ReLU's, the derivative cannot be read from the output A alone (A does not
//! determine Z: SiLU is not monotonic below z ≈ −1.28), so the backward pass
//! takes the pre-activation Z.

use ndarray::{ArrayView2, ArrayViewMut2, Zip};

use super::activation::sigmoid;

/// `A = Z ⊙ σ(Z)`.
///
/// out: (B, O) overwritten with A; z: (B, O) the pre-activation.
pub fn silu_forward(out: ArrayViewMut2<f32>, z: ArrayView2<f32>) {
    assert_eq!(out.dim(), z.dim(), "silu_forward: shapes differ");
    Zip::from(out).and(&z).for_each(|a, &z| *a = z * sigmoid(z));
}

/// Undoes `A = Z ⊙ σ(Z)`: `dZ = dA ⊙ σ(Z)·(1 + Z·(1 − σ(Z)))`, in place.
///
/// grad: (B, O) holds dA on entry and dZ on return; z: (B, O) the forward's pre-activation.
pub fn silu_backward(grad: ArrayViewMut2<f32>, z: ArrayView2<f32>) {
    assert_eq!(grad.dim(), z.dim(), "silu_backward: shapes differ");
    Zip::from(grad).and(&z).for_each(|g, &z| {
        let s = sigmoid(z);
        *g *= s * (1.0 + z * (1.0 - s));
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{compare, numeric_gradient};
    use ndarray::Array2;

    /// L = Σ R ⊙ SiLU(Z) for a fixed R: dL/dZ from silu_backward against
    /// centered differences, over Z values spread across [−6, 6] (both tails
    /// and the dip near −1.28 where SiLU turns).
    #[test]
    fn silu_gradient_matches_centered_differences() {
        let z = Array2::from_shape_fn((3, 8), |(i, j)| -6.0 + 0.5 * (i * 8 + j) as f32);
        let r = Array2::from_shape_fn((3, 8), |(i, j)| ((i * 7 + j * 3) % 5) as f32 - 2.2);
        let loss = |z: &Array2<f32>| {
            let mut a = Array2::zeros(z.dim());
            silu_forward(a.view_mut(), z.view());
            (&a * &r).iter().map(|&v| v as f64).sum::<f64>()
        };
        let mut grad = r.clone();
        silu_backward(grad.view_mut(), z.view());
        let mut state = z.clone();
        let numeric =
            numeric_gradient(&mut state, |z| z.as_slice_mut().unwrap(), 1e-2, |z| loss(z));
        let error = compare(grad.as_slice().unwrap(), &numeric).tensor_error;
        assert!(error < 1e-4, "SiLU gradient relative error {error}");
    }

    #[test]
    fn silu_known_values() {
        let z = ndarray::arr2(&[[0.0f32, 1.0, -1.0, 20.0]]);
        let mut a = Array2::zeros(z.dim());
        silu_forward(a.view_mut(), z.view());
        let expected = [0.0, 0.731_058_6, -0.268_941_4, 20.0];
        for (&got, &want) in a.iter().zip(&expected) {
            assert!((got - want).abs() < 1e-6, "{got} vs {want}");
        }
    }
}
