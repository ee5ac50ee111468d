//! The autoencoder, plain or variational: its architecture, its parameters, and
//! its forward and backward passes built from the paired functions in [`crate::nn`].
//!
//! Shapes: B = batch, D = pixels (784), H₁, H₂, ... = hidden widths, Z = latent size.
//!
//! ```text
//! plain (--model ae)
//!   encoder   D → H₁ → H₂ → Z          ReLU after each hidden layer, linear code z
//!   decoder   Z → H₂ → H₁ → D          ReLU after each hidden layer, sigmoid output
//! variational (--model vae)
//!   encoder   D → H₁ → H₂ ─┬→ μ        (Z) two linear heads read the last hidden layer
//!                          └→ log σ²   (Z)
//!   sample    z = μ + σ ⊙ ε, ε ~ N(0, I)      nn::vae
//!   decoder   Z → H₂ → H₁ → D          as above
//! ```
//! With `--hidden 256,128 --latent 32` the plain model is six dense layers,
//! 784-256-128-32-128-256-784, named like PyTorch's `nn.Sequential`
//! (`encoder.0`, `encoder.2`, `encoder.4`, `decoder.0`, ...: the odd indices are
//! the activation modules, which have no parameters). The VAE names its heads
//! `mu` and `logvar`.
//!
//! With `--arch conv` the hidden layers are convolutions instead (see
//! [`backbone`]): the same chain, the same buffers, other operations.
//!
//! Layers are numbered along the chain X → x̂: `0 .. layer_count()`, the code
//! layer (the plain code, or μ) being `code_layer()`. A VAE has one more layer,
//! the log σ² head, stored last (index `layer_count()`), so every loop over
//! `Params::layers` (Adam, checkpoints, gradient checks) sees it too.

use std::cell::Cell;

use ndarray::{s, Array1, Array2, ArrayView2, ArrayViewMut2};
use ndarray_rand::rand::Rng;
use ndarray_rand::rand_distr::Uniform;
use ndarray_rand::RandomExt;
use rayon::prelude::*;

use crate::nn::conv::ConvWorkspace;
use crate::nn::loss::{bce_summed_backward, bce_summed_forward};
use crate::nn::vae::{kl_backward, kl_forward, reparameterise_backward, reparameterise_forward};
use crate::nn::{
    activation_backward, activation_forward, dense_backward, dense_backward_add_dx,
    dense_backward_skipping_zeros, dense_forward, dense_forward_skipping_zeros, Activation,
    LossKind, ZeroColumns,
};
use crate::parallel::{worth_splitting, PARALLEL_MIN_ELEMENTS};

pub mod backbone;
pub use backbone::{feature_maps, first_filters, Backbone, FeatureMaps, LayerOp, CONV_CHANNELS};

/// Plain or variational: the one place that says what differs between the
/// kinds of model. The rest of the crate asks a kind (or the [`Objective`]
/// it trains) instead of matching on it.
///
/// To add a kind: write its forward and backward beside the plain chain
/// (as the VAE's sampling is, in [`forward`] and `backward_sampling`), add
/// a variant here, and give it its row in [`ModelKind::rules`]; every
/// command, figure and summary key follows from that row.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ModelKind {
    /// A plain autoencoder: the code is a deterministic function of the image.
    /// The default, and what files written before the VAE existed hold.
    #[default]
    Ae,
    /// A variational autoencoder: the encoder gives μ and log σ², the code is sampled.
    Vae,
}

/// What a kind of model is, as the commands, figures and summaries need it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KindRules {
    /// `"ae"`, `"vae"`: the `--model` value and the metadata's `model`.
    pub name: &'static str,
    /// What the report calls it: "autoencoder", "variational autoencoder".
    pub title: &'static str,
    /// One line for `--help`.
    pub help: &'static str,
    /// Whether `--loss` chooses its loss (a VAE's is fixed: the negative ELBO).
    pub takes_loss_flag: bool,
    /// A third head, log σ², beside the code layer (μ).
    pub variance_head: bool,
    /// What its samples are decoded from, the first being what `generate`,
    /// samples.png's first block and generated.gif use.
    pub samplers: &'static [Sampler],
}

impl ModelKind {
    /// Every kind, in the order `--help` lists them.
    pub const ALL: [ModelKind; 2] = [ModelKind::Ae, ModelKind::Vae];

    /// The kind's row: everything that differs between the kinds.
    pub fn rules(self) -> &'static KindRules {
        const AE: KindRules = KindRules {
            name: "ae",
            title: "autoencoder",
            help: "a plain autoencoder: the code is a deterministic function of the image",
            takes_loss_flag: true,
            variance_head: false,
            samplers: &[Sampler::FittedGaussian, Sampler::StandardNormal],
        };
        const VAE: KindRules = KindRules {
            name: "vae",
            title: "variational autoencoder",
            help: "a variational autoencoder: the encoder gives μ and log σ², the code is sampled",
            takes_loss_flag: false,
            variance_head: true,
            samplers: &[Sampler::Prior],
        };
        match self {
            ModelKind::Ae => &AE,
            ModelKind::Vae => &VAE,
        }
    }

    /// `"ae"` or `"vae"`, as on the command line.
    pub fn name(self) -> &'static str {
        self.rules().name
    }

    /// The kind called `name` on the command line or in metadata, or a
    /// message listing the kinds there are.
    pub fn from_name(name: &str) -> std::result::Result<ModelKind, String> {
        let known = ModelKind::ALL.map(ModelKind::name);
        let kind = ModelKind::ALL.into_iter().find(|k| k.name() == name);
        kind.ok_or_else(|| format!("'{name}' is not a model kind ({})", known.join(", ")))
    }

    /// What this kind minimises when trained with `--loss loss`.
    pub fn objective(self, loss: LossKind) -> Objective {
        match (self.rules().takes_loss_flag, loss) {
            (false, _) => Objective::NegativeElbo,
            (true, LossKind::Mse) => Objective::Mse,
            (true, LossKind::Bce) => Objective::Bce,
        }
    }
}

