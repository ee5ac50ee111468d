//! Training: one step, one epoch, evaluation, and the state a checkpoint saves.
//!
//! ```text
//! for each epoch:                                   commands::train (the visible loop)
//!     train the epoch: for each shuffled mini-batch X (B, D):      Trainer::train_epoch
//!         for each shard S of X (2 shards side by side, or 1):    Shard::run
//!             X̃ = clip(X + noise)   (denoising only; the target stays X)
//!             x̂ = decoder(encoder(X̃))              model::forward
//!             L_S = loss(x̂, X)  (+ KL for a VAE)   nn::loss, nn::vae
//!             dL_S/dx̂ → dW, db (overwritten)       model::backward
//!         L, dW, db = Σ_S (rows_S / B) · (L_S, dW_S, db_S)   weighted_mean, average_gradients
//!         Adam update                               optim::Adam::update
//!     evaluate the validation loss                  evaluate
//!     record, print, snapshot pictures, write metrics and checkpoint
//! ```
//! The epoch's order is drawn from a generator seeded by (seed, epoch); the
//! binarised pixels, the denoising noise and the VAE's ε from generators seeded
//! by (seed, epoch, step, shard). So the same seed gives the same losses, on any number of threads, and
//! a resumed run continues exactly, without saving any generator.

use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::ProgressBar;
use ndarray::{s, Array2, ArrayViewMut2};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use crate::data::binarize::binarize_batch;
use crate::data::mnist::{epoch_order, fill_batch, Dataset};
use crate::error::{Error, Result};
use crate::metrics::EpochRecord;
use crate::model::{
    backward, forward, loss_backward, loss_forward, Architecture, Loss, Params, Workspace,
};
use crate::nn::LossKind;
use crate::optim::Adam;
use crate::seeds::{self, Purpose};

/// Rows per forward pass when evaluating (larger batches are faster and the
/// result does not depend on it beyond float rounding).
pub const EVAL_CHUNK: usize = 500;

/// How the model learns: fixed for a run.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    pub batch_size: usize,
    /// The plain autoencoder's loss (a VAE always uses BCE summed over pixels + β·KL).
    pub loss: LossKind,
    /// β, the weight of a VAE's KL term (1: the negative ELBO).
    pub beta: f32,
    pub seed: u64,
    /// Standard deviation of the Gaussian noise added to training inputs (0: none).
    pub noise: f32,
    /// Draw every training image as black-and-white pixels, P(1) = grey level,
    /// afresh at each step (`data::binarize`).
    pub binarize: bool,
}

/// Everything a checkpoint saves to continue training exactly.
#[derive(Debug, Clone)]
pub struct TrainState {
    pub arch: Architecture,
    pub params: Params,
    pub adam: Adam,
    pub progress: Progress,
    pub history: Vec<EpochRecord>,
    /// `data::mnist::fingerprint` of the data trained on (empty if unknown).
    pub data_fingerprint: String,
}

impl TrainState {
    /// A freshly initialised model (PyTorch's U(±1/√fan_in), seeded) with Adam.
    pub fn new(arch: Architecture, lr: f32, seed: u64) -> TrainState {
        let params = Params::init(&arch, &mut seeds::rng(seed, Purpose::Init));
        TrainState {
            adam: Adam::new(&params, lr),
            arch,
            params,
            progress: Progress::default(),
            history: Vec::new(),
            data_fingerprint: String::new(),
        }
    }
}

/// How far into an epoch training is: steps done and the sums of their
/// (loss × batch size).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Partial {
    pub steps: usize,
    pub loss_sum: f64,
    /// Training seconds spent in this epoch so far.
    pub seconds: f64,
    /// For a VAE: the sums of the reconstruction and KL parts.
    #[serde(default)]
    pub recon_sum: f64,
    #[serde(default)]
    pub kl_sum: f64,
}

/// Where training stands: `epochs_done` complete epochs, and how far into the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    pub epochs_done: usize,
    pub partial: Partial,
}

