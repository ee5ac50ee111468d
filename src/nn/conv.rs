//! The convolution layers: `Conv2d` and `ConvTranspose2d`, as PyTorch defines
//! them, lowered to the crate's one matrix product ([`matmul`]) by im2col /
//! col2im.
//!
//! Legend: B = batch, C = input channels, O = output channels, (H, W) the input
//! image, (KH, KW) the kernel, (OH, OW) the output image, s = stride, p =
//! padding, op = output padding; K = C·KH·KW, P = OH·OW. Tensors are NCHW
//! (batch, channel, row, column), row-major; weights are stored as PyTorch
//! stores them: (O, C, KH, KW) for `Conv2d`, (C, O, KH, KW) for `ConvTranspose2d`.
//!
//! ```text
//! Conv2d           y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v] · x[n,c, s·i+u−p, s·j+v−p]
//!                  (x is 0 outside the image)          OH = ⌊(H + 2p − KH)/s⌋ + 1
//! ConvTranspose2d  y[n,o, s·i+u−p, s·j+v−p] += w[c,o,u,v] · x[n,c,i,j]   (+ b[o] once)
//!                                                      OH = (H − 1)·s − 2p + KH + op
//! ```
//!
//! ## Convolution as a matrix product
//! im2col copies every patch the kernel sees into a column: the column of output
//! pixel (n,i,j) holds, in row (c,u,v), the input pixel under kernel tap (u,v) of
//! channel c. With W viewed as a matrix (O, K) the layer is one product:
//!
//! ```text
//! X̃ = im2col(x)          (K, B·P)     X̃[(c,u,v), (n,i,j)] = x[n,c, s·i+u−p, s·j+v−p]
//! Ỹ = W·X̃                (O, K)·(K, B·P) = (O, B·P)
//! y[n,o,i,j] = Ỹ[o, (n,i,j)] + b[o]     (channel rows back to NCHW)
//! ```
//!
//! ## Its three gradients
//! Given `dY = ∂L/∂y`, laid out as the matrix dỸ (O, B·P) like Ỹ:
//!
//! ```text
//! dW  = dỸ·X̃ᵀ            (O, B·P)·(B·P, K) = (O, K)
//! db  = Σ_{n,i,j} dY[n,o,i,j]   (O)
//! dX̃  = Wᵀ·dỸ            (K, O)·(O, B·P) = (K, B·P)
//! dx  = col2im(dX̃)        every entry of dX̃ added back onto the pixel it was copied from
//! ```
//! Why: `Ỹ = W·X̃` is a dense layer (dense.rs) with the batch as columns, so
//! `dW = dỸ·X̃ᵀ` and `dX̃ = Wᵀ·dỸ`. Written out, `dW[o,c,u,v] = Σ_{n,i,j} dY[n,o,i,j] ·
//! x[n,c, s·i+u−p, s·j+v−p]`: the weight gradient is the **correlation of the input
//! with the output gradient**. im2col copies a pixel into every column whose patch
//! covers it, so by the chain rule its gradient is the sum of those copies'
//! gradients: col2im, the adjoint of im2col. Written out,
//! `dx[n,c,h,w] = Σ_{o,u,v: h = s·i+u−p, w = s·j+v−p} w[o,c,u,v] · dY[n,o,i,j]`, which is
//! the ConvTranspose2d formula above with dY as its input: **the input gradient
//! of a convolution is a transposed convolution** with the same weights.
//!
//! ## The transposed convolution
//! is that input gradient run forward ("backward-strided convolution"): with
//! w (C, O, KH, KW) read as a Conv2d weight from O channels to C channels, it maps
//! the small image (H, W) back to the large one (OH, OW). So its forward is the
//! Conv2d input gradient and its backward the Conv2d forward and weight gradient:
//!
//! ```text
//! forward   X̂ = x as channel rows (C, B·H·W);  Ỹ = Wᵀ·X̂  (O·KH·KW, B·H·W);  y = col2im(Ỹ) + b
//! backward  dỸ = im2col(dy)  (O·KH·KW, B·H·W)         the Conv2d forward's lowering of dy
//!           dW = X̂·dỸᵀ       (C, B·H·W)·(B·H·W, O·KH·KW) = (C, O·KH·KW)
//!           dX̂ = W·dỸ        (C, O·KH·KW)·(O·KH·KW, B·H·W) = (C, B·H·W)    dx: back to NCHW
//!           db = Σ_{n,h,w} dy[n,o,h,w]
//! ```
//! Output padding `op` (< s) adds rows and columns at the bottom and right of the
//! output so that a stride-2 transpose of 7×7 gives 14×14, not 13×13: the
//! Conv2d whose adjoint this is would floor `(14 + 2 − 3)/2 + 1` to 7 as well.
//!
//! ## Work, memory and threads
//! The products are the crate's [`matmul`]. Those whose sum runs over K (the
//! forward products and the input gradients' `Wᵀ·dỸ`, `W·dỸ`) go through the
//! batch in chunks of a few images, one chunk per thread (`by_chunks`): im2col,
//! the product and col2im (or the copy to NCHW) of a chunk work on ~256 KB that
//! stays in the L2 cache, where the whole batch's columns matrix (7.2 MB for the
//! model of issue 26) would go out to memory and back between each step. An
//! element of such a product is the same sum in the same pieces of K however
//! many columns the product has, so chunks give the whole batch's bits. The
//! weight gradients sum over the batch and take it whole, each split across
//! threads by [`matmul`] itself. Every output element is summed in a fixed order
//! whoever computes it, so results are the same to the bit on any number of
//! threads. The two matrices above live in a [`ConvWorkspace`] the caller owns;
//! the backward passes recompute im2col of the input instead of keeping it from
//! the forward pass (a copy, cheap beside the products), so one workspace serves
//! every layer of a model.
//!
//! im2col and col2im go through one channel at a time in a `PaddedPlane`: the
//! plane with its zero padding written out and its columns sorted by their
//! position mod s, so that every kernel tap reads (or adds to) one contiguous run
//! per output row, with no test for the image's edges in the inner loop.

use ndarray::{
    s, ArrayView1, ArrayView2, ArrayView4, ArrayViewMut1, ArrayViewMut2, ArrayViewMut4, Axis,
};
use rayon::prelude::*;

use super::matmul::matmul;
use crate::parallel::{worth_splitting, PARALLEL_MIN_ELEMENTS};

/// Stride, padding and output padding of a convolution (the kernel size is the
/// weight's). The same on both image axes, as in the model of issue 26.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvGeometry {
    /// s: the step between two kernel positions on the input (Conv2d), or
    /// between two input pixels' footprints on the output (ConvTranspose2d).
    pub stride: usize,
    /// p: zeros added on each side of the Conv2d input; rows and columns cut from
    /// each side of the ConvTranspose2d output.
    pub padding: usize,
    /// op: ConvTranspose2d only, rows and columns added at the bottom and right
    /// of its output (op < s); 0 for Conv2d.
    pub output_padding: usize,
}

impl ConvGeometry {
    /// A Conv2d's (or a ConvTranspose2d's without output padding) geometry.
    pub fn new(stride: usize, padding: usize) -> ConvGeometry {
        ConvGeometry {
            stride,
            padding,
            output_padding: 0,
        }
    }

    /// Conv2d output length along one axis: `⌊(input + 2p − kernel)/s⌋ + 1`.
    pub fn conv_output_len(&self, input: usize, kernel: usize) -> usize {
        assert!(self.stride > 0, "conv: the stride must be at least 1");
        assert!(
            input + 2 * self.padding >= kernel,
            "conv: a kernel of {kernel} does not fit an input of {input} padded by {}",
            self.padding
        );
        (input + 2 * self.padding - kernel) / self.stride + 1
    }

    /// ConvTranspose2d output length along one axis: `(input − 1)·s − 2p + kernel + op`.
    pub fn transpose_output_len(&self, input: usize, kernel: usize) -> usize {
        assert!(
            self.stride > 0,
            "conv_transpose: the stride must be at least 1"
        );
        assert!(
            self.output_padding < self.stride,
            "conv_transpose: output padding {} must be less than the stride {}",
            self.output_padding,
            self.stride
        );
        assert!(input > 0, "conv_transpose: the input is empty");
        let full = (input - 1) * self.stride + kernel + self.output_padding;
        assert!(
            full > 2 * self.padding,
            "conv_transpose: padding {} leaves no output",
            self.padding
        );
        full - 2 * self.padding
    }
}

