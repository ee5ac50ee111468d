//! The architecture axis (`--arch`): what the layers between the image and the
//! code are, dense or convolutional, and what each layer of the chain computes.
//!
//! Legend: B = batch, D = pixels, C = channels, S = the side of a square image,
//! K = kernel side, Z = latent size.
//!
//! ```text
//! dense (--arch dense)     D → H₁ → H₂ → Z → H₂ → H₁ → D        (model.rs)
//! conv  (--arch conv)      1×28×28 ─Conv2d(1→32, 3×3, s2, p1)─→ 32×14×14 ─Conv2d(32→64)─→ 64×7×7
//!                          ─flatten, Dense(3136→Z)─→ z ─Dense(Z→3136), unflatten─→ 64×7×7
//!                          ─ConvTranspose2d(64→32, 3×3, s2, p1, op1)─→ 32×14×14
//!                          ─ConvTranspose2d(32→1)─→ 1×28×28, sigmoid
//! ```
//! ReLU after every hidden layer, as in the dense model; a VAE reads μ and
//! log σ² from the flattened features, two dense heads.
//!
//! An NCHW image batch (B, C, S, S) in row-major order is the matrix
//! (B, C·S·S): every activation buffer of [`super::Workspace`] stays a
//! matrix, each convolution views its rows as images, and "flatten" costs
//! nothing. So the chain, its activations, the VAE's sampling, the losses and
//! the gradient check's frozen ReLUs are the same code for both backbones;
//! only `layer_forward` and `layer_backward` (below) ask which operation a
//! layer is.
//!
//! For `--arch conv` the hidden list holds the channels of the encoder's
//! convolutions (32, 64 from the command line; any list in code: each
//! convolution halves the side, rounding up, and each transposed one
//! doubles it back, its output padding chosen to land on the encoder's size).
//!
//! Weights: a convolution's 4-D kernel is stored as the matrix PyTorch's
//! tensor is in memory, (O, C·K·K) for `Conv2d` (PyTorch (O, C, K, K)) and
//! (C, O·K·K) for `ConvTranspose2d` (PyTorch (C, O, K, K)), so that
//! [`super::Params`] stays a list of matrices and biases, and a checkpoint
//! writes the bytes as they are with the 4-D shape of [`LayerOp::file_shape`].
//!
//! To add a backbone: a variant here and in [`Backbone::ALL`], its arm in each
//! of `Backbone`'s methods (its name, help, the images it fits, its hidden
//! list, its description in words, its chain in [`Backbone::layer_ops`]), and,
//! for a new kind of layer, a [`LayerOp`] variant with its forward and
//! backward below. The commands, figures, checkpoints and the report ask
//! these methods and never match on the backbone.

use ndarray::{s, Array2, ArrayView1, ArrayView2, ArrayViewMut2};

use super::{forward_layers, Architecture, Dense, Params, Workspace};
use crate::nn::conv::{
    conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward,
    ConvGeometry, ConvWorkspace,
};
use crate::nn::{dense_backward, dense_forward};

/// What the layers between the image and the code are.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backbone {
    /// Dense layers of the `--hidden` widths. The default, and what files
    /// written before the convolutional model existed hold.
    #[default]
    Dense,
    /// Stride-2 convolutions of [`CONV_CHANNELS`] channels, then a dense layer
    /// to the code; the decoder mirrors it with transposed convolutions.
    Conv,
}

/// The channels of the convolutional encoder built from the command line
/// (issue 26's model: 241,441 parameters with a 32-number code).
pub const CONV_CHANNELS: [usize; 2] = [32, 64];

/// Kernel side of every convolution.
const KERNEL: usize = 3;
/// Stride of every convolution: each halves the image side (rounding up).
const STRIDE: usize = 2;
/// Zero padding of every convolution: with K = 3 and s = 2, S → ⌈S/2⌉.
const PADDING: usize = 1;