/// The quantity a run minimises and reports: the one name of "the loss".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objective {
    /// `L = 1/(B·D) Σ (x̂ − x)²`.
    Mse,
    /// `L = −1/(B·D) Σ [x·ln x̂ + (1−x)·ln(1−x̂)]`.
    Bce,
    /// `L = 1/B Σ_n [BCE summed over pixels + KL(q(z|xₙ) ‖ N(0, I))]`, nats per image.
    NegativeElbo,
}

impl Objective {
    /// `"mse"`, `"bce"`, `"elbo"`: the key in summary.json's configuration.
    pub fn key(self) -> &'static str {
        match self {
            Objective::Mse => "mse",
            Objective::Bce => "bce",
            Objective::NegativeElbo => "elbo",
        }
    }

    /// The loss plot's axis name.
    pub fn label(self) -> &'static str {
        match self {
            Objective::Mse => "MSE",
            Objective::Bce => "BCE",
            Objective::NegativeElbo => "negative ELBO (nats)",
        }
    }

    /// The loss in words, for the setup line and the gradient check.
    pub fn describe(self) -> &'static str {
        match self {
            Objective::Mse => "MSE (mean over pixels and images)",
            Objective::Bce => "BCE (mean over pixels and images)",
            Objective::NegativeElbo => "negative ELBO: BCE summed over pixels + KL, nats per image",
        }
    }

    /// Whether PCA's test MSE is a baseline on the same scale.
    pub fn compares_with_pca(self) -> bool {
        self == Objective::Mse
    }

    /// Whether the loss has two parts (reconstruction and KL) worth reporting.
    pub fn has_kl(self) -> bool {
        self == Objective::NegativeElbo
    }
}

/// Where sampled codes come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampler {
    /// A Gaussian N(μ, Σ) fitted to training codes (mean, full covariance).
    FittedGaussian,
    /// N(0, I) used on a plain autoencoder, which has no prior: a contrast.
    StandardNormal,
    /// N(0, I), the VAE's prior, which the KL term pulls the codes toward.
    Prior,
}

impl Sampler {
    /// Every sampler.
    pub const ALL: [Sampler; 3] = [
        Sampler::FittedGaussian,
        Sampler::StandardNormal,
        Sampler::Prior,
    ];

    /// The sampler whose judge scores summary.json keeps under `key`.
    pub fn from_key(key: &str) -> Option<Sampler> {
        Sampler::ALL.into_iter().find(|s| s.key() == key)
    }

    /// The key of its judge scores in summary.json.
    pub fn key(self) -> &'static str {
        match self {
            Sampler::FittedGaussian => "ae_fitted",
            Sampler::StandardNormal => "ae_normal",
            Sampler::Prior => "vae_normal",
        }
    }

    /// Its label beside a row of digits.
    pub fn label(self) -> &'static str {
        match self {
            Sampler::FittedGaussian => "fitted N(μ, Σ)",
            Sampler::StandardNormal | Sampler::Prior => "N(0, I)",
        }
    }

    /// Its heading above a block of digits, and in `generate`'s title.
    pub fn describe(self) -> &'static str {
        match self {
            Sampler::FittedGaussian => "z ~ N(μ, Σ), a Gaussian fitted to the training codes (mean, full covariance, Cholesky)",
            Sampler::StandardNormal => "z ~ N(0, I), the same noise without the fit",
            Sampler::Prior => "z ~ N(0, I), the prior the KL term pulls the codes toward",
        }
    }

    /// Whether its codes are the noise ε mapped through a Gaussian fitted to
    /// training codes (otherwise the noise is the code).
    pub fn fits_codes(self) -> bool {
        self == Sampler::FittedGaussian
    }
}

/// The most memory an inference pass's buffers take (see [`Architecture::rows_per_pass`]).
pub const INFERENCE_BYTES: usize = 32 << 20;

/// The shape of the autoencoder. The decoder mirrors the encoder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Architecture {
    /// Dense or convolutional layers between the image and the code (`--arch`).
    pub backbone: Backbone,
    /// Plain or variational.
    pub kind: ModelKind,
    /// D, pixels per image.
    pub input: usize,
    /// Encoder hidden widths H₁, H₂, ... (the decoder uses them reversed); for
    /// the convolutional backbone, the channels of its convolutions.
    pub hidden: Vec<usize>,
    /// Z, the size of the code.
    pub latent: usize,
    /// The activation of every hidden layer (ReLU by default). With `Identity`
    /// the output has no sigmoid either: a linear autoencoder.
    pub activation: Activation,
}

impl Architecture {
    /// A plain autoencoder with ReLU hidden layers.
    pub fn plain(input: usize, hidden: Vec<usize>, latent: usize) -> Architecture {
        Architecture {
            backbone: Backbone::Dense,
            kind: ModelKind::Ae,
            input,
            hidden,
            latent,
            activation: Activation::Relu,
        }
    }

    /// Whether the code is sampled from two heads, μ and log σ² (a VAE).
    pub fn variational(&self) -> bool {
        self.kind.rules().variance_head
    }

    /// Whether the figures draw the decoded plane of codes (manifold.png):
    /// a VAE with a 2-d code, whose prior makes the square [−3, 3]² meaningful.
    pub fn draws_manifold(&self) -> bool {
        self.variational() && self.latent == 2
    }

