//! # mnist-autoencoder
//!
//! An autoencoder for MNIST written from scratch, plain or variational: every
//! gradient by hand, Adam by hand, checked against finite differences. Read it
//! top to bottom in this order; imports point one way, from [`commands`] down
//! to [`nn`] (`nn` imports nothing of the crate but [`parallel`], the thread
//! pool switch; `viz` sees only plain arrays).
//!
//! | module | what it holds |
//! |---|---|
//! | [`data::idx`] | the IDX file format (raw or gzip), parsed generically and defensively |
//! | [`data::mnist`] | dataset folders, the validation split, shuffled mini-batches |
//! | [`nn::dense`] | `Y = X·W + b` and its backward pass `dW = Xᵀ·dY`, `db = Σ dY`, `dX = dY·Wᵀ` |
//! | [`nn::activation`] | ReLU, sigmoid, identity, tanh, leaky ReLU and their derivatives |
//! | [`nn::loss`] | MSE and BCE with PyTorch's reductions, and their gradients |
//! | [`nn::softmax`] | softmax cross-entropy and its gradient (the digit judge's loss) |
//! | [`nn::vae`] | the reparameterisation z = μ + σ ⊙ ε and the KL term, with their gradients |
//! | [`nn::matmul`] | the one matrix product: packing, blocking, threads (deterministic) |
//! | [`nn::kernel`] | its innermost loop in AVX2 / AVX-512 / plain Rust, chosen at run time |
//! | [`model`] | the architecture, `Params`, the autoencoder's forward and backward (plain and VAE) |
//! | [`optim`] | Adam with bias correction |
//! | [`train`] | one step, one epoch, evaluation, the state a checkpoint saves |
//! | [`metrics`] | per-epoch records, metrics.csv, summary.json |
//! | [`checkpoint`] | weights as PyTorch-compatible safetensors; checkpoints for exact resume |
//! | [`judge`] | the digit classifier that scores generated samples |
//! | [`prior`] | priors over the code (a mixture by EM, latent diffusion): fit, sample, save, load |
//! | [`code_usage`] | how much of its code a VAE uses: KL per dimension, active units |
//! | [`iwae`] | a VAE's log p(x) by importance sampling (`eval --importance-samples`) |
//! | [`anomaly`] | per-image anomaly scores, the reconstruction error and a VAE's negative ELBO (`eval --anomaly-data`) |
//! | [`gradcheck`] | centered finite differences and relative errors |
//! | [`reduce`] | PCA, t-SNE, the Gaussian fit, the ROC AUC, and the small linear algebra they need |
//! | [`viz`] | drawing: plain data in, a PNG, GIF or HTML file out |
//! | [`figures`] | what the pictures show: fixed inputs, snapshots per epoch, the report |
//! | [`commands`] | `train` (the visible epoch loop), `eval`, `generate`, `reconstruct`, `gradcheck`, `judge` |
//! | [`config`] | the command line |
//! | [`files`] | the one writer: temporary file, fsync, rename |
//! | [`parallel`] | the thread pool, with denormals flushed to zero |
//! | [`seeds`] | every random stream, derived from the one `--seed` |
//! | [`error`] | the error type: every message names the file or the flag |

pub mod anomaly;
pub mod checkpoint;
pub mod code_usage;
pub mod commands;
pub mod config;
pub mod data;
pub mod error;
pub mod figures;
pub mod files;
pub mod gradcheck;
pub mod iwae;
pub mod judge;
pub mod metrics;
pub mod model;
pub mod nn;
pub mod optim;
pub mod parallel;
pub mod prior;
pub mod reduce;
pub mod seeds;
pub mod train;
pub mod viz;