/// The two matrices of the lowering, kept between batches so that no batch
/// allocates: the first call through the largest layer grows them, and every
/// later call of the same or a smaller size reuses them. One workspace can serve
/// every convolution of a model in turn (nothing in it outlives a call).
///
/// The two live in one buffer, cut two ways:
///
/// ```text
/// whole batch (the weight gradients):   [ columns (K, B·P) | channel rows (channels, B·P) ]
/// by chunks of n images (the rest):     [ chunk 0: columns (K, n·P) | rows (channels, n·P) ][ chunk 1 ] …
/// ```
/// A backward pass keeps the whole matrix its weight gradient read and cuts
/// the other part into chunks (see `by_chunks`).
#[derive(Debug, Clone, Default)]
pub struct ConvWorkspace {
    /// The im2col matrix of the Conv2d side with the larger image, (K, B·P) =
    /// (C·KH·KW, B·OH·OW) for a Conv2d, (O·KH·KW, B·H·W) for a ConvTranspose2d,
    /// or its gradient; then a tensor of the smaller image with its channels as
    /// rows, (channels, B·pixels): Ỹ or dỸ (O, B·OH·OW) for a Conv2d, X̂ or dX̂
    /// (C, B·H·W) for a ConvTranspose2d. Or the same floats cut by chunks.
    floats: Vec<f32>,
}

impl ConvWorkspace {
    /// An empty workspace: it grows on first use.
    pub fn new() -> ConvWorkspace {
        ConvWorkspace::default()
    }

    /// The floats it holds now (4 bytes each): for the model of issue 26 at
    /// B = 128, (288 + 64) × 6,272 = 2.21 M (8.8 MB).
    pub fn floats(&self) -> usize {
        self.floats.len()
    }

    /// The buffer's first `columns + rows` floats, as the columns part and the
    /// channel-rows part, grown if too small. Not cleared: every user overwrites them.
    fn parts(&mut self, columns: usize, rows: usize) -> (&mut [f32], &mut [f32]) {
        if self.floats.len() < columns + rows {
            self.floats.resize(columns + rows, 0.0);
        }
        self.floats[..columns + rows].split_at_mut(columns)
    }
}

/// A buffer of `shape.0 · shape.1` floats as a row-major matrix.
fn as_matrix(buffer: &mut [f32], shape: (usize, usize)) -> ArrayViewMut2<'_, f32> {
    ArrayViewMut2::from_shape(shape, buffer).expect("the buffer was sized for it")
}

/// Floats of workspace one chunk of the batch may use: about 256 KB, so that a
/// chunk's columns, their packed copy and its channel rows stay in the L2 cache
/// from im2col through the product to the output.
const CHUNK_FLOATS: usize = 1 << 16;

/// Runs `work(images, out, scratch)` for each chunk of the batch: `images` the
/// chunk's range of images, `out` those images of the output tensor and
/// `scratch` the chunk's own `per_image · n` floats of `buffer`. Chunks run side
/// by side on the pool's threads, each on one thread, as many images in each as
/// fit [`CHUNK_FLOATS`].
///
/// Only products whose sum runs over K (not over the batch) are cut this way: an
/// element of such a product is the same sum, in the same pieces of K, however
/// many columns its product has, so the chunks give the whole batch's bits.
///
/// out: (B, ·, ·, ·); buffer: at least B · per_image.
fn by_chunks<F>(mut out: ArrayViewMut4<f32>, buffer: &mut [f32], per_image: usize, work: F)
where
    F: Fn(std::ops::Range<usize>, ArrayViewMut4<f32>, &mut [f32]) + Sync,
{
    let batch = out.dim().0;
    let images = (CHUNK_FLOATS / per_image.max(1)).clamp(1, batch.max(1));
    let buffer = &mut buffer[..batch * per_image];
    let run = |(chunk, (out, scratch)): (usize, (ArrayViewMut4<f32>, &mut [f32]))| {
        let first = chunk * images;
        work(first..first + out.dim().0, out, scratch);
    };
    let outs = out.axis_chunks_iter_mut(Axis(0), images);
    if worth_splitting(batch * per_image, PARALLEL_MIN_ELEMENTS) {
        outs.into_par_iter()
            .zip(buffer.par_chunks_mut(images * per_image.max(1)))
            .enumerate()
            .with_max_len(1)
            .for_each(|chunk| crate::parallel::on_this_thread(|| run(chunk)));
    } else {
        outs.zip(buffer.chunks_mut(images * per_image.max(1)))
            .enumerate()
            .for_each(run);
    }
}

/// `y = conv2d(x, w) + b`: im2col, one product, channel rows back to NCHW.
///
/// y: (B, O, OH, OW) overwritten; x: (B, C, H, W); w: (O, C, KH, KW); b: (O).
pub fn conv2d_forward(
    y: ArrayViewMut4<f32>,
    x: ArrayView4<f32>,
    w: ArrayView4<f32>,
    b: ArrayView1<f32>,
    geometry: ConvGeometry,
    workspace: &mut ConvWorkspace,
) {
    let lowering = Lowering::of_conv2d(x.dim(), w.dim(), geometry);
    let (batch, out_channels) = (x.dim().0, w.dim().0);
    assert_eq!(
        y.dim(),
        (batch, out_channels, lowering.out_h, lowering.out_w),
        "conv2d_forward: y has the wrong shape"
    );
    assert_eq!(
        b.len(),
        out_channels,
        "conv2d_forward: b has the wrong length"
    );
    let (k, pixels) = (lowering.rows(), lowering.pixels());
    let (buffer, _) = workspace.parts(batch * (k + out_channels) * pixels, 0);
    let w = weight_matrix(w);
    // By chunks of n images: X̃ (K, n·P), Ỹ (O, n·P).
    by_chunks(
        y,
        buffer,
        (k + out_channels) * pixels,
        |images, y, scratch| {
            let n = images.len();
            let (columns, rows) = scratch.split_at_mut(k * n * pixels);
            let mut columns = as_matrix(columns, (k, n * pixels));
            let mut rows = as_matrix(rows, (out_channels, n * pixels));
            im2col(
                columns.view_mut(),
                x.slice(s![images, .., .., ..]),
                &lowering,
            ); // X̃
            matmul(w, columns.view(), 0.0, rows.view_mut()); // Ỹ = W·X̃
            from_channel_rows(y, rows.view(), Some(b)); // y[n,o,i,j] = Ỹ[o,(n,i,j)] + b[o]
        },
    );
}

/// Undoes `Ỹ = W·X̃`, `y = Ỹ + b`: `dW = dỸ·X̃ᵀ` (the correlation of x with dy),
/// `db = Σ_{n,i,j} dy`, and if `dx` is given (the first layer needs none)
/// `dX̃ = Wᵀ·dỸ`, `dx = col2im(dX̃)` (the transposed convolution of dy; see
/// [`conv_transpose2d_forward`]).
///
/// All three are overwritten. im2col of x is recomputed from `x` (see the module doc).
///
/// dx: (B, C, H, W) or None; dw: (O, C, KH, KW); db: (O);
/// dy: (B, O, OH, OW); x: (B, C, H, W) the forward input; w: (O, C, KH, KW).
#[allow(clippy::too_many_arguments)]
pub fn conv2d_backward(
    dx: Option<ArrayViewMut4<f32>>,
    dw: ArrayViewMut4<f32>,
    db: ArrayViewMut1<f32>,
    dy: ArrayView4<f32>,
    x: ArrayView4<f32>,
    w: ArrayView4<f32>,
    geometry: ConvGeometry,
    workspace: &mut ConvWorkspace,
) {
    let lowering = Lowering::of_conv2d(x.dim(), w.dim(), geometry);
    let (batch, out_channels) = (x.dim().0, w.dim().0);
    assert_eq!(
        dy.dim(),
        (batch, out_channels, lowering.out_h, lowering.out_w),
        "conv2d_backward: dy has the wrong shape"
    );
    assert_eq!(dw.dim(), w.dim(), "conv2d_backward: dw has the wrong shape");
    let (k, pixels) = (lowering.rows(), lowering.pixels());
    let (columns, rows) = workspace.parts(k * batch * pixels, out_channels * batch * pixels);
    let mut rows = as_matrix(rows, (out_channels, batch * pixels));
    channel_sums(db, dy); // db[o] = Σ_{n,i,j} dy[n,o,i,j]
    to_channel_rows(rows.view_mut(), dy); // dỸ (O, B·P)
    {
        let mut columns = as_matrix(columns, (k, batch * pixels));
        im2col(columns.view_mut(), x, &lowering); // X̃ (K, B·P)
        matmul(rows.view(), columns.t(), 0.0, weight_matrix_mut(dw)); // dW = dỸ·X̃ᵀ (O, K)
    }
    if let Some(dx) = dx {
        assert_eq!(dx.dim(), x.dim(), "conv2d_backward: dx has the wrong shape");
        let (w, rows) = (weight_matrix(w).reversed_axes(), rows.view());
        // By chunks of n images: dX̃ (K, n·P) in the columns' place.
        by_chunks(dx, columns, k * pixels, |images, dx, columns| {
            let pixel_columns = images.start * pixels..images.end * pixels;
            let (mut columns, dy_rows) = (
                as_matrix(columns, (k, images.len() * pixels)),
                rows.slice(s![.., pixel_columns]),
            );
            matmul(w, dy_rows, 0.0, columns.view_mut()); // dX̃ = Wᵀ·dỸ
            col2im(dx, columns.view(), None, &lowering); // dx = Σ each column entry at its pixel
        });
    }
}

