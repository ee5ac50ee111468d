//! Measures the latent diffusion prior (src/prior/diffusion.rs) on a trained
//! autoencoder: encodes the 55,000 training images, trains the DDPM on their
//! standardised codes, samples codes, decodes them, and scores the digits with
//! the bundled judge (confident, coverage, score from 1,000 samples) and,
//! with `--fd-count 10000`, the Fréchet distance of the judge's hidden
//! features to those of the 10,000 test digits (computed here; `--fd-check`
//! prints the fd of 10,000 random training digits, 1.348 against PyTorch's
//! 1.38, and of their reconstructions, 2.123 against 2.00).
//!
//! ```text
//! cargo run --release -- train --out-dir /tmp/diff-default      # test MSE 0.006423
//! cargo run --release --features examples --example diffusion_quality -- --model /tmp/diff-default/model.safetensors \
//!     --fd-count 10000          # the defaults: run F below
//! ```
//!
//! Measured 2026-12-03 on the default model (2 threads, on a machine shared
//! with 5 other builders: load 4 to 15, so times are inflated, up to 5×).
//! SiLU, E = 32, Adam with the learning rate decayed linearly to 0, EMA 0.999,
//! seed 0; score and confident of 1,000 samples, fd of 10,000 (first sampler).
//!
//! | run | ε-network, time embedding | β | epochs × batch (steps), lr | sampler | confident | coverage | score | fd | training |
//! |---|---|---|---|---|---|---|---|---|---|
//! | smoke | 512³, input only, Transformer ω | cosine | 3 × 256 (642), 1e-3 | DDIM 50, x̂₀ unclipped | 0.783 | 0.958 | 7.51 | - | 49.6 s |
//! | A | 512³, input only, Transformer ω | cosine | 20 × 256 (4,280), 1e-3 | DDIM 50, unclipped | 0.572 | 0.903 | 5.37 | 129.0 | 390.6 s |
//! | A | | | | DDIM 50 η = 1, unclipped | 0.636 | 0.659 | 3.48 | | |
//! | A | | | | ancestral, unclipped | 0.669 | 0.995 | 7.24 | | |
//! | B | as A (x̂₀ clipped from here on) | cosine | 20 × 256, 1e-3 | DDIM 50 | 0.685 | 0.998 | 7.33 | 4.262 | 377.1 s |
//! | B | | | | DDIM 100 | 0.680 | 0.997 | 7.34 | | |
//! | B | | | | ancestral | 0.673 | 0.996 | 7.24 | | |
//! | C | as A | linear | 20 × 256, 1e-3 | DDIM 50 | 0.597 | 0.998 | 6.78 | 4.308 | 362.5 s |
//! | C | | | | DDIM 50, unclipped | 0.600 | 0.997 | 6.80 | | |
//! | D | 512³, every layer, Transformer ω | cosine | 20 × 256, 1e-3 | DDIM 50 | 0.719 | 0.998 | 7.51 | 4.275 | 352.7 s |
//! | D | | | | ancestral | 0.664 | 0.997 | 7.20 | | |
//! | E | 512³, every layer, ω from 2π/20 to π/2T | cosine | 20 × 128 (8,580), 2e-3 | DDIM 50 | 0.715 | 0.995 | 7.52 | 4.256 | 192.7 s |
//! | E | | | | DDIM 100 | 0.714 | 0.996 | 7.53 | | |
//! | F | as E | cosine | 60 × 128 (25,740), 2e-3 | DDIM 50 | 0.766 | 0.997 | 7.94 | 3.565 | 202.3 s |
//! | F | | | | ancestral | 0.810 | 0.998 | 8.32 | | |
//! | G | 256³, as E | cosine | 12 × 128 (5,148), 2e-3 | DDIM 50 | 0.674 | 0.998 | 7.17 | 5.071 | 20.9 s |
//! | H | as E | cosine | 150 × 128 (64,350), 2e-3 | DDIM 50 | 0.787 | 0.999 | 8.11 | 2.763 | 755.9 s |
//! | H | | | | DDIM 50 η = 1 | 0.861 | 0.997 | 8.57 | | |
//! | H | | | | DDIM 200 η = 1 | 0.840 | 0.997 | 8.47 | | |
//! | H | | | | ancestral | 0.862 | 0.998 | 8.60 | | |
use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::seq::SliceRandom;
use ndarray_rand::rand::SeedableRng;
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use mnist_autoencoder::checkpoint::load_model;
use mnist_autoencoder::data::mnist::{load_splits, Dataset};
use mnist_autoencoder::figures::{images, ROWS_PER_PASS};
use mnist_autoencoder::judge::{bundled_judge, Judge};
use mnist_autoencoder::model::{decode, encode, reconstruct};
use mnist_autoencoder::nn::{activation_forward, dense_forward, Activation};
use mnist_autoencoder::parallel::build_pool;
use mnist_autoencoder::prior::diffusion::{
    sample_ancestral, sample_ddim, train, BetaSchedule, DiffusionPrior, Nonlinearity, TrainConfig,
    Walk,
};
use mnist_autoencoder::reduce::linalg::symmetric_eigen;

