//! A latent diffusion prior: a DDPM (Ho et al., 2020) over the autoencoder's
//! standardised codes, sampled ancestrally or by DDIM (Song et al., 2021).
//!
//! Shapes: N = codes, B = batch size, Z = code width (32), E = time-embedding
//! width, H = hidden width, T = diffusion steps (1000), S = DDIM steps (~50).
//!
//! **Forward process** (fixed, no parameters). With a schedule β₁ … β_T,
//! αₜ = 1 − βₜ and ᾱₜ = Π_{s≤t} α_s, noise is added in closed form:
//! ```text
//! q(xₜ | x₀) = N(√ᾱₜ·x₀, (1 − ᾱₜ)·I)      i.e.  xₜ = √ᾱₜ·x₀ + √(1 − ᾱₜ)·ε,  ε ~ N(0, I)
//! ```
//! **Training.** An MLP ε̂_θ(xₜ, t) learns to say which noise was added
//! (predicting ε is denoising score matching: ∇ log q(xₜ) ≈ −ε̂/√(1 − ᾱₜ)):
//! ```text
//! input     A₀ = xₜ                                (B, Z)
//! hidden    Aₗ₊₁ = f([Aₗ, emb(t)]·Wₗ + bₗ)          f = SiLU or ReLU, width H
//! output    ε̂ = [A_L, emb(t)]·W_L + b_L            (B, Z)
//! loss      L = 1/(B·Z) Σ (ε̂ − ε)²                so  dL/dε̂ = 2(ε̂ − ε)/(B·Z)
//! ```
//! with t drawn uniformly from 1 … T and ε from N(0, I) afresh for every row.
//! emb(t) (B, E) is the sinusoidal embedding of the Transformer
//! ([`time_embedding`]), fed to every layer, not the first alone: with it at
//! the input only, 20 epochs reached score 7.33 (see the measurements in
//! examples/diffusion_quality.rs).
//! Adam updates θ ([`crate::optim::Adam`], the same code as the autoencoder's,
//! since the ε-network's tensors are a [`Params`]); an exponential moving
//! average of θ is what samples.
//!
//! **Sampling, ancestral** ([`sample_ancestral`], T network calls): from
//! x_T ~ N(0, I), for t = T … 1,
//! ```text
//! xₜ₋₁ = 1/√αₜ · (xₜ − βₜ/√(1 − ᾱₜ) · ε̂(xₜ, t)) + σₜ·z,   σₜ² = β̃ₜ = βₜ·(1 − ᾱₜ₋₁)/(1 − ᾱₜ),  z ~ N(0, I)
//! ```
//! **Sampling, DDIM** ([`sample_ddim`], S network calls): on S of the T steps,
//! τ_S = T > … > τ₁ > τ₀ = 0, estimate x₀ and move to the earlier step:
//! ```text
//! x̂₀ = (xₜ − √(1 − ᾱₜ)·ε̂) / √ᾱₜ
//! xₛ = √ᾱₛ·x̂₀ + √(1 − ᾱₛ − σ²)·ε̂ + σ·z,   σ = η·√((1 − ᾱₛ)/(1 − ᾱₜ))·√(1 − ᾱₜ/ᾱₛ)
//! ```
//! η = 0 is deterministic; η = 1 with S = T is the ancestral sampler above.
//! Both samplers clip x̂₀ to the box of the training data (per dimension): at
//! t near T, ᾱₜ is near 0 (2·10⁻⁹ at T for the cosine schedule) and x̂₀
//! multiplies the network's error by 1/√ᾱₜ; unclipped, a DDIM step from T
//! to T − 20 blew the samples up (score 5.4, fd 129 after 20 epochs).

use std::f64::consts::PI;

use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, ArrayViewMut2, Axis, Zip};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::seq::SliceRandom;
use ndarray_rand::rand::{Rng, SeedableRng};
use ndarray_rand::rand_distr::{StandardNormal, Uniform};
use ndarray_rand::RandomExt;

use crate::model::{Dense, Params};
use crate::nn::loss::{mse_backward, mse_forward};
use crate::nn::silu::{silu_backward, silu_forward};
use crate::nn::{
    activation_backward, activation_forward, dense_backward, dense_forward, Activation,
};
use crate::optim::Adam;

/// T, the number of diffusion steps.
pub const STEPS: usize = 1000;
/// Rows per network call when sampling (bounds the workspace's memory).
const SAMPLE_CHUNK: usize = 1000;

/// How β grows from t = 1 to T.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BetaSchedule {
    /// βₜ from 10⁻⁴ to 0.02 evenly (Ho et al., 2020).
    Linear,
    /// ᾱₜ = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2), s = 0.008, βₜ ≤ 0.999
    /// (Nichol & Dhariwal, 2021): less of the schedule spent on near-pure noise.
    Cosine,
}

impl BetaSchedule {
    /// Its name in a prior file's metadata.
    pub fn name(self) -> &'static str {
        match self {
            BetaSchedule::Linear => "linear",
            BetaSchedule::Cosine => "cosine",
        }
    }

    /// The schedule called `name`.
    pub fn from_name(name: &str) -> Result<BetaSchedule, String> {
        [BetaSchedule::Linear, BetaSchedule::Cosine]
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| format!("unknown schedule '{name}' (expected linear or cosine)"))
    }
}

/// β and ᾱ for t = 1 … T, stored at index t − 1.
#[derive(Debug, Clone, PartialEq)]
pub struct NoiseSchedule {
    /// The schedule's shape.
    pub kind: BetaSchedule,
    /// (T) βₜ.
    pub betas: Vec<f64>,
    /// (T) ᾱₜ = Π_{s≤t} (1 − β_s).
    pub alpha_bars: Vec<f64>,
}

impl NoiseSchedule {
    /// The schedule `kind` over `steps` (T) steps.
    pub fn new(kind: BetaSchedule, steps: usize) -> NoiseSchedule {
        assert!(steps >= 2, "NoiseSchedule: need at least 2 steps");
        let betas: Vec<f64> = match kind {
            BetaSchedule::Linear => (0..steps)
                .map(|i| 1e-4 + (0.02 - 1e-4) * i as f64 / (steps - 1) as f64)
                .collect(),
            BetaSchedule::Cosine => {
                let f = |t: usize| {
                    let angle = (t as f64 / steps as f64 + 0.008) / 1.008 * PI / 2.0;
                    angle.cos().powi(2)
                };
                (1..=steps)
                    .map(|t| (1.0 - f(t) / f(t - 1)).min(0.999))
                    .collect()
            }
        };
        let alpha_bars = betas
            .iter()
            .scan(1.0, |product, &beta| {
                *product *= 1.0 - beta;
                Some(*product)
            })
            .collect();
        NoiseSchedule {
            kind,
            betas,
            alpha_bars,
        }
    }

