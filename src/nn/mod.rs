//! Neural-network building blocks as paired `*_forward` / `*_backward` free
//! functions: the dense layer, the activations, the losses, the VAE's sampling
//! and KL term, plus the one matrix product they all use. Nothing here knows
//! about the rest of the crate but [`crate::parallel`], which says when a loop
//! is worth splitting across threads.

pub mod activation;
pub mod conv;
pub mod dense;
pub mod kernel;
pub mod loss;
pub mod matmul;
pub mod silu;
pub mod softmax;
pub mod vae;

pub use activation::{activation_backward, activation_forward, Activation};
pub use dense::{
    dense_backward, dense_backward_add_dx, dense_backward_skipping_zeros, dense_forward,
    dense_forward_skipping_zeros, ZeroColumns,
};
pub use loss::LossKind;
