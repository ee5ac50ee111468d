//! The autoencoder: its architecture, its parameters, and its forward and
//! backward passes built from the paired functions in [`crate::nn`].
//!
//! Shapes: B = batch, D = pixels (784), H₁, H₂, ... = hidden widths, Z = latent size.
//!
//! ```text
//! encoder   D → H₁ → H₂ → Z       ReLU after each hidden layer, linear latent
//! decoder   Z → H₂ → H₁ → D       ReLU after each hidden layer, sigmoid output
//! ```
//! With `--hidden 256,128 --latent 32` that is six dense layers,
//! 784-256-128-32-128-256-784, named like PyTorch's `nn.Sequential`
//! (`encoder.0`, `encoder.2`, `encoder.4`, `decoder.0`, ...: the odd indices are
//! the activation modules, which have no parameters).

use ndarray::{s, Array1, Array2, ArrayView2};
use ndarray_rand::rand::Rng;
use ndarray_rand::rand_distr::Uniform;
use ndarray_rand::RandomExt;

use crate::nn::{
    activation_backward, activation_forward, dense_backward, dense_forward, Activation,
};

/// The shape of the autoencoder. The decoder mirrors the encoder.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Architecture {
    /// D, pixels per image.
    pub input: usize,
    /// Encoder hidden widths H₁, H₂, ... (the decoder uses them reversed).
    pub hidden: Vec<usize>,
    /// Z, the size of the code.
    pub latent: usize,
}

impl Architecture {
    /// Widths of every layer boundary: `[D, H₁, …, Z, …, H₁, D]`.
    pub fn widths(&self) -> Vec<usize> {
        let mut widths = vec![self.input];
        widths.extend(&self.hidden);
        widths.push(self.latent);
        widths.extend(self.hidden.iter().rev());
        widths.push(self.input);
        widths
    }

    /// Number of dense layers (2 × (hidden layers + 1)).
    pub fn layer_count(&self) -> usize {
        2 * (self.hidden.len() + 1)
    }

    /// Number of dense layers in the encoder; layer `encoder_layers()` is the
    /// first decoder layer and its input is the latent code.
    pub fn encoder_layers(&self) -> usize {
        self.hidden.len() + 1
    }

    /// The activation after dense layer `layer`.
    pub fn activation(&self, layer: usize) -> Activation {
        if layer + 1 == self.layer_count() {
            Activation::Sigmoid
        } else if layer + 1 == self.encoder_layers() {
            Activation::Identity
        } else {
            Activation::Relu
        }
    }

    /// PyTorch-style module name of dense layer `layer`: `encoder.0`, `encoder.2`, ...
    pub fn layer_name(&self, layer: usize) -> String {
        let e = self.encoder_layers();
        if layer < e {
            format!("encoder.{}", 2 * layer)
        } else {
            format!("decoder.{}", 2 * (layer - e))
        }
    }

    /// `"784-256-128-32-128-256-784"`.
    pub fn describe(&self) -> String {
        let widths: Vec<String> = self.widths().iter().map(|w| w.to_string()).collect();
        widths.join("-")
    }
}

/// One dense layer's tensors.
#[derive(Debug, Clone, PartialEq)]
pub struct Dense {
    /// (I, O) weights.
    pub w: Array2<f32>,
    /// (O) biases.
    pub b: Array1<f32>,
}

/// Every tensor of the model, layer by layer. The same type holds the
/// parameters, their gradients, and Adam's first and second moments, so their
/// shapes match by construction.
#[derive(Debug, Clone, PartialEq)]
pub struct Params {
    pub layers: Vec<Dense>,
}

impl Params {
    /// All zeros, shaped for `arch`.
    pub fn zeros(arch: &Architecture) -> Params {
        let widths = arch.widths();
        let layers = widths
            .windows(2)
            .map(|io| Dense {
                w: Array2::zeros((io[0], io[1])),
                b: Array1::zeros(io[1]),
            })
            .collect();
        Params { layers }
    }

    /// PyTorch's `nn.Linear` initialisation: every weight and bias drawn from
    /// U(−1/√I, 1/√I), I = the layer's fan-in. Seeded by `rng`.
    pub fn init(arch: &Architecture, rng: &mut impl Rng) -> Params {
        let mut params = Params::zeros(arch);
        for layer in &mut params.layers {
            let bound = 1.0 / (layer.w.nrows() as f32).sqrt();
            let uniform = Uniform::new_inclusive(-bound, bound).expect("bound is positive");
            layer.w = Array2::random_using(layer.w.dim(), uniform, rng);
            layer.b = Array1::random_using(layer.b.len(), uniform, rng);
        }
        params
    }

    /// Sets every value to `value` (zeroing the gradients is `fill(0.0)`).
    pub fn fill(&mut self, value: f32) {
        for layer in &mut self.layers {
            layer.w.fill(value);
            layer.b.fill(value);
        }
    }