    /// Whether the figures draw kl_per_dimension.png and the summary counts
    /// active units: a VAE, whose KL term can switch code dimensions off.
    pub fn draws_kl_per_dimension(&self) -> bool {
        self.variational()
    }

    /// Whether the figures draw filters.png and feature_maps.png: the first
    /// layer is a convolution (see [`first_filters`], [`feature_maps`]).
    pub fn draws_filters(&self) -> bool {
        self.chain_ops()[0].convolution().is_some()
    }

    /// Number of parameters, from the shapes alone (nothing allocated; in
    /// u128, saturating, so that absurd flags can be refused before anything
    /// is allocated).
    pub fn parameter_count(&self) -> u128 {
        let per_layer = self.layer_ops().into_iter().map(|op| {
            let (rows, cols) = op.weight_dim();
            (rows as u128).saturating_mul(cols as u128) + op.bias_len() as u128
        });
        per_layer.fold(0, u128::saturating_add)
    }

    /// Widths of every layer boundary along the chain: `[D, H₁, …, Z, …, H₁, D]`
    /// (for the convolutional backbone, C·S·S values per image).
    pub fn widths(&self) -> Vec<usize> {
        let ops = self.chain_ops();
        let mut widths = vec![self.input];
        widths.extend(ops.iter().map(LayerOp::output_width));
        widths
    }

    /// What every layer of the chain computes (not the log σ² head).
    fn chain_ops(&self) -> Vec<LayerOp> {
        (self.backbone).layer_ops(self.input, &self.hidden, self.latent)
    }

    /// What every stored layer computes: the chain, then the log σ² head.
    pub fn layer_ops(&self) -> Vec<LayerOp> {
        let mut ops = self.chain_ops();
        if self.variational() {
            ops.push(ops[self.code_layer()]);
        }
        ops
    }

    /// At most `wanted`, and few enough rows that an inference pass's buffers
    /// (every layer's output, the convolutions' lowering) stay within
    /// [`INFERENCE_BYTES`]: all of `wanted` for the dense models (the wide
    /// 784-1024-512-32 needs 19 MB for 1,000 rows); 200 rows for the
    /// convolutional one, whose 1,000 rows would need 160 MB.
    pub fn rows_per_pass(&self, wanted: usize) -> usize {
        let lowering = self.chain_ops().iter().map(LayerOp::lowering_floats).max();
        let floats = self.widths().iter().sum::<usize>() + lowering.unwrap_or(0);
        wanted.min(INFERENCE_BYTES / (4 * floats)).max(1)
    }

    /// Multiply-adds of one image's forward pass (the log σ² head included).
    pub fn multiply_adds(&self) -> usize {
        self.layer_ops().iter().map(LayerOp::multiply_adds).sum()
    }

    /// Number of dense layers along the chain (2 × (hidden layers + 1)); a VAE
    /// has one more, the log σ² head.
    pub fn layer_count(&self) -> usize {
        2 * (self.hidden.len() + 1)
    }

    /// The layer whose output is the code (the plain code, or μ); the layers
    /// after it are the decoder.
    pub fn code_layer(&self) -> usize {
        self.hidden.len()
    }

    /// Number of dense layers in the encoder chain; layer `encoder_layers()`
    /// is the first decoder layer and its input is the code.
    pub fn encoder_layers(&self) -> usize {
        self.hidden.len() + 1
    }

    /// The activation after dense layer `layer` of the chain.
    pub fn activation(&self, layer: usize) -> Activation {
        if layer + 1 == self.layer_count() && self.activation != Activation::Identity {
            Activation::Sigmoid
        } else if layer == self.code_layer() || layer + 1 == self.layer_count() {
            Activation::Identity
        } else {
            self.activation
        }
    }

    /// PyTorch-style module name of stored layer `layer`: `encoder.0`, ...,
    /// `decoder.0`, ...; a VAE's heads are `mu` and `logvar`. The
    /// convolutional model's `nn.Flatten` (before the code layer) and
    /// `nn.Unflatten` (after the decoder's dense layer) take an index each:
    /// `encoder.0`, `encoder.2`, `encoder.5`, `decoder.0`, `decoder.3`, `decoder.5`.
    pub fn layer_name(&self, layer: usize) -> String {
        let e = self.encoder_layers();
        let reshapes = usize::from(self.backbone == Backbone::Conv);
        match self.variational() {
            true if layer == self.code_layer() => "mu".to_string(),
            true if layer == self.layer_count() => "logvar".to_string(),
            _ if layer == self.code_layer() => format!("encoder.{}", 2 * layer + reshapes),
            _ if layer < e => format!("encoder.{}", 2 * layer),
            _ if layer == e => "decoder.0".to_string(),
            _ => format!("decoder.{}", 2 * (layer - e) + reshapes),
        }
    }

    /// `"784-256-128-32-128-256-784"`; a VAE's code is written `(20+20)` for its
    /// two heads: `"784-400-(20+20)-400-784"`. The convolutional model writes
    /// its images channels × rows × columns and names itself:
    /// `"conv 1x28x28-32x14x14-64x7x7-32-64x7x7-32x14x14-1x28x28"`.
    pub fn describe(&self) -> String {
        let ops = self.chain_ops();
        let side = self.input.isqrt();
        let (prefix, first) = match self.backbone {
            Backbone::Dense => ("", self.input.to_string()),
            Backbone::Conv => ("conv ", format!("1x{side}x{side}")),
        };
        let mut parts = vec![first];
        parts.extend(ops.iter().enumerate().map(|(l, op)| {
            // A dense layer's output as the next layer reads it (an image after unflatten).
            let w = match (op, ops.get(l + 1)) {
                (LayerOp::Dense { .. }, Some(next)) => next.describe_input(),
                _ => op.describe_output(),
            };
            match self.variational() {
                true if l == self.code_layer() => format!("({w}+{w})"),
                _ => w,
            }
        }));
        format!("{prefix}{}", parts.join("-"))
    }
}

