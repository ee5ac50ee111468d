//! The training loop, in plain sight.
//!
//! ```text
//! for each epoch:
//!     shuffle the training images (seeded by seed and epoch)
//!     for each mini-batch X (B, D):
//!         x̂ = decoder(encoder(X))                 model::forward
//!         L = loss(x̂, X)                          nn::loss
//!         zero the gradients, dL/dx̂ → dW, db      model::backward
//!         Adam update                             optim::Adam::update
//!     evaluate the validation loss
//! ```

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use ndarray::Array2;
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::SeedableRng;

use crate::data::mnist::{epoch_order, fill_batch, Dataset, Splits};
use crate::error::{Error, Result};
use crate::model::{backward, forward, Architecture, Params, Workspace};
use crate::nn::LossKind;
use crate::optim::Adam;

/// Rows per forward pass when evaluating (larger batches are faster and the
/// result does not depend on it beyond float rounding).
pub const EVAL_CHUNK: usize = 500;

/// Everything that changes during training: the parameters, their gradients,
/// Adam's state, and the preallocated buffers.
#[derive(Debug, Clone)]
pub struct Trainer {
    pub arch: Architecture,
    pub params: Params,
    pub grads: Params,
    pub adam: Adam,
    pub loss: LossKind,
    pub workspace: Workspace,
}

impl Trainer {
    /// A freshly initialised model (PyTorch's U(±1/√fan_in), seeded) with Adam.
    pub fn new(
        arch: Architecture,
        batch_size: usize,
        lr: f32,
        loss: LossKind,
        seed: u64,
    ) -> Trainer {
        let params = Params::init(&arch, &mut StdRng::seed_from_u64(seed));
        Trainer::from_params(arch, params, batch_size, lr, loss)
    }

    /// A trainer that starts from the given parameters.
    pub fn from_params(
        arch: Architecture,
        params: Params,
        batch_size: usize,
        lr: f32,
        loss: LossKind,
    ) -> Trainer {
        Trainer {
            grads: Params::zeros(&arch),
            adam: Adam::new(&params, lr),
            workspace: Workspace::new(&arch, batch_size),
            arch,
            params,
            loss,
        }
    }

    /// One training step on the images at `indices` (B ≤ batch size): forward,
    /// loss, backward, Adam. Returns the batch loss. If the loss is NaN or
    /// infinite, nothing is updated and the loss is returned for the caller to stop.
    pub fn step(&mut self, images: &Array2<u8>, indices: &[usize]) -> f64 {
        let rows = indices.len();
        let ws = &mut self.workspace;
        fill_batch(images, indices, ws.input_mut(rows));
        forward(&self.params, &self.arch, ws, rows);
        let loss = self
            .loss
            .forward(ws.reconstruction(rows), ws.output(0, rows));
        if !loss.is_finite() {
            return loss;
        }
        let last = self.arch.layer_count();
        let (x_hat, x) = (&ws.outputs[last], &ws.outputs[0]);
        self.loss.backward(
            ws.grads[last].slice_mut(ndarray::s![..rows, ..]),
            x_hat.slice(ndarray::s![..rows, ..]),
            x.slice(ndarray::s![..rows, ..]),
        );
        self.grads.fill(0.0);
        backward(&self.params, &self.arch, &mut self.grads, ws, rows);
        self.adam.update(&mut self.params, &self.grads);
        loss
    }

    /// Continues epoch `epoch` over `train` in the order `epoch_order(seed, epoch)`,
    /// in batches of the workspace's capacity, from `partial` (steps already done
    /// and their loss sum). Stops after the current step if `stop` is set.
    pub fn train_epoch(
        &mut self,
        train: &Dataset,
        seed: u64,
        epoch: usize,
        partial: &mut Partial,
        stop: &AtomicBool,
        progress: &ProgressBar,
    ) -> Result<EpochEnd> {
        let order = epoch_order(train.len(), seed, epoch);
        progress.set_position(partial.steps as u64);
        for indices in order.chunks(self.workspace.capacity).skip(partial.steps) {
            let loss = self.step(&train.images, indices);
            if !loss.is_finite() {
                return Err(Error::Diverged {
                    epoch,
                    step: partial.steps + 1,
                    loss,
                });
            }
            partial.steps += 1;
            partial.loss_sum += loss * indices.len() as f64;
            progress.inc(1);
            if stop.load(Ordering::SeqCst) {
                return Ok(EpochEnd::Stopped);
            }
        }
        Ok(EpochEnd::Finished(partial.loss_sum / train.len() as f64))
    }
}

