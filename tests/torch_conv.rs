//! The convolution layers (src/nn/conv.rs) against PyTorch autograd: the
//! fixture (made by reference/make_conv_fixture.py, not needed to run this
//! test) holds four small cases, Conv2d and ConvTranspose2d with stride 1 and 2,
//! padding 0 and 1, output padding 1, each with x, PyTorch-layout weights, a
//! non-zero bias, the output y and the gradients dx, dweight, dbias of
//! `L = Σ y ⊙ dy`. Every tensor must agree within 1e-5 relative error,
//! ‖ours − torch‖ / ‖torch‖; a line per tensor is printed, as in llm.c's test.
//!
//! The second fixture (the same script) holds the whole convolutional
//! autoencoder with fewer channels (1×28×28 → 4×14×14 → 8×7×7 → 8 and back,
//! the real model's geometry): its initial weights as model.safetensors
//! stores them, a batch of 8 MNIST test digits, the reconstruction, the MSE,
//! every parameter's gradient, and the weights after 1 and 10 Adam steps.
//! The same 1e-5 holds for each.

use std::path::Path;

use mnist_autoencoder::model::{
    backward, forward, Architecture, Backbone, LayerOp, ModelKind, Params, Workspace,
};
use mnist_autoencoder::nn::conv::{
    conv2d_backward, conv2d_forward, conv_transpose2d_backward, conv_transpose2d_forward,
    ConvGeometry, ConvWorkspace,
};
use mnist_autoencoder::nn::{Activation, LossKind};
use mnist_autoencoder::optim::Adam;
use ndarray::{Array1, Array2, Array4};
use safetensors::SafeTensors;

const FIXTURE: &str = "tests/fixtures/torch_conv.safetensors";
const MODEL_FIXTURE: &str = "tests/fixtures/torch_conv_model.safetensors";
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

/// Parameters stored under `prefix` in PyTorch's layout and names, as our
/// Params: a convolution's bytes are ours, a dense layer's (O, I) is transposed.
fn model_params(file: &SafeTensors, prefix: &str, arch: &Architecture) -> Params {
    let ops = arch.layer_ops();
    let mut params = Params::zeros(arch);
    for (l, layer) in params.layers.iter_mut().enumerate() {
        let name = arch.layer_name(l);
        let (shape, w) = values(file, &format!("{prefix}{name}.weight"));
        assert_eq!(shape, ops[l].file_shape(), "{name}: PyTorch's weight shape");
        let w = if ops[l].file_transposed() {
            Array2::from_shape_vec((shape[0], shape[1]), w)
                .unwrap()
                .reversed_axes()
                .as_standard_layout()
                .into_owned()
        } else {
            Array2::from_shape_vec(ops[l].weight_dim(), w).unwrap()
        };
        layer.w = w;
        layer.b = Array1::from(values(file, &format!("{prefix}{name}.bias")).1);
    }
    params
}

/// The reconstruction, MSE and gradients of our model at `params` on `x`.
fn model_loss_and_grads(
    params: &Params,
    arch: &Architecture,
    x: &Array2<f32>,
) -> (Array2<f32>, f64, Params) {
    let rows = x.nrows();
    let mut ws = Workspace::new(arch, rows);
    ws.input_mut(rows).assign(x);
    forward(params, arch, &mut ws, rows);
    let last = arch.layer_count();
    let x_hat = ws.outputs[last].clone();
    let loss = LossKind::Mse.forward(x_hat.view(), x.view());
    LossKind::Mse.backward(ws.d_outputs[last].view_mut(), x_hat.view(), x.view());
    let mut grads = Params::zeros(arch);
    backward(params, arch, &mut grads, &mut ws, rows);
    (x_hat, loss, grads)
}