    /// Total number of scalars.
    pub fn len(&self) -> usize {
        self.layers.iter().map(|l| l.w.len() + l.b.len()).sum()
    }

    /// True if the model has no parameter.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Preallocated buffers for a forward and backward pass on up to `capacity` rows.
/// Nothing is allocated per batch: a batch of B rows uses the first B rows.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// `outputs[0]` is the input X (B, D); `outputs[l + 1]` is layer l's activated
    /// output (B, widths[l + 1]). The last one is the reconstruction x̂.
    pub outputs: Vec<Array2<f32>>,
    /// `grads[l]` is the gradient of the loss with respect to `outputs[l]`,
    /// then (in place) with respect to layer l-1's pre-activation.
    /// `grads[0]` is never needed and kept empty.
    pub grads: Vec<Array2<f32>>,
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
        let grads = widths
            .iter()
            .enumerate()
            .map(|(i, &w)| Array2::zeros((if i == 0 || !grads { 0 } else { capacity }, w)))
            .collect();
        Workspace {
            outputs,
            grads,
            capacity,
        }
    }

    /// The first `rows` rows of the input buffer X, to fill with a batch.
    pub fn input_mut(&mut self, rows: usize) -> ndarray::ArrayViewMut2<'_, f32> {
        self.outputs[0].slice_mut(s![..rows, ..])
    }

    /// The reconstruction x̂ of the last forward pass on `rows` rows.
    pub fn reconstruction(&self, rows: usize) -> ArrayView2<'_, f32> {
        self.outputs
            .last()
            .expect("at least one layer")
            .slice(s![..rows, ..])
    }

    /// Output of layer `layer - 1` (the input of layer `layer`) for `rows` rows;
    /// with `layer = arch.encoder_layers()` it is the latent code.
    pub fn output(&self, layer: usize, rows: usize) -> ArrayView2<'_, f32> {
        self.outputs[layer].slice(s![..rows, ..])
    }
}

/// Runs dense layers `layers` (a range of layer indices) on the first `rows`
/// rows of `ws.outputs[layers.start]`, writing each activated output into the
/// next buffer.
pub fn forward_layers(
    params: &Params,
    arch: &Architecture,
    ws: &mut Workspace,
    layers: std::ops::Range<usize>,
    rows: usize,
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
        dense_forward(y.view_mut(), x, layer.w.view(), layer.b.view());
        activation_forward(arch.activation(l), y);
    }
}

/// The whole autoencoder forward: X in `ws.outputs[0]` → x̂ in the last buffer.
pub fn forward(params: &Params, arch: &Architecture, ws: &mut Workspace, rows: usize) {
    forward_layers(params, arch, ws, 0..arch.layer_count(), rows);
}

/// The whole backward pass. On entry `ws.grads[L]` (L = layer count) holds
/// dLoss/dx̂ for the first `rows` rows and the buffers hold the forward pass;
/// on return `grads` has been *accumulated* with every dW and db (zero it first).
///
/// For each layer l from the last to the first:
/// ```text
/// dZ  = dA ⊙ f'(Z)              activation_backward, in place in grads[l + 1]
/// dW += Aₗᵀ·dZ,  db += Σ dZ     dense_backward
/// dAₗ = dZ·Wᵀ                   dense_backward, into grads[l] (skipped for l = 0)
/// ```
pub fn backward(
    params: &Params,
    arch: &Architecture,
    grads: &mut Params,
    ws: &mut Workspace,
    rows: usize,
) {
    for l in (0..arch.layer_count()).rev() {
        let (lower, upper) = ws.grads.split_at_mut(l + 1);
        let mut dz = upper[0].slice_mut(s![..rows, ..]);
        activation_backward(
            arch.activation(l),
            dz.view_mut(),
            ws.outputs[l + 1].slice(s![..rows, ..]),
        );
        let dx = (l > 0).then(|| lower[l].slice_mut(s![..rows, ..]));
        let grad = &mut grads.layers[l];
        dense_backward(
            dx,
            grad.w.view_mut(),
            grad.b.view_mut(),
            dz.view(),
            ws.outputs[l].slice(s![..rows, ..]),
            params.layers[l].w.view(),
        );
    }
}

/// Latent codes of `x` (N, D) → (N, Z), computed `chunk` rows at a time.
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

/// Reconstructions of `x` (N, D) → (N, D).
pub fn reconstruct(
    params: &Params,
    arch: &Architecture,
    x: ArrayView2<f32>,
    chunk: usize,
) -> Array2<f32> {
    run_layers(params, arch, x, 0..arch.layer_count(), chunk)
}

fn run_layers(
    params: &Params,
    arch: &Architecture,
    x: ArrayView2<f32>,
    layers: std::ops::Range<usize>,
    chunk: usize,
) -> Array2<f32> {
    let widths = arch.widths();
    assert_eq!(x.ncols(), widths[layers.start], "input has the wrong width");
    let chunk = chunk.max(1).min(x.nrows().max(1));
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
