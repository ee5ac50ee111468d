//! How good are the digits a prior generates? For a trained plain autoencoder,
//! fits mixtures of Gaussians to its 55,000 training codes and measures, for
//! each number of components K, covariance floor and sampling temperature τ
//! (Σ_k scaled by τ), the judge's numbers:
//!
//! - `confident`, `coverage`, `score`: the judge (assets/judge.safetensors) on 1,000 samples;
//! - `fd`: Fréchet distance of the judge's hidden features (784-256 after ReLU),
//!   10,000 samples against the 10,000 test digits;
//! - `novelty`: median distance of 1,000 samples to their nearest training image,
//!   over the same median for the model's reconstructions of the first 1,000 test digits;
//!
//! beside the reference rows (real digits, reconstructions, one Gaussian).
//!
//! ```text
//! cargo run --release -- train --out-dir /tmp/gmm-default
//! cargo run --release --features examples --example generation_quality -- --model /tmp/gmm-default/model.safetensors \
//!     --components 10,50,100 --floors 1e-3 --temperatures 1,0.9,0.8
//! ```
//! Run it from the project's root (it reads data/mnist). The validation split
//! is the training run's default (5,000 images, seed 0).
//!
//! Measured 2026-12-03 on the default model (test MSE 0.006423), seed 0 unless
//! said, τ = 1 / τ = 0.9 (targets: score ≥ 8.8, confident ≥ 0.90, fd ≤ 2.2, novelty ≥ 0.9):
//!
//! | samples | confident | score | fd | novelty | validation log-likelihood |
//! |---|---|---|---|---|---|
//! | real (fd: 10,000 random training digits) | 0.939 | 9.13 | 1.29 | 1.09 | |
//! | reconstructions (fd: of 10,000 training digits) | 0.920 | 9.04 | 1.98 | 1.00 (of training digits 0.51) | |
//! | one Gaussian | 0.361 | 4.83 | 17.25 | 1.32 | |
//! | K = 100, floor 1e-3 | 0.892 / 0.907 | 8.86 / 8.96 | 2.57 / 2.56 | 1.02 / 1.00 | −36.50 |
//! | K = 100, floor 1e-4 | 0.887 / 0.901 | 8.81 / 8.93 | 2.47 / 2.48 | 1.02 / 1.00 | −36.21 |
//! | K = 200, floor 1e-3 | 0.916 / 0.926 | 9.02 / 9.12 | 2.30 / 2.29 | 1.01 / 1.00 | −35.63 |
//! | K = 200, floor 1e-3, seed 1 | 0.897 / 0.911 | 8.91 / 9.03 | 2.29 / 2.30 | 1.00 / 0.98 | −35.88 |
//! | K = 200, floor 1e-4 | 0.921 / 0.926 | 9.02 / 9.12 | 2.25 / 2.25 | 1.00 / 0.99 | −35.42 |
//! | K = 200, floor 1e-5 | 0.921 / 0.926 | 9.06 / 9.15 | 2.24 / 2.24 | 1.00 / 0.99 | −35.43 |
//! | K = 300, floor 1e-3 | 0.908 / 0.916 | 9.04 / 9.13 | 2.48 / 2.47 | 1.02 / 1.00 | −35.67 |
//! | K = 300, floor 1e-5 | 0.908 / 0.919 | 8.99 / 9.09 | 2.57 / 2.56 | 1.01 / 0.99 | −35.72 |
//!
//! τ = 0.8 (K = 200, floor 1e-3): confident 0.940, score 9.22, fd 2.36, novelty 0.98.
//!
//! Measured again 2026-12-03 17:35-17:45 UTC (AMD EPYC, the same model file):
//! K = 150 and 250 at floor 1e-5 (`--components 150,250 --floors 1e-5
//! --temperatures 0.9,1 --no-references`): fd 2.46 / 2.45 and 2.35 / 2.37
//! (validation log-likelihood −35.718 and −35.470), K = 200 stays the best.
//! Passing the samples through the autoencoder again (`--components 200
//! --floors 1e-3,1e-5 --temperatures 0.9,1 --refine 0,1,2,4`) makes them worse
//! at every step: floor 1e-5, τ = 0.9, fd 2.30 → 3.07 → 4.35 → 7.87, score
//! 9.16 → 9.08 → 8.87 → 8.31; each pass blurs the digit a little more.
//! EM's tolerance at K = 200, floor 1e-4, τ = 0.9 (`--tolerance 0.03`, `0.02`,
//! `0.01`, 19:48 UTC on the default model): 7, 9 and 13 iterations, fd 2.38,
//! 2.38 and 2.28, score 9.10, 9.09, 9.10: the default 1e-2 keeps its 13.

