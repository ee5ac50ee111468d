//! Finishing a training run: the test evaluation, the model file, the
//! summary, the digit judge's scores, then every figure and report.html.

use std::sync::atomic::Ordering;
use std::time::Instant;

use super::{stop_requested, Session, DRAWING};
use crate::checkpoint::save_model;
use crate::code_usage::code_usage;
use crate::config::TrainConfig;
use crate::data::mnist::Splits;
use crate::error::{Error, Result};
use crate::figures::draw::{draw_figures, Run};
use crate::figures::explorer::explorer_html;
use crate::figures::judging::{judge_line, judge_samples};
use crate::figures::report::{self, ReportInputs};
use crate::figures::{images, pca_test_mse, remove_drawn_files, FigureInputs, Snapshot};
use crate::files::write_atomic;
use crate::judge::bundled_judge;
use crate::metrics::{metrics_csv, summary_json, Summary, SummaryConfig};
use crate::prior::{codes_of, FitConfig, Prior, MAX_TRAIN_PRIOR_LATENT};
use crate::reduce::tsne::TsneOptions;
use crate::train::{evaluate, median, Evaluation, TrainState};
use crate::viz::loss::Baseline;

/// After the last epoch: test evaluation, model file, summary, figures and report.
pub(super) fn finish(run: &Session) -> Result<Summary> {
    let state = &run.trainer.state;
    if state.history.is_empty() {
        return Err(Error::bad_flag(
            "--epochs",
            format!(
                "the checkpoint already has {} epochs done; ask for more to train",
                state.progress.epochs_done
            ),
        ));
    }
    if run.inputs.is_some() {
        // A run stopped before its figures are drawn must not leave an
        // earlier run's figures and report beside its model and summary.
        remove_drawn_files(&run.config.out_dir)?;
    } else if run.config.out_dir.join("report.html").exists() {
        println!(
            "note: report.html and the figures in {} are from an earlier run (--no-figures draws none)",
            run.config.out_dir.display()
        );
    }
    let (summary, prior) = evaluate_and_save(run)?;
    print_results(&summary, &run.config);
    if let Some(inputs) = &run.inputs {
        stop_requested(&run.saved(
            "after training; model.safetensors and summary.json are written, the figures are not",
        ))?;
        let drawing = Instant::now();
        DRAWING.store(true, Ordering::SeqCst);
        let figures = Figures {
            inputs,
            snapshots: &run.snapshots,
            summary: &summary,
            prior: prior.as_ref(),
        };
        let drawn = run
            .pool
            .install(|| draw_everything(&run.config, state, &figures));
        DRAWING.store(false, Ordering::SeqCst);
        drawn?;
        println!(
            "figures and report.html written in {:.1} s (PCA-{} test MSE {:.6})",
            drawing.elapsed().as_secs_f64(),
            run.config.latent,
            summary.pca_test_mse.unwrap_or(f64::NAN)
        );
    }
    Ok(summary)
}

/// Test evaluation, model.safetensors, the prior and its file, the judge's
/// scores, summary.json and the final metrics.csv.
fn evaluate_and_save(run: &Session) -> Result<(Summary, Option<Prior>)> {
    let (config, state, splits, pool) = (&run.config, &run.trainer.state, &run.splits, &run.pool);
    let arch = &state.arch;
    let test = pool.install(|| {
        evaluate(
            &state.params,
            arch,
            &splits.test,
            config.loss,
            config.beta,
            config.seed,
        )
    });
    let model_path = config.out_dir.join("model.safetensors");
    save_model(&model_path, &state.params, arch, run.image_shape())?;
    let stopped = || {
        stop_requested(&run.saved(
            "after training; model.safetensors is written, summary.json and the figures are not",
        ))
    };
    stopped()?;
    let pca_test_mse = run
        .inputs
        .as_ref()
        .map(|_| pool.install(|| pca_test_mse(splits, config.latent)));
    stopped()?;
    let mut summary = summary(config, state, splits, test, pca_test_mse, run.started);
    if state.arch.draws_kl_per_dimension() {
        let test_images = images(&splits.test, &(0..splits.test.len()).collect::<Vec<_>>());
        summary.code_usage =
            Some(pool.install(|| code_usage(&state.params, arch, test_images.view())));
    }
    let mut prior = None;
    if let Some(inputs) = &run.inputs {
        if config.no_prior {
        } else if state.arch.latent > MAX_TRAIN_PRIOR_LATENT {
            println!(
                "note: no prior fitted: codes of width {} are wider than {MAX_TRAIN_PRIOR_LATENT} (slow); `train-prior --model {}` fits one",
                state.arch.latent,
                model_path.display()
            );
        } else {
            prior = Some(pool.install(|| fit_prior(config, state, splits))?);
            stopped()?;
        }
        if !config.no_judge {
            summary.judge =
                pool.install(|| judge_generated(config, state, splits, inputs, prior.as_ref()))?;
            stopped()?;
        }
    }
    let out = &config.out_dir;
    write_atomic(&out.join("summary.json"), summary_json(&summary).as_bytes())?;
    write_atomic(
        &out.join("metrics.csv"),
        metrics_csv(&state.history).as_bytes(),
    )?;
    Ok((summary, prior))
}