impl Backbone {
    /// Every backbone, in the order `--help` lists them.
    pub const ALL: [Backbone; 2] = [Backbone::Dense, Backbone::Conv];

    /// `"dense"` or `"conv"`: the `--arch` value and the metadata's `arch`.
    pub fn name(self) -> &'static str {
        match self {
            Backbone::Dense => "dense",
            Backbone::Conv => "conv",
        }
    }

    /// One line for `--help`.
    pub fn help(self) -> &'static str {
        match self {
            Backbone::Dense => "dense layers of the --hidden widths",
            Backbone::Conv => "convolutions 1→32→64 channels (3×3, stride 2), a dense layer to the code, transposed convolutions back",
        }
    }

    /// The backbone called `name`, or a message listing them.
    pub fn from_name(name: &str) -> std::result::Result<Backbone, String> {
        let known = Backbone::ALL.map(Backbone::name);
        let found = Backbone::ALL.into_iter().find(|b| b.name() == name);
        found.ok_or_else(|| format!("'{name}' is not an architecture ({})", known.join(", ")))
    }

    /// How its description ([`super::Architecture::describe`]) reads, for the report.
    pub fn shapes_in_words(self) -> &'static str {
        match self {
            Backbone::Dense => "layer widths",
            Backbone::Conv => "channels×rows×columns of each convolution's output (3×3 kernels, stride 2, transposed in the decoder) and widths of the dense layers",
        }
    }

    /// Whether it can read images of `input` pixels, or why not (the
    /// convolutions need square images).
    pub fn fits(self, input: usize) -> std::result::Result<(), String> {
        match self {
            Backbone::Conv if input.isqrt().pow(2) != input => Err(format!(
                "the convolutional model needs square images, not {input} pixels"
            )),
            _ => Ok(()),
        }
    }

    /// Whether `--hidden` chooses its widths (the convolutional model's
    /// channels are [`CONV_CHANNELS`]).
    pub fn takes_hidden_flag(self) -> bool {
        self == Backbone::Dense
    }

    /// The hidden list of a model built from the command line with `--hidden
    /// flag`: the flag's widths, or the convolutions' channels.
    pub fn hidden(self, flag: &[usize]) -> Vec<usize> {
        match self {
            Backbone::Dense => flag.to_vec(),
            Backbone::Conv => CONV_CHANNELS.to_vec(),
        }
    }

    /// The operation of every layer of the chain X → x̂ (not the VAE's
    /// log σ² head) for images of `input` pixels, `hidden` widths or channels
    /// and a `latent`-number code.
    pub fn layer_ops(self, input: usize, hidden: &[usize], latent: usize) -> Vec<LayerOp> {
        match self {
            Backbone::Dense => {
                let mut widths = vec![input];
                widths.extend(hidden);
                widths.push(latent);
                widths.extend(hidden.iter().rev());
                widths.push(input);
                let dense = widths.windows(2).map(|io| LayerOp::Dense {
                    inputs: io[0],
                    outputs: io[1],
                });
                dense.collect()
            }
            Backbone::Conv => conv_chain(input, hidden, latent),
        }
    }
}

/// The convolutional chain: Conv2d layers down, a dense layer to the code and
/// back, ConvTranspose2d layers up (see the module doc).
fn conv_chain(input: usize, channels: &[usize], latent: usize) -> Vec<LayerOp> {
    let side = input.isqrt();
    assert_eq!(
        side * side,
        input,
        "--arch conv needs square images, got {input} pixels"
    );
    let encoder = conv_encoder(side, channels);
    let flat = encoder.last().map_or(input, LayerOp::output_width);
    let mut ops = encoder.clone();
    ops.push(LayerOp::Dense {
        inputs: flat,
        outputs: latent,
    });
    ops.push(LayerOp::Dense {
        inputs: latent,
        outputs: flat,
    });
    ops.extend(encoder.iter().rev().map(mirror));
    ops
}

