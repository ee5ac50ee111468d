//! A first rough measure of the convolution layers alone: forward and backward
//! (dx, dw, db) of the four layers of issue 26's convolutional autoencoder on a
//! batch, on THREADS threads, with one workspace and every buffer allocated
//! before the clock starts.
//!
//! ```text
//! cargo run --release --features examples --example conv_layers -- [BATCH] [THREADS] [STEPS]
//! cargo run --release --features examples --example conv_layers -- 128 2 50
//! ```
//! Layers (NCHW, B = BATCH):
//! ```text
//! 1  Conv2d(1→32, 3×3, s2, p1)                 (B,1,28,28)  → (B,32,14,14)
//! 2  Conv2d(32→64, 3×3, s2, p1)                (B,32,14,14) → (B,64,7,7)
//! 3  ConvTranspose2d(64→32, 3×3, s2, p1, op1)  (B,64,7,7)   → (B,32,14,14)
//! 4  ConvTranspose2d(32→1, 3×3, s2, p1, op1)   (B,32,14,14) → (B,1,28,28)
//! ```
//! The first layer's backward computes no dx (the model's input needs none),
//! as PyTorch's autograd does not for an input without `requires_grad`.
//! Inputs are fixed pseudo-random values (the time does not depend on them).
//! Prints the median over STEPS (after 5 warm-up steps) of each layer's
//! forward and backward, and of the whole, in ms per batch. No other layer
//! (activation, loss, dense) is included; reference/bench_conv_layers.py
//! measures the same four layers in PyTorch.

use std::time::Instant;

use mnist_autoencoder::nn::conv::{
    conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward,
    ConvGeometry, ConvWorkspace,
};
use mnist_autoencoder::parallel::build_pool;
use ndarray::{Array1, Array4};

const WARM_UP: usize = 5;

/// One layer's tensors, all allocated once.
struct Layer {
    name: &'static str,
    transpose: bool,
    geometry: ConvGeometry,
    x: Array4<f32>,
    w: Array4<f32>,
    b: Array1<f32>,
    y: Array4<f32>,
    dy: Array4<f32>,
    dx: Option<Array4<f32>>,
    dw: Array4<f32>,
    db: Array1<f32>,
}

fn filled(shape: (usize, usize, usize, usize), salt: usize) -> Array4<f32> {
    let mut n = salt;
    Array4::from_shape_simple_fn(shape, || {
        n += 1;
        ((n * 2654435761) % 1000) as f32 / 500.0 - 1.0
    })
}

fn layer(
    name: &'static str,
    transpose: bool,
    geometry: ConvGeometry,
    x: (usize, usize, usize, usize),
    w: (usize, usize, usize, usize),
    y: (usize, usize, usize, usize),
    needs_dx: bool,
) -> Layer {
    Layer {
        name,
        transpose,
        geometry,
        x: filled(x, 1),
        w: filled(w, 2).mapv(|v| v * 0.1),
        b: Array1::from_elem(y.1, 0.01),
        y: Array4::zeros(y),
        dy: filled(y, 3),
        dx: needs_dx.then(|| Array4::zeros(x)),
        dw: Array4::zeros(w),
        db: Array1::zeros(y.1),
    }
}

fn forward(l: &mut Layer, ws: &mut ConvWorkspace) {
    let (x, w, b) = (l.x.view(), l.w.view(), l.b.view());
    if l.transpose {
        conv_transpose2d_forward(l.y.view_mut(), x, w, b, l.geometry, ws);
    } else {
        conv2d_forward(l.y.view_mut(), x, w, b, l.geometry, ws);
    }
}

fn backward(l: &mut Layer, ws: &mut ConvWorkspace) {
    let dx = l.dx.as_mut().map(|dx| dx.view_mut());
    let (dy, x, w) = (l.dy.view(), l.x.view(), l.w.view());
    if l.transpose {
        conv_transpose2d_backward(
            dx,
            l.dw.view_mut(),
            l.db.view_mut(),
            dy,
            x,
            w,
            l.geometry,
            ws,
        );
    } else {
        conv2d_backward(
            dx,
            l.dw.view_mut(),
            l.db.view_mut(),
            dy,
            x,
            w,
            l.geometry,
            ws,
        );
    }
}

fn median(times: &mut [f64]) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| {
            a.parse().unwrap_or_else(|_| {
                eprintln!("usage: conv_layers [BATCH] [THREADS] [STEPS]");
                std::process::exit(2)
            })
        })
        .collect();
    let batch = args.first().copied().unwrap_or(128);
    let threads = args.get(1).copied().unwrap_or(2);
    let steps = args.get(2).copied().unwrap_or(50);
    let encoder = ConvGeometry::new(2, 1);
    let decoder = ConvGeometry {
        stride: 2,
        padding: 1,
        output_padding: 1,
    };
    let b = batch;
    let mut layers = [
        layer(
            "conv 1→32",
            false,
            encoder,
            (b, 1, 28, 28),
            (32, 1, 3, 3),
            (b, 32, 14, 14),
            false,
        ),
        layer(
            "conv 32→64",
            false,
            encoder,
            (b, 32, 14, 14),
            (64, 32, 3, 3),
            (b, 64, 7, 7),
            true,
        ),
        layer(
            "convT 64→32",
            true,
            decoder,
            (b, 64, 7, 7),
            (64, 32, 3, 3),
            (b, 32, 14, 14),
            true,
        ),
        layer(
            "convT 32→1",
            true,
            decoder,
            (b, 32, 14, 14),
            (32, 1, 3, 3),
            (b, 1, 28, 28),
            true,
        ),
    ];
    let pool = build_pool(threads).unwrap_or_else(|e| {
        eprintln!("{e}");
        std::process::exit(1)
    });
    let mut workspace = ConvWorkspace::new();
    // [layer][0 forward, 1 backward] → seconds per step; and the whole step.
    let mut times = vec![[Vec::new(), Vec::new()]; layers.len()];
    let mut totals = Vec::new();
    pool.install(|| {
        for step in 0..WARM_UP + steps {
            let start = Instant::now();
            let mut lap = [[0.0; 2]; 4];
            for (l, layer) in layers.iter_mut().enumerate() {
                let t = Instant::now();
                forward(layer, &mut workspace);
                lap[l][0] = t.elapsed().as_secs_f64();
            }
            for (l, layer) in layers.iter_mut().enumerate().rev() {
                let t = Instant::now();
                backward(layer, &mut workspace);
                lap[l][1] = t.elapsed().as_secs_f64();
            }
            let total = start.elapsed().as_secs_f64();
            if step >= WARM_UP {
                totals.push(total);
                for (l, pair) in lap.iter().enumerate() {
                    times[l][0].push(pair[0]);
                    times[l][1].push(pair[1]);
                }
            }
        }
    });
    println!("batch {batch}, {threads} threads, median of {steps} steps after {WARM_UP} warm-up:");
    for (layer, [forward, backward]) in layers.iter().zip(times.iter_mut()) {
        println!(
            "  {:<12} forward {:7.3} ms  backward {:7.3} ms",
            layer.name,
            1e3 * median(forward),
            1e3 * median(backward)
        );
    }
    let total = median(&mut totals);
    println!(
        "  all four     {:7.3} ms per batch ({:.0} images/s); workspace {:.1} MB",
        1e3 * total,
        batch as f64 / total,
        workspace.floats() as f64 * 4.0 / 1e6
    );
}