#[derive(Parser, Debug)]
struct Args {
    #[arg(long, default_value = "/tmp/diff-default/model.safetensors")]
    model: PathBuf,
    #[arg(long, default_value = "data/mnist")]
    data_dir: PathBuf,
    /// Hidden widths of the ε-network.
    #[arg(long, default_value = "512,512,512", value_delimiter = ',')]
    hidden: Vec<usize>,
    #[arg(long, default_value_t = 32)]
    embed: usize,
    /// relu or silu.
    #[arg(long, default_value = "silu")]
    act: String,
    /// linear or cosine.
    #[arg(long, default_value = "cosine")]
    schedule: String,
    #[arg(long, default_value_t = 60)]
    epochs: usize,
    #[arg(long, default_value_t = 128)]
    batch: usize,
    #[arg(long, default_value_t = 2e-3)]
    lr: f32,
    /// Keep the learning rate constant (default: linear decay to 0).
    #[arg(long)]
    no_decay: bool,
    /// 0 turns the moving average off.
    #[arg(long, default_value_t = 0.999)]
    ema: f32,
    /// Samplers to score: ddimS (η = 0), ddimS-eta1, ancestral.
    #[arg(long, default_value = "ddim50,ancestral", value_delimiter = ',')]
    samplers: Vec<String>,
    /// Samples scored by the judge.
    #[arg(long, default_value_t = 1000)]
    count: usize,
    /// Samples for the Fréchet distance (0: none), with the first sampler.
    #[arg(long, default_value_t = 0)]
    fd_count: usize,
    /// Also the fd of 10,000 reconstructed training digits (the decoder's floor, 2.00).
    #[arg(long)]
    fd_check: bool,
    #[arg(long, default_value_t = 2)]
    threads: usize,
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Write the trained prior's tensors here (raw little-endian f32).
    #[arg(long)]
    save: Option<PathBuf>,
    /// Read a prior written by --save (same --hidden/--embed/--act/--schedule) instead of training.
    #[arg(long)]
    load: Option<PathBuf>,
}

/// Every tensor of the prior, in order: W, b per layer, then mean, std, low, high.
fn tensors(prior: &mut DiffusionPrior) -> Vec<&mut [f32]> {
    let mut all = prior.net.params.slices_mut();
    for t in [
        &mut prior.mean,
        &mut prior.std,
        &mut prior.low,
        &mut prior.high,
    ] {
        all.push(t.as_slice_mut().unwrap());
    }
    all
}

fn parse_sampler(name: &str) -> Walk {
    if name == "ancestral" {
        return Walk::Ancestral;
    }
    let rest = name
        .strip_prefix("ddim")
        .expect("sampler: ddimS, ddimS-eta1 or ancestral");
    let (steps, eta) = match rest.split_once("-eta") {
        Some((steps, eta)) => (steps, eta.parse().expect("η")),
        None => (rest, 0.0),
    };
    Walk::Ddim {
        steps: steps.parse().expect("DDIM steps"),
        eta,
    }
}