/// `--prior` fitted to the training split's codes (the validation split's
/// choose the mixture's K), saved as OUT/prior-KIND.safetensors.
fn fit_prior(config: &TrainConfig, state: &TrainState, splits: &Splits) -> Result<Prior> {
    let started = Instant::now();
    let train = codes_of(&state.params, &state.arch, &splits.train);
    let validation = codes_of(&state.params, &state.arch, &splits.validation);
    let mut fit = FitConfig::default();
    fit.gmm.seed = config.seed;
    fit.diffusion.seed = config.seed;
    fit.diffusion.epochs = config.prior_epochs;
    fit.diffusion.hidden = config.prior_hidden.0.clone();
    println!(
        "fitting the {} prior to {} training codes (--no-prior skips it)",
        config.prior.name(),
        train.nrows()
    );
    let mut progress = |line: String| println!("  {line}");
    let prior = Prior::fit(
        config.prior,
        train.view(),
        validation.view(),
        &fit,
        &mut progress,
    )?;
    let path = config.out_dir.join(config.prior.file_name());
    prior.save(&path, &state.params)?;
    println!(
        "{} in {:.1} s -> {}",
        prior.describe(),
        started.elapsed().as_secs_f64(),
        path.display()
    );
    Ok(prior)
}

/// The lines printed after the test evaluation.
fn print_results(summary: &Summary, config: &TrainConfig) {
    println!(
        "test_mse {:.6}  best_val_loss {:.6} (epoch {})  median {:.2} s/epoch, {:.0} img/s  -> {}",
        summary.test_mse,
        summary.best_val_loss,
        summary.best_epoch,
        summary.seconds_per_epoch,
        summary.images_per_second,
        config.out_dir.display()
    );
    if let (Some(elbo), Some(recon), Some(kl)) =
        (summary.test_neg_elbo, summary.test_recon, summary.test_kl)
    {
        println!("test_neg_elbo {elbo:.2} nats per image = recon {recon:.2} + KL {kl:.2} (ε sampled; test_mse uses z = μ)");
    }
    if let Some(usage) = &summary.code_usage {
        println!("{}", usage.line());
    }
}

/// The digit judge's scores of 1,000 samples of each generator (see
/// `figures::judging`), or None with a note when it does not apply.
fn judge_generated(
    config: &TrainConfig,
    state: &TrainState,
    splits: &Splits,
    inputs: &FigureInputs,
    prior: Option<&Prior>,
) -> Result<Option<serde_json::Value>> {
    let judge = bundled_judge()?;
    let verdict = judge_samples(
        &judge,
        inputs,
        &state.params,
        &state.arch,
        splits,
        prior,
        config.seed,
    )?;
    match verdict {
        Ok(scores) => {
            println!("digit judge (1,000 samples each): {}", judge_line(&scores));
            Ok(Some(scores))
        }
        Err(reason) => {
            println!("note: no digit-judge scores: {reason}");
            Ok(None)
        }
    }
}

/// What the figures are drawn from, beside the configuration and the state.
struct Figures<'a> {
    inputs: &'a FigureInputs,
    snapshots: &'a [Snapshot],
    summary: &'a Summary,
    prior: Option<&'a Prior>,
}