/// The encoder's Conv2d layers from a one-channel image of `side`, to `channels`.
fn conv_encoder(side: usize, channels: &[usize]) -> Vec<LayerOp> {
    let geometry = ConvGeometry::new(STRIDE, PADDING);
    let (mut in_channels, mut in_side) = (1, side);
    let mut ops = Vec::new();
    for &out_channels in channels {
        let out_side = geometry.conv_output_len(in_side, KERNEL);
        ops.push(LayerOp::Conv2d(ConvShape {
            in_channels,
            out_channels,
            in_side,
            out_side,
            geometry,
        }));
        (in_channels, in_side) = (out_channels, out_side);
    }
    ops
}

/// The ConvTranspose2d that undoes the shape of encoder layer `down`, its
/// output padding chosen so that `(small − 1)·s − 2p + K + op = large`.
fn mirror(down: &LayerOp) -> LayerOp {
    let LayerOp::Conv2d(down) = down else {
        unreachable!("the encoder is convolutions")
    };
    let (small, large) = (down.out_side, down.in_side);
    let output_padding = large + 2 * PADDING - (small - 1) * STRIDE - KERNEL;
    LayerOp::ConvTranspose2d(ConvShape {
        in_channels: down.out_channels,
        out_channels: down.in_channels,
        in_side: small,
        out_side: large,
        geometry: ConvGeometry {
            output_padding,
            ..down.geometry
        },
    })
}

/// A convolution's channels, image sides and geometry (square images and a
/// square K×K kernel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvShape {
    /// C: channels in.
    pub in_channels: usize,
    /// O: channels out.
    pub out_channels: usize,
    /// The input image's side.
    pub in_side: usize,
    /// The output image's side.
    pub out_side: usize,
    /// Stride, padding, output padding.
    pub geometry: ConvGeometry,
}

impl ConvShape {
    /// K·K: the taps of a kernel.
    fn taps(&self) -> usize {
        KERNEL * KERNEL
    }
}

/// What one layer of the chain computes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerOp {
    /// `Y = X·W + b`, W (I, O).
    Dense { inputs: usize, outputs: usize },
    /// `y = conv2d(x, w) + b`, w (O, C, K, K) stored as the matrix (O, C·K·K).
    Conv2d(ConvShape),
    /// `y = conv_transpose2d(x, w) + b`, w (C, O, K, K) stored as (C, O·K·K).
    ConvTranspose2d(ConvShape),
}

impl LayerOp {
    /// The values per image it reads: I, or C·S·S.
    pub fn input_width(&self) -> usize {
        match self {
            LayerOp::Dense { inputs, .. } => *inputs,
            LayerOp::Conv2d(c) | LayerOp::ConvTranspose2d(c) => c.in_channels * c.in_side.pow(2),
        }
    }

    /// The values per image it writes: O, or O·S·S.
    pub fn output_width(&self) -> usize {
        match self {
            LayerOp::Dense { outputs, .. } => *outputs,
            LayerOp::Conv2d(c) | LayerOp::ConvTranspose2d(c) => c.out_channels * c.out_side.pow(2),
        }
    }

    /// The weight matrix's shape in memory: (I, O), (O, C·K·K) or (C, O·K·K).
    pub fn weight_dim(&self) -> (usize, usize) {
        match self {
            LayerOp::Dense { inputs, outputs } => (*inputs, *outputs),
            LayerOp::Conv2d(c) => (c.out_channels, c.in_channels * c.taps()),
            LayerOp::ConvTranspose2d(c) => (c.in_channels, c.out_channels * c.taps()),
        }
    }

    /// The bias length: O, outputs or output channels.
    pub fn bias_len(&self) -> usize {
        match self {
            LayerOp::Dense { outputs, .. } => *outputs,
            LayerOp::Conv2d(c) | LayerOp::ConvTranspose2d(c) => c.out_channels,
        }
    }

