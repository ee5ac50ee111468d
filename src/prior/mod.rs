//! Priors over the autoencoder's codes: distributions to sample new codes from.

pub mod diffusion;