/// One layer's tensors: a weight matrix and a bias vector. For a convolution
/// the matrix is its 4-D kernel as PyTorch lays it out in memory (see
/// [`LayerOp::weight_dim`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// (I, O) weights; (O, C·K·K) for a Conv2d, (C, O·K·K) for a ConvTranspose2d.
    pub w: Array2<f32>,
    /// (O) biases.
    pub b: Array1<f32>,
}

impl Dense {
    /// Every weight, then every bias, drawn from U(−1/√fan_in, 1/√fan_in).
    fn init(&mut self, fan_in: usize, rng: &mut impl Rng) {
        let bound = 1.0 / (fan_in as f32).sqrt();
        let uniform = Uniform::new_inclusive(-bound, bound).expect("bound is positive");
        self.w = Array2::random_using(self.w.dim(), uniform, rng);
        self.b = Array1::random_using(self.b.len(), uniform, rng);
    }
}

/// Every tensor of the model, layer by layer (see [`Architecture::layer_ops`]).
/// The same type holds the parameters, their gradients, and Adam's first and
/// second moments, so their shapes match by construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub layers: Vec<Dense>,
}

impl Params {
    /// All zeros, shaped for `arch`.
    pub fn zeros(arch: &Architecture) -> Params {
        let layers = arch
            .layer_ops()
            .into_iter()
            .map(|op| Dense {
                w: Array2::zeros(op.weight_dim()),
                b: Array1::zeros(op.bias_len()),
            })
            .collect();
        Params { layers }
    }

    /// PyTorch's `nn.Linear`, `nn.Conv2d` and `nn.ConvTranspose2d`
    /// initialisation: every weight and bias drawn from U(−1/√I, 1/√I), I =
    /// the layer's fan-in ([`LayerOp::fan_in`]). Seeded by `rng`. For dense
    /// layers the draws are those of [`Params::init_shapes`].
    pub fn init(arch: &Architecture, rng: &mut impl Rng) -> Params {
        let mut params = Params::zeros(arch);
        for (layer, op) in params.layers.iter_mut().zip(arch.layer_ops()) {
            layer.init(op.fan_in(), rng);
        }
        params
    }

    /// [`Params::init`] for any chain of dense layers of (in, out) `shapes`
    /// (the digit judge's, say), drawn in the same order: W then b, layer by layer.
    pub fn init_shapes(shapes: &[(usize, usize)], rng: &mut impl Rng) -> Params {
        let zeros = shapes.iter().map(|&(inputs, outputs)| Dense {
            w: Array2::zeros((inputs, outputs)),
            b: Array1::zeros(outputs),
        });
        let mut params = Params {
            layers: zeros.collect(),
        };
        for layer in &mut params.layers {
            layer.init(layer.w.nrows(), rng);
        }
        params
    }

    /// Sets every value to `value`.
    pub fn fill(&mut self, value: f32) {
        for values in self.slices_mut() {
            values.fill(value);
        }
    }

    /// Every weight matrix and bias vector cut into pieces of at most `len`
    /// values, in order, each with the index of its layer. A pass over all the
    /// parameters (the NaN check, Adam) runs over these pieces as one
    /// parallel loop, rather than one loop per tensor: small tensors then share
    /// the threads instead of running one after another.
    pub fn pieces(&self, len: usize) -> Vec<(usize, &[f32])> {
        let slices = self.slices().into_iter().enumerate();
        // slices() is W, b, W, b, …: slice i belongs to layer i / 2.
        let pieces = slices.flat_map(|(i, values)| values.chunks(len).map(move |p| (i / 2, p)));
        pieces.collect()
    }

    /// [`Params::pieces`], writable.
    pub fn pieces_mut(&mut self, len: usize) -> Vec<(usize, &mut [f32])> {
        let slices = self.slices_mut().into_iter().enumerate();
        let pieces = slices.flat_map(|(i, values)| values.chunks_mut(len).map(move |p| (i / 2, p)));
        pieces.collect()
    }

    /// Every weight matrix and bias vector as one slice, in layer order: W, b, W, b, …
    pub fn slices(&self) -> Vec<&[f32]> {
        let layers = self.layers.iter();
        layers
            .flat_map(|l| [l.w.as_slice(), l.b.as_slice()])
            .map(|s| s.expect("parameters are contiguous"))
            .collect()
    }

    /// [`Params::slices`], writable.
    pub fn slices_mut(&mut self) -> Vec<&mut [f32]> {
        let layers = self.layers.iter_mut();
        layers
            .flat_map(|l| [l.w.as_slice_mut(), l.b.as_slice_mut()])
            .map(|s| s.expect("parameters are contiguous"))
            .collect()
    }

    /// Total number of scalars.
    pub fn len(&self) -> usize {
        self.layers.iter().map(|l| l.w.len() + l.b.len()).sum()
    }

    /// True if the model has no parameter.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The index of the first layer holding a NaN or infinite value, if any.
    pub fn first_non_finite(&self) -> Option<usize> {
        // Within a piece, a fold without early exit: the compiler checks 8 floats
        // per instruction. The pieces are checked side by side.
        let bad = |(_, piece): &&(usize, &[f32])| any_non_finite(piece);
        let pieces = self.pieces(PARALLEL_MIN_ELEMENTS);
        let first = if worth_splitting(self.len(), PARALLEL_MIN_ELEMENTS) {
            pieces.par_iter().with_max_len(1).find_first(bad)
        } else {
            pieces.iter().find(bad)
        };
        first.map(|&(layer, _)| layer)
    }
}

