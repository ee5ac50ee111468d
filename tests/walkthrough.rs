//! The numbers and claims of docs/WALKTHROUGH.md, checked against the code so
//! that the text cannot drift from it. This file is compiled into the `all`
//! test binary (tests/all.rs); run it with `-- --nocapture` to see the values
//! the walkthrough quotes:
//!
//! ```sh
//! cargo test --test all walkthrough:: -- --nocapture --test-threads 1
//! ```

use std::path::Path;

use mnist_autoencoder::data::mnist::{fill_batch, load_split};
use mnist_autoencoder::gradcheck::{compare, numeric_gradient};
use mnist_autoencoder::model::{
    backward, forward, loss_backward, loss_forward, Architecture, Dense, ModelKind, Params,
    Workspace,
};
use mnist_autoencoder::nn::activation::sigmoid;
use mnist_autoencoder::nn::{Activation, LossKind};
use mnist_autoencoder::optim::Adam;
use mnist_autoencoder::prior::diffusion::{
    sample_ancestral, sample_ddim, BetaSchedule, EpsNet, NoiseSchedule, Nonlinearity, TrainConfig,
    STEPS,
};
use mnist_autoencoder::prior::gmm::{self, GmmConfig};
use ndarray::{array, s, Array1, Array2, Axis};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::SeedableRng;
use ndarray_rand::rand_distr::{Normal, StandardNormal, Uniform};
use ndarray_rand::RandomExt;

/// Asserts `got` equals the walkthrough's printed value to 1e-6.
fn assert_close(name: &str, got: f32, text: f64) {
    println!("{name:<12} {got:>12.6}");
    assert!(
        (got as f64 - text).abs() < 1e-6,
        "{name}: the code gives {got:.8}, the walkthrough says {text}"
    );
}

/// One forward pass, the loss gradient and the backward pass on `x` (B, D),
/// target = input. Returns the loss; `grads` is overwritten, and
/// `scale` multiplies dL/dx̂ (1.0 for the true gradient).
fn loss_and_grads(
    params: &Params,
    arch: &Architecture,
    ws: &mut Workspace,
    grads: &mut Params,
    x: &Array2<f32>,
    loss: LossKind,
    scale: f32,
) -> f64 {
    let rows = x.nrows();
    ws.input_mut(rows).assign(x);
    ws.target.slice_mut(s![..rows, ..]).assign(x);
    forward(params, arch, ws, rows);
    let value = loss_forward(arch.kind, loss, 1.0, ws, rows).total;
    loss_backward(arch.kind, loss, 1.0, ws, rows);
    ws.d_outputs
        .last_mut()
        .expect("layers")
        .slice_mut(s![..rows, ..])
        .mapv_inplace(|g| g * scale);
    backward(params, arch, grads, ws, rows);
    value
}

// ---------------------------------------------------------------------------
// §5 The worked example: 2 pixels, a 1-unit code, batch 1, sigmoid output.
// ---------------------------------------------------------------------------

/// The 2-1-2 autoencoder of the worked example, with weights set by hand.
fn tiny() -> (Architecture, Params, Array2<f32>) {
    // No hidden layer: x (1×2) → z = x·W₀ + b₀ (1×1, linear) → x̂ = σ(z·W₁ + b₁) (1×2).
    let arch = Architecture::plain(2, vec![], 1);
    let params = Params {
        layers: vec![
            Dense {
                w: array![[0.5], [-0.3]],
                b: array![0.1],
            },
            Dense {
                w: array![[1.0, -1.0]],
                b: array![0.0, 0.2],
            },
        ],
    };
    let x = array![[1.0f32, 0.0]]; // one lit pixel, one "border" pixel that is always 0
    (arch, params, x)
}