use std::path::PathBuf;
use std::time::Instant;

use mnist_autoencoder::checkpoint::load_model;
use mnist_autoencoder::data::mnist::{load_splits, Dataset};
use mnist_autoencoder::figures::{images, ROWS_PER_PASS as CHUNK};
use mnist_autoencoder::judge::{bundled_judge, Judge};
use mnist_autoencoder::model::{decode, encode, reconstruct, Architecture, Params};
use mnist_autoencoder::prior::features::judge_features;
use mnist_autoencoder::prior::gmm::{fit_with_progress, GmmConfig};
use mnist_autoencoder::reduce::frechet::FrechetReference;
use mnist_autoencoder::reduce::gaussian::Gaussian;
use mnist_autoencoder::reduce::nearest::{median, nearest_distances};
use ndarray::{s, Array2, ArrayView2};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::seq::SliceRandom;
use ndarray_rand::rand::SeedableRng;
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

/// Samples judged for confident / coverage / score, and for novelty.
const JUDGED: usize = 1000;
/// Samples for the Fréchet distance.
const FD_SAMPLES: usize = 10_000;

struct Options {
    model: PathBuf,
    data_dir: PathBuf,
    components: Vec<usize>,
    floors: Vec<f64>,
    temperatures: Vec<f64>,
    seed: u64,
    references: bool,
    /// EM's stopping tolerance (J/N per iteration).
    tolerance: f64,
    /// Fit to the first N training codes only.
    codes: usize,
    /// Numbers of encode-decode passes x ← D(E(x)) applied to the decoded
    /// samples before they are measured (0: none).
    refine: Vec<usize>,
}

fn list<T: std::str::FromStr>(text: &str) -> Vec<T> {
    text.split(',')
        .map(|v| {
            v.trim()
                .parse()
                .unwrap_or_else(|_| exit(&format!("cannot read '{v}'")))
        })
        .collect()
}

fn exit(message: &str) -> ! {
    eprintln!("generation_quality: {message}");
    std::process::exit(2)
}

fn options() -> Options {
    let mut o = Options {
        model: PathBuf::from("output/model.safetensors"),
        data_dir: PathBuf::from("data/mnist"),
        components: vec![10, 50, 100],
        floors: vec![1e-3],
        temperatures: vec![1.0],
        seed: 0,
        references: true,
        tolerance: GmmConfig::default().tolerance,
        codes: usize::MAX,
        refine: vec![0],
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = || {
            args.get(i + 1)
                .cloned()
                .unwrap_or_else(|| exit(&format!("{} needs a value", args[i])))
        };
        match args[i].as_str() {
            "--model" => o.model = value().into(),
            "--data-dir" => o.data_dir = value().into(),
            "--components" => o.components = list(&value()),
            "--floors" => o.floors = list(&value()),
            "--temperatures" => o.temperatures = list(&value()),
            "--seed" => o.seed = list(&value())[0],
            "--tolerance" => o.tolerance = list(&value())[0],
            "--codes" => o.codes = list(&value())[0],
            "--refine" => o.refine = list(&value()),
            "--no-references" => {
                o.references = false;
                i += 1;
                continue;
            }
            other => exit(&format!("unknown argument {other}")),
        }
        i += 2;
    }
    o
}