    /// T.
    pub fn steps(&self) -> usize {
        self.betas.len()
    }

    /// ᾱₜ for t = 0 … T (ᾱ₀ = 1: no noise).
    pub fn alpha_bar(&self, t: usize) -> f64 {
        if t == 0 {
            1.0
        } else {
            self.alpha_bars[t - 1]
        }
    }

    /// βₜ for t = 1 … T.
    pub fn beta(&self, t: usize) -> f64 {
        self.betas[t - 1]
    }
}

/// The fastest frequency of [`time_embedding`]: a period of 20 steps (a DDIM step of 50).
const FASTEST: f64 = 2.0 * PI / 20.0;
/// The slowest: a quarter period over the T = 1000 steps.
const SLOWEST: f64 = PI / 2.0 / STEPS as f64;

/// The sinusoidal embedding of steps `t` into `out` (B, E), E even:
/// ```text
/// out[n, k] = sin(tₙ·ωₖ),  out[n, E/2 + k] = cos(tₙ·ωₖ),  k < E/2
/// ωₖ from 2π/20 (a period of 20 steps) down to π/(2T) (a quarter period over T), geometrically
/// ```
/// Nearby steps get nearby vectors, and any two steps a DDIM step apart
/// differ. The Transformer's frequencies, ωₖ = 10000^(−k/(E/2)), start at 1
/// radian per step: sin(t) of an integer t is noise to a small MLP, and on
/// the 2-D mixture of the tests they left 6-8% of the samples between the
/// modes where these leave 2-6%. It has no parameters.
pub fn time_embedding(mut out: ArrayViewMut2<f32>, t: &[usize]) {
    assert_eq!(out.nrows(), t.len(), "time_embedding: one step per row");
    let half = out.ncols() / 2;
    assert_eq!(out.ncols(), 2 * half, "time_embedding: E must be even");
    let omegas = time_frequencies(half);
    for (mut row, &step) in out.rows_mut().into_iter().zip(t) {
        for (k, omega) in omegas.iter().enumerate() {
            let angle = step as f64 * omega;
            row[k] = angle.sin() as f32;
            row[half + k] = angle.cos() as f32;
        }
    }
}

/// ωₖ of [`time_embedding`] for k < `half` (E/2): from 2π/20 down to π/(2T),
/// geometrically (the report's explorer embeds them for its own sampler).
pub fn time_frequencies(half: usize) -> Vec<f64> {
    (0..half)
        .map(|k| FASTEST * (SLOWEST / FASTEST).powf(k as f64 / (half.max(2) - 1) as f64))
        .collect()
}

/// The hidden layers' activation f.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nonlinearity {
    Relu,
    /// z·σ(z) ([`crate::nn::silu`]).
    Silu,
}

impl Nonlinearity {
    /// Its name in a prior file's metadata.
    pub fn name(self) -> &'static str {
        match self {
            Nonlinearity::Relu => "relu",
            Nonlinearity::Silu => "silu",
        }
    }

    /// The nonlinearity called `name`.
    pub fn from_name(name: &str) -> Result<Nonlinearity, String> {
        [Nonlinearity::Relu, Nonlinearity::Silu]
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| format!("unknown nonlinearity '{name}' (expected relu or silu)"))
    }
}

/// The ε-network: dense layers Z → H → … → H → Z, every one of them also
/// reading the time embedding: layer l's input is `Xₗ = [Aₗ, emb(t)]`.
#[derive(Debug, Clone, PartialEq)]
pub struct EpsNet {
    /// `layers[l].w` (wₗ + E, Oₗ), `layers[l].b` (Oₗ), wₗ = the width of Aₗ:
    /// w₀ = Z, wₗ = Oₗ₋₁; the last O = Z.
    pub params: Params,
    /// Z, the width of the codes.
    pub latent: usize,
    /// E, the width of the time embedding.
    pub embed: usize,
    pub nonlinearity: Nonlinearity,
}

impl EpsNet {
    /// PyTorch's `nn.Linear` initialisation, U(−1/√I, 1/√I), from `rng`.
    /// hidden: the widths H of the hidden layers (at least one).
    pub fn init(
        latent: usize,
        embed: usize,
        hidden: &[usize],
        nonlinearity: Nonlinearity,
        rng: &mut impl Rng,
    ) -> EpsNet {
        assert!(!hidden.is_empty(), "EpsNet: need a hidden layer");
        let mut widths = vec![latent];
        widths.extend_from_slice(hidden);
        widths.push(latent);
        let layers = widths
            .windows(2)
            .map(|pair| {
                let inputs = pair[0] + embed;
                let bound = 1.0 / (inputs as f32).sqrt();
                let uniform = Uniform::new_inclusive(-bound, bound).expect("bound is positive");
                Dense {
                    w: Array2::random_using((inputs, pair[1]), uniform, rng),
                    b: Array1::random_using(pair[1], uniform, rng),
                }
            })
            .collect();
        EpsNet {
            params: Params { layers },
            latent,
            embed,
            nonlinearity,
        }
    }

    /// Number of dense layers.
    pub fn layer_count(&self) -> usize {
        self.params.layers.len()
    }

    /// `Z-H-…-H-Z (+E)`, e.g. `32-512-512-512-32 (+32)`.
    pub fn describe(&self) -> String {
        let mut widths = vec![self.latent];
        widths.extend(self.params.layers.iter().map(|l| l.w.ncols()));
        let widths: Vec<String> = widths.iter().map(|w| w.to_string()).collect();
        format!("{} (+{})", widths.join("-"), self.embed)
    }

    /// wₗ, the width of Aₗ in layer l's input `[Aₗ, emb(t)]`.
    fn width(&self, l: usize) -> usize {
        self.params.layers[l].w.nrows() - self.embed
    }
}

/// The buffers of one forward and backward pass of the ε-network for up to
/// `capacity` rows, allocated once.
#[derive(Debug, Clone)]
pub struct EpsWorkspace {
    /// Per layer l: (B, wₗ + E) its input Xₗ = [Aₗ, emb(t)]: A₀ = xₜ, Aₗ₊₁ = f(Zₗ).
    pub inputs: Vec<Array2<f32>>,
    /// Per layer l: (B, Oₗ) the pre-activation Zₗ = Xₗ·Wₗ + bₗ; the last is ε̂.
    pub pre: Vec<Array2<f32>>,
    /// Per layer l: (B, Oₗ) dL/dZₗ.
    pub grad: Vec<Array2<f32>>,
    /// Per layer l: (B, wₗ + E) dL/dXₗ (the first layer's only when asked for).
    pub d_inputs: Vec<Array2<f32>>,
    /// (B, Z) the noise ε that the loss compares ε̂ with.
    pub noise: Array2<f32>,
    /// B, the most rows a pass can take.
    pub capacity: usize,
}

