//! `train-prior`: fits a prior ([`crate::prior`]) to a saved model's training
//! codes and writes it beside the model, for `generate --prior`.

use std::path::PathBuf;
use std::time::Instant;

use super::eval::check_width;
use crate::checkpoint::load_model;
use crate::config::TrainPriorConfig;
use crate::data::mnist::load_splits;
use crate::error::Result;
use crate::parallel::build_pool;
use crate::prior::{codes_of, Prior};

/// `train-prior`: encodes the training split (the validation split of the same
/// `--val-size` and `--seed` held out, as `train` did), fits, saves. Returns
/// the file written.
pub fn run(config: &TrainPriorConfig) -> Result<PathBuf> {
    let (params, arch) = load_model(&config.model)?;
    let splits = load_splits(&config.data_dir, config.val_size, None, config.seed)?;
    check_width(
        &arch,
        splits.train.pixels(),
        &config.model,
        &config.data_dir,
    )?;
    let threads = config.thread_count();
    let pool = build_pool(threads)?;
    let out = config.out.clone().unwrap_or_else(|| {
        let folder = config.model.parent().unwrap_or(std::path::Path::new("."));
        folder.join(config.prior.file_name())
    });
    println!(
        "fitting a {} prior to the codes of {} training images ({} held out for validation), seed {}, {threads} threads",
        config.prior.name(),
        splits.train.len(),
        splits.validation.len(),
        config.seed
    );
    let started = Instant::now();
    let prior = pool.install(|| {
        let train = codes_of(&params, &arch, &splits.train);
        let validation = codes_of(&params, &arch, &splits.validation);
        let mut progress = |line: String| println!("  {line}");
        Prior::fit(
            config.prior,
            train.view(),
            validation.view(),
            &config.fit_config(),
            &mut progress,
        )
    })?;
    prior.save(&out, &params)?;
    println!(
        "{} in {:.1} s -> {}",
        prior.describe(),
        started.elapsed().as_secs_f64(),
        out.display()
    );
    Ok(out)
}