#[test]
fn worked_example_every_number_by_hand() {
    let (arch, mut params, x) = tiny();
    assert_eq!(arch.widths(), vec![2, 1, 2]);
    assert_eq!(arch.activation(0), Activation::Identity);
    assert_eq!(arch.activation(1), Activation::Sigmoid);
    let mut ws = Workspace::new(&arch, 1);
    ws.input_mut(1).assign(&x);
    ws.target.assign(&x);

    // Forward: outputs[1] is the code z, outputs[2] the reconstruction x̂.
    forward(&params, &arch, &mut ws, 1);
    let loss = loss_forward(arch.kind, LossKind::Mse, 1.0, &ws, 1).total;
    assert_close("z", ws.outputs[1][[0, 0]], 0.6);
    // The output layer's pre-activation Y₁ = z·W₁ + b₁, from the library's z.
    let y1 = ws.outputs[1].dot(&params.layers[1].w) + &params.layers[1].b;
    assert_close("Y₁[1]", y1[[0, 0]], 0.6);
    assert_close("Y₁[2]", y1[[0, 1]], -0.4);
    assert_close("x̂₁", ws.outputs[2][[0, 0]], 0.645656);
    assert_close("x̂₂", ws.outputs[2][[0, 1]], 0.401312);
    for i in 0..2 {
        let x_hat = ws.outputs[2][[0, i]];
        assert!(
            (x_hat - sigmoid(y1[[0, i]])).abs() < 1e-7,
            "x̂ = sigmoid(Y₁)"
        );
    }
    // The two squared errors the loss averages.
    let squared = (&ws.outputs[2] - &x).mapv(|e| e * e);
    assert_close("(x̂₁ − 1)²", squared[[0, 0]], 0.125559);
    assert_close("(x̂₂ − 0)²", squared[[0, 1]], 0.161052);
    assert_close("L", loss as f32, 0.143306);

    // Backward: d_outputs[2] gets dL/dx̂, then (in place) dY₁; d_outputs[1] gets dz.
    loss_backward(arch.kind, LossKind::Mse, 1.0, &mut ws, 1);
    assert_close("dL/dx̂₁", ws.d_outputs[2][[0, 0]], -0.354344);
    assert_close("dL/dx̂₂", ws.d_outputs[2][[0, 1]], 0.401312);
    let slope = ws.outputs[2].mapv(|a| a * (1.0 - a)); // sigmoid′, from the output
    assert_close("x̂₁(1 − x̂₁)", slope[[0, 0]], 0.228784);
    assert_close("x̂₂(1 − x̂₂)", slope[[0, 1]], 0.240261);
    let mut grads = Params::zeros(&arch);
    backward(&params, &arch, &mut grads, &mut ws, 1);
    assert_close("dY₁[1]", ws.d_outputs[2][[0, 0]], -0.081068);
    assert_close("dY₁[2]", ws.d_outputs[2][[0, 1]], 0.096420);
    assert_close("dW₁[1]", grads.layers[1].w[[0, 0]], -0.048641);
    assert_close("dW₁[2]", grads.layers[1].w[[0, 1]], 0.057852);
    assert_close("db₁[1]", grads.layers[1].b[0], -0.081068);
    assert_close("db₁[2]", grads.layers[1].b[1], 0.096420);
    // d_outputs[1] held dz and, after the identity's backward (in place), holds
    // dY₀: the same number, since the code layer has no activation.
    assert_close("dz = dY₀", ws.d_outputs[1][[0, 0]], -0.177488);
    assert_eq!(grads.layers[0].b[0], ws.d_outputs[1][[0, 0]], "db₀ = dY₀");
    assert_close("dW₀[1]", grads.layers[0].w[[0, 0]], -0.177488);
    assert_eq!(
        grads.layers[0].w[[1, 0]],
        0.0,
        "x₂ = 0, so dW₀[2] = x₂·dz = 0"
    );
    assert_close("db₀", grads.layers[0].b[0], -0.177488);

    // The first Adam step: every parameter with g ≠ 0 moves by η·g/(|g| + ε),
    // η·sign(g) to within ε/|g|; the weight of the zero pixel does not move.
    let mut adam = Adam::new(&params, 1e-3);
    let g = grads.layers[0].b[0].abs();
    let gap = adam.eps / g;
    println!("ε/|g| of b₀  {gap:.3e}");
    assert!(
        (gap as f64 / 5.6e-8 - 1.0).abs() < 0.01,
        "the walkthrough says ε/|g| = 5.6e-8 for b₀"
    );
    adam.update(&mut params, &grads);
    assert_close("W₀[1]", params.layers[0].w[[0, 0]], 0.501);
    assert_eq!(params.layers[0].w[[1, 0]], -0.3, "g = 0: no step at all");
    assert_close("b₀", params.layers[0].b[0], 0.101);
    assert_close("W₁[1]", params.layers[1].w[[0, 0]], 1.001);
    assert_close("W₁[2]", params.layers[1].w[[0, 1]], -1.001);
    assert_close("b₁[1]", params.layers[1].b[0], 0.001);
    assert_close("b₁[2]", params.layers[1].b[1], 0.199);
    assert_close("m(db₀)", adam.m.layers[0].b[0], -0.017749);
    let v = adam.v.layers[0].b[0];
    println!("v(db₀)       {v:.6e}");
    // v = (1 − β₂)·g², with 1 − β₂ = 0.00099998713 in f32 (0.999 is not exact).
    assert!((v as f64 / 3.150e-5 - 1.0).abs() < 1e-4, "v = 0.001·g²");

    // The loss after the step.
    let after = loss_and_grads(&params, &arch, &mut ws, &mut grads, &x, LossKind::Mse, 1.0);
    assert_close("L after", after as f32, 0.142667);
}

// ---------------------------------------------------------------------------
// §4 A constant factor in the gradient (the MSE's 2, the mean's 1/BD): Adam
// hides it, the gradient check does not.
// ---------------------------------------------------------------------------

/// A small non-square autoencoder and 64 random "images" of 12 pixels.
fn small_problem() -> (Architecture, Params, Array2<f32>) {
    let arch = Architecture::plain(12, vec![7, 5], 3);
    let params = Params::init(&arch, &mut StdRng::seed_from_u64(21));
    let data = Array2::random_using(
        (64, 12),
        Uniform::new(0.0f32, 1.0).unwrap(),
        &mut StdRng::seed_from_u64(22),
    );
    (arch, params, data)
}

/// The first `n` MNIST training images, scaled to [0, 1].
fn mnist_images(n: usize) -> Array2<f32> {
    let train = load_split("data/mnist".as_ref(), "train").expect("data/mnist");
    let mut x = Array2::zeros((n, train.pixels()));
    fill_batch(&train.images, &(0..n).collect::<Vec<_>>(), x.view_mut());
    x
}

/// How `train_scaled` updates the weights.
#[derive(Clone, Copy)]
enum Optimizer {
    /// Adam with learning rate 1e-3 and this ε.
    Adam { eps: f32 },
    /// Plain gradient descent, p ← p − lr·g.
    Sgd { lr: f32 },
}

