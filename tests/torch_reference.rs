//! This project's forward, backward and Adam against PyTorch autograd, in the
//! style of llm.c's test: the fixture (made by reference/make_fixture.py, not
//! needed to run this test) holds a small autoencoder's initial weights, a batch
//! of 16 MNIST images, and PyTorch's loss, gradients, and weights after 1 and 10
//! Adam steps, for MSE and BCE. Every tensor must agree within 1e-4 relative
//! error, ‖ours − torch‖ / ‖torch‖, and so must the Adam updates themselves
//! (weights after n steps minus the initial weights).

use std::path::Path;

use mnist_autoencoder::model::{
    backward, forward, loss_backward, loss_forward, Architecture, Loss, ModelKind, Params,
    Workspace,
};
use mnist_autoencoder::nn::LossKind;
use mnist_autoencoder::optim::Adam;
use ndarray::{Array1, Array2};
use safetensors::SafeTensors;

const FIXTURE: &str = "tests/fixtures/torch_reference.safetensors";
const TOLERANCE: f64 = 1e-4;

use crate::support::fixture_values as values;

/// Parameters stored PyTorch-style under `prefix` (weights out × in), as our (in × out) Params.
fn params(file: &SafeTensors, prefix: &str, arch: &Architecture) -> Params {
    let mut params = Params::zeros(arch);
    for (l, layer) in params.layers.iter_mut().enumerate() {
        let name = arch.layer_name(l);
        let (shape, w) = values(file, &format!("{prefix}{name}.weight"));
        layer.w = Array2::from_shape_vec((shape[0], shape[1]), w)
            .unwrap()
            .reversed_axes()
            .as_standard_layout()
            .into_owned();
        layer.b = Array1::from(values(file, &format!("{prefix}{name}.bias")).1);
    }
    params
}

/// ‖a − b‖ / ‖b‖ and max |a − b|.
fn difference(a: &[f32], b: &[f32]) -> (f64, f64) {
    let (mut d2, mut b2, mut max) = (0.0f64, 0.0f64, 0.0f64);
    for (&x, &y) in a.iter().zip(b) {
        let d = (x - y) as f64;
        d2 += d * d;
        b2 += (y as f64) * (y as f64);
        max = max.max(d.abs());
    }
    ((d2 / b2.max(1e-300)).sqrt(), max)
}

/// Compares every tensor of `ours` with `reference`; prints a row per tensor and
/// returns the names that disagree.
fn compare(label: &str, ours: &Params, reference: &Params, arch: &Architecture) -> Vec<String> {
    compare_within(label, ours, reference, arch, TOLERANCE)
}

