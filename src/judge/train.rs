//! Training the judge: Adam with a linearly decayed learning rate, shuffled
//! mini-batches, every image shifted at random by up to [`MAX_SHIFT`] pixel.

use ndarray::s;

use super::{classify_backward, classify_forward, Buffers, Judge, MAX_SHIFT};
use crate::data::augment::shift_images;
use crate::data::mnist::{epoch_order, fill_batch, Dataset};
use crate::error::{Error, Result};
use crate::nn::softmax::softmax_cross_entropy_forward;
use crate::optim::Adam;
use crate::seeds::{self, Purpose};

/// Adam's learning rate in epoch `epoch` of `epochs` (from 1): `lr` decayed
/// linearly, `lr · (1 − (epoch − 1)/epochs)`, so the last epoch takes small
/// steps and the final weights do not depend on where a large step happened to land.
pub fn learning_rate(lr: f32, epoch: usize, epochs: usize) -> f32 {
    lr * (1.0 - (epoch - 1) as f32 / epochs as f32)
}

/// One pass over `train` in the order `epoch_order(n, seed, epoch)`, in
/// mini-batches of `batch`: shift each image at random by up to MAX_SHIFT
/// pixels, forward, cross-entropy, backward, Adam at `adam.lr`. Returns the
/// epoch's mean training loss (nats per image, on the shifted images).
pub fn train_judge_epoch(
    judge: &mut Judge,
    adam: &mut Adam,
    train: &Dataset,
    epoch: usize,
    seed: u64,
    batch: usize,
) -> f64 {
    assert!(batch > 0, "train_judge_epoch: batch size 0");
    let mut ws = Buffers::new(batch, judge.pixels(), judge.hidden());
    let mut grads = judge.params.clone(); // any values: backward overwrites them
    let mut labels = Vec::with_capacity(batch);
    let mut scratch = vec![0.0f32; train.pixels()];
    // The shifts' own stream, seeded by (seed, epoch) like the order.
    let mut rng = seeds::rng(seed, Purpose::JudgeShifts { epoch });
    let mut loss_sum = 0.0f64;
    for indices in epoch_order(train.len(), seed, epoch).chunks(batch) {
        let rows = indices.len();
        labels.clear();
        labels.extend(indices.iter().map(|&i| train.labels[i]));
        fill_batch(&train.images, indices, ws.x.view_mut());
        shift_images(
            ws.x.slice_mut(s![..rows, ..]),
            train.rows,
            train.cols,
            MAX_SHIFT,
            &mut rng,
            &mut scratch,
        );
        classify_forward(
            &judge.params,
            ws.hidden.slice_mut(s![..rows, ..]),
            ws.logits.slice_mut(s![..rows, ..]),
            ws.x.slice(s![..rows, ..]),
        );
        let loss = softmax_cross_entropy_forward(ws.logits.slice(s![..rows, ..]), &labels);
        loss_sum += loss * rows as f64;
        classify_backward(&judge.params, &mut grads, &mut ws, &labels);
        adam.update(&mut judge.params, &grads);
    }
    loss_sum / train.len().max(1) as f64
}

/// Trains a D-H-C judge on `train` for `epochs` epochs: Adam from learning
/// rate `lr` decayed linearly ([`learning_rate`]), mini-batches of `batch`,
/// reshuffled and reshifted every epoch; seeded by `seed`. After each epoch
/// `after_epoch(epoch, train_loss, &judge)` reports (the `judge` command
/// prints and measures there); an error from it, or a loss that is not
/// finite, stops training.
pub fn train_judge(
    train: &Dataset,
    hidden: usize,
    epochs: usize,
    seed: u64,
    batch: usize,
    lr: f32,
    mut after_epoch: impl FnMut(usize, f64, &Judge) -> Result<()>,
) -> Result<Judge> {
    let mut judge = Judge::init(train.pixels(), hidden, seed);
    let mut adam = Adam::new(&judge.params, lr);
    for epoch in 1..=epochs {
        adam.lr = learning_rate(lr, epoch, epochs);
        let train_loss = train_judge_epoch(&mut judge, &mut adam, train, epoch, seed, batch);
        if !train_loss.is_finite() {
            return Err(Error::Diverged {
                epoch,
                step: train.len().div_ceil(batch),
                what: format!("the judge's training loss is {train_loss}"),
            });
        }
        after_epoch(epoch, train_loss, &judge)?;
    }
    Ok(judge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_learning_rate_decays_linearly_over_the_epochs() {
        assert_eq!(learning_rate(1e-3, 1, 10), 1e-3);
        assert!((learning_rate(1e-3, 6, 10) - 5e-4).abs() < 1e-9);
        assert!((learning_rate(1e-3, 10, 10) - 1e-4).abs() < 1e-9);
    }
}