    /// The fan-in PyTorch initialises with, U(−1/√fan_in, 1/√fan_in): I for
    /// `nn.Linear`, C·K·K for `Conv2d`, and O·K·K for `ConvTranspose2d`
    /// (PyTorch reads it off the weight's second axis, which is O there).
    pub fn fan_in(&self) -> usize {
        match self {
            LayerOp::Dense { inputs, .. } => *inputs,
            LayerOp::Conv2d(c) => c.in_channels * c.taps(),
            LayerOp::ConvTranspose2d(c) => c.out_channels * c.taps(),
        }
    }

    /// The weight's shape as PyTorch stores it: (O, I), (O, C, K, K) or (C, O, K, K).
    pub fn file_shape(&self) -> Vec<usize> {
        match self {
            LayerOp::Dense { inputs, outputs } => vec![*outputs, *inputs],
            LayerOp::Conv2d(c) => vec![c.out_channels, c.in_channels, KERNEL, KERNEL],
            LayerOp::ConvTranspose2d(c) => vec![c.in_channels, c.out_channels, KERNEL, KERNEL],
        }
    }

    /// Whether the file holds the transpose of the matrix in memory (a dense
    /// layer's (O, I) against our (I, O)); a convolution's bytes are the same.
    pub fn file_transposed(&self) -> bool {
        matches!(self, LayerOp::Dense { .. })
    }

    /// Multiply-adds of its forward pass per image.
    pub fn multiply_adds(&self) -> usize {
        match self {
            LayerOp::Dense { inputs, outputs } => inputs * outputs,
            LayerOp::Conv2d(c) => c.out_side.pow(2) * c.out_channels * c.in_channels * c.taps(),
            LayerOp::ConvTranspose2d(c) => {
                c.in_side.pow(2) * c.out_channels * c.in_channels * c.taps()
            }
        }
    }

    /// Floats per image of its lowering matrices in a [`ConvWorkspace`]: the
    /// columns (C·K·K, OH·OW) and the channel rows (O, OH·OW) of a Conv2d, or
    /// (O·K·K, H·W) and (C, H·W) of a ConvTranspose2d; 0 for a dense layer.
    pub fn lowering_floats(&self) -> usize {
        match self {
            LayerOp::Dense { .. } => 0,
            LayerOp::Conv2d(c) => (c.in_channels * c.taps() + c.out_channels) * c.out_side.pow(2),
            LayerOp::ConvTranspose2d(c) => {
                (c.out_channels * c.taps() + c.in_channels) * c.in_side.pow(2)
            }
        }
    }

    /// `"dense"`, `"conv2d"`, `"conv_transpose2d"`: its name in the report's data.
    pub fn name(&self) -> &'static str {
        match self {
            LayerOp::Dense { .. } => "dense",
            LayerOp::Conv2d(_) => "conv2d",
            LayerOp::ConvTranspose2d(_) => "conv_transpose2d",
        }
    }

    /// The kernel side K, stride, padding and output padding of a
    /// convolution, and its channels and sides; None for a dense layer.
    pub fn convolution(&self) -> Option<(usize, ConvShape)> {
        match self {
            LayerOp::Dense { .. } => None,
            LayerOp::Conv2d(c) | LayerOp::ConvTranspose2d(c) => Some((KERNEL, *c)),
        }
    }

    /// `"32x14x14"`: the output as the description of an architecture writes it.
    pub fn describe_output(&self) -> String {
        match self {
            LayerOp::Dense { outputs, .. } => outputs.to_string(),
            LayerOp::Conv2d(c) | LayerOp::ConvTranspose2d(c) => {
                format!("{}x{}x{}", c.out_channels, c.out_side, c.out_side)
            }
        }
    }

    /// `"64x7x7"`: its input as the description of an architecture writes it.
    pub fn describe_input(&self) -> String {
        match self {
            LayerOp::Dense { inputs, .. } => inputs.to_string(),
            LayerOp::Conv2d(c) | LayerOp::ConvTranspose2d(c) => {
                format!("{}x{}x{}", c.in_channels, c.in_side, c.in_side)
            }
        }
    }

    /// The (B, C, S, S) shape of `rows` images of its input and output, if a convolution.
    fn image_dims(&self, rows: usize) -> Option<([usize; 4], [usize; 4])> {
        match self {
            LayerOp::Dense { .. } => None,
            LayerOp::Conv2d(c) | LayerOp::ConvTranspose2d(c) => Some((
                [rows, c.in_channels, c.in_side, c.in_side],
                [rows, c.out_channels, c.out_side, c.out_side],
            )),
        }
    }

    /// The weight matrix as the 4-D kernel the convolutions take.
    fn kernel_dims(&self) -> [usize; 4] {
        let shape = self.file_shape();
        [shape[0], shape[1], shape[2], shape[3]]
    }
}

