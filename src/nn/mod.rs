//! Neural-network building blocks as paired `*_forward` / `*_backward` free
//! functions: the dense layer, the activations and the losses, plus the one
//! matrix product they all use.

pub mod activation;
pub mod dense;
pub mod loss;
pub mod matmul;

pub use activation::{activation_backward, activation_forward, Activation};
pub use dense::{dense_backward, dense_forward};
pub use loss::LossKind;