/// The training state with the buffers a step needs.
pub struct Trainer {
    pub state: TrainState,
    pub settings: Settings,
    /// The batch's slices, each with its own buffers and gradient (see [`Shard`]).
    /// After a step, the first one's gradient is the whole batch's.
    shards: Vec<Shard>,
}

/// A slice of every batch with its own buffers. With two threads, each runs one
/// shard from loading to backward pass, and neither waits for the other until
/// both are done; with one thread they run in turn.
///
/// Each shard's loss L_s is a mean over its own n_s rows, so the batch loss is
/// L = Σ (n_s/B)·L_s, and since the gradient is linear, ∇L = Σ (n_s/B)·∇L_s.
///
/// Models with less work per batch than [`SHARD_BELOW`] train in [`SHARDS`]
/// shards; larger ones take the batch whole and split each matrix product
/// between the threads instead. The count depends on the model and the batch
/// size, never on the thread count, so neither do the losses.
struct Shard {
    workspace: Workspace,
    /// dL/dW and dL/db of this shard's rows, same shapes as the parameters.
    grads: Params,
}

/// Shards per batch for a model below [`SHARD_BELOW`].
const SHARDS: usize = 2;

/// Models with fewer multiply-adds than this in one batch's forward pass train
/// in [`SHARDS`] shards: for them, the threads' meetings at every matrix product
/// cost more than two shards do. The small 784-128-64-32 model at batch 128 has
/// 28 million. The default 784-384-192-32 at batch 128 (98 million) would gain
/// too, but it takes the batch whole so that its documented results stay as
/// they are. The wide 784-1024-512-32 at batch 256 (690 million) gains nothing
/// from shards.
const SHARD_BELOW: usize = 50_000_000;

impl Trainer {
    /// A trainer continuing from `state`, in `SHARDS` (2) shards if one batch's
    /// forward pass has fewer than `SHARD_BELOW` multiply-adds, else in one.
    pub fn new(state: TrainState, settings: Settings) -> Trainer {
        let multiply_adds = state.arch.multiply_adds();
        let small = settings.batch_size.saturating_mul(multiply_adds) < SHARD_BELOW;
        let shards = if small && settings.batch_size >= SHARDS {
            SHARDS
        } else {
            1
        };
        Trainer::with_shards(state, settings, shards)
    }

    /// A trainer that cuts every batch into `shards` slices (fewer for a batch
    /// of fewer rows than that).
    pub fn with_shards(state: TrainState, settings: Settings, shards: usize) -> Trainer {
        assert!(shards >= 1, "with_shards: at least one shard");
        let rows = settings.batch_size.div_ceil(shards);
        let shards = (0..shards)
            .map(|_| Shard {
                workspace: Workspace::new(&state.arch, rows),
                grads: Params::zeros(&state.arch),
            })
            .collect();
        Trainer {
            state,
            settings,
            shards,
        }
    }

    /// The gradient of the last step's batch loss.
    pub fn gradients(&self) -> &Params {
        &self.shards[0].grads
    }

    /// One training step on the images at `indices` (B ≤ batch size), the
    /// `step`-th of epoch `epoch`: forward, loss, backward, Adam. Returns the
    /// batch loss; a non-finite loss or gradient is an error and leaves the
    /// parameters as they were.
    pub fn step(
        &mut self,
        images: &Array2<u8>,
        indices: &[usize],
        epoch: usize,
        step: usize,
    ) -> Result<Loss> {
        let loss = self.forward_backward(images, indices, epoch, step);
        let arch = &self.state.arch;
        let diverged = |what: String| Error::Diverged {
            epoch,
            step: step + 1,
            what,
        };
        if !loss.total.is_finite() {
            return Err(diverged(format!("the loss is {}", loss.total)));
        }
        let grads = &self.shards[0].grads;
        if let Some(layer) = grads.first_non_finite() {
            return Err(diverged(format!(
                "the gradient of {} is not finite",
                arch.layer_name(layer)
            )));
        }
        self.state.adam.update(&mut self.state.params, grads);
        Ok(loss)
    }