impl EpsWorkspace {
    /// Buffers for `net` and up to `capacity` rows.
    pub fn new(net: &EpsNet, capacity: usize) -> EpsWorkspace {
        let layers = &net.params.layers;
        let zeros = |width: usize| Array2::zeros((capacity, width));
        EpsWorkspace {
            inputs: layers.iter().map(|l| zeros(l.w.nrows())).collect(),
            pre: layers.iter().map(|l| zeros(l.w.ncols())).collect(),
            grad: layers.iter().map(|l| zeros(l.w.ncols())).collect(),
            d_inputs: layers.iter().map(|l| zeros(l.w.nrows())).collect(),
            noise: zeros(net.latent),
            capacity,
        }
    }

    /// ε̂ of the last forward pass: (rows, Z).
    pub fn prediction(&self, rows: usize) -> ArrayView2<'_, f32> {
        self.pre[self.pre.len() - 1].slice(s![..rows, ..])
    }

    /// dL/dxₜ of the last backward pass with `input_gradient`: (rows, Z).
    pub fn x_gradient(&self, rows: usize, latent: usize) -> ArrayView2<'_, f32> {
        self.d_inputs[0].slice(s![..rows, ..latent])
    }

    /// dL/d emb(t), summed over the layers that read it: (rows, E).
    pub fn embedding_gradient(&self, rows: usize, embed: usize) -> Array2<f32> {
        let mut sum = Array2::zeros((rows, embed));
        for d in &self.d_inputs {
            sum += &d.slice(s![..rows, d.ncols() - embed..]);
        }
        sum
    }
}

/// Writes emb(t) into the last E columns of every layer's input. t: rows steps.
fn set_embedding(net: &EpsNet, ws: &mut EpsWorkspace, t: &[usize]) {
    let rows = t.len();
    let (first, rest) = ws.inputs.split_at_mut(1);
    let latent = net.latent;
    time_embedding(first[0].slice_mut(s![..rows, latent..]), t);
    let embedding = first[0].slice(s![..rows, latent..]);
    for (l, input) in rest.iter_mut().enumerate() {
        let w = net.width(l + 1);
        input.slice_mut(s![..rows, w..]).assign(&embedding);
    }
}

/// Fills the input rows `[xₜ, emb(t)]`: x: (rows, Z); t: rows steps.
pub fn set_input(net: &EpsNet, ws: &mut EpsWorkspace, x: ArrayView2<f32>, t: &[usize]) {
    let (rows, latent) = x.dim();
    assert!(
        rows <= ws.capacity,
        "set_input: more rows than the workspace holds"
    );
    assert_eq!(t.len(), rows, "set_input: one step per row");
    ws.inputs[0].slice_mut(s![..rows, ..latent]).assign(&x);
    set_embedding(net, ws, t);
}

/// `ε̂ = net(xₜ, t)` for the first `rows` rows of the inputs set by
/// [`set_input`]; ε̂ lands in `ws.pre[L]` ([`EpsWorkspace::prediction`]).
pub fn eps_forward(net: &EpsNet, ws: &mut EpsWorkspace, rows: usize) {
    let last = net.layer_count() - 1;
    for (l, layer) in net.params.layers.iter().enumerate() {
        let x = ws.inputs[l].slice(s![..rows, ..]);
        let z = ws.pre[l].slice_mut(s![..rows, ..]);
        dense_forward(z, x, layer.w.view(), layer.b.view()); // Zₗ = Xₗ·Wₗ + bₗ   (B, Oₗ)
        if l < last {
            let z = ws.pre[l].slice(s![..rows, ..]);
            let width = z.ncols();
            let mut out = ws.inputs[l + 1].slice_mut(s![..rows, ..width]);
            match net.nonlinearity {
                Nonlinearity::Silu => silu_forward(out, z), // Aₗ₊₁ = Zₗ·σ(Zₗ)
                Nonlinearity::Relu => {
                    out.assign(&z);
                    activation_forward(Activation::Relu, out); // Aₗ₊₁ = max(Zₗ, 0)
                }
            }
        }
    }
}

/// Undoes [`eps_forward`]. On entry `ws.grad[L]` holds dL/dε̂ (rows, Z); on
/// return `grads` holds dL/dW and dL/db of every layer (overwritten), and
/// `ws.d_inputs[0]` dL/dX₀ if `input_gradient`.
///
/// Per layer, from the last: `dWₗ = Xₗᵀ·dZₗ`, `dbₗ = Σ_rows dZₗ`,
/// `dXₗ = dZₗ·Wₗᵀ` ([`crate::nn::dense`]), then with dAₗ = the first wₗ
/// columns of dXₗ, `dZₗ₋₁ = dAₗ ⊙ f'(Zₗ₋₁)`. The last E columns of each dXₗ
/// are the embedding's share; emb(t) has no parameters, so training drops them.
pub fn eps_backward(
    net: &EpsNet,
    ws: &mut EpsWorkspace,
    grads: &mut Params,
    rows: usize,
    input_gradient: bool,
) {
    let last = net.layer_count() - 1;
    for l in (0..=last).rev() {
        if l < last {
            // undoes Aₗ₊₁ = f(Zₗ): dZₗ = dAₗ₊₁ ⊙ f'(Zₗ)
            let width = ws.grad[l].ncols();
            let mut grad = ws.grad[l].slice_mut(s![..rows, ..]);
            grad.assign(&ws.d_inputs[l + 1].slice(s![..rows, ..width]));
            match net.nonlinearity {
                Nonlinearity::Silu => silu_backward(grad, ws.pre[l].slice(s![..rows, ..])),
                Nonlinearity::Relu => activation_backward(
                    Activation::Relu,
                    grad,
                    ws.inputs[l + 1].slice(s![..rows, ..width]),
                ),
            }
        }
        // undoes Zₗ = Xₗ·Wₗ + bₗ
        let dx = (l > 0 || input_gradient).then(|| ws.d_inputs[l].slice_mut(s![..rows, ..]));
        let (layer, d_layer) = (&net.params.layers[l], &mut grads.layers[l]);
        dense_backward(
            dx,
            d_layer.w.view_mut(),
            d_layer.b.view_mut(),
            ws.grad[l].slice(s![..rows, ..]),
            ws.inputs[l].slice(s![..rows, ..]),
            layer.w.view(),
        );
    }
}

