//! Where a training step's time goes: the step of `Trainer::step` for a plain
//! autoencoder with MSE, run through the model's own passes
//! (`model::forward_layers` one layer at a time, `loss_forward`,
//! `loss_backward`, `backward`), the NaN check and Adam, each timed on its own
//! with a clock read between phases.
//!
//! ```text
//! cargo run --release --features examples --example step_phases -- HIDDEN BATCH [THREADS]
//! cargo run --release --features examples --example step_phases -- 1024,512 256
//! ```
//! Runs 60 steps on THREADS threads (default 2) on MNIST's first BATCH training
//! images (run it from the project's root) and prints
//! the mean time of each phase over the last 50, and each kind's share. The
//! phases run one after another as in training, but the clock reads between
//! them add a little time, and the whole batch is one shard (the small models
//! train in two: see `train::Shard`). Until 2026-12-03 this example kept its
//! own copy of the step, to split each layer's product from its activation;
//! docs/PERFORMANCE.md's phase figures of 2026-11-28 come from that version.

use std::collections::BTreeMap;
use std::time::Instant;

use mnist_autoencoder::data::mnist::load_split_prefix;
use mnist_autoencoder::model::{
    backward, forward_layers, loss_backward, loss_forward, Architecture, ModelKind, Params,
    Workspace,
};
use mnist_autoencoder::nn::LossKind;
use mnist_autoencoder::optim::Adam;
use mnist_autoencoder::parallel::build_pool;
use ndarray_rand::rand::SeedableRng;

const STEPS: usize = 60;
const WARM_UP: usize = 10;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: step_phases HIDDEN BATCH [THREADS], e.g. 1024,512 256";
    let parse = |text: &str| text.parse::<usize>().unwrap_or_else(|_| exit(usage));
    let (Some(hidden), Some(batch)) = (args.first(), args.get(1)) else {
        exit(usage)
    };
    let hidden: Vec<usize> = hidden.split(',').map(parse).collect();
    let rows = parse(batch);
    let threads = args.get(2).map_or(2, |t| parse(t));

    let arch = Architecture::plain(784, hidden, 32);
    let mut rng = ndarray_rand::rand::rngs::StdRng::seed_from_u64(0);
    let mut params = Params::init(&arch, &mut rng);
    let mut grads = Params::zeros(&arch);
    let mut adam = Adam::new(&params, 1e-3);
    let mut ws = Workspace::new(&arch, rows);
    let images = load_split_prefix(std::path::Path::new("data/mnist"), "train", Some(rows))
        .unwrap_or_else(|e| exit(&format!("{e} (run from the project's root)")))
        .images;
    ws.target = images.mapv(|p| p as f32 / 255.0);
    ws.outputs[0].assign(&ws.target);
    let pool = build_pool(threads).unwrap_or_else(|e| exit(&e.to_string()));
    let layers = arch.layer_count();

    // (kind, phase) → seconds over the timed steps.
    let mut times: BTreeMap<(&str, String), f64> = BTreeMap::new();
    pool.install(|| {
        for step in 0..STEPS {
            let mut clock = Instant::now();
            let mut lap = |kind: &'static str, phase: String| {
                if step >= WARM_UP {
                    *times.entry((kind, phase)).or_default() += clock.elapsed().as_secs_f64();
                }
                clock = Instant::now();
            };
            for l in 0..layers {
                forward_layers(&params, &arch, &mut ws, l..l + 1, rows);
                lap("forward", format!("layer {l} Y = f(X·W + b)"));
            }
            let loss = loss_forward(ModelKind::Ae, LossKind::Mse, 1.0, &ws, rows).total;
            lap("loss", "loss".into());
            loss_backward(ModelKind::Ae, LossKind::Mse, 1.0, &mut ws, rows);
            lap("loss", "loss gradient".into());
            backward(&params, &arch, &mut grads, &mut ws, rows);
            lap("backward", "backward, every layer".into());
            let bad = grads.first_non_finite();
            lap("NaN check", "NaN check".into());
            adam.update(&mut params, &grads);
            lap("Adam", "Adam".into());
            if bad.is_some() || !loss.is_finite() {
                exit("the step diverged");
            }
        }
    });

    let timed = (STEPS - WARM_UP) as f64;
    let total: f64 = times.values().sum();
    println!(
        "{}, batch {rows}, {threads} threads: {:.3} ms per step",
        arch.describe(),
        total / timed * 1e3
    );
    let mut kinds: BTreeMap<&str, f64> = BTreeMap::new();
    for ((kind, phase), seconds) in &times {
        *kinds.entry(kind).or_default() += seconds;
        println!(
            "  {phase:28} {:7.3} ms {:5.1}%",
            seconds / timed * 1e3,
            100.0 * seconds / total
        );
    }
    for (kind, seconds) in kinds {
        println!(
            "{kind:30} {:7.3} ms {:5.1}%",
            seconds / timed * 1e3,
            100.0 * seconds / total
        );
    }
}

fn exit(message: &str) -> ! {
    eprintln!("step_phases: {message}");
    std::process::exit(2)
}
