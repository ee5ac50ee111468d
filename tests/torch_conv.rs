//! The convolution layers (src/nn/conv.rs) against PyTorch autograd: the
//! fixture (made by reference/make_conv_fixture.py, not needed to run this
//! test) holds four small cases, Conv2d and ConvTranspose2d with stride 1 and 2,
//! padding 0 and 1, output padding 1, each with x, PyTorch-layout weights, a
//! non-zero bias, the output y and the gradients dx, dweight, dbias of
//! `L = Σ y ⊙ dy`. Every tensor must agree within 1e-5 relative error,
//! ‖ours − torch‖ / ‖torch‖; a line per tensor is printed, as in llm.c's test.

use std::path::Path;

use mnist_autoencoder::nn::conv::{
    conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward,
    ConvGeometry, ConvWorkspace,
};
use ndarray::{Array1, Array4};
use safetensors::SafeTensors;

const FIXTURE: &str = "tests/fixtures/torch_conv.safetensors";
const TOLERANCE: f64 = 1e-5;

use crate::support::fixture_values as values;

fn tensor4(file: &SafeTensors, name: &str) -> Array4<f32> {
    let (shape, data) = values(file, name);
    assert_eq!(shape.len(), 4, "{name} is not 4-D");
    Array4::from_shape_vec((shape[0], shape[1], shape[2], shape[3]), data).unwrap()
}

/// "conv2d stride=2 padding=1 output_padding=0" → (is it a transpose, geometry).
fn parse_case(description: &str) -> (bool, ConvGeometry) {
    let mut words = description.split(' ');
    let transpose = match words.next() {
        Some("conv2d") => false,
        Some("conv_transpose2d") => true,
        other => panic!("unknown layer kind {other:?}"),
    };
    let mut number = |key: &str| {
        let word = words.next().expect("three numbers follow the kind");
        let value = word
            .strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
            .unwrap_or_else(|| panic!("expected {key}=…, found {word}"));
        value.parse::<usize>().unwrap()
    };
    let geometry = ConvGeometry {
        stride: number("stride"),
        padding: number("padding"),
        output_padding: number("output_padding"),
    };
    (transpose, geometry)
}

/// ‖a − b‖ / ‖b‖ and max |a − b|.
fn difference(a: &[f32], b: &[f32]) -> (f64, f64) {
    assert_eq!(a.len(), b.len());
    let (mut d2, mut b2, mut max) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let d = (x - y) as f64;
        d2 += d * d;
        b2 += (y as f64) * (y as f64);
        max = max.max(d.abs());
    }
    ((d2 / b2.max(1e-300)).sqrt(), max)
}

#[test]
fn conv_layers_match_pytorch_autograd() {
    let bytes = std::fs::read(Path::new(FIXTURE))
        .expect("fixture present (reference/make_conv_fixture.py writes it)");
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    println!("fixture made with torch {}", meta["torch"]);
    let mut cases: Vec<_> = meta
        .iter()
        .filter(|(key, _)| key.as_str() != "torch" && key.as_str() != "safetensors")
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 4, "the fixture's four cases");

    let mut workspace = ConvWorkspace::new();
    let mut bad = Vec::new();
    for (case, description) in cases {
        let (transpose, geometry) = parse_case(description);
        let x = tensor4(&file, &format!("{case}.x"));
        let w = tensor4(&file, &format!("{case}.weight"));
        let b = Array1::from(values(&file, &format!("{case}.bias")).1);
        let torch_y = tensor4(&file, &format!("{case}.y"));
        let dy = tensor4(&file, &format!("{case}.dy"));

        let mut y = Array4::from_elem(torch_y.dim(), f32::NAN);
        let mut dx = Array4::from_elem(x.dim(), f32::NAN);
        let mut dw = Array4::from_elem(w.dim(), f32::NAN);
        let mut db = Array1::from_elem(b.len(), f32::NAN);
        let (xv, wv, bv) = (x.view(), w.view(), b.view());
        let grads = (Some(dx.view_mut()), dw.view_mut(), db.view_mut());
        if transpose {
            conv_transpose2d_forward(y.view_mut(), xv, wv, bv, geometry, &mut workspace);
            let ws = &mut workspace;
            conv_transpose2d_backward(grads.0, grads.1, grads.2, dy.view(), xv, wv, geometry, ws);
        } else {
            conv2d_forward(y.view_mut(), xv, wv, bv, geometry, &mut workspace);
            let ws = &mut workspace;
            conv2d_backward(grads.0, grads.1, grads.2, dy.view(), xv, wv, geometry, ws);
        }

        for (suffix, ours) in [
            ("y", y.as_slice().unwrap()),
            ("dx", dx.as_slice().unwrap()),
            ("dweight", dw.as_slice().unwrap()),
            ("dbias", db.as_slice().unwrap()),
        ] {
            let name = format!("{case}.{suffix}");
            let (shape, torch) = values(&file, &name);
            assert_eq!(shape.iter().product::<usize>(), ours.len(), "{name}: size");
            let (rel, max) = difference(ours, &torch);
            let ok = rel < TOLERANCE;
            println!(
                "{name:<24} max diff {max:.3e}  rel {rel:.3e}  {}",
                if ok { "OK" } else { "NOT OK" }
            );
            if !ok {
                bad.push(name);
            }
        }
    }
    assert!(
        bad.is_empty(),
        "tensors that disagree with PyTorch: {bad:?}"
    );
}