/// Trains a 784-64-16-64-784 autoencoder for `steps` steps (batches of 50
/// cycling over `data`) with dL/dx̂ multiplied by `scale`; returns the losses
/// and the weights.
fn train_scaled(
    data: &Array2<f32>,
    scale: f32,
    optimizer: Optimizer,
    steps: usize,
) -> (Vec<f64>, Params) {
    let arch = Architecture::plain(784, vec![64], 16);
    let mut params = Params::init(&arch, &mut StdRng::seed_from_u64(21));
    let mut adam = Adam::new(&params, 1e-3);
    let mut ws = Workspace::new(&arch, 50);
    let mut grads = Params::zeros(&arch);
    let mut losses = Vec::new();
    for step in 0..steps {
        let start = (step * 50) % data.nrows();
        let batch = data.slice(s![start..start + 50, ..]).to_owned();
        let loss = loss_and_grads(
            &params,
            &arch,
            &mut ws,
            &mut grads,
            &batch,
            LossKind::Mse,
            scale,
        );
        losses.push(loss);
        match optimizer {
            Optimizer::Adam { eps } => {
                adam.eps = eps;
                adam.update(&mut params, &grads);
            }
            Optimizer::Sgd { lr } => {
                for (p, g) in params.layers.iter_mut().zip(&grads.layers) {
                    p.w.scaled_add(-lr, &g.w);
                    p.b.scaled_add(-lr, &g.b);
                }
            }
        }
    }
    (losses, params)
}

/// The largest relative difference between two loss curves.
fn curve_difference(a: &[f64], b: &[f64]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(a, b)| (a - b).abs() / a)
        .fold(0.0, f64::max)
}

#[test]
fn adam_hides_a_constant_factor_in_the_gradient_and_the_gradient_check_does_not() {
    let data = mnist_images(1000);
    let steps = 200;
    let adam = Optimizer::Adam { eps: 1e-8 };
    let (losses, _) = train_scaled(&data, 1.0, adam, steps);
    println!(
        "Adam, true gradient: loss {:.6} → {:.6} in {steps} steps",
        losses[0],
        losses[steps - 1]
    );
    assert!(losses[steps - 1] < 0.5 * losses[0], "it learns");

    // 0.5: the MSE gradient written with 1 instead of 2. 39200 = B·D: the
    // 1/(B·D) of the mean dropped. Adam's step m̂/(√v̂ + ε) does not see a
    // constant factor, except through ε.
    for scale in [0.5f32, 39200.0] {
        let (scaled, _) = train_scaled(&data, scale, adam, steps);
        let early = curve_difference(&losses[..20], &scaled[..20]);
        let all = curve_difference(&losses, &scaled);
        println!(
            "Adam, gradient × {scale}: loss curves differ by at most {early:.1e} (first 20 steps), {all:.1e} (all {steps}); final loss {:.6}",
            scaled[steps - 1]
        );
        assert!(all < 2e-2, "the curves agree to about a percent");
    }
    // With ε out of the way (1e-30) the curves agree to float rounding: ×0.5 is
    // exact in binary floating point, and so are m/2, v/4 and √v/2, except where
    // (1 − β₂)·g² falls below f32's smallest normal number, 1.2e-38 (a gradient
    // of 1.9e-18 in decoder.2.weight at step 43 does).
    let no_eps = Optimizer::Adam { eps: 1e-30 };
    let (plain, _) = train_scaled(&data, 1.0, no_eps, steps);
    let (halved, _) = train_scaled(&data, 0.5, no_eps, steps);
    let difference = curve_difference(&plain, &halved);
    println!("Adam with ε = 1e-30, gradient × 0.5: loss curves differ by at most {difference:.1e}");
    assert!(difference < 1e-7);

    // Plain gradient descent takes half steps, and the curve shows it.
    let sgd = Optimizer::Sgd { lr: 1.0 };
    let (sgd_losses, _) = train_scaled(&data, 1.0, sgd, steps);
    let (sgd_halved, _) = train_scaled(&data, 0.5, sgd, steps);
    println!(
        "SGD lr 1, true gradient: final loss {:.6}; gradient × 0.5: {:.6}",
        sgd_losses[steps - 1],
        sgd_halved[steps - 1]
    );
    assert!(sgd_halved[steps - 1] > 1.01 * sgd_losses[steps - 1]);

    // The gradient check sees the factor at once: relative error 0.5.
    let (arch, params, toy) = small_problem();
    let rows = toy.nrows();
    let mut ws = Workspace::new(&arch, rows);
    let mut grads = Params::zeros(&arch);
    loss_and_grads(
        &params,
        &arch,
        &mut ws,
        &mut grads,
        &toy,
        LossKind::Mse,
        1.0,
    );
    let full = grads.clone();
    loss_and_grads(
        &params,
        &arch,
        &mut ws,
        &mut grads,
        &toy,
        LossKind::Mse,
        0.5,
    );
    let last = arch.layer_count() - 1;
    let mut state = params.clone();
    let numeric = numeric_gradient(
        &mut state,
        |p| p.layers[last].w.as_slice_mut().unwrap(),
        1e-2,
        |p| {
            let mut ws = Workspace::new(&arch, rows);
            ws.input_mut(rows).assign(&toy);
            ws.target.assign(&toy);
            forward(p, &arch, &mut ws, rows);
            loss_forward(ModelKind::Ae, LossKind::Mse, 1.0, &ws, rows).total
        },
    );
    let right = compare(full.layers[last].w.as_slice().unwrap(), &numeric).tensor_error;
    let halved = compare(grads.layers[last].w.as_slice().unwrap(), &numeric).tensor_error;
    println!("gradient check of decoder.4.weight: true gradient {right:.1e}, halved {halved:.3}");
    assert!(right < 1e-3);
    assert!((halved - 0.5).abs() < 1e-3);
}