    /// Forward pass, loss and backward pass of every shard, side by side; then
    /// the batch loss and gradient (into the first shard's) as their
    /// row-weighted means.
    fn forward_backward(
        &mut self,
        images: &Array2<u8>,
        indices: &[usize],
        epoch: usize,
        step: usize,
    ) -> Loss {
        let (arch, settings) = (&self.state.arch, &self.settings);
        let slices: Vec<&[usize]> = indices
            .chunks(indices.len().div_ceil(self.shards.len()))
            .collect();
        let shards = &mut self.shards[..slices.len()];
        // With no more threads than shards, each shard's products stay on its
        // own thread; spare threads, if any, help split them.
        let alone = shards.len() > 1 && shards.len() >= rayon::current_num_threads();
        let params = &self.state.params;
        let losses: Vec<Loss> = shards
            .par_iter_mut()
            .zip(&slices)
            .enumerate()
            .map(|(s, (shard, slice))| {
                let mut rng = seeds::rng(
                    settings.seed,
                    Purpose::Step {
                        epoch,
                        step,
                        shard: s,
                    },
                );
                let mut run = || shard.run(params, arch, settings, images, slice, &mut rng);
                if alone {
                    crate::parallel::on_this_thread(run)
                } else {
                    run()
                }
            })
            .collect();
        let weights: Vec<f64> = slices
            .iter()
            .map(|s| s.len() as f64 / indices.len() as f64)
            .collect();
        average_gradients(shards, &weights);
        weighted_mean(&losses, &weights)
    }

    /// Continues epoch `epoch` over `train` in the order `epoch_order(seed,
    /// epoch)`, from the steps `state.progress.partial` says are done. Returns
    /// the epoch's mean loss, or None if `stop` was set (the partial progress
    /// then says where it stopped).
    pub fn train_epoch(
        &mut self,
        train: &Dataset,
        epoch: usize,
        stop: &AtomicBool,
        bar: &ProgressBar,
    ) -> Result<Option<Loss>> {
        let order = epoch_order(train.len(), self.settings.seed, epoch);
        let done = self.state.progress.partial.steps;
        bar.set_position(done as u64);
        for (step, indices) in order
            .chunks(self.settings.batch_size)
            .enumerate()
            .skip(done)
        {
            let loss = self.step(&train.images, indices, epoch, step)?;
            let partial = &mut self.state.progress.partial;
            let weight = indices.len() as f64;
            partial.steps += 1;
            partial.loss_sum += loss.total * weight;
            partial.recon_sum += loss.recon * weight;
            partial.kl_sum += loss.kl * weight;
            bar.inc(1);
            if stop.load(Ordering::SeqCst) {
                return Ok(None);
            }
        }
        let (partial, n) = (&self.state.progress.partial, train.len() as f64);
        Ok(Some(Loss {
            total: partial.loss_sum / n,
            recon: partial.recon_sum / n,
            kl: partial.kl_sum / n,
        }))
    }
}

impl Shard {
    /// Loads the images at `indices` as the target (binarised from `rng`, with
    /// `--binarize`); makes the input (the target plus noise drawn from `rng`,
    /// if denoising); for a VAE, draws ε from `rng`.
    /// Then runs the forward pass, the loss and the backward pass. Returns the
    /// loss (a mean over these rows) and leaves its gradient in `self.grads`.
    fn run(
        &mut self,
        params: &Params,
        arch: &Architecture,
        settings: &Settings,
        images: &Array2<u8>,
        indices: &[usize],
        rng: &mut StdRng,
    ) -> Loss {
        let (ws, rows) = (&mut self.workspace, indices.len());
        fill_batch(images, indices, ws.target.slice_mut(s![..rows, ..]));
        if settings.binarize {
            binarize_batch(ws.target.slice_mut(s![..rows, ..]), rng);
        }
        corrupt(ws, rows, settings.noise, rng);
        if let Some(sampling) = ws.sampling.as_mut() {
            fill_normal(sampling.eps.slice_mut(s![..rows, ..]), rng);
        }
        forward(params, arch, ws, rows);
        let loss = loss_forward(arch.kind, settings.loss, settings.beta, ws, rows);
        loss_backward(arch.kind, settings.loss, settings.beta, ws, rows);
        backward(params, arch, &mut self.grads, ws, rows);
        loss
    }
}