/// The DDPM loss at given steps and noise, `L = 1/(B·Z) Σ (ε̂(xₜ, t) − ε)²` with
/// `xₜ = √ᾱₜ·x₀ + √(1 − ᾱₜ)·ε`; keeps ε in `ws.noise` for the backward pass.
///
/// x0: (B, Z) standardised codes; t: B steps in 1 … T; noise: (B, Z) ε.
pub fn ddpm_loss_forward(
    net: &EpsNet,
    schedule: &NoiseSchedule,
    ws: &mut EpsWorkspace,
    x0: ArrayView2<f32>,
    t: &[usize],
    noise: ArrayView2<f32>,
) -> f64 {
    let rows = x0.nrows();
    assert_eq!(
        x0.dim(),
        noise.dim(),
        "ddpm_loss_forward: x0 and ε differ in shape"
    );
    assert_eq!(
        x0.ncols(),
        net.latent,
        "ddpm_loss_forward: x0 is not Z wide"
    );
    assert_eq!(t.len(), rows, "ddpm_loss_forward: one step per row");
    let latent = net.latent;
    for (n, &step) in t.iter().enumerate() {
        let alpha_bar = schedule.alpha_bar(step);
        let (signal, spread) = (alpha_bar.sqrt() as f32, (1.0 - alpha_bar).sqrt() as f32);
        Zip::from(ws.inputs[0].slice_mut(s![n, ..latent]))
            .and(x0.row(n))
            .and(noise.row(n))
            .for_each(|x, &x0, &e| *x = signal * x0 + spread * e); // xₜ = √ᾱₜ·x₀ + √(1 − ᾱₜ)·ε
    }
    set_embedding(net, ws, t);
    ws.noise.slice_mut(s![..rows, ..]).assign(&noise);
    eps_forward(net, ws, rows);
    mse_forward(ws.prediction(rows), ws.noise.slice(s![..rows, ..]))
}

/// Undoes [`ddpm_loss_forward`]: `dL/dε̂ = 2(ε̂ − ε)/(B·Z)`, then
/// [`eps_backward`]. grads: overwritten with dL/dθ.
pub fn ddpm_loss_backward(net: &EpsNet, ws: &mut EpsWorkspace, grads: &mut Params, rows: usize) {
    let last = net.layer_count() - 1;
    let (prediction, noise) = (
        ws.pre[last].slice(s![..rows, ..]),
        ws.noise.slice(s![..rows, ..]),
    );
    mse_backward(ws.grad[last].slice_mut(s![..rows, ..]), prediction, noise);
    eps_backward(net, ws, grads, rows, false);
}

/// How the prior is trained.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainConfig {
    /// Hidden widths H of the ε-network.
    pub hidden: Vec<usize>,
    /// E, the time embedding's width (even).
    pub embed: usize,
    pub nonlinearity: Nonlinearity,
    pub schedule: BetaSchedule,
    /// Passes over the codes.
    pub epochs: usize,
    /// Rows per Adam step (the last partial batch of an epoch is dropped).
    pub batch: usize,
    /// Adam's learning rate at the start.
    pub lr: f32,
    /// Decay the learning rate linearly to 0 over training.
    pub lr_decay: bool,
    /// The moving average's decay per step (0: sample with the last weights).
    pub ema_decay: f32,
    pub seed: u64,
}

/// The best measured in the time there was (examples/diffusion_quality.rs,
/// run F): about 200 s on 2 busy threads, score 7.94 (DDIM 50) and 8.32
/// (ancestral); longer training was still improving.
impl Default for TrainConfig {
    fn default() -> TrainConfig {
        TrainConfig {
            hidden: vec![512, 512, 512],
            embed: 32,
            nonlinearity: Nonlinearity::Silu,
            schedule: BetaSchedule::Cosine,
            epochs: 60,
            batch: 128,
            lr: 2e-3,
            lr_decay: true,
            ema_decay: 0.999,
            seed: 0,
        }
    }
}

/// A trained prior: the ε-network (its moving average) and the standardisation
/// `x₀ = (code − mean) / std` that it was trained on.
#[derive(Debug, Clone, PartialEq)]
pub struct DiffusionPrior {
    pub net: EpsNet,
    pub schedule: NoiseSchedule,
    /// (Z) the codes' mean.
    pub mean: Array1<f32>,
    /// (Z) the codes' standard deviation.
    pub std: Array1<f32>,
    /// (Z) the smallest standardised training code, per dimension: x̂₀'s floor.
    pub low: Array1<f32>,
    /// (Z) the largest, x̂₀'s ceiling.
    pub high: Array1<f32>,
}

/// `ema ← d·ema + (1 − d)·θ`, for every tensor.
pub fn ema_update(ema: &mut Params, params: &Params, decay: f32) {
    for (e, p) in ema.slices_mut().into_iter().zip(params.slices()) {
        for (e, &p) in e.iter_mut().zip(p) {
            *e = decay * *e + (1.0 - decay) * p;
        }
    }
}