// ---------------------------------------------------------------------------
// §3 Sigmoid and BCE kept apart: a saturated output has exactly zero gradient.
// ---------------------------------------------------------------------------

#[test]
fn a_sigmoid_rounded_to_one_stops_the_bce_gradient() {
    // The smallest f32 z with σ(z) == 1.0 (bisection on the f32 line).
    let (mut below, mut above) = (10.0f32, 30.0f32);
    while f32::from_bits(below.to_bits() + 1) < above {
        let middle = 0.5 * (below + above);
        if sigmoid(middle) == 1.0 {
            above = middle;
        } else {
            below = middle;
        }
    }
    println!(
        "sigmoid({below}) = {} < 1 and sigmoid({above}) = 1 in f32",
        sigmoid(below)
    );
    assert!(
        (above - 16.636).abs() < 0.01,
        "e^-z < 2^-24 from z = 24 ln 2"
    );

    // One image, target 0, output logit 20: as wrong as can be, and no gradient.
    let (arch, mut params, _) = tiny();
    params.layers[1].b[0] = 20.0;
    let x = array![[0.0f32, 0.0]];
    let mut ws = Workspace::new(&arch, 1);
    let mut grads = Params::zeros(&arch);
    let loss = loss_and_grads(&params, &arch, &mut ws, &mut grads, &x, LossKind::Bce, 1.0);
    assert_eq!(ws.outputs[2][[0, 0]], 1.0, "σ(20.1) rounds to 1");
    println!(
        "BCE {loss:.1} (the log is clamped at -100), dY = {}",
        ws.d_outputs[2][[0, 0]]
    );
    assert_eq!(ws.d_outputs[2][[0, 0]], 0.0, "x̂(1 − x̂) = 0 exactly");
    assert_eq!(grads.layers[1].b[0], 0.0);
    // The fused form, BCE-with-logits, would give dY = σ(y) − x = 1/(B·D) here.
}

// ---------------------------------------------------------------------------
// §2 Initial weights.
// ---------------------------------------------------------------------------

/// Trains the small problem for `steps` full-batch Adam steps from `params`.
fn train_from(params: &mut Params, arch: &Architecture, data: &Array2<f32>, steps: usize) -> f64 {
    let mut adam = Adam::new(params, 1e-2);
    let mut ws = Workspace::new(arch, data.nrows());
    let mut grads = Params::zeros(arch);
    let mut loss = 0.0;
    for _ in 0..steps {
        loss = loss_and_grads(params, arch, &mut ws, &mut grads, data, LossKind::Mse, 1.0);
        adam.update(params, &grads);
    }
    loss
}

#[test]
fn zero_or_constant_initialisation_never_breaks_the_symmetry() {
    let (arch, _, data) = small_problem();
    // All zeros: every hidden output is 0, so every dW = Aᵀ·dY and every
    // dA = dY·Wᵀ is 0; only the output bias learns (the mean image).
    let mut zeros = Params::zeros(&arch);
    let loss = train_from(&mut zeros, &arch, &data, 200);
    let last = arch.layer_count() - 1;
    for (l, layer) in zeros.layers.iter().enumerate() {
        assert!(layer.w.iter().all(|&w| w == 0.0), "layer {l} weights moved");
        if l != last {
            assert!(layer.b.iter().all(|&b| b == 0.0), "layer {l} bias moved");
        }
    }
    let mean = data.mean_axis(Axis(0)).unwrap();
    let variance = (&data - &mean).mapv(|v| v * v).mean().unwrap() as f64;
    println!("zeros: loss after 200 steps {loss:.6}, the mean image's MSE {variance:.6}");
    assert!((loss - variance).abs() < 1e-3);

    // All weights equal: every unit of a layer computes the same function and
    // gets the same gradient, so the units stay copies of each other.
    let mut constant = Params::zeros(&arch);
    for layer in &mut constant.layers {
        layer.w.fill(0.3);
        layer.b.fill(0.1);
    }
    train_from(&mut constant, &arch, &data, 200);
    for layer in &constant.layers[..last] {
        let first = layer.w.column(0).to_owned();
        for column in layer.w.columns() {
            assert!((&column - &first).iter().all(|d| d.abs() < 1e-6));
        }
    }
    let moved = (constant.layers[0].w[[0, 0]] - 0.3).abs();
    println!(
        "constant: the first layer's weights moved by {moved:.3} and stayed equal across units"
    );
    assert!(moved > 1e-3);
}

/// Root mean square of the values.
fn rms(a: ndarray::ArrayView2<f32>) -> f64 {
    (a.iter().map(|&v| (v as f64) * (v as f64)).sum::<f64>() / a.len() as f64).sqrt()
}