/// The judge's hidden features ReLU(X·W₀ + b₀): (N, 256), 1,000 rows at a time.
fn features(judge: &Judge, x: ArrayView2<f32>) -> Array2<f32> {
    let first = &judge.params.layers[0];
    let mut out = Array2::zeros((x.nrows(), first.w.ncols()));
    for (x, mut out) in x
        .axis_chunks_iter(Axis(0), 1000)
        .zip(out.axis_chunks_iter_mut(Axis(0), 1000))
    {
        dense_forward(out.view_mut(), x, first.w.view(), first.b.view());
        activation_forward(Activation::Relu, out);
    }
    out
}

/// Mean (F) and covariance (F, F) with 1/(N − 1), in f64.
fn moments(features: ArrayView2<f32>) -> (Array1<f64>, Array2<f64>) {
    let x = features.mapv(f64::from);
    let mean = x.mean_axis(Axis(0)).unwrap();
    let centred = &x - &mean;
    let covariance = centred.t().dot(&centred) / (x.nrows() as f64 - 1.0);
    (mean, covariance)
}

/// The symmetric PSD square root V·diag(√λ)·Vᵀ (negative λ from rounding set to 0).
fn sqrt_psd(a: ArrayView2<f64>) -> Array2<f64> {
    let (values, vectors) = symmetric_eigen(a);
    let roots = values.mapv(|v| v.max(0.0).sqrt());
    (&vectors * &roots).dot(&vectors.t())
}

/// ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁Σ₂)^½), with tr (Σ₁Σ₂)^½ = tr (Σ₁^½ Σ₂ Σ₁^½)^½
/// = Σ √λᵢ of that symmetric matrix. `reference`: the test digits' moments and Σ^½.
fn frechet(reference: &(Array1<f64>, Array2<f64>, Array2<f64>), samples: ArrayView2<f32>) -> f64 {
    let (mean_ref, cov_ref, sqrt_ref) = reference;
    let (mean, cov) = moments(samples);
    let middle = sqrt_ref.dot(&cov).dot(sqrt_ref);
    let middle = (&middle + &middle.t()) / 2.0;
    let (values, _) = symmetric_eigen(middle.view());
    let trace_sqrt: f64 = values.iter().map(|v| v.max(0.0).sqrt()).sum();
    let distance = (&mean - mean_ref).mapv(|d| d * d).sum();
    distance + cov.diag().sum() + cov_ref.diag().sum() - 2.0 * trace_sqrt
}

