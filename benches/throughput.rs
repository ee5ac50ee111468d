//! Throughput benchmarks: `cargo bench --features bench`.
//!
//! Criterion reports "elements per second": for the matrix products an element
//! is one floating-point operation (so Gelem/s reads as GFLOP/s), for training
//! steps one image, for IDX loading one byte of the compressed file.
//! Everything runs in a pool of 2 threads with denormals flushed to zero, like
//! a training run on this project's 2-core machine (set BENCH_THREADS to change).

use std::hint::black_box;
use std::path::Path;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use mnist_autoencoder::data::idx::parse_idx;
use mnist_autoencoder::data::mnist::load_split_prefix;
use mnist_autoencoder::model::Architecture;
use mnist_autoencoder::nn::kernel::Isa;
use mnist_autoencoder::nn::matmul::{matmul, matmul_with};
use mnist_autoencoder::nn::LossKind;
use mnist_autoencoder::parallel::build_pool;
use mnist_autoencoder::reduce::tsne::{affinities, embed, TsneOptions};
use mnist_autoencoder::train::{Settings, TrainState, Trainer};
use ndarray::Array2;
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::SeedableRng;
use ndarray_rand::rand_distr::Uniform;
use ndarray_rand::RandomExt;

/// The two reference models of docs/PERFORMANCE.md and the default one:
/// (name, hidden widths, batch size).
const MODELS: &[(&str, &[usize], usize)] = &[
    ("small", &[128, 64], 128),
    ("default", &[384, 192], 128),
    ("wide", &[1024, 512], 256),
];

fn threads() -> usize {
    std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|t| t.parse().ok())
        .unwrap_or(2)
}

fn random(rows: usize, cols: usize, seed: u64) -> Array2<f32> {
    Array2::random_using(
        (rows, cols),
        Uniform::new(-1.0f32, 1.0).unwrap(),
        &mut StdRng::seed_from_u64(seed),
    )
}

/// The three products of every dense layer of each model at its batch size.
fn matrix_products(c: &mut Criterion) {
    let pool = build_pool(threads()).unwrap();
    let mut group = c.benchmark_group("matmul");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(2))
        .warm_up_time(Duration::from_millis(500));
    for &(name, hidden, batch) in MODELS {
        let arch = Architecture::plain(784, hidden.to_vec(), 32);
        let widths = arch.widths();
        // The encoder's layers; the decoder's are the same products transposed.
        for io in widths.windows(2).take(arch.encoder_layers()) {
            let (inputs, outputs) = (io[0], io[1]);
            let flops = (2 * batch * inputs * outputs) as u64;
            group.throughput(Throughput::Elements(flops));
            let x = random(batch, inputs, 1);
            let w = random(inputs, outputs, 2);
            let dy = random(batch, outputs, 3);
            let mut y = Array2::zeros((batch, outputs));
            let mut dw = Array2::zeros((inputs, outputs));
            let mut dx = Array2::zeros((batch, inputs));
            let shape = format!("{name} {batch}x{inputs}x{outputs}");
            group.bench_function(BenchmarkId::new("forward Y=X·W", &shape), |b| {
                pool.install(|| b.iter(|| matmul(x.view(), w.view(), 0.0, y.view_mut())))
            });
            group.bench_function(BenchmarkId::new("weight grad dW=Xᵀ·dY", &shape), |b| {
                pool.install(|| b.iter(|| matmul(x.t(), dy.view(), 0.0, dw.view_mut())))
            });
            group.bench_function(BenchmarkId::new("input grad dX=dY·Wᵀ", &shape), |b| {
                pool.install(|| b.iter(|| matmul(dy.view(), w.t(), 0.0, dx.view_mut())))
            });
        }
    }
    group.finish();
}

/// Every kernel this CPU can run (`Isa::supported`), on the wide model's largest
/// product and on the 1024×1024×1024 product that reference/bench_gemm_numpy.py
/// times for numpy + OpenBLAS (the "percent of the machine's GEMM" yardstick).
fn kernels(c: &mut Criterion) {
    let pool = build_pool(threads()).unwrap();
    let mut group = c.benchmark_group("kernel");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for (m, k, n) in [(256, 784, 1024), (1024, 1024, 1024)] {
        let (a, b) = (random(m, k, 4), random(k, n, 5));
        let mut out = Array2::zeros((m, n));
        group.throughput(Throughput::Elements((2 * m * k * n) as u64));
        for isa in Isa::supported() {
            let id = BenchmarkId::new(isa.name(), format!("{m}x{k}x{n}"));
            group.bench_function(id, |bench| {
                pool.install(|| {
                    bench.iter(|| matmul_with(isa, a.view(), b.view(), 0.0, out.view_mut()))
                })
            });
        }
    }
    group.finish();
}

/// One full training step (forward, loss, backward, Adam) of each model.
fn training_steps(c: &mut Criterion) {
    let pool = build_pool(threads()).unwrap();
    // MNIST's first images: the first layer skips their blank pixels, and a
    // step costs what it costs in training (see dense::ZeroColumns).
    let images = load_split_prefix(Path::new("data/mnist"), "train", Some(1024))
        .expect("run from the project's root, with data/mnist")
        .images;
    let mut group = c.benchmark_group("train_step");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .warm_up_time(Duration::from_millis(500));
    for &(name, hidden, batch) in MODELS {
        let arch = Architecture::plain(784, hidden.to_vec(), 32);
        let settings = Settings {
            batch_size: batch,
            loss: LossKind::Mse,
            beta: 1.0,
            seed: 0,
            noise: 0.0,
            binarize: false,
        };
        let mut trainer = Trainer::new(TrainState::new(arch.clone(), 1e-3, 0), settings);
        let indices: Vec<usize> = (0..batch).collect();
        group.throughput(Throughput::Elements(batch as u64));
        group.bench_function(
            BenchmarkId::new(name, format!("{} batch {batch}", arch.describe())),
            |b| {
                pool.install(|| {
                    b.iter(|| black_box(trainer.step(&images, &indices, 1, 0).unwrap()))
                })
            },
        );
    }
    group.finish();
}

/// Parsing the bundled gzipped training images (decompression included).
fn idx_loading(c: &mut Criterion) {
    let path = Path::new("data/mnist/train-images-idx3-ubyte.gz");
    let bytes = std::fs::read(path).expect("run benches from the project root");
    let mut group = c.benchmark_group("idx");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Bytes(bytes.len() as u64));
    group.bench_function("parse train-images-idx3-ubyte.gz", |b| {
        b.iter(|| black_box(parse_idx(&bytes, path).unwrap()))
    });
    group.finish();
}

/// 50 t-SNE iterations (one warm-started animation frame is 200) on 2,000 codes.
fn tsne_iterations(c: &mut Criterion) {
    let pool = build_pool(threads()).unwrap();
    let codes = random(2000, 32, 4);
    let p = pool.install(|| affinities(codes.view(), 30.0));
    let init = random(2000, 2, 5);
    let mut group = c.benchmark_group("tsne");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(3));
    group.throughput(Throughput::Elements(50));
    group.bench_function("50 iterations, N=2000", |b| {
        pool.install(|| b.iter(|| black_box(embed(&p, Some(init.view()), &TsneOptions::warm(50)))))
    });
    group.bench_function("affinities, N=2000, Z=32", |b| {
        pool.install(|| b.iter(|| black_box(affinities(codes.view(), 30.0))))
    });
    group.finish();
}

criterion_group!(
    benches,
    matrix_products,
    kernels,
    training_steps,
    idx_loading,
    tsne_iterations
);
criterion_main!(benches);