/// Trains the prior on `codes` (N, Z). `report(epoch, mean training loss)` is
/// called after every epoch. Deterministic for a given seed and thread count.
pub fn train(
    codes: ArrayView2<f32>,
    config: &TrainConfig,
    mut report: impl FnMut(usize, f64),
) -> DiffusionPrior {
    let (n, latent) = codes.dim();
    assert!(n >= config.batch, "train: fewer codes than one batch");
    let mean = codes.mean_axis(Axis(0)).expect("codes are not empty");
    let std = codes.std_axis(Axis(0), 0.0).mapv(|s| s.max(1e-6));
    let data = (&codes - &mean) / &std; // (N, Z) standardised
    let low = data.fold_axis(Axis(0), f32::INFINITY, |&a, &b| a.min(b));
    let high = data.fold_axis(Axis(0), f32::NEG_INFINITY, |&a, &b| a.max(b));
    let schedule = NoiseSchedule::new(config.schedule, STEPS);
    let mut rng = StdRng::seed_from_u64(config.seed);
    let mut net = EpsNet::init(
        latent,
        config.embed,
        &config.hidden,
        config.nonlinearity,
        &mut rng,
    );
    let mut grads = net.params.clone();
    let mut adam = Adam::new(&net.params, config.lr);
    let mut ema = net.params.clone();
    let mut ws = EpsWorkspace::new(&net, config.batch);
    let (mut x0, mut t) = (Array2::zeros((config.batch, latent)), vec![0; config.batch]);
    let steps_per_epoch = n / config.batch;
    let total = (config.epochs * steps_per_epoch) as f32;
    let mut order: Vec<usize> = (0..n).collect();
    for epoch in 1..=config.epochs {
        order.shuffle(&mut rng);
        let mut loss_sum = 0.0;
        for batch in order.chunks_exact(config.batch) {
            for (mut row, &i) in x0.rows_mut().into_iter().zip(batch) {
                row.assign(&data.row(i));
            }
            t.iter_mut().for_each(|t| *t = rng.random_range(1..=STEPS));
            let noise = Array2::<f32>::random_using(x0.dim(), StandardNormal, &mut rng);
            if config.lr_decay {
                adam.lr = config.lr * (1.0 - adam.step as f32 / total);
            }
            loss_sum += ddpm_loss_forward(&net, &schedule, &mut ws, x0.view(), &t, noise.view());
            ddpm_loss_backward(&net, &mut ws, &mut grads, config.batch);
            adam.update(&mut net.params, &grads);
            // Early on the average forgets faster: d = min(decay, (1 + k)/(10 + k)).
            let k = adam.step as f32;
            ema_update(
                &mut ema,
                &net.params,
                config.ema_decay.min((1.0 + k) / (10.0 + k)),
            );
        }
        report(epoch, loss_sum / steps_per_epoch as f64);
    }
    if config.ema_decay > 0.0 {
        net.params = ema;
    }
    DiffusionPrior {
        net,
        schedule,
        mean,
        std,
        low,
        high,
    }
}

/// ε̂(x, t) for every row of `x` (N, Z) at the one step `t`, into `out` (N, Z),
/// `ws.capacity` rows per call.
fn predict_noise(
    net: &EpsNet,
    ws: &mut EpsWorkspace,
    x: ArrayView2<f32>,
    t: usize,
    mut out: ArrayViewMut2<f32>,
) {
    let steps = vec![t; ws.capacity];
    for start in (0..x.nrows()).step_by(ws.capacity) {
        let rows = ws.capacity.min(x.nrows() - start);
        set_input(
            net,
            ws,
            x.slice(s![start..start + rows, ..]),
            &steps[..rows],
        );
        eps_forward(net, ws, rows);
        out.slice_mut(s![start..start + rows, ..])
            .assign(&ws.prediction(rows));
    }
}

/// Clips every row of x̂₀ (N, Z) to the box `[low, high]` (Z each), if given.
fn clip_rows(x0: &mut Array2<f32>, bounds: Option<(ArrayView1<f32>, ArrayView1<f32>)>) {
    if let Some((low, high)) = bounds {
        for mut row in x0.rows_mut() {
            Zip::from(&mut row)
                .and(&low)
                .and(&high)
                .for_each(|x, &lo, &hi| *x = x.clamp(lo, hi));
        }
    }
}

/// x̂₀ = (xₜ − √(1 − ᾱₜ)·ε̂)/√ᾱₜ for every row, clipped to `bounds`.
fn predict_x0(
    x: ArrayView2<f32>,
    eps: ArrayView2<f32>,
    alpha_bar: f64,
    bounds: Option<(ArrayView1<f32>, ArrayView1<f32>)>,
) -> Array2<f32> {
    let (scale, eps_scale) = (
        (1.0 / alpha_bar.sqrt()) as f32,
        ((1.0 - alpha_bar) / alpha_bar).sqrt() as f32,
    );
    let mut x0 = Array2::zeros(x.dim());
    Zip::from(&mut x0)
        .and(&x)
        .and(&eps)
        .for_each(|x0, &x, &e| *x0 = scale * x - eps_scale * e);
    clip_rows(&mut x0, bounds);
    x0
}

/// The ancestral DDPM sampler (module docs): T steps from `noise` = x_T (N, Z),
/// fresh z from `rng` at every step but the last. Returns x₀ (N, Z), standardised.
///
/// The mean is computed through x̂₀, as Ho et al.'s code does:
/// ```text
/// μₜ = √ᾱₜ₋₁·βₜ/(1 − ᾱₜ) · x̂₀ + √αₜ·(1 − ᾱₜ₋₁)/(1 − ᾱₜ) · xₜ
/// ```
/// which equals `1/√αₜ · (xₜ − βₜ/√(1 − ᾱₜ)·ε̂)` when x̂₀ is not clipped. Near
/// t = T, where ᾱₜ → 0, x̂₀ multiplies the network's error by 1/√ᾱₜ: `bounds`
/// (the training data's box, per dimension) keeps x̂₀ where data can be.
pub fn sample_ancestral(
    net: &EpsNet,
    schedule: &NoiseSchedule,
    noise: ArrayView2<f32>,
    bounds: Option<(ArrayView1<f32>, ArrayView1<f32>)>,
    rng: &mut impl Rng,
) -> Array2<f32> {
    sample_ancestral_visiting(net, schedule, noise, bounds, rng, |_, _| {})
}

/// [`sample_ancestral`], calling `visit(t, xₜ)` for t = T … 0 (x_T the noise,
/// x₀ the result): what diffusion.gif shows.
pub fn sample_ancestral_visiting(
    net: &EpsNet,
    schedule: &NoiseSchedule,
    noise: ArrayView2<f32>,
    bounds: Option<(ArrayView1<f32>, ArrayView1<f32>)>,
    rng: &mut impl Rng,
    mut visit: impl FnMut(usize, ArrayView2<f32>),
) -> Array2<f32> {
    let mut x = noise.to_owned();
    let mut eps = Array2::zeros(x.dim());
    let mut ws = EpsWorkspace::new(net, SAMPLE_CHUNK.min(x.nrows()).max(1));
    for t in (1..=schedule.steps()).rev() {
        visit(t, x.view());
        predict_noise(net, &mut ws, x.view(), t, eps.view_mut());
        let (beta, now, then) = (
            schedule.beta(t),
            schedule.alpha_bar(t),
            schedule.alpha_bar(t - 1),
        );
        let x0 = predict_x0(x.view(), eps.view(), now, bounds);
        let x0_weight = (then.sqrt() * beta / (1.0 - now)) as f32;
        let x_weight = ((1.0 - beta).sqrt() * (1.0 - then) / (1.0 - now)) as f32;
        Zip::from(&mut x)
            .and(&x0)
            .for_each(|x, &x0| *x = x0_weight * x0 + x_weight * *x); // xₜ₋₁ = μₜ
        if t > 1 {
            // + σₜ·z, σₜ² = β̃ₜ = βₜ·(1 − ᾱₜ₋₁)/(1 − ᾱₜ)
            let sigma = (beta * (1.0 - then) / (1.0 - now)).sqrt();
            let z = Array2::<f32>::random_using(x.dim(), StandardNormal, rng);
            x.scaled_add(sigma as f32, &z);
        }
    }
    visit(0, x.view());
    x
}