/// Whether `values` holds a NaN or an infinity: a fold without early exit, so
/// that the compiler checks 8 floats per instruction where the CPU has AVX2.
fn any_non_finite(values: &[f32]) -> bool {
    #[inline(always)]
    fn fold(values: &[f32]) -> bool {
        values.iter().fold(false, |bad, v| bad | !v.is_finite())
    }
    /// `fold` compiled for AVX2.
    ///
    /// # Safety
    /// The CPU must have AVX2.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2")]
    unsafe fn fold_avx2(values: &[f32]) -> bool {
        fold(values)
    }
    #[cfg(target_arch = "x86_64")]
    if crate::nn::kernel::wide_vectors() {
        // SAFETY: wide_vectors() says this CPU has AVX2.
        return unsafe { fold_avx2(values) };
    }
    fold(values)
}

/// The VAE's extra buffers, (B, Z) each: the two heads' outputs, the noise,
/// and the gradients of the KL term and of log σ² (the whole dμ ends in
/// `d_outputs[code_layer + 1]`).
#[derive(Debug, Clone)]
pub struct SamplingBuffers {
    pub mu: Array2<f32>,
    pub log_var: Array2<f32>,
    /// ε ~ N(0, I); zero gives z = μ (evaluation of reconstructions).
    pub eps: Array2<f32>,
    /// ∂(β·KL)/∂μ, written by [`loss_backward`]; `backward` adds dz to it.
    pub d_mu_kl: Array2<f32>,
    /// d log σ²: ∂(β·KL)/∂log σ² from [`loss_backward`], then `backward`
    /// adds the path through z.
    pub d_log_var: Array2<f32>,
}

/// Preallocated buffers for a forward and backward pass on up to `capacity` rows.
/// Nothing is allocated per batch: a batch of B rows uses the first B rows.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// `outputs[0]` is the input X (B, D); `outputs[l + 1]` is layer l's activated
    /// output (B, widths[l + 1]). The last one is the reconstruction x̂. For a
    /// VAE, `outputs[code_layer + 1]` holds μ after the μ head, then the sample z.
    pub outputs: Vec<Array2<f32>>,
    /// `d_outputs[l]` is the gradient of the loss with respect to `outputs[l]`,
    /// then (in place) with respect to layer l-1's pre-activation.
    /// `d_outputs[0]` is never needed and kept empty.
    pub d_outputs: Vec<Array2<f32>>,
    /// The images the reconstruction is compared with (B, D): the clean images,
    /// where `outputs[0]` may hold noisy ones (denoising).
    pub target: Array2<f32>,
    /// The VAE's sampling buffers (None for a plain autoencoder).
    pub sampling: Option<SamplingBuffers>,
    /// The pixels that are 0 in every image of the batch, which the first
    /// layer skips, and room to multiply the others (dense backbone only).
    pub zero_pixels: ZeroColumns,
    /// The convolutions' lowering matrices (empty until a convolution runs).
    pub conv: ConvWorkspace,
    /// What each layer of the chain computes (kept here so that no batch
    /// allocates the list).
    pub ops: Vec<LayerOp>,
    /// Maximum batch size B.
    pub capacity: usize,
}

impl Workspace {
    /// Buffers for training on batches of up to `capacity` rows.
    pub fn new(arch: &Architecture, capacity: usize) -> Workspace {
        Workspace::with_grads(arch, capacity, true)
    }

    /// Buffers for forward passes only (evaluation, pictures): no gradient
    /// buffers, half the memory.
    pub fn for_inference(arch: &Architecture, capacity: usize) -> Workspace {
        Workspace::with_grads(arch, capacity, false)
    }

    fn with_grads(arch: &Architecture, capacity: usize, grads: bool) -> Workspace {
        let widths = arch.widths();
        let outputs = widths
            .iter()
            .map(|&w| Array2::zeros((capacity, w)))
            .collect();
        let d_outputs = widths
            .iter()
            .enumerate()
            .map(|(i, &w)| Array2::zeros((if i == 0 || !grads { 0 } else { capacity }, w)))
            .collect();
        let code = (capacity, arch.latent);
        let sampling = arch.variational().then(|| SamplingBuffers {
            mu: Array2::zeros(code),
            log_var: Array2::zeros(code),
            eps: Array2::zeros(code),
            d_mu_kl: Array2::zeros(if grads { code } else { (0, arch.latent) }),
            d_log_var: Array2::zeros(if grads { code } else { (0, arch.latent) }),
        });
        Workspace {
            outputs,
            d_outputs,
            target: Array2::zeros((capacity, arch.input)),
            sampling,
            // Training only: an evaluation pass is a third of the work, and the
            // room would add 5 MB to the wide model's peak memory.
            zero_pixels: match grads && arch.backbone == Backbone::Dense {
                true => ZeroColumns::new(capacity, widths[0], widths[1]),
                false => ZeroColumns::new(0, 0, 0),
            },
            conv: ConvWorkspace::new(),
            ops: arch.chain_ops(),
            capacity,
        }
    }

    /// The first `rows` rows of the input buffer X, to fill with a batch.
    pub fn input_mut(&mut self, rows: usize) -> ArrayViewMut2<'_, f32> {
        self.outputs[0].slice_mut(s![..rows, ..])
    }

    /// The reconstruction x̂ of the last forward pass on `rows` rows.
    pub fn reconstruction(&self, rows: usize) -> ArrayView2<'_, f32> {
        self.outputs
            .last()
            .expect("at least one layer")
            .slice(s![..rows, ..])
    }
}