/// `y = conv_transpose2d(x, w) + b`: the input gradient of the Conv2d from O to C
/// channels with weights w, applied to x. Channel rows, one product, col2im.
///
/// y: (B, O, OH, OW) overwritten, OH = (H − 1)·s − 2p + KH + op;
/// x: (B, C, H, W); w: (C, O, KH, KW); b: (O).
pub fn conv_transpose2d_forward(
    y: ArrayViewMut4<f32>,
    x: ArrayView4<f32>,
    w: ArrayView4<f32>,
    b: ArrayView1<f32>,
    geometry: ConvGeometry,
    workspace: &mut ConvWorkspace,
) {
    let lowering = Lowering::of_conv_transpose2d(x.dim(), w.dim(), geometry);
    let (batch, in_channels, out_channels) = (x.dim().0, x.dim().1, w.dim().1);
    assert_eq!(
        y.dim(),
        (batch, out_channels, lowering.height, lowering.width),
        "conv_transpose2d_forward: y has the wrong shape"
    );
    assert_eq!(
        b.len(),
        out_channels,
        "conv_transpose2d_forward: b has the wrong length"
    );
    let (k, pixels) = (lowering.rows(), lowering.pixels());
    let (buffer, _) = workspace.parts(batch * (k + in_channels) * pixels, 0);
    let w = weight_matrix(w).reversed_axes();
    // By chunks of n images: Ỹ (O·KH·KW, n·H·W), X̂ (C, n·H·W).
    by_chunks(
        y,
        buffer,
        (k + in_channels) * pixels,
        |images, y, scratch| {
            let n = images.len();
            let (columns, rows) = scratch.split_at_mut(k * n * pixels);
            let mut columns = as_matrix(columns, (k, n * pixels));
            let mut rows = as_matrix(rows, (in_channels, n * pixels));
            to_channel_rows(rows.view_mut(), x.slice(s![images, .., .., ..])); // X̂
            matmul(w, rows.view(), 0.0, columns.view_mut()); // Ỹ = Wᵀ·X̂
            col2im(y, columns.view(), Some(b), &lowering); // y = b[o] + Σ each column entry at its pixel
        },
    );
}

/// Undoes `Ỹ = Wᵀ·X̂`, `y = col2im(Ỹ) + b`: `dỸ = im2col(dy)` (col2im's adjoint),
/// `dW = X̂·dỸᵀ` (the correlation of dy with x), `db = Σ_{n,h,w} dy`, and if `dx`
/// is given `dX̂ = W·dỸ`, i.e. `dx = conv2d(dy, w)` without bias (see
/// [`conv2d_forward`]).
///
/// All three are overwritten.
///
/// dx: (B, C, H, W) or None; dw: (C, O, KH, KW); db: (O);
/// dy: (B, O, OH, OW); x: (B, C, H, W) the forward input; w: (C, O, KH, KW).
#[allow(clippy::too_many_arguments)]
pub fn conv_transpose2d_backward(
    dx: Option<ArrayViewMut4<f32>>,
    dw: ArrayViewMut4<f32>,
    db: ArrayViewMut1<f32>,
    dy: ArrayView4<f32>,
    x: ArrayView4<f32>,
    w: ArrayView4<f32>,
    geometry: ConvGeometry,
    workspace: &mut ConvWorkspace,
) {
    let lowering = Lowering::of_conv_transpose2d(x.dim(), w.dim(), geometry);
    let (batch, in_channels, out_channels) = (x.dim().0, x.dim().1, w.dim().1);
    assert_eq!(
        dy.dim(),
        (batch, out_channels, lowering.height, lowering.width),
        "conv_transpose2d_backward: dy has the wrong shape"
    );
    assert_eq!(
        dw.dim(),
        w.dim(),
        "conv_transpose2d_backward: dw has the wrong shape"
    );
    let (k, pixels) = (lowering.rows(), lowering.pixels());
    let (columns, rows) = workspace.parts(k * batch * pixels, in_channels * batch * pixels);
    let mut columns = as_matrix(columns, (k, batch * pixels));
    channel_sums(db, dy); // db[o] = Σ_{n,h,w} dy[n,o,h,w]
    im2col(columns.view_mut(), dy, &lowering); // dỸ = im2col(dy) (O·KH·KW, B·H·W)
    {
        let mut rows = as_matrix(rows, (in_channels, batch * pixels));
        to_channel_rows(rows.view_mut(), x); // X̂ (C, B·H·W)
        matmul(rows.view(), columns.t(), 0.0, weight_matrix_mut(dw)); // dW = X̂·dỸᵀ
    }
    if let Some(dx) = dx {
        assert_eq!(
            dx.dim(),
            x.dim(),
            "conv_transpose2d_backward: dx has the wrong shape"
        );
        let (w, columns) = (weight_matrix(w), columns.view());
        // By chunks of n images: dX̂ (C, n·H·W) in the channel rows' place.
        by_chunks(dx, rows, in_channels * pixels, |images, dx, rows| {
            let pixel_columns = images.start * pixels..images.end * pixels;
            let (mut rows, dy_columns) = (
                as_matrix(rows, (in_channels, images.len() * pixels)),
                columns.slice(s![.., pixel_columns]),
            );
            matmul(w, dy_columns, 0.0, rows.view_mut()); // dX̂ = W·dỸ
            from_channel_rows(dx, rows.view(), None);
        });
    }
}

/// The Conv2d that is lowered, in its own terms: its input (the larger image)
/// and its output (the smaller one). For a ConvTranspose2d it is the Conv2d
/// whose input gradient the transpose is: input = the transpose's output.
#[derive(Debug, Clone, Copy)]
struct Lowering {
    /// Channels, rows and columns of the larger image.
    channels: usize,
    height: usize,
    width: usize,
    /// The kernel.
    kernel_h: usize,
    kernel_w: usize,
    /// Rows and columns of the smaller image: one per kernel position.
    out_h: usize,
    out_w: usize,
    stride: usize,
    padding: usize,
}

impl Lowering {
    /// x: (B, C, H, W); w: (O, C, KH, KW).
    fn of_conv2d(
        x: (usize, usize, usize, usize),
        w: (usize, usize, usize, usize),
        geometry: ConvGeometry,
    ) -> Lowering {
        let (_, channels, height, width) = x;
        let (_, w_channels, kernel_h, kernel_w) = w;
        assert_eq!(
            w_channels, channels,
            "conv2d: w (O, C, KH, KW) has {w_channels} input channels, x has {channels}"
        );
        assert_eq!(
            geometry.output_padding, 0,
            "conv2d: output padding belongs to the transposed convolution"
        );
        Lowering {
            channels,
            height,
            width,
            kernel_h,
            kernel_w,
            out_h: geometry.conv_output_len(height, kernel_h),
            out_w: geometry.conv_output_len(width, kernel_w),
            stride: geometry.stride,
            padding: geometry.padding,
        }
    }