/// The S steps DDIM visits, from T down: τᵢ = round(i·T/S), i = S … 1 (then 0).
pub fn ddim_steps(total: usize, steps: usize) -> Vec<usize> {
    assert!((1..=total).contains(&steps), "ddim_steps: need 1 ≤ S ≤ T");
    (1..=steps)
        .rev()
        .map(|i| ((i * total) as f64 / steps as f64).round() as usize)
        .collect()
}

/// The DDIM sampler (module docs) with `steps` S network calls and stochasticity
/// `eta` η (0: deterministic, `rng` unused) from `noise` = x_T (N, Z), x̂₀
/// clipped to `bounds` (see [`sample_ancestral`]). Returns x₀ (N, Z), standardised.
pub fn sample_ddim(
    net: &EpsNet,
    schedule: &NoiseSchedule,
    noise: ArrayView2<f32>,
    steps: usize,
    eta: f64,
    bounds: Option<(ArrayView1<f32>, ArrayView1<f32>)>,
    rng: &mut impl Rng,
) -> Array2<f32> {
    let shape = noise.dim();
    let fresh = |_: usize| Array2::<f32>::random_using(shape, StandardNormal, &mut *rng);
    sample_ddim_with_noise(net, schedule, noise, steps, eta, bounds, fresh)
}

/// [`sample_ddim`] with its noise given: `step_noise(i)` is z (N, Z) of step i
/// (from 0, at τ_{S−i}), asked for only where σ > 0 (so never at the last
/// step, nor at all when η = 0). The report's explorer checks its own DDIM
/// sampler against this one with the same noise.
pub fn sample_ddim_with_noise(
    net: &EpsNet,
    schedule: &NoiseSchedule,
    noise: ArrayView2<f32>,
    steps: usize,
    eta: f64,
    bounds: Option<(ArrayView1<f32>, ArrayView1<f32>)>,
    mut step_noise: impl FnMut(usize) -> Array2<f32>,
) -> Array2<f32> {
    let mut x = noise.to_owned();
    let mut eps = Array2::zeros(x.dim());
    let mut ws = EpsWorkspace::new(net, SAMPLE_CHUNK.min(x.nrows()).max(1));
    let taus = ddim_steps(schedule.steps(), steps);
    for (i, &t) in taus.iter().enumerate() {
        let earlier = taus.get(i + 1).copied().unwrap_or(0);
        predict_noise(net, &mut ws, x.view(), t, eps.view_mut());
        let (now, then) = (schedule.alpha_bar(t), schedule.alpha_bar(earlier));
        let x0 = predict_x0(x.view(), eps.view(), now, bounds);
        if bounds.is_some() {
            // ε̂ consistent with the clipped x̂₀: ε̂ = (xₜ − √ᾱₜ·x̂₀)/√(1 − ᾱₜ)
            let (a, b) = (now.sqrt() as f32, (1.0 / (1.0 - now).sqrt()) as f32);
            Zip::from(&mut eps)
                .and(&x)
                .and(&x0)
                .for_each(|e, &x, &x0| *e = b * (x - a * x0));
        }
        let sigma = eta * ((1.0 - then) / (1.0 - now)).sqrt() * (1.0 - now / then).sqrt();
        let direction = (1.0 - then - sigma * sigma).max(0.0).sqrt();
        // xₛ = √ᾱₛ·x̂₀ + √(1 − ᾱₛ − σ²)·ε̂
        let (a, b) = (then.sqrt() as f32, direction as f32);
        Zip::from(&mut x)
            .and(&x0)
            .and(&eps)
            .for_each(|x, &x0, &e| *x = a * x0 + b * e);
        if sigma > 0.0 {
            let z = step_noise(i); // + σ·z
            assert_eq!(
                z.dim(),
                x.dim(),
                "sample_ddim: step noise of the wrong shape"
            );
            x.scaled_add(sigma as f32, &z);
        }
    }
    x
}

/// The walk from noise to codes that [`DiffusionPrior::sample`] takes (the
/// "sampler" of the diffusion papers; [`crate::model::Sampler`] is where codes come from).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Walk {
    /// T steps, [`sample_ancestral`].
    Ancestral,
    /// [`sample_ddim`] with S steps and η.
    Ddim { steps: usize, eta: f64 },
}

impl DiffusionPrior {
    /// Codes (N, Z) in the autoencoder's own units: a sampler run from
    /// `noise` = x_T (N, Z), then `code = mean + std ⊙ x₀`.
    pub fn sample(&self, noise: ArrayView2<f32>, sampler: Walk, rng: &mut impl Rng) -> Array2<f32> {
        let bounds = Some((self.low.view(), self.high.view()));
        let x0 = match sampler {
            Walk::Ancestral => sample_ancestral(&self.net, &self.schedule, noise, bounds, rng),
            Walk::Ddim { steps, eta } => {
                sample_ddim(&self.net, &self.schedule, noise, steps, eta, bounds, rng)
            }
        };
        x0 * &self.std + &self.mean
    }

    /// Codes (N, Z) from DDIM in `steps` S steps at `eta` η, from `noise` =
    /// x_T (N, Z) and the given `step_noise` (see [`sample_ddim_with_noise`]):
    /// the walk [`DiffusionPrior::sample`] takes, with every random number given.
    pub fn sample_ddim_with_noise(
        &self,
        noise: ArrayView2<f32>,
        steps: usize,
        eta: f64,
        step_noise: impl FnMut(usize) -> Array2<f32>,
    ) -> Array2<f32> {
        let bounds = Some((self.low.view(), self.high.view()));
        let x0 = sample_ddim_with_noise(
            &self.net,
            &self.schedule,
            noise,
            steps,
            eta,
            bounds,
            step_noise,
        );
        x0 * &self.std + &self.mean
    }

