//! `gradcheck`: every parameter gradient of a freshly initialised network
//! against centered finite differences, one row per tensor (see [`crate::gradcheck`]).

use ndarray::Array2;
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use crate::config::{GradcheckConfig, MAX_TRAINING_BYTES};
use crate::data::mnist::{fill_batch, load_split, Dataset};
use crate::error::{Error, Result};
use crate::gradcheck::{check_model, report, Band};
use crate::model::{Architecture, Params};
use crate::nn::Activation;
use crate::seeds::{self, Purpose};

/// Runs `gradcheck`: prints one row per parameter tensor and a verdict, and
/// returns the worst band.
pub fn run(config: &GradcheckConfig) -> Result<Band> {
    let test = load_split(&config.data_dir, "t10k")?;
    let fits = config.arch.fits(test.pixels());
    fits.map_err(|e| Error::bad_flag("--arch", e))?;
    let arch = Architecture {
        backbone: config.arch,
        kind: config.model,
        input: test.pixels(),
        hidden: config.arch.hidden(&config.hidden.0),
        latent: config.latent,
        activation: Activation::Relu,
    };
    check_memory(&arch)?;
    let params = Params::init(&arch, &mut seeds::rng(config.seed, Purpose::Init));
    let x = batch(config, &test);
    let samples = if config.samples == 0 {
        usize::MAX
    } else {
        config.samples
    };
    println!(
        "gradcheck: {} {} ({} parameters), {} loss{}, batch of {} test images, eps {}, {} elements per tensor",
        arch.kind.name(),
        arch.describe(),
        params.len(),
        arch.kind.objective(config.loss).describe(),
        if arch.kind.objective(config.loss).has_kl() { format!(" (KL weight β {})", config.beta) } else { String::new() },
        x.nrows(),
        config.eps,
        if config.samples == 0 { "all".to_string() } else { format!("up to {}", config.samples) }
    );
    // A VAE's ε is held fixed (seeded) so the loss is a function of θ alone.
    let vae_eps = Array2::random_using(
        (x.nrows(), arch.latent),
        StandardNormal,
        &mut seeds::rng(config.seed, Purpose::GradcheckNoise),
    );
    let (loss, beta, step) = (config.loss, config.beta, config.eps);
    let checks = check_model(
        &params,
        &arch,
        &x,
        Some((&vae_eps, beta)),
        loss,
        step,
        samples,
    );
    let (table, worst) = report(&checks);
    print!("{table}");
    println!(
        "verdict: {} (tensor error: OK < 1e-2 <= WARN < 1e-1 <= FAIL)",
        worst.name()
    );
    if worst == Band::Fail {
        return Err(Error::GradcheckFailed);
    }
    Ok(worst)
}

/// The batch: `--batch-size` test images spread over the test set by the seed.
fn batch(config: &GradcheckConfig, test: &Dataset) -> Array2<f32> {
    let indices: Vec<usize> = (0..config.batch_size.min(test.len()))
        .map(|i| (i * 7919 + config.seed as usize) % test.len())
        .collect();
    let mut x = Array2::zeros((indices.len(), test.pixels()));
    fill_batch(&test.images, &indices, x.view_mut());
    x
}

/// Refuses a model whose parameters, gradients and the check's copy of the
/// parameters (three sets of f32) would need more than the training limit.
fn check_memory(arch: &Architecture) -> Result<()> {
    let bytes = arch.parameter_count().saturating_mul(3 * 4);
    if bytes > MAX_TRAINING_BYTES {
        return Err(Error::bad_flag(
            "--hidden/--latent",
            format!(
                "this model has {} parameters, which would need {:.1} GiB to check (limit {} GiB); choose smaller widths",
                arch.parameter_count(),
                bytes as f64 / (1u64 << 30) as f64,
                MAX_TRAINING_BYTES >> 30
            ),
        ));
    }
    Ok(())
}