/// How far into an epoch training is: steps done and the sum of their
/// (loss × batch size).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Partial {
    pub steps: usize,
    pub loss_sum: f64,
    /// Training seconds spent in this epoch so far.
    pub seconds: f64,
}

/// Where training stands: `epochs_done` complete epochs, and how far into the next.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Progress {
    pub epochs_done: usize,
    pub partial: Partial,
}

/// How a call to `train_epoch` ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum EpochEnd {
    /// The epoch is complete; its mean training loss.
    Finished(f64),
    /// `stop` was set; the partial progress holds where it stopped.
    Stopped,
}

/// Losses of a model on a dataset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Evaluation {
    /// The training loss (MSE or BCE), mean over images and pixels.
    pub loss: f64,
    /// The mean squared error, whatever the training loss.
    pub mse: f64,
}

/// Evaluates `params` on every image of `data`, `EVAL_CHUNK` rows at a time.
pub fn evaluate(
    params: &Params,
    arch: &Architecture,
    data: &Dataset,
    loss: LossKind,
) -> Evaluation {
    let mut ws = Workspace::for_inference(arch, EVAL_CHUNK.min(data.len()).max(1));
    let indices: Vec<usize> = (0..data.len()).collect();
    let (mut loss_sum, mut mse_sum) = (0.0, 0.0);
    for chunk in indices.chunks(ws.capacity) {
        let rows = chunk.len();
        fill_batch(&data.images, chunk, ws.input_mut(rows));
        forward(params, arch, &mut ws, rows);
        let (x_hat, x) = (ws.reconstruction(rows), ws.output(0, rows));
        loss_sum += loss.forward(x_hat, x) * rows as f64;
        mse_sum += LossKind::Mse.forward(x_hat, x) * rows as f64;
    }
    let n = data.len().max(1) as f64;
    Evaluation {
        loss: loss_sum / n,
        mse: mse_sum / n,
    }
}

/// What one epoch did.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EpochRecord {
    pub epoch: usize,
    pub train_loss: f64,
    pub val_loss: f64,
    /// Training time of the epoch (evaluation excluded).
    pub seconds: f64,
    pub images_per_second: f64,
}

/// Trains from `progress` up to `epochs` complete epochs, calling `on_epoch`
/// after each with the epoch's record, the trainer and the new progress (to
/// print, save a checkpoint, take pictures). Returns the final progress: short of
/// `epochs` if `stop` was set (Ctrl-C), in which case the caller saves it.
pub fn train(
    trainer: &mut Trainer,
    splits: &Splits,
    epochs: usize,
    seed: u64,
    mut progress: Progress,
    stop: &AtomicBool,
    on_epoch: &mut dyn FnMut(&EpochRecord, &Trainer, &Progress) -> Result<()>,
) -> Result<Progress> {
    let (train_set, validation) = (&splits.train, &splits.validation);
    let steps = train_set.len().div_ceil(trainer.workspace.capacity) as u64;
    while progress.epochs_done < epochs {
        let epoch = progress.epochs_done + 1;
        let bar = progress_bar(steps, epoch, epochs);
        let start = Instant::now();
        let end = trainer.train_epoch(train_set, seed, epoch, &mut progress.partial, stop, &bar);
        progress.partial.seconds += start.elapsed().as_secs_f64();
        bar.finish_and_clear();
        let train_loss = match end? {
            EpochEnd::Finished(loss) => loss,
            EpochEnd::Stopped => return Ok(progress),
        };
        let seconds = progress.partial.seconds;
        let val_loss = evaluate(&trainer.params, &trainer.arch, validation, trainer.loss).loss;
        let record = EpochRecord {
            epoch,
            train_loss,
            val_loss,
            seconds,
            images_per_second: train_set.len() as f64 / seconds,
        };
        progress = Progress {
            epochs_done: epoch,
            partial: Partial::default(),
        };
        on_epoch(&record, trainer, &progress)?;
        if stop.load(Ordering::SeqCst) {
            break;
        }
    }
    Ok(progress)
}

/// A progress bar on stderr; indicatif hides it when stderr is not a terminal.
fn progress_bar(steps: u64, epoch: usize, epochs: usize) -> ProgressBar {
    let bar = ProgressBar::new(steps);
    bar.set_style(
        ProgressStyle::with_template(
            "epoch {msg} [{bar:30}] {pos}/{len} batches, {per_sec}, eta {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.set_message(format!("{epoch}/{epochs}"));
    bar
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