/// A matrix view (rows, C·S·S) as the image batch (rows, C, S, S) it holds.
macro_rules! images {
    ($matrix:expr, $dims:expr) => {
        $matrix
            .into_shape_with_order(($dims[0], $dims[1], $dims[2], $dims[3]))
            .expect("activations are row-major (B, C·S·S)")
    };
}

/// Layer `op`'s pre-activation output `y` (B, output width), overwritten, of
/// `x` (B, input width), with its tensors `layer`. `conv` holds the
/// convolutions' lowering matrices. (The dense model's first layer, which
/// skips zero pixels, is called by [`super::forward_layers`] itself.)
pub(super) fn layer_forward(
    op: &LayerOp,
    y: ArrayViewMut2<f32>,
    x: ArrayView2<f32>,
    layer: &Dense,
    conv: &mut ConvWorkspace,
) {
    let (w, b) = (layer.w.view(), layer.b.view());
    let Some((x_dims, y_dims)) = op.image_dims(x.nrows()) else {
        return dense_forward(y, x, w, b); // Y = X·W + b
    };
    let w = images!(w, op.kernel_dims());
    let (x, y) = (images!(x, x_dims), images!(y, y_dims));
    match op {
        LayerOp::Conv2d(c) => conv2d_forward(y, x, w, b, c.geometry, conv),
        LayerOp::ConvTranspose2d(c) => conv_transpose2d_forward(y, x, w, b, c.geometry, conv),
        LayerOp::Dense { .. } => unreachable!("handled above"),
    }
}

/// Undoes [`layer_forward`]: from `dz` (B, output width), the gradient of its
/// pre-activation output, writes dW and db into `grad` and, if given, dX
/// (B, input width). `x` is the forward input, `layer` the tensors. All
/// overwritten.
pub(super) fn layer_backward(
    op: &LayerOp,
    dx: Option<ArrayViewMut2<f32>>,
    grad: &mut Dense,
    dz: ArrayView2<f32>,
    x: ArrayView2<f32>,
    layer: &Dense,
    conv: &mut ConvWorkspace,
) {
    let (dw, db, w) = (grad.w.view_mut(), grad.b.view_mut(), layer.w.view());
    let Some((x_dims, y_dims)) = op.image_dims(x.nrows()) else {
        return dense_backward(dx, dw, db, dz, x, w); // dW = Xᵀ·dZ, db = Σ dZ, dX = dZ·Wᵀ
    };
    let kernel = op.kernel_dims();
    let (dw, w) = (images!(dw, kernel), images!(w, kernel));
    let (dz, x) = (images!(dz, y_dims), images!(x, x_dims));
    let dx = dx.map(|dx| images!(dx, x_dims));
    match op {
        LayerOp::Conv2d(c) => conv2d_backward(dx, dw, db, dz, x, w, c.geometry, conv),
        LayerOp::ConvTranspose2d(c) => {
            conv_transpose2d_backward(dx, dw, db, dz, x, w, c.geometry, conv)
        }
        LayerOp::Dense { .. } => unreachable!("handled above"),
    }
}