#[test]
fn pytorch_initialisation_shrinks_the_signal_and_he_keeps_it() {
    let test = load_split("data/mnist".as_ref(), "t10k").expect("data/mnist");
    let rows = 256;
    let mut x = Array2::zeros((rows, test.pixels()));
    fill_batch(&test.images, &(0..rows).collect::<Vec<_>>(), x.view_mut());
    let arch = Architecture::plain(784, vec![512, 256], 32);
    let pytorch = Params::init(&arch, &mut StdRng::seed_from_u64(0));
    let mut he = Params::zeros(&arch);
    let mut rng = StdRng::seed_from_u64(0);
    for layer in &mut he.layers {
        let std = (2.0 / layer.w.nrows() as f32).sqrt();
        layer.w = Array2::random_using(layer.w.dim(), Normal::new(0.0, std).unwrap(), &mut rng);
    }
    let mut table = vec![];
    for (name, params) in [("U(±1/√I) (PyTorch)", &pytorch), ("N(0, 2/I) (He)", &he)] {
        let mut ws = Workspace::for_inference(&arch, rows);
        ws.input_mut(rows).assign(&x);
        forward(params, &arch, &mut ws, rows);
        let values: Vec<f64> = ws.outputs.iter().map(|o| rms(o.view())).collect();
        let shown: Vec<String> = values.iter().map(|v| format!("{v:.3}")).collect();
        println!("{name:<20} RMS per layer output: {}", shown.join("  "));
        table.push(values);
    }
    // Output of the code layer (index 3): PyTorch's init shrinks it, He's does not.
    assert!(table[0][3] < 0.5 * table[0][0]);
    assert!(table[1][3] > 0.5 * table[1][0]);
}

// ---------------------------------------------------------------------------
// §4 Adam: a parameter whose gradient is always 0 never moves.
// ---------------------------------------------------------------------------

#[test]
fn weights_of_pixels_that_are_always_zero_never_move() {
    let train = load_split("data/mnist".as_ref(), "train").expect("data/mnist");
    let always_zero: Vec<usize> = (0..train.pixels())
        .filter(|&p| train.images.column(p).iter().all(|&v| v == 0))
        .collect();
    println!(
        "{} of {} pixels are 0 in all {} training images",
        always_zero.len(),
        train.pixels(),
        train.len()
    );
    assert!(!always_zero.is_empty());

    let arch = Architecture::plain(784, vec![16], 4);
    let mut params = Params::init(&arch, &mut StdRng::seed_from_u64(3));
    let initial = params.clone();
    let mut adam = Adam::new(&params, 1e-3);
    let mut ws = Workspace::new(&arch, 100);
    let mut grads = Params::zeros(&arch);
    let mut x = Array2::zeros((100, 784));
    for step in 0..20 {
        let indices: Vec<usize> = (step * 100..step * 100 + 100).collect();
        fill_batch(&train.images, &indices, x.view_mut());
        loss_and_grads(&params, &arch, &mut ws, &mut grads, &x, LossKind::Mse, 1.0);
        adam.update(&mut params, &grads);
    }
    for &p in &always_zero {
        assert_eq!(
            params.layers[0].w.row(p),
            initial.layers[0].w.row(p),
            "pixel {p}: dW = Xᵀ·dY has a zero row, and Adam's step is 0/(0 + ε) = 0"
        );
    }
    // The decoder still has to learn to draw 0 there: its output biases move.
    let last = arch.layer_count() - 1;
    assert!(always_zero
        .iter()
        .all(|&p| params.layers[last].b[p] != initial.layers[last].b[p]));
}

// ---------------------------------------------------------------------------
// §11 Priors over the codes: EM's closed forms, the forward process in closed
// form, and DDIM at η = 1 on every step being the ancestral sampler.
// ---------------------------------------------------------------------------

/// One component: EM's first M-step is already the answer, Σ = S + νI with S
/// the codes' covariance (divided by N) and ν = floor × their mean variance,
/// and the next E-step finds nothing to improve.
#[test]
fn em_with_one_component_is_the_fitted_gaussian_plus_the_floor() {
    let mut rng = StdRng::seed_from_u64(21);
    let xi = Array2::<f32>::random_using((3000, 3), StandardNormal, &mut rng);
    let mix = array![[1.0f32, 0.0, 0.0], [0.8, 0.5, 0.0], [-0.4, 0.3, 2.0]];
    let codes = xi.dot(&mix.t()) + &array![1.0f32, -2.0, 0.5];
    let floor = 0.05;
    let config = GmmConfig {
        components: 1,
        floor,
        ..GmmConfig::default()
    };
    let fit = gmm::fit(codes.view(), &config).expect("fits");
    let x = codes.mapv(f64::from);
    let mean = x.mean_axis(Axis(0)).unwrap();
    let centred = &x - &mean;
    let scatter = centred.t().dot(&centred) / x.nrows() as f64; // S
    let nu = floor * scatter.diag().mean().unwrap();
    let want = &scatter + &(Array2::<f64>::eye(3) * nu);
    let got = fit.gmm.covariances.index_axis(Axis(0), 0);
    let worst = (&got - &want).iter().fold(0.0f64, |m, d| m.max(d.abs()));
    println!(
        "K = 1: ν = {nu:.6}, max |Σ − (S + νI)| = {worst:.2e}, J/N by iteration {:?}",
        fit.objective
    );
    assert!(worst < 1e-9, "Σ = S + νI: {got} vs {want}");
    assert!((&fit.gmm.means.row(0) - &mean)
        .iter()
        .all(|d| d.abs() < 1e-9));
    assert!((fit.gmm.floor - nu).abs() < 1e-12);
    assert_eq!(fit.objective.len(), 2, "{:?}", fit.objective);
    assert!((fit.objective[1] - fit.objective[0]).abs() < 1e-12);
}