    /// The ancestral walk from `noise` = x_T (N, Z) as codes in the
    /// autoencoder's units, at t = T, T − every, …, 0: (t, codes (N, Z)).
    pub fn trajectory(
        &self,
        noise: ArrayView2<f32>,
        every: usize,
        rng: &mut impl Rng,
    ) -> Vec<(usize, Array2<f32>)> {
        let bounds = Some((self.low.view(), self.high.view()));
        let mut frames = Vec::new();
        let mut keep = |t: usize, x: ArrayView2<f32>| {
            if t.is_multiple_of(every.max(1)) {
                frames.push((t, &x * &self.std + &self.mean));
            }
        };
        sample_ancestral_visiting(&self.net, &self.schedule, noise, bounds, rng, &mut keep);
        frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gradcheck::{compare, numeric_gradient};

    /// A small non-square ε-network with non-zero biases: Z = 3, E = 4, H = 6, 5.
    fn small_net(nonlinearity: Nonlinearity) -> EpsNet {
        EpsNet::init(3, 4, &[6, 5], nonlinearity, &mut StdRng::seed_from_u64(7))
    }

    #[test]
    fn schedules_decrease_from_one_to_near_zero() {
        for kind in [BetaSchedule::Linear, BetaSchedule::Cosine] {
            let schedule = NoiseSchedule::new(kind, STEPS);
            assert_eq!(schedule.alpha_bar(0), 1.0);
            assert!(
                schedule.alpha_bar(1) > 0.99,
                "{kind:?}: ᾱ₁ {}",
                schedule.alpha_bar(1)
            );
            assert!(
                schedule.alpha_bar(STEPS) < 1e-4,
                "{kind:?}: ᾱ_T {}",
                schedule.alpha_bar(STEPS)
            );
            assert!(schedule.alpha_bars.windows(2).all(|w| w[1] < w[0]));
        }
        let linear = NoiseSchedule::new(BetaSchedule::Linear, STEPS);
        assert!((linear.beta(1) - 1e-4).abs() < 1e-12 && (linear.beta(STEPS) - 0.02).abs() < 1e-12);
    }

    #[test]
    fn time_embedding_is_sine_then_cosine() {
        let mut out = Array2::zeros((2, 6));
        time_embedding(out.view_mut(), &[0, 5]);
        assert_eq!(out.row(0).to_vec(), vec![0.0, 0.0, 0.0, 1.0, 1.0, 1.0]);
        // ω₀ = 2π/20, ω₁ = √(ω₀·ω₂), ω₂ = π/2000
        let omega1 = (FASTEST * SLOWEST).sqrt();
        assert!((out[[1, 0]] as f64 - (5.0 * FASTEST).sin()).abs() < 1e-6);
        assert!((out[[1, 4]] as f64 - (5.0 * omega1).cos()).abs() < 1e-6);
    }

    #[test]
    fn ddim_visits_evenly_spaced_steps_from_t() {
        assert_eq!(ddim_steps(1000, 4), vec![1000, 750, 500, 250]);
        assert_eq!(ddim_steps(10, 10), (1..=10).rev().collect::<Vec<_>>());
    }

    /// The explorer's parity check gives DDIM its noise: η = 0 asks for none,
    /// η = 1 for every step but the last (σ = 0 there), and with the noise
    /// drawn from the same generator the walk is `sample_ddim`'s.
    #[test]
    fn ddim_asks_for_noise_only_where_sigma_is_positive() {
        let net = small_net(Nonlinearity::Silu);
        let schedule = NoiseSchedule::new(BetaSchedule::Cosine, STEPS);
        let noise =
            Array2::<f32>::random_using((4, 3), StandardNormal, &mut StdRng::seed_from_u64(1));
        let never = |i: usize| -> Array2<f32> { panic!("η = 0 asked for the noise of step {i}") };
        sample_ddim_with_noise(&net, &schedule, noise.view(), 5, 0.0, None, never);
        let mut asked = Vec::new();
        let mut rng = StdRng::seed_from_u64(2);
        let given = sample_ddim_with_noise(&net, &schedule, noise.view(), 5, 1.0, None, |i| {
            asked.push(i);
            Array2::random_using((4, 3), StandardNormal, &mut rng)
        });
        assert_eq!(asked, [0, 1, 2, 3]);
        let drawn = sample_ddim(
            &net,
            &schedule,
            noise.view(),
            5,
            1.0,
            None,
            &mut StdRng::seed_from_u64(2),
        );
        assert_eq!(given, drawn);
    }

    /// dL/dθ, dL/dxₜ and dL/d emb(t) (summed over the layers that read it) of
    /// `L = 1/(B·Z) Σ (ε̂ − R)²` against centered differences.
    fn check_eps_net(nonlinearity: Nonlinearity) {
        let mut net = small_net(nonlinearity);
        let rows = 4;
        let mut rng = StdRng::seed_from_u64(3);
        let x = Array2::<f32>::random_using((rows, 3), StandardNormal, &mut rng);
        let target = Array2::<f32>::random_using((rows, 3), StandardNormal, &mut rng);
        let t = [1, 40, 333, 1000];
        let mut embedding = Array2::zeros((rows, 4));
        time_embedding(embedding.view_mut(), &t);
        // The loss as a function of θ, xₜ and emb(t) given apart.
        let loss = |net: &EpsNet, x: &Array2<f32>, embedding: &Array2<f32>| {
            let mut ws = EpsWorkspace::new(net, rows);
            ws.inputs[0].slice_mut(s![.., ..3]).assign(x);
            for (l, input) in ws.inputs.iter_mut().enumerate() {
                let w = net.width(l);
                input.slice_mut(s![.., w..]).assign(embedding);
            }
            eps_forward(net, &mut ws, rows);
            mse_forward(ws.prediction(rows), target.view())
        };
        let mut ws = EpsWorkspace::new(&net, rows);
        set_input(&net, &mut ws, x.view(), &t);
        eps_forward(&net, &mut ws, rows);
        let last = net.layer_count() - 1;
        let prediction = ws.pre[last].clone();
        mse_backward(ws.grad[last].view_mut(), prediction.view(), target.view());
        let mut grads = net.params.clone();
        grads.fill(f32::NAN); // every gradient must be written
        eps_backward(&net, &mut ws, &mut grads, rows, true);
        // ReLU: a smaller step, so that few θ ± ε cross a kink (where the
        // difference quotient is no derivative); SiLU is smooth. The smaller
        // step leaves more f32 rounding in the quotient: a looser bound, still
        // far below the 0.1 to 1 of a wrong line.
        let (eps, tolerance) = match nonlinearity {
            Nonlinearity::Silu => (1e-2, 2e-3),
            Nonlinearity::Relu => (1e-3, 5e-3),
        };
        for l in 0..net.layer_count() {
            let numeric = numeric_gradient(
                &mut net,
                |n| n.params.layers[l].w.as_slice_mut().unwrap(),
                eps,
                |n| loss(n, &x, &embedding),
            );
            let error = compare(grads.layers[l].w.as_slice().unwrap(), &numeric).tensor_error;
            assert!(
                error < tolerance,
                "{nonlinearity:?} W{l}: relative error {error}"
            );
            let numeric = numeric_gradient(
                &mut net,
                |n| n.params.layers[l].b.as_slice_mut().unwrap(),
                eps,
                |n| loss(n, &x, &embedding),
            );
            let error = compare(grads.layers[l].b.as_slice().unwrap(), &numeric).tensor_error;
            assert!(
                error < tolerance,
                "{nonlinearity:?} b{l}: relative error {error}"
            );
        }
        let mut perturbed = x.clone();
        let numeric = numeric_gradient(
            &mut perturbed,
            |x| x.as_slice_mut().unwrap(),
            eps,
            |x| loss(&net, x, &embedding),
        );
        let analytic = ws.x_gradient(rows, 3).to_owned();
        let error = compare(analytic.as_slice().unwrap(), &numeric).tensor_error;
        assert!(
            error < tolerance,
            "{nonlinearity:?} dL/dxₜ: relative error {error}"
        );
        let mut perturbed = embedding.clone();
        let numeric = numeric_gradient(
            &mut perturbed,
            |e| e.as_slice_mut().unwrap(),
            eps,
            |e| loss(&net, &x, e),
        );
        let analytic = ws.embedding_gradient(rows, 4);
        let error = compare(analytic.as_slice().unwrap(), &numeric).tensor_error;
        assert!(
            error < tolerance,
            "{nonlinearity:?} dL/d emb(t): relative error {error}"
        );
    }

    #[test]
    fn eps_net_gradients_match_centered_differences_silu() {
        check_eps_net(Nonlinearity::Silu);
    }

    #[test]
    fn eps_net_gradients_match_centered_differences_relu() {
        check_eps_net(Nonlinearity::Relu);
    }

    /// The DDPM loss at fixed t and ε, through the noising xₜ = √ᾱₜ·x₀ + √(1 − ᾱₜ)·ε:
    /// dL/dθ from ddpm_loss_backward against centered differences of ddpm_loss_forward.
    #[test]
    fn ddpm_loss_gradient_matches_centered_differences() {
        let schedule = NoiseSchedule::new(BetaSchedule::Cosine, STEPS);
        let mut net = small_net(Nonlinearity::Silu);
        let rows = 5;
        let mut rng = StdRng::seed_from_u64(11);
        let x0 = Array2::<f32>::random_using((rows, 3), StandardNormal, &mut rng);
        let noise = Array2::<f32>::random_using((rows, 3), StandardNormal, &mut rng);
        let t = [1, 10, 250, 600, 999];
        let mut ws = EpsWorkspace::new(&net, rows);
        let loss = |net: &EpsNet| {
            let mut ws = EpsWorkspace::new(net, rows);
            ddpm_loss_forward(net, &schedule, &mut ws, x0.view(), &t, noise.view())
        };
        ddpm_loss_forward(&net, &schedule, &mut ws, x0.view(), &t, noise.view());
        let mut grads = net.params.clone();
        ddpm_loss_backward(&net, &mut ws, &mut grads, rows);
        for l in 0..net.layer_count() {
            let numeric = numeric_gradient(
                &mut net,
                |n| n.params.layers[l].w.as_slice_mut().unwrap(),
                1e-2,
                loss,
            );
            let error = compare(grads.layers[l].w.as_slice().unwrap(), &numeric).tensor_error;
            assert!(error < 2e-3, "W{l}: relative error {error}");
            let numeric = numeric_gradient(
                &mut net,
                |n| n.params.layers[l].b.as_slice_mut().unwrap(),
                1e-2,
                loss,
            );
            let error = compare(grads.layers[l].b.as_slice().unwrap(), &numeric).tensor_error;
            assert!(error < 2e-3, "b{l}: relative error {error}");
        }
    }

    /// Two Gaussians in 2-D, weights 0.3 and 0.7 at (−2, 1) and (2, −1), σ = 0.3.
    fn two_modes(n: usize, seed: u64) -> Array2<f32> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut data = Array2::<f32>::random_using((n, 2), StandardNormal, &mut rng) * 0.3;
        for mut row in data.rows_mut() {
            let centre = if rng.random::<f32>() < 0.3 {
                [-2.0, 1.0]
            } else {
                [2.0, -1.0]
            };
            row[0] += centre[0];
            row[1] += centre[1];
        }
        data
    }