/// The gradient check's hook into [`forward`]: every ReLU's on/off pattern
/// frozen to `masks[l]` (the pattern at the unperturbed θ), so that θ ± ε
/// never crosses a kink, and a count of the units a real ReLU would have
/// switched. Layers whose mask is None apply their activation as built.
#[derive(Debug, Clone, Default)]
pub struct FrozenRelus {
    /// (B, O) per chain layer: true where the unit is on.
    pub masks: Vec<Option<Array2<bool>>>,
    /// Units whose real ReLU would differ from the mask, summed over passes.
    pub crossed: Cell<usize>,
}

impl FrozenRelus {
    /// The on/off pattern of every ReLU layer in the last forward pass of `ws`.
    pub fn of(arch: &Architecture, ws: &Workspace, rows: usize) -> FrozenRelus {
        let masks = (0..arch.layer_count()).map(|l| {
            let relu = arch.activation(l) == Activation::Relu;
            relu.then(|| ws.outputs[l + 1].slice(s![..rows, ..]).mapv(|a| a > 0.0))
        });
        FrozenRelus {
            masks: masks.collect(),
            crossed: Cell::new(0),
        }
    }

    /// Layer `l`'s activation of `y` (B, O), in place: the frozen mask, or
    /// the layer's own activation.
    fn apply(&self, arch: &Architecture, l: usize, y: ArrayViewMut2<f32>) {
        let Some(mask) = &self.masks[l] else {
            return activation_forward(arch.activation(l), y);
        };
        let mut crossed = 0;
        ndarray::Zip::from(y).and(mask).for_each(|z, &on| {
            crossed += usize::from((*z > 0.0) != on);
            if !on {
                *z = 0.0;
            }
        });
        self.crossed.set(self.crossed.get() + crossed);
    }
}

/// Runs chain layers `layers` (a range of layer indices) on the first `rows`
/// rows of `ws.outputs[layers.start]`, writing each activated output into the
/// next buffer.
pub fn forward_layers(
    params: &Params,
    arch: &Architecture,
    ws: &mut Workspace,
    layers: std::ops::Range<usize>,
    rows: usize,
) {
    forward_layers_with(params, arch, ws, layers, rows, None);
}

/// [`forward_layers`], with the activations frozen if `frozen` says so.
fn forward_layers_with(
    params: &Params,
    arch: &Architecture,
    ws: &mut Workspace,
    layers: std::ops::Range<usize>,
    rows: usize,
    frozen: Option<&FrozenRelus>,
) {
    assert!(
        rows <= ws.capacity,
        "forward: batch of {rows} exceeds workspace capacity {}",
        ws.capacity
    );
    for l in layers {
        let (inputs, outputs) = ws.outputs.split_at_mut(l + 1);
        let x = inputs[l].slice(s![..rows, ..]);
        let mut y = outputs[0].slice_mut(s![..rows, ..]);
        let layer = &params.layers[l];
        if l == 0 && arch.backbone == Backbone::Dense {
            let (w, b) = (layer.w.view(), layer.b.view());
            dense_forward_skipping_zeros(y.view_mut(), x, w, b, &mut ws.zero_pixels);
        } else {
            backbone::layer_forward(&ws.ops[l], y.view_mut(), x, layer, &mut ws.conv);
        }
        match frozen {
            Some(frozen) => frozen.apply(arch, l, y),
            None => activation_forward(arch.activation(l), y),
        }
    }
}

/// The whole forward pass: X in `ws.outputs[0]` → x̂ in the last buffer. For a
/// VAE, ε must be in `ws.sampling.eps` (zeros give z = μ).
pub fn forward(params: &Params, arch: &Architecture, ws: &mut Workspace, rows: usize) {
    forward_with(params, arch, ws, rows, None);
}

/// [`forward`] with every ReLU frozen to `frozen`'s pattern (the gradient check).
pub fn forward_frozen(
    params: &Params,
    arch: &Architecture,
    ws: &mut Workspace,
    rows: usize,
    frozen: &FrozenRelus,
) {
    forward_with(params, arch, ws, rows, Some(frozen));
}

fn forward_with(
    params: &Params,
    arch: &Architecture,
    ws: &mut Workspace,
    rows: usize,
    frozen: Option<&FrozenRelus>,
) {
    let layers = 0..arch.layer_count();
    if !arch.variational() {
        return forward_layers_with(params, arch, ws, layers, rows, frozen);
    }
    let code = arch.code_layer();
    forward_layers_with(params, arch, ws, 0..code + 1, rows, frozen); // X → h → μ
    let sampling = ws.sampling.as_mut().expect("a VAE workspace");
    let h = ws.outputs[code].slice(s![..rows, ..]);
    let head = &params.layers[arch.layer_count()];
    let mut log_var = sampling.log_var.slice_mut(s![..rows, ..]);
    dense_forward(log_var.view_mut(), h, head.w.view(), head.b.view());
    let mut mu = sampling.mu.slice_mut(s![..rows, ..]);
    mu.assign(&ws.outputs[code + 1].slice(s![..rows, ..]));
    reparameterise_forward(
        ws.outputs[code + 1].slice_mut(s![..rows, ..]),
        mu.view(),
        log_var.view(),
        sampling.eps.slice(s![..rows, ..]),
    ); // z = μ + σ ⊙ ε
    forward_layers_with(params, arch, ws, code + 1..layers.end, rows, frozen); // z → x̂
}

