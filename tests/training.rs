//! End-to-end training on a small subset of the bundled MNIST.

use std::path::Path;

use indicatif::ProgressBar;
use mnist_autoencoder::data::mnist::{load_splits, Splits};
use mnist_autoencoder::model::{Architecture, ModelKind};
use mnist_autoencoder::nn::LossKind;
use mnist_autoencoder::parallel::build_pool;
use mnist_autoencoder::train::{evaluate, Settings, TrainState, Trainer};
use std::sync::atomic::AtomicBool;

fn subset() -> Splits {
    load_splits(Path::new("data/mnist"), 500, Some(1500), 3).expect("bundled MNIST loads")
}

fn arch() -> Architecture {
    Architecture::plain(784, vec![64], 16)
}

fn settings(batch_size: usize, loss: LossKind, seed: u64) -> Settings {
    Settings {
        batch_size,
        loss,
        beta: 1.0,
        seed,
        noise: 0.0,
        binarize: false,
    }
}

/// 15 epochs of 1,000 images in batches of 50: 300 Adam steps.
fn run(splits: &Splits, loss: LossKind) -> (f64, Vec<f64>, Trainer) {
    let pool = build_pool(2).unwrap();
    pool.install(|| {
        let mut trainer = Trainer::new(TrainState::new(arch(), 3e-3, 42), settings(50, loss, 42));
        let before = evaluate(
            &trainer.state.params,
            &arch(),
            &splits.validation,
            loss,
            1.0,
            0,
        )
        .mse;
        let mut train_losses = Vec::new();
        let (stop, bar) = (AtomicBool::new(false), ProgressBar::hidden());
        for epoch in 1..=15 {
            let loss = trainer
                .train_epoch(&splits.train, epoch, &stop, &bar)
                .unwrap()
                .unwrap();
            trainer.state.progress.partial = Default::default();
            train_losses.push(loss.total);
        }
        (before, train_losses, trainer)
    })
}

#[test]
fn a_few_hundred_steps_lower_the_loss_several_fold_and_runs_repeat_exactly() {
    let splits = subset();
    assert_eq!((splits.train.len(), splits.validation.len()), (1000, 500));
    let (before, losses, trainer) = run(&splits, LossKind::Mse);
    let after = evaluate(
        &trainer.state.params,
        &arch(),
        &splits.validation,
        LossKind::Mse,
        1.0,
        0,
    )
    .mse;
    println!("validation MSE {before:.4} -> {after:.4}");
    assert!(
        after < before / 3.0,
        "validation MSE only went from {before} to {after}"
    );
    assert!(losses.last().unwrap() < &losses[0]);

    let (_, losses_again, trainer_again) = run(&splits, LossKind::Mse);
    assert_eq!(
        losses, losses_again,
        "same seed and threads: the same losses"
    );
    assert_eq!(
        trainer.state.params, trainer_again.state.params,
        "same seed and threads: bit-identical weights"
    );
}

#[test]
fn a_vae_and_a_denoising_autoencoder_learn_and_repeat_exactly() {
    let splits = subset();
    let vae = Architecture {
        kind: ModelKind::Vae,
        ..arch()
    };
    let pool = build_pool(2).unwrap();
    let train = |arch: &Architecture, noise: f32| {
        pool.install(|| {
            let settings = Settings {
                noise,
                ..settings(50, LossKind::Mse, 7)
            };
            let mut trainer = Trainer::new(TrainState::new(arch.clone(), 3e-3, 7), settings);
            let (stop, bar) = (AtomicBool::new(false), ProgressBar::hidden());
            let mut losses = Vec::new();
            for epoch in 1..=3 {
                losses.push(
                    trainer
                        .train_epoch(&splits.train, epoch, &stop, &bar)
                        .unwrap()
                        .unwrap(),
                );
                trainer.state.progress.partial = Default::default();
            }
            (losses, trainer.state.params)
        })
    };
    let (losses, params) = train(&vae, 0.0);
    assert!(losses[2].total < losses[0].total, "{losses:?}");
    assert!(losses[2].kl > 0.0 && (losses[2].recon + losses[2].kl - losses[2].total).abs() < 1e-9);
    assert_eq!(
        train(&vae, 0.0).1,
        params,
        "ε is drawn from (seed, epoch, step, shard)"
    );
    let (noisy, noisy_params) = train(&arch(), 0.3);
    assert!(noisy[2].total < noisy[0].total);
    assert_eq!(
        train(&arch(), 0.3).1,
        noisy_params,
        "the noise is drawn from (seed, epoch, step, shard)"
    );
}

#[test]
fn bce_training_lowers_the_mse_too() {
    let splits = subset();
    let (before, _, trainer) = run(&splits, LossKind::Bce);
    let after = evaluate(
        &trainer.state.params,
        &arch(),
        &splits.validation,
        LossKind::Bce,
        1.0,
        0,
    );
    assert!(
        after.mse < before / 3.0,
        "MSE went from {before} to {}",
        after.mse
    );
    assert!(
        after.loss.total > after.mse,
        "BCE is reported separately from MSE"
    );
}