/// The cosine schedule: ᾱₜ = Π(1 − β_s) equals f(t)/f(0) wherever the cap
/// β ≤ 0.999 does not bind, which is every step but the last; and noising step
/// by step with xₜ = √αₜ·xₜ₋₁ + √βₜ·ξ lands on N(√ᾱₜ·x₀, 1 − ᾱₜ).
#[test]
fn the_forward_process_in_closed_form_matches_step_by_step_noising() {
    let schedule = NoiseSchedule::new(BetaSchedule::Cosine, STEPS);
    let f = |t: usize| {
        let angle = (t as f64 / STEPS as f64 + 0.008) / 1.008 * std::f64::consts::PI / 2.0;
        angle.cos().powi(2)
    };
    let mut product = 1.0;
    for t in 1..=STEPS {
        product *= 1.0 - schedule.beta(t);
        let alpha_bar = schedule.alpha_bar(t);
        assert!((alpha_bar - product).abs() <= 1e-12 * product, "t = {t}");
        if t < STEPS {
            assert!(schedule.beta(t) < 0.999, "the cap binds at t = {t}");
            let closed = f(t) / f(0);
            assert!(
                (alpha_bar - closed).abs() <= 1e-9 * closed,
                "t = {t}: ᾱ {alpha_bar} vs f(t)/f(0) {closed}"
            );
        }
    }
    assert_eq!(schedule.beta(STEPS), 0.999);
    for t in [1, 250, 500, 750, 999, 1000] {
        let a = schedule.alpha_bar(t);
        println!(
            "t = {t:>4}: ᾱ {a:.4e}  β {:.4e}  signal/noise ᾱ/(1 − ᾱ) {:.4e}",
            schedule.beta(t),
            a / (1.0 - a)
        );
    }
    println!("1/√ᾱ_T = {:.0}", 1.0 / schedule.alpha_bar(STEPS).sqrt());

    // 20,000 chains from x₀ = 1.5, noised one step at a time.
    let (x0, chains) = (1.5f64, 20_000);
    let mut rng = StdRng::seed_from_u64(4);
    let mut x = Array1::from_elem(chains, x0);
    for t in 1..=750 {
        let beta = schedule.beta(t);
        let noise = Array1::<f64>::random_using(chains, StandardNormal, &mut rng);
        x = x * (1.0 - beta).sqrt() + noise * beta.sqrt();
        if [100, 500, 750].contains(&t) {
            let a = schedule.alpha_bar(t);
            let mean = x.mean().unwrap();
            let variance = x.mapv(|v| (v - mean).powi(2)).mean().unwrap();
            println!(
                "t = {t}: chains mean {mean:.4} variance {variance:.4}; closed form {:.4} and {:.4}",
                a.sqrt() * x0,
                1.0 - a
            );
            assert!((mean - a.sqrt() * x0).abs() < 0.03, "t = {t}: mean {mean}");
            assert!(
                (variance - (1.0 - a)).abs() < 0.03,
                "t = {t}: variance {variance}"
            );
        }
    }
}

/// With η = 1 and S = T, DDIM's step is the ancestral step: σ² = β̃ₜ and the
/// two means are the same function of xₜ and x̂₀ (worked in the walkthrough).
/// Both samplers draw the same z in the same order, so from the same seed they
/// give the same codes, x̂₀ clipping included; η = 0 uses no randomness.
#[test]
fn ddim_with_eta_one_on_every_step_is_the_ancestral_sampler() {
    let steps = 25;
    let schedule = NoiseSchedule::new(BetaSchedule::Cosine, steps);
    let net = EpsNet::init(
        3,
        4,
        &[8, 6],
        Nonlinearity::Silu,
        &mut StdRng::seed_from_u64(2),
    );
    let noise = Array2::<f32>::random_using((6, 3), StandardNormal, &mut StdRng::seed_from_u64(3));
    let (low, high) = (Array1::from_elem(3, -1.2f32), Array1::from_elem(3, 1.2f32));
    let bounds = Some((low.view(), high.view()));
    let seeded = |seed: u64| StdRng::seed_from_u64(seed);
    let ancestral = sample_ancestral(&net, &schedule, noise.view(), bounds, &mut seeded(9));
    let ddim = sample_ddim(
        &net,
        &schedule,
        noise.view(),
        steps,
        1.0,
        bounds,
        &mut seeded(9),
    );
    let other = sample_ancestral(&net, &schedule, noise.view(), bounds, &mut seeded(10));
    let largest =
        |a: &Array2<f32>, b: &Array2<f32>| (a - b).iter().fold(0.0f32, |m, d| m.max(d.abs()));
    println!(
        "T = {steps}: max |DDIM(S = T, η = 1) − ancestral| = {:.2e}; another seed moves the codes by {:.2e}",
        largest(&ddim, &ancestral),
        largest(&other, &ancestral)
    );
    assert!(largest(&ddim, &ancestral) < 1e-4);
    assert!(
        largest(&other, &ancestral) > 1e-2,
        "the comparison can fail"
    );
    let deterministic = |seed| {
        sample_ddim(
            &net,
            &schedule,
            noise.view(),
            5,
            0.0,
            bounds,
            &mut seeded(seed),
        )
    };
    assert_eq!(deterministic(1), deterministic(2), "η = 0 draws nothing");
}

/// The default ε-network, 32-512-512-512-32 with a 32-wide time embedding
/// read by every layer: its parameter count.
#[test]
fn the_default_eps_network_has_608800_parameters() {
    let config = TrainConfig::default();
    let net = EpsNet::init(
        32,
        config.embed,
        &config.hidden,
        config.nonlinearity,
        &mut StdRng::seed_from_u64(0),
    );
    let shapes: Vec<(usize, usize)> = net.params.layers.iter().map(|l| l.w.dim()).collect();
    println!(
        "ε-network {}: W shapes {shapes:?}, {} parameters",
        net.describe(),
        net.params.len()
    );
    assert_eq!(shapes, vec![(64, 512), (544, 512), (544, 512), (544, 32)]);
    assert_eq!(net.params.len(), 608_800);
}

