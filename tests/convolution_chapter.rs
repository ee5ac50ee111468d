//! The numbers of docs/CONVOLUTION.md, asserted against src/nn/conv.rs: the
//! chapter's 1-D examples are 2-D layers with one channel and images one row
//! high, so the same functions the model trains with compute them. The layers
//! pad both axes alike, so a kernel for padding p is 2p + 1 rows high with
//! the 1-D kernel in its middle row and zeros above and below: the one image
//! row then meets only the middle row, and the output is one row high too.
//! Run with `--nocapture` to see each number printed.

use mnist_autoencoder::nn::conv::{
    conv2d_backward, conv2d_forward, conv_transpose2d_forward, ConvGeometry, ConvWorkspace,
};
use ndarray::{Array1, Array4};

/// A 1-D signal as the (1, 1, 1, W) image the layers take.
fn row(values: &[f32]) -> Array4<f32> {
    Array4::from_shape_vec((1, 1, 1, values.len()), values.to_vec()).unwrap()
}

/// The signal of a (1, 1, 1, W) image.
fn values(image: &Array4<f32>) -> Vec<f32> {
    image.iter().copied().collect()
}

/// The 1-D kernel `w` as a (1, 1, 2p + 1, K) kernel, `w` in its middle row.
fn kernel(w: &[f32], padding: usize) -> Array4<f32> {
    let mut kernel = Array4::zeros((1, 1, 2 * padding + 1, w.len()));
    for (v, &value) in w.iter().enumerate() {
        kernel[[0, 0, padding, v]] = value;
    }
    kernel
}

/// The chapter's input, kernel and bias (§2).
const X: [f32; 4] = [1.0, 2.0, -1.0, 3.0];
const W: [f32; 3] = [2.0, -1.0, 1.0];
const B: f32 = 0.5;

/// Conv1d forward and its three gradients for upstream gradient `dy`:
/// (y, dx, dw, db).
fn conv1d(x: &[f32], geometry: ConvGeometry, dy: &[f32]) -> (Vec<f32>, Vec<f32>, Vec<f32>, f32) {
    let (x, w, b) = (row(x), kernel(&W, geometry.padding), Array1::from(vec![B]));
    let out = geometry.conv_output_len(x.dim().3, W.len());
    let mut ws = ConvWorkspace::new();
    let mut y = Array4::from_elem((1, 1, 1, out), f32::NAN);
    conv2d_forward(
        y.view_mut(),
        x.view(),
        w.view(),
        b.view(),
        geometry,
        &mut ws,
    );
    let dy = row(dy);
    let mut dx = Array4::from_elem(x.dim(), f32::NAN);
    let mut dw = Array4::from_elem(w.dim(), f32::NAN);
    let mut db = Array1::from_elem(1, f32::NAN);
    conv2d_backward(
        Some(dx.view_mut()),
        dw.view_mut(),
        db.view_mut(),
        dy.view(),
        x.view(),
        w.view(),
        geometry,
        &mut ws,
    );
    let middle = dw.slice(ndarray::s![0, 0, geometry.padding, ..]).to_vec();
    let rest =
        dw.iter().map(|v| v.abs()).sum::<f32>() - middle.iter().map(|v| v.abs()).sum::<f32>();
    assert_eq!(rest, 0.0, "the rows above and below meet only padding");
    (values(&y), values(&dx), middle, db[0])
}

/// ConvTranspose1d of `x` with kernel `w`, no bias.
fn conv_transpose1d(x: &[f32], w: &[f32], geometry: ConvGeometry) -> Vec<f32> {
    let (x, w, b) = (row(x), kernel(w, geometry.padding), Array1::zeros(1));
    let out = geometry.transpose_output_len(x.dim().3, w.dim().3);
    let mut y = Array4::from_elem((1, 1, 1, out), f32::NAN);
    let ws = &mut ConvWorkspace::new();
    conv_transpose2d_forward(y.view_mut(), x.view(), w.view(), b.view(), geometry, ws);
    values(&y)
}

/// §2 and §3: stride 1, no padding, worked by hand in the chapter.
#[test]
fn stride_one_forward_and_gradients_are_the_chapters() {
    let dy = [1.0, -2.0];
    let (y, dx, dw, db) = conv1d(&X, ConvGeometry::new(1, 0), &dy);
    println!("stride 1: y {y:?} dw {dw:?} db {db} dx {dx:?}");
    assert_eq!(y, [-0.5, 8.5], "y = W·X̃ + b");
    assert_eq!(dw, [-3.0, 4.0, -7.0], "dw = correlation of x with dy");
    assert_eq!(db, -1.0, "db = Σ dy");
    assert_eq!(dx, [2.0, -5.0, 3.0, -2.0], "dx = col2im(Wᵀ·dỸ)");
    // §4: the input gradient is the transposed convolution of dy.
    let transposed = conv_transpose1d(&dy, &W, ConvGeometry::new(1, 0));
    assert_eq!(transposed, dx, "dx = conv_transpose(dy, w)");
}

/// §5: stride 2, padding 1: the output is ⌊(5 + 2 − 3)/2⌋ + 1 = 3 long, and
/// the transposed convolution maps 3 back to 5.
#[test]
fn stride_two_padding_one_is_the_chapters() {
    let x = [1.0, 2.0, -1.0, 3.0, 0.0];
    let dy = [1.0, -2.0, 1.0];
    let geometry = ConvGeometry::new(2, 1);
    let (y, dx, dw, db) = conv1d(&x, geometry, &dy);
    println!("stride 2, padding 1: y {y:?} dw {dw:?} db {db} dx {dx:?}");
    assert_eq!(y, [1.5, 8.5, 6.5]);
    assert_eq!(dw, [-1.0, 3.0, -4.0]);
    assert_eq!(db, 0.0);
    assert_eq!(dx, [-1.0, -3.0, 2.0, 0.0, -1.0]);
    assert_eq!(conv_transpose1d(&dy, &W, geometry), dx);
}

/// §5: the model's sides, 28 → 14 → 7 and back with output padding 1; 13
/// would also give 7, which is why the transpose needs to be told.
#[test]
fn the_models_sides_and_output_padding() {
    let down = ConvGeometry::new(2, 1);
    assert_eq!(down.conv_output_len(28, 3), 14);
    assert_eq!(down.conv_output_len(14, 3), 7);
    assert_eq!(down.conv_output_len(13, 3), 7, "13 and 14 both give 7");
    let up = ConvGeometry {
        output_padding: 1,
        ..down
    };
    assert_eq!(down.transpose_output_len(7, 3), 13);
    assert_eq!(up.transpose_output_len(7, 3), 14);
    assert_eq!(up.transpose_output_len(14, 3), 28);
}

/// §6: a stride-2 transpose of a constant signal with a constant kernel of 3
/// taps is not constant: odd outputs receive one tap, even ones two.
#[test]
fn stride_two_transpose_makes_a_checkerboard() {
    let y = conv_transpose1d(&[1.0; 4], &[1.0; 3], ConvGeometry::new(2, 0));
    println!("checkerboard: {y:?}");
    assert_eq!(y, [1.0, 1.0, 2.0, 1.0, 2.0, 1.0, 2.0, 1.0, 1.0]);
    // A kernel of 4 taps, a multiple of the stride, overlaps evenly once the
    // two uneven pixels at each end are cropped (padding 2).
    let even = conv_transpose1d(&[1.0; 4], &[1.0; 4], ConvGeometry::new(2, 2));
    println!("kernel 4, padding 2: {even:?}");
    assert_eq!(even, [2.0; 6]);
}