/// One chain layer's backward pass: on entry `d_outputs[l + 1]` holds dA, the
/// gradient of its activated output; dW and db go into `grads`, dX
/// into `d_outputs[l]` (skipped for l = 0).
/// ```text
/// dZ = dA ⊙ f′               activation_backward, in place (f′ written with A = f(Z))
/// dW = Xᵀ·dZ,  db = Σ dZ      dense_backward (or a convolution's backward,
/// dX = dZ·Wᵀ                  dense_backward  see backbone::layer_backward)
/// ```
fn backward_layer(
    params: &Params,
    arch: &Architecture,
    grads: &mut Params,
    ws: &mut Workspace,
    l: usize,
    rows: usize,
) {
    let (lower, upper) = ws.d_outputs.split_at_mut(l + 1);
    let mut dz = upper[0].slice_mut(s![..rows, ..]);
    activation_backward(
        arch.activation(l),
        dz.view_mut(),
        ws.outputs[l + 1].slice(s![..rows, ..]),
    );
    let (grad, x) = (&mut grads.layers[l], ws.outputs[l].slice(s![..rows, ..]));
    if l == 0 && arch.backbone == Backbone::Dense {
        let (dw, db, dz) = (grad.w.view_mut(), grad.b.view_mut(), dz.view());
        dense_backward_skipping_zeros(dw, db, dz, x, &mut ws.zero_pixels); // no dX
    } else {
        let dx = (l > 0).then(|| lower[l].slice_mut(s![..rows, ..]));
        let layer = &params.layers[l];
        backbone::layer_backward(&ws.ops[l], dx, grad, dz.view(), x, layer, &mut ws.conv);
    }
}

/// The whole backward pass. On entry `ws.d_outputs[L]` (L = layer count) holds
/// dLoss/dx̂ for the first `rows` rows and the buffers hold the forward pass;
/// on return `grads` holds every dW and db (whatever it held before).
/// For a VAE, [`loss_backward`] has also left the KL term's ∂/∂μ and
/// ∂/∂log σ² in `ws.sampling`; the path through z is added to them here.
pub fn backward(
    params: &Params,
    arch: &Architecture,
    grads: &mut Params,
    ws: &mut Workspace,
    rows: usize,
) {
    let code = arch.code_layer();
    for l in (code + 1..arch.layer_count()).rev() {
        backward_layer(params, arch, grads, ws, l, rows); // decoder: dx̂ → dz
    }
    if arch.variational() {
        backward_sampling(params, arch, grads, ws, rows); // dz → dμ, d log σ²
    }
    backward_layer(params, arch, grads, ws, code, rows); // the code layer (or μ head) → dh
    if arch.variational() && code > 0 {
        // h feeds both heads, so dh = dμ·W_μᵀ + d log σ²·W_logvarᵀ.
        let sampling = ws.sampling.as_ref().expect("a VAE workspace");
        dense_backward_add_dx(
            ws.d_outputs[code].slice_mut(s![..rows, ..]),
            sampling.d_log_var.slice(s![..rows, ..]),
            params.layers[arch.layer_count()].w.view(),
        );
    }
    for l in (0..code).rev() {
        backward_layer(params, arch, grads, ws, l, rows); // encoder: dh → dX
    }
}

/// The VAE's middle: `d_outputs[code + 1]` holds dz on entry and dμ = dz +
/// ∂(β·KL)/∂μ on return; `sampling.d_log_var` holds ∂(β·KL)/∂log σ² on entry
/// and gets the reparameterisation's part added; the log σ² head's dW, db go
/// into `grads`. Its input gradient is added by `backward` once the μ head
/// has written its own.
fn backward_sampling(
    params: &Params,
    arch: &Architecture,
    grads: &mut Params,
    ws: &mut Workspace,
    rows: usize,
) {
    let code = arch.code_layer();
    let head = arch.layer_count();
    let sampling = ws.sampling.as_mut().expect("a VAE workspace");
    let mut dmu = ws.d_outputs[code + 1].slice_mut(s![..rows, ..]);
    let mut d_log_var = sampling.d_log_var.slice_mut(s![..rows, ..]);
    reparameterise_backward(
        dmu.view(),
        d_log_var.view_mut(),
        sampling.log_var.slice(s![..rows, ..]),
        sampling.eps.slice(s![..rows, ..]),
    ); // d log σ² += dz ⊙ ½ σ ⊙ ε
    dmu += &sampling.d_mu_kl.slice(s![..rows, ..]); // dμ = dz + ∂(β·KL)/∂μ
    let grad = &mut grads.layers[head];
    dense_backward(
        None,
        grad.w.view_mut(),
        grad.b.view_mut(),
        d_log_var.view(),
        ws.outputs[code].slice(s![..rows, ..]),
        params.layers[head].w.view(),
    );
}

/// A loss and, for a VAE, its two parts (nats per image).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Loss {
    pub total: f64,
    /// The reconstruction term (equal to `total` for a plain autoencoder).
    pub recon: f64,
    /// The KL term (0 for a plain autoencoder).
    pub kl: f64,
}

/// The loss of the last forward pass on `rows` rows, against `ws.target`:
/// the kind's [`Objective`] for `--loss loss`. Plain: MSE or BCE, mean over
/// pixels and images. VAE: BCE summed over pixels plus β·KL, mean over
/// images (`beta`, the KL term's weight, is 1 for the negative ELBO and
/// unused by a plain autoencoder; `recon` and `kl` are reported unweighted).
pub fn loss_forward(
    kind: ModelKind,
    loss: LossKind,
    beta: f32,
    ws: &Workspace,
    rows: usize,
) -> Loss {
    let (x_hat, x) = (ws.reconstruction(rows), ws.target.slice(s![..rows, ..]));
    let total = |loss: LossKind| {
        let total = loss.forward(x_hat, x);
        Loss {
            total,
            recon: total,
            kl: 0.0,
        }
    };
    match kind.objective(loss) {
        Objective::Mse => total(LossKind::Mse),
        Objective::Bce => total(LossKind::Bce),
        Objective::NegativeElbo => {
            let sampling = ws.sampling.as_ref().expect("a VAE workspace");
            let recon = bce_summed_forward(x_hat, x);
            let kl = kl_forward(
                sampling.mu.slice(s![..rows, ..]),
                sampling.log_var.slice(s![..rows, ..]),
            );
            Loss {
                total: recon + beta as f64 * kl,
                recon,
                kl,
            }
        }
    }
}

