//! Data: the IDX format and MNIST-style datasets.

pub mod augment;
pub mod binarize;
pub mod idx;
pub mod mnist;