/// `Σ weights[s] · losses[s]`, part by part.
fn weighted_mean(losses: &[Loss], weights: &[f64]) -> Loss {
    if let [only] = losses {
        return *only;
    }
    let mut mean = Loss::default();
    for (l, &w) in losses.iter().zip(weights) {
        mean.total += w * l.total;
        mean.recon += w * l.recon;
        mean.kl += w * l.kl;
    }
    mean
}

/// The first shard's gradient becomes `Σ weights[s] · shards[s].grads`.
fn average_gradients(shards: &mut [Shard], weights: &[f64]) {
    let Some((first, others)) = shards.split_first_mut() else {
        return;
    };
    if others.is_empty() {
        return;
    }
    const PIECE_LEN: usize = 1 << 14;
    let parts: Vec<Vec<(usize, &[f32])>> =
        others.iter().map(|s| s.grads.pieces(PIECE_LEN)).collect();
    // Piece j of the first shard's gradient adds piece j of every other
    // shard's (all are cut alike), in one parallel loop over all the tensors.
    let sums = first
        .grads
        .pieces_mut(PIECE_LEN)
        .into_par_iter()
        .enumerate();
    sums.with_max_len(1).for_each(|(j, (_, sum))| {
        let w0 = weights[0] as f32;
        sum.iter_mut().for_each(|x| *x *= w0);
        for (part, &w) in parts.iter().zip(&weights[1..]) {
            let w = w as f32;
            sum.iter_mut()
                .zip(part[j].1)
                .for_each(|(x, &y)| *x += w * y);
        }
    });
}

/// Fills `values` with independent N(0, 1) draws.
fn fill_normal(mut values: ArrayViewMut2<f32>, rng: &mut StdRng) {
    values
        .iter_mut()
        .for_each(|v| *v = StandardNormal.sample(rng));
}

/// The network's input: the clean target, or with `noise` > 0 the target plus
/// Gaussian noise of that standard deviation, clipped to [0, 1].
fn corrupt(ws: &mut Workspace, rows: usize, noise: f32, rng: &mut StdRng) {
    let mut input = ws.outputs[0].slice_mut(s![..rows, ..]);
    input.assign(&ws.target.slice(s![..rows, ..]));
    if noise > 0.0 {
        input.iter_mut().for_each(|x| {
            let e: f32 = StandardNormal.sample(rng);
            *x = (*x + noise * e).clamp(0.0, 1.0);
        });
    }
}

/// Losses of a model on a dataset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// The training loss (MSE or BCE mean, or the VAE's negative ELBO with ε
    /// sampled, nats per image) and its parts.
    pub loss: Loss,
    /// The mean squared error of the reconstructions (z = μ for a VAE).
    pub mse: f64,
}