/// The loss plot's dashed line: PCA's test MSE, where the loss compares with it.
fn pca_baseline(config: &TrainConfig, summary: &Summary, latent: usize) -> Option<Baseline> {
    let objective = config.model.objective(config.loss);
    let value = summary
        .pca_test_mse
        .filter(|_| objective.compares_with_pca())?;
    Some(Baseline {
        label: format!("PCA-{latent} (linear baseline)"),
        value,
    })
}

/// Every figure, then report.html.
fn draw_everything(config: &TrainConfig, state: &TrainState, figures: &Figures) -> Result<()> {
    let (inputs, snapshots, summary, prior) = (
        figures.inputs,
        figures.snapshots,
        figures.summary,
        figures.prior,
    );
    let arch = &state.arch;
    let objective = config.model.objective(config.loss);
    let perplexity = TsneOptions::default().perplexity;
    let run = Run {
        out_dir: &config.out_dir,
        inputs,
        snapshots,
        params: &state.params,
        arch,
        history: &state.history,
        loss_name: objective.label(),
        baseline: pca_baseline(config, summary, arch.latent),
        noise: config.noise,
        seed: config.seed,
        perplexity,
        prior,
        judge: summary.judge.as_ref(),
        code_usage: summary.code_usage.as_ref(),
    };
    let pca_frames = draw_figures(&run)?;
    let last = snapshots.last().expect("at least the untrained snapshot");
    let map = pca_frames.last().expect("one frame per snapshot");
    let explorer = explorer_html(
        inputs,
        last.codes.view(),
        map.view(),
        &state.params,
        arch,
        prior,
        config.seed,
    )?;
    report::write(&ReportInputs {
        out_dir: &config.out_dir,
        arch,
        history: &state.history,
        summary,
        loss_name: objective.label(),
        frames: snapshots.len(),
        points: inputs.mapped_labels.len(),
        perplexity,
        denoising: config.noise > 0.0,
        manifold: arch.draws_manifold(),
        explorer,
        prior: prior.map(|p| p.describe()),
        prior_walk: prior.is_some_and(|p| p.walks()),
    })
}

/// summary.json's contents.
fn summary(
    config: &TrainConfig,
    state: &TrainState,
    splits: &Splits,
    test: Evaluation,
    pca_test_mse: Option<f64>,
    started: Instant,
) -> Summary {
    let history = &state.history;
    let seconds: Vec<f64> = history.iter().map(|r| r.seconds).collect();
    let seconds_per_epoch = median(&seconds);
    let best = history
        .iter()
        .min_by(|a, b| a.val_loss.total_cmp(&b.val_loss))
        .expect("at least one epoch");
    let last = history.last().expect("at least one epoch");
    let mut flags = config.clone();
    flags.threads = Some(config.thread_count());
    let has_kl = config.model.objective(config.loss).has_kl();
    Summary {
        test_mse: test.mse,
        test_loss: test.loss.total,
        test_neg_elbo: has_kl.then_some(test.loss.recon + test.loss.kl),
        test_recon: has_kl.then_some(test.loss.recon),
        test_kl: has_kl.then_some(test.loss.kl),
        elbo_per_epoch: has_kl.then(|| history.iter().filter_map(|r| r.elbo_parts).collect()),
        code_usage: None,
        pca_test_mse,
        best_val_loss: best.val_loss,
        best_epoch: best.epoch,
        final_train_loss: last.train_loss,
        final_val_loss: last.val_loss,
        epochs: history.len(),
        seconds_per_epoch,
        images_per_second: splits.train.len() as f64 / seconds_per_epoch,
        total_seconds: started.elapsed().as_secs_f64(),
        train_images: splits.train.len(),
        validation_images: splits.validation.len(),
        test_images: splits.test.len(),
        parameters: state.params.len(),
        architecture: state.arch.describe(),
        judge: None,
        config: SummaryConfig {
            flags,
            init: "uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases, as torch.nn.Linear",
            optimizer: state.adam.describe(),
            objective: config.model.objective(config.loss).key(),
            simd: crate::nn::kernel::selected().name(),
        },
    }
}