/// The first layer's kernels as K×K images, (O, K·K), if it is a convolution
/// of a one-channel image (filters.png); None for the dense model.
pub fn first_filters(params: &Params, arch: &Architecture) -> Option<(Array2<f32>, usize)> {
    let (kernel, shape) = arch.layer_ops()[0].convolution()?;
    (shape.in_channels == 1).then(|| (params.layers[0].w.clone(), kernel))
}

/// One layer's output for one image, as images.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureMaps {
    /// The layer's stored name (`encoder.0`, …).
    pub layer: String,
    /// The side S of every map.
    pub side: usize,
    /// (C, S·S): one row per channel, after the layer's activation.
    pub maps: Array2<f32>,
}

/// Every layer output of `image` (D) that is an image, in chain order: each
/// convolution's, and the decoder's dense layer as the next convolution reads
/// it. Computed with z = μ for a VAE. Empty for the dense model.
pub fn feature_maps(
    params: &Params,
    arch: &Architecture,
    image: ArrayView1<f32>,
) -> Vec<FeatureMaps> {
    let ops = arch.layer_ops();
    let mut ws = Workspace::for_inference(arch, 1);
    ws.input_mut(1).row_mut(0).assign(&image);
    forward_layers(params, arch, &mut ws, 0..arch.layer_count(), 1);
    let images = (0..arch.layer_count()).filter_map(|l| {
        let (channels, side) = match (
            ops[l].convolution(),
            ops.get(l + 1).and_then(LayerOp::convolution),
        ) {
            (Some((_, c)), _) => (c.out_channels, c.out_side),
            (None, Some((_, next))) => (next.in_channels, next.in_side),
            (None, None) => return None,
        };
        let values = ws.outputs[l + 1].slice(s![0, ..]);
        let maps = values
            .to_owned()
            .into_shape_with_order((channels, side * side));
        Some(FeatureMaps {
            layer: arch.layer_name(l),
            side,
            maps: maps.expect("a layer's output is its channels' images"),
        })
    });
    images.collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_conv_chain_is_issue_26s_model() {
        let ops = Backbone::Conv.layer_ops(784, &CONV_CHANNELS, 32);
        let widths: Vec<usize> = ops.iter().map(LayerOp::output_width).collect();
        assert_eq!(widths, [6272, 3136, 32, 3136, 6272, 784]);
        let params: usize = ops
            .iter()
            .map(|op| {
                let (rows, cols) = op.weight_dim();
                rows * cols + op.bias_len()
            })
            .sum();
        assert_eq!(params, 241_441, "the PyTorch reference's parameter count");
        let paddings: Vec<usize> = ops
            .iter()
            .filter_map(|op| match op {
                LayerOp::ConvTranspose2d(c) => Some(c.geometry.output_padding),
                _ => None,
            })
            .collect();
        assert_eq!(paddings, [1, 1], "7 → 14 → 28 needs output padding 1 twice");
        assert_eq!(
            ops[4].file_shape(),
            [64, 32, 3, 3],
            "ConvTranspose2d is (C, O, K, K)"
        );
        assert_eq!(ops[0].file_shape(), [32, 1, 3, 3], "Conv2d is (O, C, K, K)");
    }

    #[test]
    fn odd_sides_round_up_and_come_back() {
        // 28 → 14 → 7 → 4, and back 4 → 7 (output padding 0) → 14 → 28.
        let ops = Backbone::Conv.layer_ops(784, &[2, 3, 4], 5);
        let inputs: Vec<usize> = ops.iter().map(LayerOp::input_width).collect();
        let outputs: Vec<usize> = ops.iter().map(LayerOp::output_width).collect();
        assert_eq!(outputs.last(), Some(&784));
        assert_eq!(&inputs[1..], &outputs[..outputs.len() - 1], "a chain");
        assert_eq!(outputs[2], 4 * 4 * 4);
        match ops[5] {
            LayerOp::ConvTranspose2d(c) => assert_eq!(
                (c.in_side, c.out_side, c.geometry.output_padding),
                (4, 7, 0)
            ),
            other => panic!("layer 5 is {other:?}"),
        }
    }
}
