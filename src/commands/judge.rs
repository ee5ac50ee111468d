//! `judge`: trains the digit classifier that scores generated samples
//! ([`crate::judge`]) on the 60,000 training images, prints one line per epoch,
//! and writes it (by default to the committed `assets/judge.safetensors`).

use std::path::Path;
use std::time::Instant;

use crate::config::JudgeConfig;
use crate::data::mnist::{load_split, Dataset};
use crate::error::{Error, Result};
use crate::figures::images;
use crate::judge::{
    save_judge_with_provenance, train_judge, Judge, Provenance, BATCH_SIZE, CLASSES, LEARNING_RATE,
    MAX_SHIFT,
};
use crate::parallel::build_pool;

/// Real test digits scored at the end: the ceiling generated digits are compared with.
pub const SCORED_TEST_DIGITS: usize = 1000;

/// Labels must name one of the 10 classes.
fn check_labels(data: &Dataset, dir: &Path, split: &str) -> Result<()> {
    match data.labels.iter().find(|&&y| y as usize >= CLASSES) {
        Some(bad) => Err(Error::bad_file(
            &dir.join(format!("{split}-labels-idx1-ubyte")),
            format!("holds label {bad}; the judge knows {CLASSES} classes (0 to 9)"),
        )),
        None => Ok(()),
    }
}

/// `judge`: trains, saves, and returns the test accuracy.
pub fn run(config: &JudgeConfig) -> Result<f64> {
    let (train, test) = load_data(config)?;
    let threads = config.threads.unwrap_or(2);
    let pool = build_pool(threads)?;
    println!(
        "judge {}-{}-{CLASSES} (ReLU, softmax) on {} training images shifted by up to {MAX_SHIFT} pixel: \
         Adam lr {LEARNING_RATE} decayed linearly, batch {BATCH_SIZE}, {} epochs, seed {}, {threads} threads",
        train.pixels(),
        config.hidden,
        train.len(),
        config.epochs,
        config.seed
    );
    let mut test_accuracy = 0.0;
    let mut start = Instant::now();
    let report = |epoch: usize, train_loss: f64, judge: &Judge| {
        test_accuracy = judge.accuracy(&test);
        println!(
            "epoch {epoch:>2}/{}  train_loss {train_loss:.4}  test_accuracy {:.2}%  {:.1} s",
            config.epochs,
            100.0 * test_accuracy,
            start.elapsed().as_secs_f64()
        );
        start = Instant::now();
        Ok(())
    };
    let (hidden, epochs, seed) = (config.hidden, config.epochs, config.seed);
    let judge = pool.install(|| {
        train_judge(
            &train,
            hidden,
            epochs,
            seed,
            BATCH_SIZE,
            LEARNING_RATE,
            report,
        )
    })?;
    save(config, &judge, test_accuracy, threads)?;
    pool.install(|| print_ceiling(&judge, &test));
    Ok(test_accuracy)
}

/// The judge's scores of the first real test digits: the ceiling generated
/// digits are compared with.
fn print_ceiling(judge: &Judge, test: &Dataset) {
    let count = SCORED_TEST_DIGITS.min(test.len());
    let real = images(test, &(0..count).collect::<Vec<_>>());
    let scores = judge.scores(real.view());
    println!(
        "on the first {count} test digits: confident {:.3}  coverage {:.3}  score {:.3}",
        scores.confident, scores.coverage, scores.score
    );
}

/// The training and test sets, checked: flags, labels 0-9, equal image sizes.
fn load_data(config: &JudgeConfig) -> Result<(Dataset, Dataset)> {
    let train = load_split(&config.data_dir, "train")?;
    let test = load_split(&config.data_dir, "t10k")?;
    config.check_memory(train.pixels(), BATCH_SIZE)?;
    check_labels(&train, &config.data_dir, "train")?;
    check_labels(&test, &config.data_dir, "t10k")?;
    if test.pixels() != train.pixels() {
        let message = format!(
            "training images have {} pixels but test images {}",
            train.pixels(),
            test.pixels()
        );
        return Err(Error::bad_file(&config.data_dir, message));
    }
    Ok((train, test))
}

/// Writes the judge with how it was made.
fn save(config: &JudgeConfig, judge: &Judge, test_accuracy: f64, threads: usize) -> Result<()> {
    let command = format!(
        "cargo run --release -- judge --hidden {} --epochs {} --seed {} --threads {threads} --data-dir {}",
        config.hidden,
        config.epochs,
        config.seed,
        config.data_dir.display()
    );
    if let Some(parent) = config.out.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    let provenance = Provenance {
        test_accuracy,
        command,
    };
    save_judge_with_provenance(&config.out, judge, &provenance)?;
    println!(
        "test_accuracy {:.2}% -> {}",
        100.0 * test_accuracy,
        config.out.display()
    );
    Ok(())
}