#[test]
fn the_last_partial_batch_is_used() {
    let splits = subset();
    let pool = build_pool(1).unwrap();
    pool.install(|| {
        let mut trainer = Trainer::new(
            TrainState::new(arch(), 1e-3, 1),
            settings(300, LossKind::Mse, 1),
        );
        let progress = ProgressBar::hidden();
        trainer
            .train_epoch(&splits.train, 1, &AtomicBool::new(false), &progress)
            .unwrap();
        assert_eq!(trainer.state.progress.partial.steps, 4);
        // 1,000 images in batches of 300: 300 + 300 + 300 + 100.
        assert_eq!(progress.position(), 4);
        assert_eq!(trainer.state.adam.step, 4);
    });
}

#[test]
fn validation_split_is_seeded_and_disjoint() {
    let a = subset();
    let b = load_splits(Path::new("data/mnist"), 500, Some(1500), 3).unwrap();
    let c = load_splits(Path::new("data/mnist"), 500, Some(1500), 4).unwrap();
    assert_eq!(a.validation.images, b.validation.images);
    assert_ne!(a.validation.images, c.validation.images);
    for row in a.validation.images.rows() {
        assert!(
            !a.train.images.rows().into_iter().any(|t| t == row),
            "a validation image is also in training"
        );
    }
}

#[test]
fn shards_give_the_whole_batch_gradient_and_the_thread_count_changes_no_bit() {
    let splits = subset();
    // 51 rows in a trainer for batches of 64 (a last, partial batch): shards of
    // 26 and 25 rows, weighted 26/51 and 25/51.
    let indices: Vec<usize> = (100..151).collect();
    let step = |shards: usize, threads: usize| {
        build_pool(threads).unwrap().install(|| {
            let state = TrainState::new(arch(), 3e-3, 5);
            let mut trainer = Trainer::with_shards(state, settings(64, LossKind::Mse, 5), shards);
            let loss = trainer.step(&splits.train.images, &indices, 1, 0).unwrap();
            (loss, trainer.gradients().clone(), trainer.state.params)
        })
    };
    let (whole_loss, whole, _) = step(1, 2);
    let (loss, sharded, params) = step(2, 2);
    assert!(
        (loss.total - whole_loss.total).abs() < 1e-6 * whole_loss.total,
        "loss {} with shards, {} without",
        loss.total,
        whole_loss.total
    );
    for (s, w) in sharded.slices().iter().zip(whole.slices()) {
        let scale = w.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        let worst = s
            .iter()
            .zip(w)
            .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
        assert!(
            scale > 0.0 && worst <= 1e-5 * scale,
            "gradients differ by {worst} (scale {scale})"
        );
    }
    assert_ne!(sharded, whole, "two shards sum in another order than one");
    let (loss_1, sharded_1, params_1) = step(2, 1);
    assert_eq!((loss_1, &sharded_1, &params_1), (loss, &sharded, &params));
    let (loss_3, sharded_3, params_3) = step(2, 3);
    assert_eq!((loss_3, &sharded_3, &params_3), (loss, &sharded, &params));
    // A batch taken whole does not depend on the thread count either.
    let (whole_loss_1, whole_1, _) = step(1, 1);
    let (whole_loss_3, whole_3, _) = step(1, 3);
    assert_eq!((whole_loss_1, &whole_1), (whole_loss, &whole));
    assert_eq!((whole_loss_3, &whole_3), (whole_loss, &whole));
}

#[test]
fn each_shard_draws_its_own_noise() {
    // The same two images twice: if both shards drew the same noise, each would
    // see exactly what one shard of the two images sees, and the averaged
    // gradient would equal that one shard's.
    let splits = subset();
    let noisy = |batch: usize| Settings {
        noise: 0.3,
        binarize: false,
        ..settings(batch, LossKind::Mse, 9)
    };
    let gradient = |shards: usize, indices: &[usize]| {
        build_pool(2).unwrap().install(|| {
            let state = TrainState::new(arch(), 3e-3, 9);
            let mut trainer = Trainer::with_shards(state, noisy(indices.len()), shards);
            trainer.step(&splits.train.images, indices, 1, 0).unwrap();
            trainer.gradients().clone()
        })
    };
    let twice = gradient(2, &[3, 4, 3, 4]);
    let once = gradient(1, &[3, 4]);
    let largest_difference = twice
        .slices()
        .iter()
        .zip(once.slices())
        .flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs()))
        .fold(0.0f32, f32::max);
    let scale = once
        .slices()
        .iter()
        .flat_map(|s| s.iter())
        .fold(0.0f32, |m, x| m.max(x.abs()));
    assert!(
        largest_difference > 1e-3 * scale,
        "the shards' noise looks the same (gradients differ by {largest_difference}, scale {scale})"
    );
}
