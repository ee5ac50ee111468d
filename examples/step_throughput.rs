//! Training-step throughput of one model on MNIST images, for comparing two
//! builds side by side (`scripts/ab-step.sh`): a step is forward, loss, backward
//! and Adam, exactly as in training, without data loading or the progress bar.
//!
//! ```text
//! cargo run --release --features examples --example step_throughput -- HIDDEN BATCH [STEPS] [THREADS] [--products]
//! cargo run --release --features examples --example step_throughput -- 1024,512 256
//! cargo run --release --features examples --example step_throughput -- conv 128
//! ```
//! HIDDEN `conv` is the convolutional model of `train --arch conv`.
//! Runs 6 rounds of STEPS steps (default 40) on THREADS threads (default 2) and
//! prints the best of the last 5 rounds as GFLOP/s (3 × 2 × Σ in·out per image,
//! the convention of `reference/compare.py`) and images per second.
//!
//! With `--products`, a step is only its matrix products, on the same shapes:
//! `Y = X·W`, `dW = Xᵀ·dY` and `dX = dY·Wᵀ` of every layer (no dX for the
//! first), nothing else. `reference/bench_gemm_numpy.py --step` times the same
//! products with numpy's OpenBLAS. Unlike training, each product writes a fresh
//! output (β = 0; the forward pass adds to a bias-filled Y) and the layers'
//! buffers are not chained; and models small enough to train in two shards
//! (see `train::Shard`) run whole batches here.

use std::path::Path;
use std::time::Instant;

use mnist_autoencoder::data::mnist::load_split_prefix;
use mnist_autoencoder::model::{Architecture, Backbone};
use mnist_autoencoder::nn::matmul::matmul;
use mnist_autoencoder::nn::LossKind;
use mnist_autoencoder::parallel::build_pool;
use mnist_autoencoder::train::{Settings, TrainState, Trainer};
use ndarray::Array2;

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let products_only = args.iter().any(|a| a == "--products");
    args.retain(|a| a != "--products");
    let usage =
        "usage: step_throughput HIDDEN|conv BATCH [STEPS] [THREADS] [--products], e.g. 1024,512 256";
    let number = |i: usize, default: Option<usize>| -> usize {
        match (args.get(i), default) {
            (Some(text), _) => text.parse().unwrap_or_else(|_| exit(usage)),
            (None, Some(value)) => value,
            (None, None) => exit(usage),
        }
    };
    let first = args.first().unwrap_or_else(|| exit(usage));
    let conv = first == "conv";
    let hidden: Vec<usize> = match conv {
        true => Backbone::Conv.hidden(&[]),
        false => first
            .split(',')
            .map(|w| w.parse().unwrap_or_else(|_| exit(usage)))
            .collect(),
    };
    let (batch, steps, threads) = (number(1, None), number(2, Some(40)), number(3, Some(2)));
    let images_total = 4096;
    if batch == 0 || batch > images_total || steps == 0 {
        exit("BATCH must be 1..=4096 and STEPS at least 1");
    }

    let pool = build_pool(threads).unwrap_or_else(|e| exit(&e.to_string()));
    // MNIST's first 4096 training images: their blank pixels are part of what a
    // training step costs (the first layer skips them; see dense::ZeroColumns).
    let images = load_split_prefix(Path::new("data/mnist"), "train", Some(images_total))
        .unwrap_or_else(|e| exit(&format!("{e} (run from the project's root)")))
        .images;
    let mut arch = Architecture::plain(784, hidden, 32);
    if conv {
        if products_only {
            exit("--products times dense layers' products; conv has none of that shape");
        }
        arch.backbone = Backbone::Conv;
    }
    let settings = Settings {
        batch_size: batch,
        loss: LossKind::Mse,
        beta: 1.0,
        seed: 0,
        noise: 0.0,
        binarize: false,
    };
    let mut trainer = Trainer::new(TrainState::new(arch.clone(), 1e-3, 0), settings);
    let mut products = products_only.then(|| Products::new(&arch, batch));
    let flops_per_step = 6.0 * arch.multiply_adds() as f64 * batch as f64;

    let best = pool.install(|| {
        let mut best = f64::MAX;
        for round in 0..6 {
            let start = Instant::now();
            for step in 0..steps {
                if let Some(products) = products.as_mut() {
                    products.run();
                    continue;
                }
                let first = (step * batch) % (images_total - batch + 1);
                let indices: Vec<usize> = (first..first + batch).collect();
                if let Err(e) = trainer.step(&images, &indices, 1, step) {
                    exit(&e.to_string());
                }
            }
            if round > 0 {
                // The first round warms the caches and the thread pool up.
                best = best.min(start.elapsed().as_secs_f64() / steps as f64);
            }
        }
        best
    });
    println!(
        "{}, batch {batch}, {threads} threads{}: {:.1} GFLOP/s, {:.0} img/s",
        arch.describe(),
        if products_only { ", products only" } else { "" },
        flops_per_step / best / 1e9,
        batch as f64 / best
    );
}

/// The operands of one layer's three matrix products.
struct LayerProducts {
    x: Array2<f32>,  // (B, I) the layer's input
    w: Array2<f32>,  // (I, O)
    dy: Array2<f32>, // (B, O) the gradient arriving from above
    y: Array2<f32>,  // (B, O) = X·W
    dw: Array2<f32>, // (I, O) = Xᵀ·dY
    dx: Array2<f32>, // (B, I) = dY·Wᵀ
}

/// Every layer's products, as one step of training runs them.
struct Products {
    layers: Vec<LayerProducts>,
}

impl Products {
    fn new(arch: &Architecture, batch: usize) -> Products {
        let array = |shape: (usize, usize)| {
            Array2::from_shape_fn(shape, |(i, j)| ((i * 7 + j * 13) % 17) as f32 / 17.0 - 0.5)
        };
        let layers = arch
            .layer_ops()
            .into_iter()
            .map(|op| op.weight_dim()) // (I, O): this example's models are dense
            .map(|(i, o)| LayerProducts {
                x: array((batch, i)),
                w: array((i, o)),
                dy: array((batch, o)),
                y: array((batch, o)),
                dw: array((i, o)),
                dx: array((batch, i)),
            })
            .collect();
        Products { layers }
    }

    /// The products in the order a step runs them: forward, then backward
    /// (no dX for the first layer).
    fn run(&mut self) {
        for l in self.layers.iter_mut() {
            matmul(l.x.view(), l.w.view(), 0.0, l.y.view_mut());
        }
        for (index, l) in self.layers.iter_mut().enumerate().rev() {
            matmul(l.x.t(), l.dy.view(), 0.0, l.dw.view_mut());
            if index > 0 {
                matmul(l.dy.view(), l.w.t(), 0.0, l.dx.view_mut());
            }
        }
    }
}

fn exit(message: &str) -> ! {
    eprintln!("step_throughput: {message}");
    std::process::exit(2)
}