    /// x: (B, C, H, W); w: (C, O, KH, KW).
    fn of_conv_transpose2d(
        x: (usize, usize, usize, usize),
        w: (usize, usize, usize, usize),
        geometry: ConvGeometry,
    ) -> Lowering {
        let (_, in_channels, height, width) = x;
        let (w_channels, out_channels, kernel_h, kernel_w) = w;
        assert_eq!(
            w_channels, in_channels,
            "conv_transpose2d: w (C, O, KH, KW) has {w_channels} input channels, x has {in_channels}"
        );
        let lowering = Lowering {
            channels: out_channels,
            height: geometry.transpose_output_len(height, kernel_h),
            width: geometry.transpose_output_len(width, kernel_w),
            kernel_h,
            kernel_w,
            out_h: height,
            out_w: width,
            stride: geometry.stride,
            padding: geometry.padding,
        };
        // The Conv2d back from the output has x's size (op < s makes the floor exact).
        let conv = ConvGeometry::new(geometry.stride, geometry.padding);
        debug_assert_eq!(conv.conv_output_len(lowering.height, kernel_h), height);
        debug_assert_eq!(conv.conv_output_len(lowering.width, kernel_w), width);
        lowering
    }

    /// Rows of the columns matrix: channels · KH · KW.
    fn rows(&self) -> usize {
        self.channels * self.kernel_h * self.kernel_w
    }

    /// Pixels of the smaller image, a column each: OH · OW.
    fn pixels(&self) -> usize {
        self.out_h * self.out_w
    }
}

/// A weight tensor as the matrix the product uses: (O, C, KH, KW) as (O, C·KH·KW),
/// or (C, O, KH, KW) as (C, O·KH·KW).
fn weight_matrix(w: ArrayView4<f32>) -> ArrayView2<f32> {
    let (rows, a, b, c) = w.dim();
    w.into_shape_with_order((rows, a * b * c))
        .expect("conv: weights must be in standard (row-major) layout")
}

/// [`weight_matrix`] of a gradient.
fn weight_matrix_mut(dw: ArrayViewMut4<f32>) -> ArrayViewMut2<f32> {
    let (rows, a, b, c) = dw.dim();
    dw.into_shape_with_order((rows, a * b * c))
        .expect("conv: weight gradients must be in standard (row-major) layout")
}

/// The elements of a row-major tensor, or a panic naming it.
fn contiguous<'a>(tensor: &ArrayView4<'a, f32>, what: &str) -> &'a [f32] {
    tensor
        .to_slice()
        .unwrap_or_else(|| panic!("conv: {what} must be in standard (row-major) layout"))
}

/// [`contiguous`] for a tensor written to.
fn contiguous_mut<'a>(tensor: ArrayViewMut4<'a, f32>, what: &str) -> &'a mut [f32] {
    tensor
        .into_slice()
        .unwrap_or_else(|| panic!("conv: {what} must be in standard (row-major) layout"))
}

/// `columns[(c,u,v), (n,i,j)] = image[n, c, s·i+u−p, s·j+v−p]`, 0 outside the image.
///
/// columns: (channels·KH·KW, B·OH·OW) overwritten; image: (B, channels, H, W).
fn im2col(mut columns: ArrayViewMut2<f32>, image: ArrayView4<f32>, lowering: &Lowering) {
    let l = *lowering;
    assert_eq!(
        image.dim(),
        (image.dim().0, l.channels, l.height, l.width),
        "im2col: the image has the wrong shape"
    );
    assert_eq!(columns.dim(), (l.rows(), image.dim().0 * l.pixels()));
    let per_image = l.channels * l.height * l.width;
    let pixels = contiguous(&image, "the image");
    // One image's columns: (K, OH·OW), each of its rows contiguous.
    let copy = |padded: &mut PaddedPlane, (mut columns, image): (ArrayViewMut2<f32>, &[f32])| {
        for (c, plane) in image.chunks_exact(l.height * l.width).enumerate() {
            padded.load(plane);
            for (u, v) in ndarray::indices((l.kernel_h, l.kernel_w)) {
                let mut row = columns.row_mut((c * l.kernel_h + u) * l.kernel_w + v);
                let row = row.as_slice_mut().expect("rows of columns are contiguous");
                padded.copy_taps(row, u, v);
            }
        }
    };
    let batch = image.dim().0;
    let chunks = columns.axis_chunks_iter_mut(Axis(1), l.pixels());
    if worth_splitting(
        batch * per_image * l.kernel_h * l.kernel_w,
        PARALLEL_MIN_ELEMENTS,
    ) {
        chunks
            .into_par_iter()
            .zip(pixels.par_chunks(per_image))
            .for_each_init(|| PaddedPlane::new(&l), copy);
    } else {
        let mut padded = PaddedPlane::new(&l);
        for chunk in chunks.zip(pixels.chunks(per_image)) {
            copy(&mut padded, chunk);
        }
    }
}

/// The adjoint of [`im2col`], from a start value per channel (a bias, or 0):
/// `image[n,c,·,·] = start[c]`, then `image[n, c, s·i+u−p, s·j+v−p] += columns[(c,u,v), (n,i,j)]`
/// for the taps inside the image, each pixel's sum in the order u, v (i and j
/// follow from them), as a loop over c, u, v, i, j adds them.
///
/// image: (B, channels, H, W) overwritten; columns: (channels·KH·KW, B·OH·OW);
/// start: (channels), or None for 0.
fn col2im(
    image: ArrayViewMut4<f32>,
    columns: ArrayView2<f32>,
    start: Option<ArrayView1<f32>>,
    lowering: &Lowering,
) {
    let l = *lowering;
    let batch = image.dim().0;
    assert_eq!(
        image.dim(),
        (batch, l.channels, l.height, l.width),
        "col2im: the image has the wrong shape"
    );
    assert_eq!(columns.dim(), (l.rows(), batch * l.pixels()));
    let start = |c: usize| start.as_ref().map_or(0.0, |b| b[c]);
    let per_image = l.channels * l.height * l.width;
    let pixels = contiguous_mut(image, "the image");
    let add = |padded: &mut PaddedPlane, (image, columns): (&mut [f32], ArrayView2<f32>)| {
        for (c, plane) in image.chunks_exact_mut(l.height * l.width).enumerate() {
            padded.phases.fill(start(c));
            for (u, v) in ndarray::indices((l.kernel_h, l.kernel_w)) {
                let row = columns.row((c * l.kernel_h + u) * l.kernel_w + v);
                let row = row.to_slice().expect("rows of columns are contiguous");
                padded.add_taps(row, u, v);
            }
            padded.store(plane);
        }
    };
    let chunks = columns.axis_chunks_iter(Axis(1), l.pixels());
    if worth_splitting(
        batch * per_image * l.kernel_h * l.kernel_w,
        PARALLEL_MIN_ELEMENTS,
    ) {
        pixels
            .par_chunks_mut(per_image)
            .zip(chunks.into_par_iter())
            .for_each_init(|| PaddedPlane::new(&l), add);
    } else {
        let mut padded = PaddedPlane::new(&l);
        for chunk in pixels.chunks_mut(per_image).zip(chunks) {
            add(&mut padded, chunk);
        }
    }
}

/// One channel of one image, zero-padded by p on every side, with its columns
/// sorted by their phase φ = column mod s, so that every kernel tap reads, and
/// col2im adds to, one contiguous run per output row, with no test for the edges:
///
/// ```text
/// phases[φ][r][q] = x[r − p, s·q + φ − p]     (0 outside the image)
/// x[s·i+u−p, s·j+v−p] = phases[v mod s][s·i + u][j + ⌊v/s⌋]     j = 0..OW
/// ```
/// With s = 1 there is one phase, the padded plane itself. Rows run to H + 2p
/// and each phase's columns to ⌈(W + 2p)/s⌉: every tap of the lowering falls
/// inside, since s·(OH − 1) + KH ≤ H + 2p.
struct PaddedPlane {
    /// (s, H + 2p, ⌈(W + 2p)/s⌉), row-major.
    phases: Vec<f32>,
    /// One padded image row before it is split into phases: (s·⌈(W + 2p)/s⌉),
    /// the image row at columns p..p + W, zeros around it.
    line: Vec<f32>,
    /// ⌈(W + 2p)/s⌉: one row of one phase.
    phase_width: usize,
    lowering: Lowering,
}

impl PaddedPlane {
    /// All zeros, for planes of the lowering's larger image. Nothing writes
    /// the border in im2col, so it stays 0; col2im's sums there are dropped.
    fn new(l: &Lowering) -> PaddedPlane {
        let phase_width = (l.width + 2 * l.padding).div_ceil(l.stride);
        PaddedPlane {
            phases: vec![0.0; l.stride * (l.height + 2 * l.padding) * phase_width],
            line: vec![0.0; l.stride * phase_width],
            phase_width,
            lowering: *l,
        }
    }

    /// Where padded column `column` of padded row `row` lives: phase
    /// `column mod s`, position `⌊column/s⌋`.
    fn start(&self, row: usize, column: usize) -> usize {
        let (s, rows) = (
            self.lowering.stride,
            self.lowering.height + 2 * self.lowering.padding,
        );
        ((column % s) * rows + row) * self.phase_width + column / s
    }