// §10: β, active units and the sweep's script.

/// Runs the binary with `args`; returns (success, stdout, stderr).
fn run_binary(args: &[&str]) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_mnist-autoencoder"))
        .args(args)
        .output()
        .expect("the binary runs");
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    (
        output.status.success(),
        text(&output.stdout),
        text(&output.stderr),
    )
}

/// §10's `--beta` and `eval --noise`: a tiny VAE trained with β = 2 reports test_loss =
/// recon + 2·KL, the unweighted negative ELBO beside it, the two terms per
/// epoch, and code_usage, whose per-dimension KL adds up to test_kl (the KL
/// does not depend on ε); the run prints its active units. `--beta` out of
/// range, or on a plain autoencoder, is one error naming the flag; `eval
/// --noise` prints the MSE of noisy inputs' outputs against the clean images,
/// and `eval --anomaly-data` scores another folder's images against them.
#[test]
fn beta_weights_the_kl_term_and_the_run_counts_active_units() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, out) = (tmp.path().join("data"), tmp.path().join("out"));
    crate::support::write_dataset(&data, 120, 40, |i| (i % 10) as u8, 0);
    let quick = |extra: &[&str]| {
        let mut args = vec![
            "train",
            "--model",
            "vae",
            "--epochs",
            "2",
            "--hidden",
            "16",
            "--latent",
            "4",
            "--batch-size",
            "32",
            "--val-size",
            "20",
            "--threads",
            "1",
            "--no-figures",
            "--data-dir",
            data.to_str().unwrap(),
            "--out-dir",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        run_binary(&args)
    };
    let (ok, stdout, stderr) = quick(&["--beta", "2"]);
    assert!(ok, "{stderr}");
    assert!(
        stdout.contains("KL weight β 2") && stdout.contains("active units "),
        "{stdout}"
    );
    let text = std::fs::read_to_string(out.join("summary.json")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&text).unwrap();
    let number = |pointer: &str| summary.pointer(pointer).and_then(|v| v.as_f64()).unwrap();
    let (recon, kl) = (number("/test_recon"), number("/test_kl"));
    println!(
        "β = 2: test recon {recon:.4} + KL {kl:.4}, loss {:.4}",
        number("/test_loss")
    );
    assert!((number("/test_loss") - (recon + 2.0 * kl)).abs() < 1e-9 * recon.abs().max(1.0));
    assert!((number("/test_neg_elbo") - (recon + kl)).abs() < 1e-9 * recon.abs().max(1.0));
    assert_eq!(summary["elbo_per_epoch"].as_array().unwrap().len(), 2);
    let per_dimension: Vec<f64> = summary["code_usage"]["kl_per_dimension"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(per_dimension.len(), 4);
    let sum: f64 = per_dimension.iter().sum();
    assert!(
        (sum - kl).abs() < 1e-5 * kl.max(1e-3),
        "Σ KL_u {sum} against test_kl {kl}"
    );
    assert!(number("/code_usage/active_units") <= 4.0);

    // §10's denoising table: `eval --noise F` on the same model.
    let model = out.join("model.safetensors");
    let eval = |noise: &str| {
        let data = data.to_str().unwrap();
        run_binary(&[
            "eval",
            "--model",
            model.to_str().unwrap(),
            "--data-dir",
            data,
            "--noise",
            noise,
        ])
    };
    let (ok, stdout, stderr) = eval("0.3");
    assert!(
        ok && stdout.contains("with noise σ 0.3 added to the inputs"),
        "{stdout}{stderr}"
    );
    let (ok, _, stderr) = eval("-1");
    assert!(
        !ok && stderr.contains("--noise") && !stderr.contains("panicked"),
        "{stderr}"
    );
    anomaly_detection_runs_and_refuses_bad_folders(tmp.path(), &model, &data);

    for (flags, needle) in [
        (&["--beta", "-1"][..], "--beta"),
        (&["--beta", "nan"][..], "--beta"),
        (&["--model", "ae", "--beta", "4"][..], "--beta"),
    ] {
        let (ok, _, stderr) = quick(flags);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
        assert!(
            !ok && errors.len() == 1 && errors[0].contains(needle),
            "{flags:?}: {stderr}"
        );
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

/// §10's `eval --anomaly-data DIR --anomaly-figure FILE.png` on the tiny VAE of
/// `data`, with DIR the same test images inverted (255 − p): both scores' AUC
/// lines in [0, 1] and the histogram PNG; a missing folder, images of another
/// size, and the figure without the data are one error naming the flag.
fn anomaly_detection_runs_and_refuses_bad_folders(tmp: &Path, model: &Path, data: &Path) {
    use mnist_autoencoder::data::idx::{encode_idx, read_idx_prefix};
    let inverted = tmp.join("inverted");
    let wrong_size = tmp.join("five-by-five");
    for dir in [&inverted, &wrong_size] {
        std::fs::create_dir_all(dir).unwrap();
    }
    for kind in ["images-idx3", "labels-idx1"] {
        let name = format!("t10k-{kind}-ubyte");
        let idx = read_idx_prefix(&data.join(&name), None).unwrap();
        let bytes: Vec<u8> = match kind {
            "images-idx3" => idx.data.iter().map(|p| 255 - p).collect(),
            _ => idx.data.clone(),
        };
        std::fs::write(inverted.join(&name), encode_idx(&idx.dims, &bytes)).unwrap();
        let dims = if kind == "images-idx3" {
            vec![3, 5, 5]
        } else {
            vec![3]
        };
        let zeros = vec![0u8; dims.iter().product()];
        std::fs::write(wrong_size.join(&name), encode_idx(&dims, &zeros)).unwrap();
    }
    let figure = tmp.join("anomaly_errors.png");
    let eval = |extra: &[&str]| {
        let mut args = vec!["eval", "--model", model.to_str().unwrap()];
        args.extend(["--data-dir", data.to_str().unwrap()]);
        args.extend(extra);
        run_binary(&args)
    };
    let (ok, stdout, stderr) = eval(&[
        "--anomaly-data",
        inverted.to_str().unwrap(),
        "--anomaly-figure",
        figure.to_str().unwrap(),
    ]);
    assert!(ok, "{stderr}");
    let aucs: Vec<f64> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("anomaly_auc "))
        .filter_map(|rest| rest.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(
        aucs.len(),
        2,
        "reconstruction MSE and negative ELBO: {stdout}"
    );
    assert!(aucs.iter().all(|a| (0.0..=1.0).contains(a)), "{stdout}");
    assert!(std::fs::read(&figure).unwrap().starts_with(b"\x89PNG"));
    let missing = tmp.join("no-such-folder");
    for (flags, needle) in [
        (
            ["--anomaly-data", missing.to_str().unwrap()],
            "--anomaly-data",
        ),
        (["--anomaly-data", wrong_size.to_str().unwrap()], "are 5×5"),
        (
            ["--anomaly-figure", figure.to_str().unwrap()],
            "--anomaly-figure",
        ),
    ] {
        let (ok, _, stderr) = eval(&flags);
        let errors: Vec<&str> = stderr.lines().filter(|l| l.starts_with("error")).collect();
        assert!(
            !ok && errors.len() == 1 && errors[0].contains(needle),
            "{stderr}"
        );
    }
}

/// `script` is valid bash, and every flag its `train` line (the one that
/// contains `needle`) passes exists in `train --help`, `expected` among them
/// (nothing is trained).
fn script_parses_and_its_train_flags_exist(script: &str, needle: &str, expected: &[&str]) {
    let status = std::process::Command::new("bash")
        .args(["-n", script])
        .status()
        .unwrap();
    assert!(status.success(), "bash -n {script}");
    let text = std::fs::read_to_string(script).unwrap();
    let train = text.replace("\\\n", " ");
    let line = train
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{script} has no line with {needle}"));
    let (ok, help, _) = run_binary(&["train", "--help"]);
    assert!(ok);
    let flags: Vec<&str> = line
        .split_whitespace()
        .filter(|w| w.starts_with("--"))
        .collect();
    for flag in expected {
        assert!(flags.contains(flag), "{script} sets {flag}: {line}");
    }
    for flag in flags {
        let listed = help.contains(&format!("{flag} ")) || help.contains(&format!("{flag}\n"));
        assert!(listed, "train has no flag {flag}");
    }
}

/// scripts/beta-sweep.sh, which made §10's β table, and
/// scripts/denoising-curve.sh, which made its denoising figure: valid bash
/// whose `train` flags exist, and the examples they run are there.
#[test]
fn the_sweep_scripts_parse_and_their_train_flags_exist() {
    let flags = ["--hidden", "--latent", "--epochs", "--lr", "--beta"];
    script_parses_and_its_train_flags_exist("scripts/beta-sweep.sh", " train --model vae", &flags);
    assert!(std::path::Path::new("examples/beta_sweep.rs").is_file());
    let flags = ["--noise", "--out-dir"];
    script_parses_and_its_train_flags_exist("scripts/denoising-curve.sh", " train --noise", &flags);
    assert!(std::path::Path::new("examples/denoising_curve.rs").is_file());
}

/// The two figures §10 adds, drawn by the crate's plotting code from plain
/// numbers: kl_per_dimension.png's bars and beta_sweep.png's panels.
#[test]
fn the_kl_bars_and_the_sweep_panels_are_drawn() {
    use mnist_autoencoder::viz::bars::{draw_bars, Bar};
    use mnist_autoencoder::viz::sweep::{draw_sweep, Panel};
    let tmp = tempfile::tempdir().unwrap();
    let bars: Vec<Bar> = [(3.1, true), (1.2, true), (0.004, false)]
        .iter()
        .enumerate()
        .map(|(u, &(value, highlighted))| Bar {
            label: format!("z{}", u + 1),
            value,
            highlighted,
        })
        .collect();
    let legend = ["active".to_string(), "inactive".to_string()];
    let kl = tmp.path().join("kl_per_dimension.png");
    draw_bars(&kl, "KL per code dimension", "KL (nats)", &bars, &legend).unwrap();
    let sweep = tmp.path().join("beta_sweep.png");
    let panels = [
        Panel {
            name: "KL (nats)".into(),
            values: vec![30.0, 25.0, 18.0],
        },
        Panel {
            name: "active units".into(),
            values: vec![20.0, 16.0, 9.0],
        },
    ];
    draw_sweep(&sweep, "β sweep", "β", &[0.5, 1.0, 2.0], &panels).unwrap();
    for path in [kl, sweep] {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 2000,
            "{}",
            path.display()
        );
    }
}