/// Every partial derivative of the loss with respect to what the forward pass
/// computed: dL/dx̂ of the reconstruction term into `ws.d_outputs[L]` and, for
/// a VAE, the gradient of β·KL with respect to μ and log σ² into
/// `ws.sampling.d_mu_kl` and `ws.sampling.d_log_var` (overwritten; `backward`
/// adds the paths through z).
pub fn loss_backward(kind: ModelKind, loss: LossKind, beta: f32, ws: &mut Workspace, rows: usize) {
    if let Some(sampling) = ws
        .sampling
        .as_mut()
        .filter(|_| kind.objective(loss).has_kl())
    {
        let mut d_mu_kl = sampling.d_mu_kl.slice_mut(s![..rows, ..]);
        let mut d_log_var = sampling.d_log_var.slice_mut(s![..rows, ..]);
        d_mu_kl.fill(0.0);
        d_log_var.fill(0.0);
        let (mu, log_var) = (
            sampling.mu.slice(s![..rows, ..]),
            sampling.log_var.slice(s![..rows, ..]),
        );
        kl_backward(d_mu_kl, d_log_var, mu, log_var, beta);
    }
    let last = ws.outputs.len() - 1;
    let d_x_hat = ws.d_outputs[last].slice_mut(s![..rows, ..]);
    let (x_hat, x) = (
        ws.outputs[last].slice(s![..rows, ..]),
        ws.target.slice(s![..rows, ..]),
    );
    match kind.objective(loss) {
        Objective::Mse => LossKind::Mse.backward(d_x_hat, x_hat, x),
        Objective::Bce => LossKind::Bce.backward(d_x_hat, x_hat, x),
        Objective::NegativeElbo => bce_summed_backward(d_x_hat, x_hat, x),
    }
}

/// Codes of `x` (N, D) → (N, Z), computed `chunk` rows at a time (μ for a VAE).
/// Allocates: for inference and pictures, not the training loop.
pub fn encode(
    params: &Params,
    arch: &Architecture,
    x: ArrayView2<f32>,
    chunk: usize,
) -> Array2<f32> {
    run_layers(params, arch, x, 0..arch.encoder_layers(), chunk)
}

/// Images decoded from latent codes `z` (N, Z) → (N, D).
pub fn decode(
    params: &Params,
    arch: &Architecture,
    z: ArrayView2<f32>,
    chunk: usize,
) -> Array2<f32> {
    run_layers(
        params,
        arch,
        z,
        arch.encoder_layers()..arch.layer_count(),
        chunk,
    )
}

/// A VAE's posterior q(z|x) = N(μ, exp(log σ²)) for every row of `x` (N, D):
/// (μ, log σ²), (N, Z) each, computed `chunk` rows at a time. Allocates: for
/// measurements, not the training loop. Panics if the model is not a VAE.
pub fn encode_posterior(
    params: &Params,
    arch: &Architecture,
    x: ArrayView2<f32>,
    chunk: usize,
) -> (Array2<f32>, Array2<f32>) {
    assert!(arch.variational(), "encode_posterior: not a VAE");
    let chunk = arch.rows_per_pass(chunk).min(x.nrows().max(1));
    let mut ws = Workspace::for_inference(arch, chunk);
    let mut mu = Array2::zeros((x.nrows(), arch.latent));
    let mut log_var = Array2::zeros((x.nrows(), arch.latent));
    for start in (0..x.nrows()).step_by(chunk) {
        let rows = chunk.min(x.nrows() - start);
        ws.input_mut(rows)
            .assign(&x.slice(s![start..start + rows, ..]));
        forward(params, arch, &mut ws, rows); // ε is 0: z = μ
        let sampling = ws.sampling.as_ref().expect("a VAE workspace");
        mu.slice_mut(s![start..start + rows, ..])
            .assign(&sampling.mu.slice(s![..rows, ..]));
        log_var
            .slice_mut(s![start..start + rows, ..])
            .assign(&sampling.log_var.slice(s![..rows, ..]));
    }
    (mu, log_var)
}

/// Reconstructions of `x` (N, D) → (N, D) (through z = μ for a VAE).
pub fn reconstruct(
    params: &Params,
    arch: &Architecture,
    x: ArrayView2<f32>,
    chunk: usize,
) -> Array2<f32> {
    run_layers(params, arch, x, 0..arch.layer_count(), chunk)
}

/// Runs chain layers `layers` on `x`, `chunk` rows at a time. The chain alone
/// (no sampling) is exactly the VAE with z = μ.
fn run_layers(
    params: &Params,
    arch: &Architecture,
    x: ArrayView2<f32>,
    layers: std::ops::Range<usize>,
    chunk: usize,
) -> Array2<f32> {
    let widths = arch.widths();
    assert_eq!(x.ncols(), widths[layers.start], "input has the wrong width");
    let chunk = arch.rows_per_pass(chunk).min(x.nrows().max(1));
    let mut ws = Workspace::for_inference(arch, chunk);
    let mut out = Array2::zeros((x.nrows(), widths[layers.end]));
    for start in (0..x.nrows()).step_by(chunk) {
        let rows = chunk.min(x.nrows() - start);
        ws.outputs[layers.start]
            .slice_mut(s![..rows, ..])
            .assign(&x.slice(s![start..start + rows, ..]));
        forward_layers(params, arch, &mut ws, layers.clone(), rows);
        out.slice_mut(s![start..start + rows, ..])
            .assign(&ws.outputs[layers.end].slice(s![..rows, ..]));
    }
    out
}
