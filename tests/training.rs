//! End-to-end training on a small subset of the bundled MNIST.

use std::path::Path;

use indicatif::ProgressBar;
use mnist_autoencoder::data::mnist::{load_splits, Splits};
use mnist_autoencoder::model::Architecture;
use mnist_autoencoder::nn::LossKind;
use mnist_autoencoder::parallel::build_pool;
use mnist_autoencoder::train::{evaluate, train, EpochRecord, Partial, Progress, Trainer};
use std::sync::atomic::AtomicBool;

fn subset() -> Splits {
    load_splits(Path::new("data/mnist"), 500, Some(1500), 3).expect("bundled MNIST loads")
}

fn arch() -> Architecture {
    Architecture {
        input: 784,
        hidden: vec![64],
        latent: 16,
    }
}

/// 15 epochs of 1,000 images in batches of 50: 300 Adam steps.
fn run(splits: &Splits, loss: LossKind) -> (f64, Vec<EpochRecord>, Trainer) {
    let pool = build_pool(2).unwrap();
    pool.install(|| {
        let mut trainer = Trainer::new(arch(), 50, 3e-3, loss, 42);
        let before = evaluate(&trainer.params, &trainer.arch, &splits.validation, loss).mse;
        let mut history = Vec::new();
        let stop = AtomicBool::new(false);
        let progress = train(
            &mut trainer,
            splits,
            15,
            42,
            Progress::default(),
            &stop,
            &mut |record, _, _| {
                history.push(*record);
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(progress.epochs_done, 15);
        (before, history, trainer)
    })
}

#[test]
fn a_few_hundred_steps_lower_the_loss_several_fold_and_runs_repeat_exactly() {
    let splits = subset();
    assert_eq!((splits.train.len(), splits.validation.len()), (1000, 500));
    let (before, history, trainer) = run(&splits, LossKind::Mse);
    let after = evaluate(
        &trainer.params,
        &trainer.arch,
        &splits.validation,
        LossKind::Mse,
    )
    .mse;
    println!("validation MSE {before:.4} -> {after:.4}");
    assert!(
        after < before / 3.0,
        "validation MSE only went from {before} to {after}"
    );
    assert!(history.last().unwrap().train_loss < history[0].train_loss);

    let (_, history_again, trainer_again) = run(&splits, LossKind::Mse);
    assert_eq!(
        history.iter().map(|r| r.train_loss).collect::<Vec<_>>(),
        history_again
            .iter()
            .map(|r| r.train_loss)
            .collect::<Vec<_>>()
    );
    assert_eq!(
        history.iter().map(|r| r.val_loss).collect::<Vec<_>>(),
        history_again.iter().map(|r| r.val_loss).collect::<Vec<_>>()
    );
    assert_eq!(
        trainer.params, trainer_again.params,
        "same seed and threads: bit-identical weights"
    );
}

#[test]
fn bce_training_lowers_the_mse_too() {
    let splits = subset();
    let (before, _, trainer) = run(&splits, LossKind::Bce);
    let after = evaluate(
        &trainer.params,
        &trainer.arch,
        &splits.validation,
        LossKind::Bce,
    );
    assert!(
        after.mse < before / 3.0,
        "MSE went from {before} to {}",
        after.mse
    );
    assert!(
        after.loss > after.mse,
        "BCE is reported separately from MSE"
    );
}

#[test]
fn the_last_partial_batch_is_used() {
    let splits = subset();
    let pool = build_pool(1).unwrap();
    pool.install(|| {
        let mut trainer = Trainer::new(arch(), 300, 1e-3, LossKind::Mse, 1);
        let progress = ProgressBar::hidden();
        let mut partial = Partial::default();
        trainer
            .train_epoch(
                &splits.train,
                1,
                1,
                &mut partial,
                &AtomicBool::new(false),
                &progress,
            )
            .unwrap();
        assert_eq!(partial.steps, 4);
        // 1,000 images in batches of 300: 300 + 300 + 300 + 100.
        assert_eq!(progress.position(), 4);
        assert_eq!(trainer.adam.step, 4);
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