/// [`compare`] with a given relative tolerance.
fn compare_within(
    label: &str,
    ours: &Params,
    reference: &Params,
    arch: &Architecture,
    tolerance: f64,
) -> Vec<String> {
    let mut bad = Vec::new();
    for (l, (a, b)) in ours.layers.iter().zip(&reference.layers).enumerate() {
        for (suffix, x, y) in [
            ("weight", a.w.as_slice().unwrap(), b.w.as_slice().unwrap()),
            ("bias", a.b.as_slice().unwrap(), b.b.as_slice().unwrap()),
        ] {
            let (rel, max) = difference(x, y);
            let ok = rel < tolerance;
            let name = format!("{label} {}.{suffix}", arch.layer_name(l));
            println!(
                "{name:<32} max diff {max:.3e}  rel {rel:.3e}  {}",
                if ok { "OK" } else { "NOT OK" }
            );
            if !ok {
                bad.push(name);
            }
        }
    }
    bad
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

/// Loss and gradients of our model at `params` on `x`.
fn loss_and_grads(
    params: &Params,
    arch: &Architecture,
    x: &Array2<f32>,
    loss: LossKind,
) -> (f64, Params) {
    let rows = x.nrows();
    let mut ws = Workspace::new(arch, rows);
    ws.input_mut(rows).assign(x);
    forward(params, arch, &mut ws, rows);
    let value = loss.forward(ws.reconstruction(rows), x.view());
    let last = arch.layer_count();
    let x_hat = ws.outputs[last].clone();
    loss.backward(ws.d_outputs[last].view_mut(), x_hat.view(), x.view());
    let mut grads = Params::zeros(arch);
    backward(params, arch, &mut grads, &mut ws, rows);
    (value, grads)
}

#[test]
fn forward_backward_and_adam_match_pytorch_autograd() {
    let bytes = std::fs::read(Path::new(FIXTURE))
        .expect("fixture present (reference/make_fixture.py writes it)");
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let meta = header.metadata().clone().unwrap();
    println!("fixture made with torch {}", meta["torch"]);
    let hidden = meta["hidden"]
        .split(',')
        .map(|h| h.parse().unwrap())
        .collect();
    let arch = Architecture::plain(784, hidden, meta["latent"].parse().unwrap());
    let (shape, batch) = values(&file, "batch");
    let x = Array2::from_shape_vec((shape[0], shape[1]), batch).unwrap();
    let init = params(&file, "init.", &arch);

    let mut bad = Vec::new();
    for (name, loss) in [("mse", LossKind::Mse), ("bce", LossKind::Bce)] {
        let (value, grads) = loss_and_grads(&init, &arch, &x, loss);
        let torch_loss = values(&file, &format!("{name}.loss")).1[0] as f64;
        let rel = (value - torch_loss).abs() / torch_loss.abs();
        println!(
            "{name} loss: ours {value:.8} torch {torch_loss:.8} rel {rel:.2e}  {}",
            if rel < TOLERANCE { "OK" } else { "NOT OK" }
        );
        if rel >= TOLERANCE {
            bad.push(format!("{name} loss"));
        }
        bad.extend(compare(
            &format!("{name} grad"),
            &grads,
            &params(&file, &format!("{name}.grad."), &arch),
            &arch,
        ));

        let mut current = init.clone();
        let mut adam = Adam::new(&current, 1e-3);
        for step in 1..=10 {
            let (_, grads) = loss_and_grads(&current, &arch, &x, loss);
            adam.update(&mut current, &grads);
            if step == 1 || step == 10 {
                let torch = params(&file, &format!("{name}.step{step}."), &arch);
                bad.extend(compare(
                    &format!("{name} step {step}"),
                    &current,
                    &torch,
                    &arch,
                ));
                // The updates themselves (weights − initial weights), a much
                // stricter test than the weights: Adam's step is ~1e-3.
                let (ours_update, torch_update) = (minus(&current, &init), minus(&torch, &init));
                bad.extend(compare(
                    &format!("{name} update {step}"),
                    &ours_update,
                    &torch_update,
                    &arch,
                ));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "tensors that disagree with PyTorch: {bad:?}"
    );
}

const VAE_FIXTURE: &str = "tests/fixtures/torch_vae.safetensors";
/// The VAE's loss, gradients and weights after Adam steps agree within 1e-5.
const VAE_TOLERANCE: f64 = 1e-5;

/// Loss parts, gradients, dμ and d log σ² of the VAE on batch `x` with noise `eps`.
fn vae_loss_and_grads(
    params: &Params,
    arch: &Architecture,
    x: &Array2<f32>,
    eps: &Array2<f32>,
) -> (Loss, Params, Array2<f32>, Array2<f32>) {
    let rows = x.nrows();
    let mut ws = Workspace::new(arch, rows);
    ws.input_mut(rows).assign(x);
    ws.target.assign(x);
    ws.sampling.as_mut().unwrap().eps.assign(eps);
    forward(params, arch, &mut ws, rows);
    let loss = loss_forward(arch.kind, LossKind::Bce, 1.0, &ws, rows);
    loss_backward(arch.kind, LossKind::Bce, 1.0, &mut ws, rows);
    let mut grads = Params::zeros(arch);
    backward(params, arch, &mut grads, &mut ws, rows);
    let dmu = ws.d_outputs[arch.code_layer() + 1].clone();
    let dlogvar = ws.sampling.unwrap().d_log_var;
    (loss, grads, dmu, dlogvar)
}

#[test]
fn vae_forward_backward_and_adam_match_pytorch_autograd_with_fixed_eps() {
    let bytes = std::fs::read(Path::new(VAE_FIXTURE))
        .expect("fixture present (reference/make_vae_fixture.py writes it)");
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let arch = Architecture {
        kind: ModelKind::Vae,
        ..Architecture::plain(784, vec![32, 16], 8)
    };
    let matrix = |name: &str| {
        let (shape, v) = values(&file, name);
        Array2::from_shape_vec((shape[0], shape[1]), v).unwrap()
    };
    let scalar = |name: &str| values(&file, name).1[0] as f64;
    let (x, eps) = (matrix("batch"), matrix("eps"));
    let init = params(&file, "init.", &arch);
    let (loss, grads, dmu, dlogvar) = vae_loss_and_grads(&init, &arch, &x, &eps);
    let mut bad = Vec::new();
    for (name, ours, torch) in [
        ("loss", loss.total, scalar("loss")),
        ("recon", loss.recon, scalar("recon")),
        ("kl", loss.kl, scalar("kl")),
    ] {
        let rel = (ours - torch).abs() / torch.abs();
        println!("{name:<8} ours {ours:.6} torch {torch:.6} rel {rel:.2e}");
        if rel >= VAE_TOLERANCE {
            bad.push(name.to_string());
        }
    }
    for (name, ours) in [("dmu", &dmu), ("dlogvar", &dlogvar)] {
        let (rel, max) = difference(ours.as_slice().unwrap(), matrix(name).as_slice().unwrap());
        println!("{name:<8} max diff {max:.3e} rel {rel:.3e}");
        if rel >= VAE_TOLERANCE {
            bad.push(name.to_string());
        }
    }
    bad.extend(compare_within(
        "grad",
        &grads,
        &params(&file, "grad.", &arch),
        &arch,
        VAE_TOLERANCE,
    ));
    let mut current = init.clone();
    let mut adam = Adam::new(&current, 1e-3);
    for step in 1..=10 {
        let (_, grads, _, _) = vae_loss_and_grads(&current, &arch, &x, &eps);
        adam.update(&mut current, &grads);
        if step == 1 || step == 10 {
            let torch = params(&file, &format!("step{step}."), &arch);
            bad.extend(compare_within(
                &format!("step {step}"),
                &current,
                &torch,
                &arch,
                VAE_TOLERANCE,
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "VAE tensors that disagree with PyTorch: {bad:?}"
    );
}