/// Evaluates `params` on every image of `data`, `EVAL_CHUNK` rows at a time.
/// A VAE's loss is reconstruction + β·KL (β = 1: the full negative ELBO) with
/// ε drawn from a generator seeded by `seed` (the same ε for every call); its
/// MSE uses z = μ.
pub fn evaluate(
    params: &Params,
    arch: &Architecture,
    data: &Dataset,
    loss: LossKind,
    beta: f32,
    seed: u64,
) -> Evaluation {
    let rows = arch.rows_per_pass(EVAL_CHUNK).min(data.len()).max(1);
    let mut ws = Workspace::for_inference(arch, rows);
    let mut rng = seeds::rng(seed, Purpose::Evaluation);
    let indices: Vec<usize> = (0..data.len()).collect();
    let (mut sum, mut mse_sum) = (Loss::default(), 0.0);
    for chunk in indices.chunks(ws.capacity) {
        let rows = chunk.len();
        fill_batch(&data.images, chunk, ws.target.slice_mut(s![..rows, ..]));
        ws.outputs[0]
            .slice_mut(s![..rows, ..])
            .assign(&ws.target.slice(s![..rows, ..]));
        if let Some(sampling) = ws.sampling.as_mut() {
            fill_normal(sampling.eps.slice_mut(s![..rows, ..]), &mut rng);
        }
        forward(params, arch, &mut ws, rows);
        let l = loss_forward(arch.kind, loss, beta, &ws, rows);
        let weight = rows as f64;
        sum.total += l.total * weight;
        sum.recon += l.recon * weight;
        sum.kl += l.kl * weight;
        if let Some(sampling) = ws.sampling.as_mut() {
            sampling.eps.fill(0.0); // z = μ for the reconstructions
            forward(params, arch, &mut ws, rows);
        }
        mse_sum += LossKind::Mse.forward(ws.reconstruction(rows), ws.target.slice(s![..rows, ..]))
            * weight;
    }
    let n = data.len().max(1) as f64;
    Evaluation {
        loss: Loss {
            total: sum.total / n,
            recon: sum.recon / n,
            kl: sum.kl / n,
        },
        mse: mse_sum / n,
    }
}

/// A denoiser's test errors at one noise level.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Denoising {
    /// The output against the clean image, `1/(N·D) Σ (x̂(x̃) − x)²`.
    pub mse: f64,
    /// The noisy input itself against the clean image, `1/(N·D) Σ (x̃ − x)²`:
    /// what doing nothing scores.
    pub input_mse: f64,
}

/// The test MSE of a denoiser: every image of `data` goes in with Gaussian
/// noise of standard deviation `noise` added, `x̃ = clip(x + noise·ξ, 0, 1)`
/// (ξ drawn from a generator seeded by `seed`, as in training), and the output
/// is compared with the clean image; z = μ for a VAE. With `noise` = 0 the
/// output's MSE is [`evaluate`]'s and the input's is 0.
pub fn denoising_mse(
    params: &Params,
    arch: &Architecture,
    data: &Dataset,
    noise: f32,
    seed: u64,
) -> Denoising {
    let rows = arch.rows_per_pass(EVAL_CHUNK).min(data.len()).max(1);
    let mut ws = Workspace::for_inference(arch, rows); // ε = 0: z = μ
    let mut rng = seeds::rng(seed, Purpose::Evaluation);
    let indices: Vec<usize> = (0..data.len()).collect();
    let (mut mse_sum, mut input_sum) = (0.0, 0.0);
    for chunk in indices.chunks(ws.capacity) {
        let rows = chunk.len();
        fill_batch(&data.images, chunk, ws.target.slice_mut(s![..rows, ..]));
        corrupt(&mut ws, rows, noise, &mut rng); // x̃ = clip(x + noise·ξ)
        let x = ws.target.slice(s![..rows, ..]);
        input_sum += LossKind::Mse.forward(ws.outputs[0].slice(s![..rows, ..]), x) * rows as f64;
        forward(params, arch, &mut ws, rows);
        let (x_hat, x) = (ws.reconstruction(rows), ws.target.slice(s![..rows, ..]));
        mse_sum += LossKind::Mse.forward(x_hat, x) * rows as f64;
    }
    let n = data.len().max(1) as f64;
    Denoising {
        mse: mse_sum / n,
        input_mse: input_sum / n,
    }
}

/// The median of `values` (the mean of the two middle ones for an even count).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}