    /// Copies one image plane (H·W) into the interior, row by row:
    /// `phases[φ][h + p][q] = line[s·q + φ]` for the padded row `line`.
    fn load(&mut self, plane: &[f32]) {
        let (l, width) = (self.lowering, self.phase_width);
        let phase_len = (l.height + 2 * l.padding) * width;
        for (h, image_row) in plane.chunks_exact(l.width).enumerate() {
            copy_run(&mut self.line[l.padding..][..l.width], image_row);
            let row = (h + l.padding) * width;
            match l.stride {
                1 => self.phases[row..][..width].copy_from_slice(&self.line),
                2 => {
                    let (even, odd) = self.phases.split_at_mut(phase_len);
                    let pairs = self.line.chunks_exact(2);
                    for ((e, o), pair) in even[row..][..width]
                        .iter_mut()
                        .zip(&mut odd[row..])
                        .zip(pairs)
                    {
                        (*e, *o) = (pair[0], pair[1]);
                    }
                }
                s => {
                    for (q, group) in self.line.chunks_exact(s).enumerate() {
                        for (phase, &x) in group.iter().enumerate() {
                            self.phases[phase * phase_len + row + q] = x;
                        }
                    }
                }
            }
        }
    }

    /// The interior back into the image plane (H·W) overwritten: [`PaddedPlane::load`] undone.
    fn store(&mut self, plane: &mut [f32]) {
        let (l, width) = (self.lowering, self.phase_width);
        let phase_len = (l.height + 2 * l.padding) * width;
        for (h, image_row) in plane.chunks_exact_mut(l.width).enumerate() {
            let row = (h + l.padding) * width;
            match l.stride {
                1 => self.line.copy_from_slice(&self.phases[row..][..width]),
                2 => {
                    let (even, odd) = self.phases.split_at(phase_len);
                    let pairs = self.line.chunks_exact_mut(2);
                    for ((&e, &o), pair) in even[row..][..width].iter().zip(&odd[row..]).zip(pairs)
                    {
                        (pair[0], pair[1]) = (e, o);
                    }
                }
                s => {
                    for (q, group) in self.line.chunks_exact_mut(s).enumerate() {
                        for (phase, x) in group.iter_mut().enumerate() {
                            *x = self.phases[phase * phase_len + row + q];
                        }
                    }
                }
            }
            copy_run(image_row, &self.line[l.padding..][..l.width]);
        }
    }

    /// im2col's row (c,u,v) for this channel: `row[(i,j)] = x[s·i+u−p, s·j+v−p]`.
    ///
    /// row: (OH·OW) overwritten.
    fn copy_taps(&self, row: &mut [f32], u: usize, v: usize) {
        let (first, next) = (self.start(u, v), self.lowering.stride * self.phase_width);
        let width = self.lowering.out_w;
        for (i, out) in row.chunks_exact_mut(width).enumerate() {
            copy_run(out, &self.phases[first + i * next..][..width]);
        }
    }

    /// col2im's adds of row (c,u,v): `x[s·i+u−p, s·j+v−p] += row[(i,j)]`, in the
    /// order i, j (a pixel gets at most one term from a row).
    ///
    /// row: (OH·OW).
    fn add_taps(&mut self, row: &[f32], u: usize, v: usize) {
        let (first, next) = (self.start(u, v), self.lowering.stride * self.phase_width);
        let width = self.lowering.out_w;
        for (i, from) in row.chunks_exact(width).enumerate() {
            let run = &mut self.phases[first + i * next..][..width];
            for (x, &f) in run.iter_mut().zip(from) {
                *x += f;
            }
        }
    }
}

/// `out = from` for the short runs of im2col and of the padded plane's rows (7,
/// 14 or 28 floats in the model of issue 26), as two fixed-size copies that may
/// overlap (4 + 4 for 4 to 8 floats, 8 + 8 up to 16, 16 + 16 up to 32): each
/// compiles to a vector move or two, where `copy_from_slice` calls `memcpy`.
///
/// out, from: (width).
fn copy_run(out: &mut [f32], from: &[f32]) {
    fn copy<const N: usize>(out: &mut [f32], from: &[f32], at: usize) {
        let to: &mut [f32; N] = (&mut out[at..at + N]).try_into().expect("N floats");
        *to = from[at..at + N].try_into().expect("N floats");
    }
    let width = out.len();
    match width {
        4..=8 => {
            copy::<4>(out, from, 0);
            copy::<4>(out, from, width - 4);
        }
        9..=16 => {
            copy::<8>(out, from, 0);
            copy::<8>(out, from, width - 8);
        }
        17..=32 => {
            copy::<16>(out, from, 0);
            copy::<16>(out, from, width - 16);
        }
        _ => out.copy_from_slice(from),
    }
}

/// A tensor with its channels as rows: `rows[c, (n,h,w)] = tensor[n,c,h,w]`.
///
/// rows: (C, B·H·W) overwritten; tensor: (B, C, H, W).
fn to_channel_rows(mut rows: ArrayViewMut2<f32>, tensor: ArrayView4<f32>) {
    let (batch, channels, height, width) = tensor.dim();
    let plane = height * width;
    assert_eq!(
        rows.dim(),
        (channels, batch * plane),
        "to_channel_rows: wrong shape"
    );
    let values = contiguous(&tensor, "the tensor");
    let copy = |(c, mut row): (usize, ArrayViewMut1<f32>)| {
        let row = row.as_slice_mut().expect("rows are contiguous");
        for (n, out) in row.chunks_exact_mut(plane).enumerate() {
            out.copy_from_slice(&values[(n * channels + c) * plane..][..plane]);
        }
    };
    if worth_splitting(tensor.len(), PARALLEL_MIN_ELEMENTS) {
        rows.axis_iter_mut(Axis(0))
            .into_par_iter()
            .enumerate()
            .for_each(copy);
    } else {
        rows.axis_iter_mut(Axis(0)).enumerate().for_each(copy);
    }
}

/// Channel rows back to NCHW, plus a bias per channel if given:
/// `tensor[n,c,h,w] = rows[c, (n,h,w)] (+ bias[c])`.
///
/// tensor: (B, C, H, W) overwritten; rows: (C, B·H·W); bias: (C).
fn from_channel_rows(
    tensor: ArrayViewMut4<f32>,
    rows: ArrayView2<f32>,
    bias: Option<ArrayView1<f32>>,
) {
    let (batch, channels, height, width) = tensor.dim();
    let plane = height * width;
    assert_eq!(
        rows.dim(),
        (channels, batch * plane),
        "from_channel_rows: wrong shape"
    );
    let split = worth_splitting(tensor.len(), PARALLEL_MIN_ELEMENTS);
    let values = contiguous_mut(tensor, "the tensor");
    let copy = |(n, image): (usize, &mut [f32])| {
        for (c, out) in image.chunks_exact_mut(plane).enumerate() {
            let row = rows.row(c);
            let from = &row.to_slice().expect("rows are contiguous")[n * plane..][..plane];
            match bias {
                Some(ref b) => {
                    let b = b[c];
                    for (o, &f) in out.iter_mut().zip(from) {
                        *o = f + b;
                    }
                }
                None => out.copy_from_slice(from),
            }
        }
    };
    if split {
        values
            .par_chunks_mut(channels * plane)
            .enumerate()
            .for_each(copy);
    } else {
        values
            .chunks_mut(channels * plane)
            .enumerate()
            .for_each(copy);
    }
}