    /// Shares of samples within 0.9 of each mode's centre.
    fn mode_shares(samples: &Array2<f32>) -> (f64, f64) {
        let near = |c: [f32; 2]| {
            let count = samples
                .rows()
                .into_iter()
                .filter(|r| ((r[0] - c[0]).powi(2) + (r[1] - c[1]).powi(2)).sqrt() < 0.9)
                .count();
            count as f64 / samples.nrows() as f64
        };
        (near([-2.0, 1.0]), near([2.0, -1.0]))
    }

    #[test]
    fn trained_prior_recovers_both_modes_of_a_2d_mixture() {
        let data = two_modes(4096, 1);
        let config = TrainConfig {
            hidden: vec![64, 64],
            embed: 16,
            epochs: 60,
            batch: 128,
            lr: 3e-3,
            ema_decay: 0.99,
            ..TrainConfig::default()
        };
        let prior = train(data.view(), &config, |_, loss| assert!(loss.is_finite()));
        let mut rng = StdRng::seed_from_u64(5);
        let noise = Array2::<f32>::random_using((1000, 2), StandardNormal, &mut rng);
        for sampler in [
            Walk::Ddim {
                steps: 50,
                eta: 0.0,
            },
            Walk::Ancestral,
        ] {
            let samples = prior.sample(noise.view(), sampler, &mut rng);
            let (small, large) = mode_shares(&samples);
            assert!(
                (small - 0.3).abs() < 0.07,
                "{sampler:?}: {small:.3} near the 0.3 mode"
            );
            assert!(
                (large - 0.7).abs() < 0.07,
                "{sampler:?}: {large:.3} near the 0.7 mode"
            );
            assert!(
                small + large > 0.93,
                "{sampler:?}: {:.3} between the modes",
                1.0 - small - large
            );
        }
    }

    #[test]
    fn training_is_deterministic_for_a_seed() {
        let data = two_modes(512, 2);
        let config = TrainConfig {
            hidden: vec![16],
            embed: 8,
            epochs: 2,
            batch: 64,
            ..TrainConfig::default()
        };
        let first = train(data.view(), &config, |_, _| {});
        let second = train(data.view(), &config, |_, _| {});
        assert_eq!(first, second);
    }
}