/// Prints a line for tensor `name`; returns whether it is within [`TOLERANCE`].
fn agrees(name: &str, ours: &[f32], torch: &[f32]) -> bool {
    assert_eq!(ours.len(), torch.len(), "{name}: size");
    let (rel, max) = difference(ours, torch);
    let ok = rel < TOLERANCE;
    let verdict = if ok { "OK" } else { "NOT OK" };
    println!("{name:<28} max diff {max:.3e}  rel {rel:.3e}  {verdict}");
    ok
}

/// Every tensor of `ours` against `torch`, named `{label} {layer}.weight`;
/// returns the names that disagree.
fn disagreeing(label: &str, ours: &Params, torch: &Params, arch: &Architecture) -> Vec<String> {
    let mut bad = Vec::new();
    for (l, (a, b)) in ours.layers.iter().zip(&torch.layers).enumerate() {
        for (suffix, x, y) in [
            ("weight", a.w.as_slice().unwrap(), b.w.as_slice().unwrap()),
            ("bias", a.b.as_slice().unwrap(), b.b.as_slice().unwrap()),
        ] {
            let name = format!("{label} {}.{suffix}", arch.layer_name(l));
            if !agrees(&name, x, y) {
                bad.push(name);
            }
        }
    }
    bad
}

#[test]
fn the_whole_conv_model_matches_pytorch_forward_backward_and_adam() {
    let bytes = std::fs::read(Path::new(MODEL_FIXTURE))
        .expect("fixture present (reference/make_conv_fixture.py writes it)");
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    println!("fixture made with torch {}", meta["torch"]);
    let arch = Architecture {
        backbone: Backbone::Conv,
        kind: ModelKind::Ae,
        input: 784,
        hidden: meta["channels"]
            .split(',')
            .map(|c| c.parse().unwrap())
            .collect(),
        latent: meta["latent"].parse().unwrap(),
        activation: Activation::Relu,
    };
    let transposed = arch
        .layer_ops()
        .iter()
        .filter(|op| matches!(op, LayerOp::ConvTranspose2d(_)))
        .count();
    assert_eq!(transposed, 2, "the decoder has two transposed convolutions");
    let (shape, batch) = values(&file, "batch");
    let x = Array2::from_shape_vec((shape[0], shape[1]), batch).unwrap();
    let init = model_params(&file, "init.", &arch);

    let (x_hat, loss, grads) = model_loss_and_grads(&init, &arch, &x);
    let torch_loss = values(&file, "loss").1[0];
    let mut bad = Vec::new();
    for (name, ours, torch) in [
        (
            "reconstruction",
            x_hat.as_slice().unwrap(),
            values(&file, "reconstruction").1,
        ),
        ("loss", &[loss as f32][..], vec![torch_loss]),
    ] {
        if !agrees(name, ours, &torch) {
            bad.push(name.to_string());
        }
    }
    bad.extend(disagreeing(
        "grad",
        &grads,
        &model_params(&file, "grad.", &arch),
        &arch,
    ));

    let mut current = init.clone();
    let mut adam = Adam::new(&current, 1e-3);
    for step in 1..=10 {
        let (_, _, grads) = model_loss_and_grads(&current, &arch, &x);
        adam.update(&mut current, &grads);
        if step == 1 || step == 10 {
            let torch = model_params(&file, &format!("step{step}."), &arch);
            bad.extend(disagreeing(
                &format!("step {step}"),
                &current,
                &torch,
                &arch,
            ));
            // The updates themselves (weights − initial weights), a much
            // stricter test than the weights: Adam's step is ~1e-3.
            let (ours_update, torch_update) = (minus(&current, &init), minus(&torch, &init));
            let label = format!("update {step}");
            bad.extend(disagreeing(&label, &ours_update, &torch_update, &arch));
        }
    }
    assert!(
        bad.is_empty(),
        "tensors of the conv model that disagree with PyTorch: {bad:?}"
    );
}

/// a − b, tensor by tensor.
fn minus(a: &Params, b: &Params) -> Params {
    let mut out = a.clone();
    for (o, b) in out.layers.iter_mut().zip(&b.layers) {
        o.w -= &b.w;
        o.b -= &b.b;
    }
    out
}