/// `sums[c] = Σ_n (Σ_{h,w} tensor[n,c,h,w])`: each image's plane summed in order,
/// then the images in order (two levels keep f32's rounding small on 25,088 terms).
///
/// sums: (C) overwritten; tensor: (B, C, H, W).
fn channel_sums(mut sums: ArrayViewMut1<f32>, tensor: ArrayView4<f32>) {
    let (_, channels, height, width) = tensor.dim();
    assert_eq!(
        sums.len(),
        channels,
        "channel_sums: db has the wrong length"
    );
    let plane = height * width;
    let values = contiguous(&tensor, "dy");
    let sum = |(c, total): (usize, &mut f32)| {
        *total = values
            .chunks_exact(channels * plane)
            .map(|image| image[c * plane..][..plane].iter().sum::<f32>())
            .sum();
    };
    let split = worth_splitting(tensor.len(), PARALLEL_MIN_ELEMENTS);
    let sums = sums.as_slice_mut().expect("db must be contiguous");
    if split {
        sums.par_iter_mut().enumerate().for_each(sum);
    } else {
        sums.iter_mut().enumerate().for_each(sum);
    }
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use ndarray::{Array1, Array2, Array4};

    use super::*;
    use crate::gradcheck::{compare, numeric_gradient};

    /// A fixed pseudo-random value in [−1, 1) for element `n` of tensor `salt`.
    fn value(n: usize, salt: usize) -> f32 {
        ((n * 2654435761 + salt * 40503 + 17) % 1000) as f32 / 500.0 - 1.0
    }

    /// A 4-D shape: (B, C, H, W) or a weight's.
    type Shape = (usize, usize, usize, usize);

    /// A test case: the input's shape, the weight's, the geometry.
    type Case = (Shape, Shape, ConvGeometry);

    /// Where the gradient check perturbs a layer.
    type Slot = fn(&mut Layer) -> &mut [f32];

    #[test]
    fn chunks_of_the_batch_give_the_whole_batchs_bits() {
        // Layer 2 of issue 26 at B = 7: chunks of 3, 3 and 1 images, against
        // one im2col and one product over the whole batch.
        let (x, w) = (tensor((7, 32, 14, 14), 1), tensor((64, 32, 3, 3), 2));
        let b = Array1::from_shape_fn(64, |o| value(o, 3));
        let geometry = ConvGeometry::new(2, 1);
        assert_eq!(CHUNK_FLOATS / ((288 + 64) * 49), 3);
        let mut y = Array4::from_elem((7, 64, 7, 7), f32::NAN);
        let ws = &mut ConvWorkspace::new();
        conv2d_forward(y.view_mut(), x.view(), w.view(), b.view(), geometry, ws);
        let l = Lowering::of_conv2d(x.dim(), w.dim(), geometry);
        let mut columns = Array2::zeros((l.rows(), 7 * l.pixels()));
        im2col(columns.view_mut(), x.view(), &l);
        let mut rows = Array2::zeros((64, 7 * l.pixels()));
        matmul(
            weight_matrix(w.view()),
            columns.view(),
            0.0,
            rows.view_mut(),
        );
        let mut whole = Array4::zeros(y.dim());
        from_channel_rows(whole.view_mut(), rows.view(), Some(b.view()));
        assert_eq!(y, whole);
    }

    fn tensor(shape: (usize, usize, usize, usize), salt: usize) -> Array4<f32> {
        let mut n = 0;
        Array4::from_shape_simple_fn(shape, || {
            n += 1;
            value(n, salt)
        })
    }

    fn vector(len: usize, salt: usize) -> Array1<f32> {
        Array1::from_shape_fn(len, |n| value(n, salt))
    }

    /// Conv2d straight from its definition, in f64:
    /// `y[n,o,i,j] = b[o] + Σ_{c,u,v} w[o,c,u,v] · x[n,c, s·i+u−p, s·j+v−p]`.
    fn naive_conv2d(
        x: &Array4<f32>,
        w: &Array4<f32>,
        b: &Array1<f32>,
        g: ConvGeometry,
    ) -> Array4<f32> {
        let (batch, channels, height, width) = x.dim();
        let (out_channels, _, kh, kw) = w.dim();
        let (oh, ow) = (g.conv_output_len(height, kh), g.conv_output_len(width, kw));
        Array4::from_shape_fn((batch, out_channels, oh, ow), |(n, o, i, j)| {
            let mut sum = b[o] as f64;
            for c in 0..channels {
                for u in 0..kh {
                    for v in 0..kw {
                        let h = (g.stride * i + u) as isize - g.padding as isize;
                        let col = (g.stride * j + v) as isize - g.padding as isize;
                        if (0..height as isize).contains(&h) && (0..width as isize).contains(&col) {
                            sum +=
                                w[[o, c, u, v]] as f64 * x[[n, c, h as usize, col as usize]] as f64;
                        }
                    }
                }
            }
            sum as f32
        })
    }

    /// ConvTranspose2d straight from its definition, in f64: every input pixel
    /// scatters `x[n,c,i,j] · w[c,o,·,·]` onto the output at (s·i − p, s·j − p).
    fn naive_conv_transpose2d(
        x: &Array4<f32>,
        w: &Array4<f32>,
        b: &Array1<f32>,
        g: ConvGeometry,
    ) -> Array4<f32> {
        let (batch, channels, height, width) = x.dim();
        let (_, out_channels, kh, kw) = w.dim();
        let (oh, ow) = (
            g.transpose_output_len(height, kh),
            g.transpose_output_len(width, kw),
        );
        let mut y = ndarray::Array4::<f64>::zeros((batch, out_channels, oh, ow));
        for ((_, o, _, _), v) in y.indexed_iter_mut() {
            *v = b[o] as f64;
        }
        for n in 0..batch {
            for c in 0..channels {
                for i in 0..height {
                    for j in 0..width {
                        for o in 0..out_channels {
                            for u in 0..kh {
                                for v in 0..kw {
                                    let h = (g.stride * i + u) as isize - g.padding as isize;
                                    let col = (g.stride * j + v) as isize - g.padding as isize;
                                    if (0..oh as isize).contains(&h)
                                        && (0..ow as isize).contains(&col)
                                    {
                                        y[[n, o, h as usize, col as usize]] +=
                                            x[[n, c, i, j]] as f64 * w[[c, o, u, v]] as f64;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        y.mapv(|v| v as f32)
    }

    fn max_difference(a: &Array4<f32>, b: &Array4<f32>) -> f32 {
        assert_eq!(a.dim(), b.dim());
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// (x shape, w shape, geometry) of Conv2d cases: stride 1 and 2, padding 0
    /// and 1, odd and even and non-square images, a non-square kernel.
    fn conv2d_cases() -> Vec<Case> {
        vec![
            ((2, 3, 5, 5), (4, 3, 3, 3), ConvGeometry::new(1, 0)),
            ((2, 3, 6, 6), (4, 3, 3, 3), ConvGeometry::new(1, 1)),
            ((2, 2, 7, 6), (3, 2, 3, 3), ConvGeometry::new(2, 1)),
            ((3, 2, 8, 8), (3, 2, 3, 3), ConvGeometry::new(2, 0)),
            ((2, 2, 5, 6), (3, 2, 2, 3), ConvGeometry::new(2, 1)),
            ((1, 1, 28, 28), (4, 1, 3, 3), ConvGeometry::new(2, 1)), // the model's first layer
        ]
    }

    /// (x shape, w shape, geometry) of ConvTranspose2d cases, output padding included.
    fn conv_transpose2d_cases() -> Vec<Case> {
        let with_output_padding = |stride, padding, output_padding| ConvGeometry {
            stride,
            padding,
            output_padding,
        };
        vec![
            ((2, 3, 4, 5), (3, 2, 3, 3), ConvGeometry::new(1, 0)),
            ((2, 3, 4, 4), (3, 2, 3, 3), ConvGeometry::new(1, 1)),
            ((2, 4, 3, 4), (4, 3, 3, 3), with_output_padding(2, 1, 1)), // the model's decoder
            ((2, 3, 3, 3), (3, 2, 3, 3), ConvGeometry::new(2, 0)),
            ((2, 2, 4, 3), (2, 3, 2, 3), ConvGeometry::new(2, 1)),
            ((2, 2, 5, 5), (2, 2, 3, 3), with_output_padding(2, 0, 1)),
            ((1, 4, 7, 7), (4, 1, 3, 3), with_output_padding(2, 1, 1)), // 7×7 → 14×14
        ]
    }

    #[test]
    fn conv2d_forward_matches_the_direct_loops() {
        let mut workspace = ConvWorkspace::new();
        for (x_shape, w_shape, g) in conv2d_cases() {
            let (x, w, b) = (tensor(x_shape, 1), tensor(w_shape, 2), vector(w_shape.0, 3));
            let expected = naive_conv2d(&x, &w, &b, g);
            let mut y = Array4::from_elem(expected.dim(), f32::NAN);
            conv2d_forward(
                y.view_mut(),
                x.view(),
                w.view(),
                b.view(),
                g,
                &mut workspace,
            );
            let error = max_difference(&y, &expected);
            assert!(
                error < 1e-5,
                "{x_shape:?} * {w_shape:?} {g:?}: max |Δ| = {error}"
            );
        }
    }

    #[test]
    fn conv_transpose2d_forward_matches_the_direct_loops() {
        let mut workspace = ConvWorkspace::new();
        for (x_shape, w_shape, g) in conv_transpose2d_cases() {
            let (x, w, b) = (tensor(x_shape, 4), tensor(w_shape, 5), vector(w_shape.1, 6));
            let expected = naive_conv_transpose2d(&x, &w, &b, g);
            let mut y = Array4::from_elem(expected.dim(), f32::NAN);
            conv_transpose2d_forward(
                y.view_mut(),
                x.view(),
                w.view(),
                b.view(),
                g,
                &mut workspace,
            );
            let error = max_difference(&y, &expected);
            assert!(
                error < 1e-5,
                "{x_shape:?} *ᵀ {w_shape:?} {g:?}: max |Δ| = {error}"
            );
        }
    }

    /// The image pixel under tap (u, v) at output position (i, j), straight from
    /// `(s·i+u−p, s·j+v−p)`, or None in the padding.
    fn naive_source(l: &Lowering, (i, j, u, v): Shape) -> Option<(usize, usize)> {
        let h = (l.stride * i + u).checked_sub(l.padding)?;
        let w = (l.stride * j + v).checked_sub(l.padding)?;
        (h < l.height && w < l.width).then_some((h, w))
    }

    /// The lowerings im2col and col2im are checked on: stride 1, 2 and 3, padding
    /// 0 to 2, odd and even sizes, and a 1×1 image whose kernel column v = 1 sees
    /// only padding.
    fn lowerings() -> Vec<Lowering> {
        let mut cases: Vec<_> = conv2d_cases()
            .into_iter()
            .map(|(x, w, g)| Lowering::of_conv2d(x, w, g))
            .collect();
        let more = [
            ((2, 2, 1, 1), (1, 2, 3, 3), ConvGeometry::new(2, 2)),
            ((1, 2, 5, 4), (1, 2, 3, 2), ConvGeometry::new(1, 2)),
            ((1, 2, 7, 8), (1, 2, 3, 4), ConvGeometry::new(3, 1)),
        ];
        cases.extend(more.map(|(x, w, g)| Lowering::of_conv2d(x, w, g)));
        cases
    }

    /// im2col's runs and col2im's strided adds give the bits of the element-by-element
    /// definitions: `X̃[(c,u,v),(n,i,j)] = x[n,c,s·i+u−p,s·j+v−p]` (0 in the padding),
    /// and col2im adding every entry onto its pixel in the order n, c, u, v, i, j.
    #[test]
    fn im2col_and_col2im_match_their_definitions() {
        for l in lowerings() {
            let shape = (2, l.channels, l.height, l.width);
            let (image, kernel) = (tensor(shape, 18), (l.kernel_h, l.kernel_w));
            let columns_shape = (l.rows(), 2 * l.pixels());
            let mut columns = Array2::from_elem(columns_shape, f32::NAN);
            im2col(columns.view_mut(), image.view(), &l);
            let bias = vector(l.channels, 19);
            let mut summed = Array4::from_elem(shape, f32::NAN);
            let mut expected = Array4::from_shape_fn(shape, |(_, c, _, _)| bias[c]);
            let added = columns.mapv(f32::cos); // 1 in the padding, which col2im skips
            col2im(summed.view_mut(), added.view(), Some(bias.view()), &l);
            for n in 0..2 {
                for c in 0..l.channels {
                    for (u, v) in ndarray::indices(kernel) {
                        let row = (c * l.kernel_h + u) * l.kernel_w + v;
                        for (i, j) in ndarray::indices((l.out_h, l.out_w)) {
                            let column = (n * l.out_h + i) * l.out_w + j;
                            let entry = columns[[row, column]];
                            match naive_source(&l, (i, j, u, v)) {
                                Some((h, w)) => {
                                    assert_eq!(entry, image[[n, c, h, w]], "{l:?} im2col");
                                    expected[[n, c, h, w]] += added[[row, column]];
                                }
                                None => assert_eq!(entry, 0.0, "{l:?} im2col padding"),
                            }
                        }
                    }
                }
            }
            assert!(
                summed == expected,
                "{l:?}: col2im differs from its definition"
            );
        }
    }

    #[test]
    fn the_output_sizes_are_pytorchs() {
        let encoder = ConvGeometry::new(2, 1);
        assert_eq!(encoder.conv_output_len(28, 3), 14);
        assert_eq!(encoder.conv_output_len(14, 3), 7);
        let decoder = ConvGeometry {
            stride: 2,
            padding: 1,
            output_padding: 1,
        };
        assert_eq!(decoder.transpose_output_len(7, 3), 14);
        assert_eq!(decoder.transpose_output_len(14, 3), 28);
        assert_eq!(ConvGeometry::new(2, 0).conv_output_len(8, 3), 3); // ⌊5/2⌋ + 1
    }

    /// The parameters and input of one layer, perturbed by the gradient check.
    #[derive(Clone)]
    struct Layer {
        x: Array4<f32>,
        w: Array4<f32>,
        b: Array1<f32>,
    }

    /// Which layer a gradient check runs.
    #[derive(Clone, Copy, Debug)]
    enum Kind {
        Conv,
        ConvTranspose,
    }

    fn forward(kind: Kind, layer: &Layer, g: ConvGeometry, ws: &mut ConvWorkspace) -> Array4<f32> {
        let (b, _, h, w) = layer.x.dim();
        let (kh, kw) = (layer.w.dim().2, layer.w.dim().3);
        let mut y = match kind {
            Kind::Conv => Array4::zeros((
                b,
                layer.w.dim().0,
                g.conv_output_len(h, kh),
                g.conv_output_len(w, kw),
            )),
            Kind::ConvTranspose => Array4::zeros((
                b,
                layer.w.dim().1,
                g.transpose_output_len(h, kh),
                g.transpose_output_len(w, kw),
            )),
        };
        let (x, w, bias) = (layer.x.view(), layer.w.view(), layer.b.view());
        match kind {
            Kind::Conv => conv2d_forward(y.view_mut(), x, w, bias, g, ws),
            Kind::ConvTranspose => conv_transpose2d_forward(y.view_mut(), x, w, bias, g, ws),
        }
        y
    }

    /// Checks dx, dw and db of one layer against centered differences of
    /// `L = Σ y ⊙ G` for a fixed G (so dy = G). L is linear in each input, so the
    /// difference quotient has no truncation error, whatever the step: only f32
    /// rounding, about 1e-7·|L|/ε, which a large step (ε = 0.25) keeps near 1e-6.
    /// A wrong index, flip, stride or sum gives errors of order 0.1 to 1.
    fn gradient_check(
        kind: Kind,
        x_shape: (usize, usize, usize, usize),
        w_shape: (usize, usize, usize, usize),
        g: ConvGeometry,
    ) {
        let out_channels = match kind {
            Kind::Conv => w_shape.0,
            Kind::ConvTranspose => w_shape.1,
        };
        let mut layer = Layer {
            x: tensor(x_shape, 7),
            w: tensor(w_shape, 8),
            b: vector(out_channels, 9), // non-zero biases
        };
        let workspace = RefCell::new(ConvWorkspace::new());
        let y = forward(kind, &layer, g, &mut workspace.borrow_mut());
        let dy = tensor(y.dim(), 10);

        // Analytic, into NaN-filled buffers: every value must be overwritten.
        let mut dx = Array4::from_elem(x_shape, f32::NAN);
        let mut dw = Array4::from_elem(w_shape, f32::NAN);
        let mut db = Array1::from_elem(out_channels, f32::NAN);
        {
            let (x, w) = (layer.x.view(), layer.w.view());
            let ws = &mut workspace.borrow_mut();
            let grads = (Some(dx.view_mut()), dw.view_mut(), db.view_mut());
            match kind {
                Kind::Conv => conv2d_backward(grads.0, grads.1, grads.2, dy.view(), x, w, g, ws),
                Kind::ConvTranspose => {
                    conv_transpose2d_backward(grads.0, grads.1, grads.2, dy.view(), x, w, g, ws)
                }
            }
        }

        let loss = |layer: &Layer| {
            let y = forward(kind, layer, g, &mut workspace.borrow_mut());
            y.iter()
                .zip(&dy)
                .map(|(&a, &b)| a as f64 * b as f64)
                .sum::<f64>()
        };
        let slots: [(&str, &[f32], Slot); 3] = [
            ("dx", dx.as_slice().unwrap(), |l| {
                l.x.as_slice_mut().unwrap()
            }),
            ("dw", dw.as_slice().unwrap(), |l| {
                l.w.as_slice_mut().unwrap()
            }),
            ("db", db.as_slice().unwrap(), |l| {
                l.b.as_slice_mut().unwrap()
            }),
        ];
        for (name, analytic, slot) in slots {
            let numeric = numeric_gradient(&mut layer, slot, 0.25, loss);
            let comparison = compare(analytic, &numeric);
            println!("{kind:?} {x_shape:?} w {w_shape:?} {g:?} {name}: {comparison:?}");
            assert!(
                comparison.tensor_error < 1e-4,
                "{kind:?} {x_shape:?} w {w_shape:?} {g:?}: {name} off by {comparison:?}"
            );
        }
    }

    #[test]
    fn conv2d_gradients_match_centered_differences() {
        for (x_shape, w_shape, g) in conv2d_cases() {
            gradient_check(Kind::Conv, x_shape, w_shape, g);
        }
    }

    #[test]
    fn conv_transpose2d_gradients_match_centered_differences() {
        for (x_shape, w_shape, g) in conv_transpose2d_cases() {
            gradient_check(Kind::ConvTranspose, x_shape, w_shape, g);
        }
    }

    /// The transposed convolution's forward is the convolution's input gradient,
    /// and the convolution's forward the transposed convolution's input gradient:
    /// the same computation, so the same bits. And the adjoint identity
    /// ⟨conv(x), y⟩ = ⟨x, convᵀ(y)⟩ (no biases) holds.
    #[test]
    fn conv_transpose2d_is_the_adjoint_of_conv2d() {
        let mut workspace = ConvWorkspace::new();
        // The transpose that maps y back to x's size along an axis has output
        // padding = what the Conv2d's floor dropped there; ConvGeometry keeps one
        // for both axes, so the cases where the two differ are left out.
        let dropped =
            |len: usize, kernel: usize, g: ConvGeometry| (len + 2 * g.padding - kernel) % g.stride;
        let cases: Vec<_> = conv2d_cases()
            .into_iter()
            .filter(|&(x, w, g)| dropped(x.2, w.2, g) == dropped(x.3, w.3, g))
            .collect();
        assert_eq!(cases.len(), 5);
        for (x_shape, w_shape, g) in cases {
            let (x, w) = (tensor(x_shape, 11), tensor(w_shape, 12));
            let zero_bias = Array1::zeros(w_shape.0);
            let (oh, ow) = (
                g.conv_output_len(x_shape.2, w_shape.2),
                g.conv_output_len(x_shape.3, w_shape.3),
            );
            let y_shape = (x_shape.0, w_shape.0, oh, ow);
            let y = tensor(y_shape, 13);
            let transpose = ConvGeometry {
                output_padding: dropped(x_shape.2, w_shape.2, g),
                ..g
            };

            // conv_transpose2d_forward(y) = conv2d_backward's dx for dy = y.
            let mut dx = Array4::from_elem(x_shape, f32::NAN);
            let (mut dw, mut db) = (Array4::zeros(w_shape), Array1::zeros(w_shape.0));
            conv2d_backward(
                Some(dx.view_mut()),
                dw.view_mut(),
                db.view_mut(),
                y.view(),
                x.view(),
                w.view(),
                g,
                &mut workspace,
            );
            let mut transposed = Array4::from_elem(x_shape, f32::NAN);
            conv_transpose2d_forward(
                transposed.view_mut(),
                y.view(),
                w.view(),
                Array1::zeros(w_shape.1).view(),
                transpose,
                &mut workspace,
            );
            assert_eq!(
                transposed, dx,
                "{x_shape:?} {w_shape:?} {g:?}: convᵀ(y) ≠ conv2d_backward dx"
            );

            // conv2d_forward(x) = conv_transpose2d_backward's dx for dy = x.
            let mut conv = Array4::from_elem(y_shape, f32::NAN);
            conv2d_forward(
                conv.view_mut(),
                x.view(),
                w.view(),
                zero_bias.view(),
                g,
                &mut workspace,
            );
            let mut dy_back = Array4::from_elem(y_shape, f32::NAN);
            let mut dw_t = Array4::zeros(w_shape);
            let mut db_t = Array1::zeros(w_shape.1);
            conv_transpose2d_backward(
                Some(dy_back.view_mut()),
                dw_t.view_mut(),
                db_t.view_mut(),
                x.view(),
                y.view(),
                w.view(),
                transpose,
                &mut workspace,
            );
            assert_eq!(
                conv, dy_back,
                "{x_shape:?} {w_shape:?} {g:?}: conv(x) ≠ conv_transpose2d_backward dx"
            );
            // And their weight gradients are the same correlation of x with y.
            assert_eq!(
                dw, dw_t,
                "{x_shape:?} {w_shape:?} {g:?}: the weight gradients differ"
            );

            let dot = |a: &Array4<f32>, b: &Array4<f32>| {
                a.iter()
                    .zip(b)
                    .map(|(&p, &q)| p as f64 * q as f64)
                    .sum::<f64>()
            };
            let (left, right) = (dot(&conv, &y), dot(&x, &transposed));
            assert!(
                (left - right).abs() <= 1e-5 * left.abs().max(right.abs()),
                "{x_shape:?} {w_shape:?} {g:?}: ⟨conv(x), y⟩ = {left} but ⟨x, convᵀ(y)⟩ = {right}"
            );
        }
    }

    /// The four layers of issue 26's model at a batch of 32: the same bits on 1,
    /// 2 and 3 threads, and one workspace serving them all without growing on
    /// the second pass.
    #[test]
    fn the_models_layers_give_the_same_bits_on_any_thread_count() {
        let encoder = ConvGeometry::new(2, 1);
        let decoder = ConvGeometry {
            stride: 2,
            padding: 1,
            output_padding: 1,
        };
        let layers = [
            (Kind::Conv, (32, 1, 28, 28), (32, 1, 3, 3), encoder),
            (Kind::Conv, (32, 32, 14, 14), (64, 32, 3, 3), encoder),
            (Kind::ConvTranspose, (32, 64, 7, 7), (64, 32, 3, 3), decoder),
            (
                Kind::ConvTranspose,
                (32, 32, 14, 14),
                (32, 1, 3, 3),
                decoder,
            ),
        ];
        let run = |threads: usize| {
            let pool = crate::parallel::build_pool(threads).unwrap();
            let mut workspace = ConvWorkspace::new();
            let mut results = Vec::new();
            let mut sizes = Vec::new();
            for _pass in 0..2 {
                results.clear();
                for &(kind, x_shape, w_shape, g) in &layers {
                    let out_channels = match kind {
                        Kind::Conv => w_shape.0,
                        Kind::ConvTranspose => w_shape.1,
                    };
                    let layer = Layer {
                        x: tensor(x_shape, 14),
                        w: tensor(w_shape, 15),
                        b: vector(out_channels, 16),
                    };
                    let (y, dx, dw, db) = pool.install(|| {
                        let y = forward(kind, &layer, g, &mut workspace);
                        let dy = tensor(y.dim(), 17);
                        let mut dx = Array4::zeros(x_shape);
                        let mut dw = Array4::zeros(w_shape);
                        let mut db = Array1::zeros(out_channels);
                        let grads = (Some(dx.view_mut()), dw.view_mut(), db.view_mut());
                        let (x, w) = (layer.x.view(), layer.w.view());
                        match kind {
                            Kind::Conv => conv2d_backward(
                                grads.0,
                                grads.1,
                                grads.2,
                                dy.view(),
                                x,
                                w,
                                g,
                                &mut workspace,
                            ),
                            Kind::ConvTranspose => conv_transpose2d_backward(
                                grads.0,
                                grads.1,
                                grads.2,
                                dy.view(),
                                x,
                                w,
                                g,
                                &mut workspace,
                            ),
                        }
                        (y, dx, dw, db)
                    });
                    results.push((y, dx, dw, db));
                }
                sizes.push((workspace.floats(), workspace.floats.as_ptr()));
            }
            assert_eq!(
                sizes[0], sizes[1],
                "{threads} threads: the workspace grew or moved on the second pass"
            );
            // 288 × (32·49) columns and 64 × (32·49) channel rows (layers 2 and 3).
            assert_eq!(sizes[0].0, (288 + 64) * 32 * 49);
            results
        };
        let one = run(1);
        for threads in [2, 3] {
            let many = run(threads);
            for (layer, (a, b)) in one.iter().zip(&many).enumerate() {
                assert!(a == b, "layer {layer}: {threads} threads differ from one");
            }
        }
    }
}