fn all(data: &Dataset) -> Vec<usize> {
    (0..data.len()).collect()
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = Args::parse();
    let pool = build_pool(args.threads)?;
    pool.install(|| run(&args))
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let (params, arch) = load_model(&args.model)?;
    let splits = load_splits(&args.data_dir, 5000, None, 0)?;
    let judge = bundled_judge()?;
    let codes = encode(
        &params,
        &arch,
        images(&splits.train, &all(&splits.train)).view(),
        ROWS_PER_PASS,
    );
    println!(
        "{} training codes of width {}",
        codes.nrows(),
        codes.ncols()
    );
    let config = TrainConfig {
        hidden: args.hidden.clone(),
        embed: args.embed,
        nonlinearity: match args.act.as_str() {
            "relu" => Nonlinearity::Relu,
            _ => Nonlinearity::Silu,
        },
        schedule: match args.schedule.as_str() {
            "linear" => BetaSchedule::Linear,
            _ => BetaSchedule::Cosine,
        },
        epochs: args.epochs,
        batch: args.batch,
        lr: args.lr,
        lr_decay: !args.no_decay,
        ema_decay: args.ema,
        seed: args.seed,
    };
    println!("config {config:?}");
    let start = Instant::now();
    let mut prior = if let Some(path) = &args.load {
        let mut prior = train(
            codes.view(),
            &TrainConfig {
                epochs: 0,
                ..config.clone()
            },
            |_, _| {},
        );
        let bytes = std::fs::read(path)?;
        let mut values = bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()));
        for tensor in tensors(&mut prior) {
            tensor
                .iter_mut()
                .for_each(|v| *v = values.next().expect("file too short"));
        }
        prior
    } else {
        train(codes.view(), &config, |epoch, loss| {
            if epoch == 1 || epoch % 5 == 0 || epoch == args.epochs {
                println!(
                    "epoch {epoch:>3}  loss {loss:.4}  {:.1} s",
                    start.elapsed().as_secs_f64()
                );
            }
        })
    };
    let train_seconds = start.elapsed().as_secs_f64();
    if let Some(path) = &args.save {
        let bytes: Vec<u8> = tensors(&mut prior)
            .iter()
            .flat_map(|t| t.iter().flat_map(|v| v.to_le_bytes()))
            .collect();
        std::fs::write(path, bytes)?;
    }
    println!(
        "net {} trained in {train_seconds:.1} s",
        prior.net.describe()
    );

    let needs_fd = args.fd_count > 0 || args.fd_check;
    let reference = needs_fd.then(|| {
        let test = images(&splits.test, &all(&splits.test));
        let (mean, cov) = moments(features(&judge, test.view()).view());
        let root = sqrt_psd(cov.view());
        (mean, cov, root)
    });
    if let (true, Some(reference)) = (args.fd_check, &reference) {
        // 10,000 training digits chosen at random, raw and reconstructed.
        let mut order: Vec<usize> = all(&splits.train);
        order.shuffle(&mut StdRng::seed_from_u64(1));
        let chosen = images(&splits.train, &order[..10_000]);
        let fd = frechet(reference, features(&judge, chosen.view()).view());
        println!("fd of 10,000 random training digits: {fd:.3} (PyTorch reference 1.38)");
        let recon = reconstruct(&params, &arch, chosen.view(), ROWS_PER_PASS);
        let fd = frechet(reference, features(&judge, recon.view()).view());
        println!("fd of their reconstructions: {fd:.3} (PyTorch reference 2.00)");
    }
    for (k, name) in args.samplers.iter().enumerate() {
        let (base, clip) = match name.strip_suffix("-noclip") {
            Some(base) => (base, false),
            None => (name.as_str(), true),
        };
        let sampler = parse_sampler(base);
        let mut rng = StdRng::seed_from_u64(args.seed + 100);
        let count = if k == 0 {
            args.count.max(args.fd_count)
        } else {
            args.count
        };
        let noise = Array2::<f32>::random_using((count, codes.ncols()), StandardNormal, &mut rng);
        let start = Instant::now();
        let sampled = if clip {
            prior.sample(noise.view(), sampler, &mut rng)
        } else {
            let x0 = match sampler {
                Walk::Ancestral => {
                    sample_ancestral(&prior.net, &prior.schedule, noise.view(), None, &mut rng)
                }
                Walk::Ddim { steps, eta } => sample_ddim(
                    &prior.net,
                    &prior.schedule,
                    noise.view(),
                    steps,
                    eta,
                    None,
                    &mut rng,
                ),
            };
            x0 * &prior.std + &prior.mean
        };
        let sample_seconds = start.elapsed().as_secs_f64();
        let digits = decode(&params, &arch, sampled.view(), ROWS_PER_PASS);
        let scores = judge.scores(digits.slice(ndarray::s![..args.count, ..]));
        let fd = match (&reference, k == 0 && args.fd_count > 0) {
            (Some(reference), true) => format!(
                "fd {:.3} ({} samples)",
                frechet(reference, features(&judge, digits.view()).view()),
                count
            ),
            _ => String::new(),
        };
        println!(
            "RESULT {} {name}: confident {:.3} coverage {:.3} score {:.2} {fd}  train {train_seconds:.1} s, sampling {} in {sample_seconds:.1} s",
            prior.net.describe(),
            scores.confident,
            scores.coverage,
            scores.score,
            count
        );
    }
    Ok(())
}