/// Everything a set of images is measured against.
struct Yardstick {
    judge: Judge,
    test_features: FrechetReference,
    /// (55,000, D) the training images.
    train_images: Array2<f32>,
    /// Median nearest-training-image distance of the reconstructions of the first 1,000 test digits.
    reconstruction_median: f64,
}

/// One table row's numbers for `digits` (≥ 1,000 rows; fd only if ≥ 10,000).
struct Row {
    confident: f64,
    coverage: f64,
    score: f64,
    fd: Option<f64>,
    novelty: f64,
}

impl Yardstick {
    fn measure(
        &self,
        judged: ArrayView2<f32>,
        fd_set: Option<ArrayView2<f32>>,
        novelty_set: ArrayView2<f32>,
    ) -> Row {
        let scores = self.judge.scores(judged);
        let fd = fd_set.map(|set| {
            self.test_features
                .distance(judge_features(&self.judge, set).view())
        });
        let nearest = nearest_distances(novelty_set, self.train_images.view());
        Row {
            confident: scores.confident,
            coverage: scores.coverage,
            score: scores.score,
            fd,
            novelty: median(nearest.as_slice().unwrap()) / self.reconstruction_median,
        }
    }
}

fn print_row(name: &str, extra: &str, row: &Row) {
    let fd = row.fd.map_or("-".to_string(), |v| format!("{v:.2}"));
    println!(
        "| {name} | {extra} | {:.3} | {:.3} | {:.2} | {fd} | {:.2} |",
        row.confident, row.coverage, row.score, row.novelty
    );
}

/// Digits decoded from `codes` (N, Z).
fn decoded(params: &Params, arch: &Architecture, codes: ArrayView2<f32>) -> Array2<f32> {
    decode(params, arch, codes, CHUNK)
}

/// `digits` after each number of encode-decode passes x ← D(E(x)) in
/// `passes` (ascending), paired with that number.
fn refined(
    params: &Params,
    arch: &Architecture,
    mut digits: Array2<f32>,
    passes: &[usize],
) -> Vec<(usize, Array2<f32>)> {
    let mut done = 0;
    let mut out = Vec::new();
    for &wanted in passes {
        while done < wanted {
            let codes = encode(params, arch, digits.view(), CHUNK);
            digits = decoded(params, arch, codes.view());
            done += 1;
        }
        out.push((wanted, digits.clone()));
    }
    out
}

fn main() {
    let o = options();
    let started = Instant::now();
    let (params, arch) = load_model(&o.model).unwrap_or_else(|e| exit(&e.to_string()));
    let splits = load_splits(&o.data_dir, 5000, None, 0).unwrap_or_else(|e| exit(&e.to_string()));
    let all = |d: &Dataset| images(d, &(0..d.len()).collect::<Vec<_>>());
    let train_images = all(&splits.train);
    let test_images = all(&splits.test);
    let validation_images = all(&splits.validation);
    let judge = bundled_judge().unwrap_or_else(|e| exit(&e.to_string()));
    let test_features = FrechetReference::new(judge_features(&judge, test_images.view()).view());
    let first_test = test_images.slice(s![..JUDGED, ..]);
    let test_reconstructions = reconstruct(&params, &arch, first_test, CHUNK);
    let reconstruction_median = median(
        nearest_distances(test_reconstructions.view(), train_images.view())
            .as_slice()
            .unwrap(),
    );
    let train_codes = encode(&params, &arch, train_images.view(), CHUNK);
    let validation_codes = encode(&params, &arch, validation_images.view(), CHUNK);
    let yardstick = Yardstick {
        judge,
        test_features,
        train_images,
        reconstruction_median,
    };
    eprintln!(
        "model {} ({}), {} training and {} validation codes; reconstructions' median nearest distance {reconstruction_median:.4}; set up in {:.1} s",
        o.model.display(),
        arch.describe(),
        train_codes.nrows(),
        validation_codes.nrows(),
        started.elapsed().as_secs_f64()
    );

    println!("| samples | fit | confident | coverage | score | fd (10,000) | novelty |");
    println!("|---|---|---|---|---|---|---|");
    if o.references {
        // 10,000 random training digits for fd; the first 1,000 test digits for the rest.
        let mut order: Vec<usize> = (0..yardstick.train_images.nrows()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(o.seed));
        let random_train = images(&splits.train, &order[..FD_SAMPLES]);
        let real_fd = Some(
            yardstick
                .test_features
                .distance(judge_features(&yardstick.judge, random_train.view()).view()),
        );
        let real = Row {
            fd: real_fd,
            ..yardstick.measure(first_test, None, first_test)
        };
        print_row(
            "real: first 1,000 test digits; fd 10,000 random training digits",
            "-",
            &real,
        );
        let train_reconstructions = reconstruct(&params, &arch, random_train.view(), CHUNK);
        let reconstructions = yardstick.measure(
            test_reconstructions.view(),
            Some(train_reconstructions.view()),
            test_reconstructions.view(),
        );
        print_row(
            "reconstructions of the first 1,000 test digits; fd of 10,000 training digits",
            "-",
            &reconstructions,
        );
        let copies = yardstick.measure(
            train_reconstructions.slice(s![..JUDGED, ..]),
            None,
            train_reconstructions.slice(s![..JUDGED, ..]),
        );
        print_row(
            "reconstructions of 1,000 training digits (novelty of copies)",
            "-",
            &copies,
        );
        let gaussian = Gaussian::fit(train_codes.view()).unwrap_or_else(|e| exit(&e));
        let noise = Array2::random_using(
            (FD_SAMPLES, arch.latent),
            StandardNormal,
            &mut StdRng::seed_from_u64(o.seed + 1),
        );
        let digits = decoded(&params, &arch, gaussian.sample(noise.view()).view());
        let row = yardstick.measure(
            digits.slice(s![..JUDGED, ..]),
            Some(digits.view()),
            digits.slice(s![..JUDGED, ..]),
        );
        print_row(
            "one Gaussian fitted to the 55,000 training codes",
            "-",
            &row,
        );
    }
    for &floor in &o.floors {
        for &k in &o.components {
            let config = GmmConfig {
                components: k,
                floor,
                seed: o.seed,
                tolerance: o.tolerance,
                ..GmmConfig::default()
            };
            let start = Instant::now();
            let fitted = train_codes.slice(s![..o.codes.min(train_codes.nrows()), ..]);
            let result = fit_with_progress(fitted, &config, |iteration, objective| {
                if iteration % 10 == 0 {
                    eprintln!(
                        "  K = {k}: iteration {iteration}, J/N {objective:.4}, {:.1} s",
                        start.elapsed().as_secs_f64()
                    );
                }
            })
            .unwrap_or_else(|e| exit(&e));
            let seconds = start.elapsed().as_secs_f64();
            let validation = result.gmm.log_likelihood(validation_codes.view());
            let iterations = result.objective.len() - 1;
            let fit_text = format!(
                "{seconds:.1} s, {iterations} it{}, val LL {validation:.3}, train J {:.3}",
                if result.converged { "" } else { " (max)" },
                result.objective[iterations]
            );
            for &temperature in &o.temperatures {
                let mut rng = StdRng::seed_from_u64(o.seed + 2);
                let codes = result
                    .gmm
                    .sample_with_temperature(FD_SAMPLES, temperature, &mut rng);
                let digits = decoded(&params, &arch, codes.view());
                for (passes, digits) in refined(&params, &arch, digits, &o.refine) {
                    let row = yardstick.measure(
                        digits.slice(s![..JUDGED, ..]),
                        Some(digits.view()),
                        digits.slice(s![..JUDGED, ..]),
                    );
                    let refine = if passes > 0 {
                        format!(", {passes} encode-decode passes")
                    } else {
                        String::new()
                    };
                    print_row(
                        &format!("mixture K = {k}, floor {floor:e}, τ = {temperature}{refine}"),
                        &fit_text,
                        &row,
                    );
                }
            }
        }
    }
    eprintln!("done in {:.1} s", started.elapsed().as_secs_f64());
}
