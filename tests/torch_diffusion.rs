//! The diffusion prior's ε-network and DDPM loss (src/prior/diffusion.rs)
//! against PyTorch autograd: the fixture (made by
//! reference/make_diffusion_fixture.py, not needed to run this test) holds a
//! small SiLU network (Z = 3, E = 4, hidden 6 and 5), five codes x₀ with fixed
//! steps t (1 to 1000) and noise ε, the loss, every tensor's gradient, and the
//! weights after 10 Adam steps on the same batch. Every tensor must agree
//! within 1e-5 relative error, ‖ours − torch‖ / ‖torch‖.

use std::path::Path;

use mnist_autoencoder::model::{Dense, Params};
use mnist_autoencoder::optim::Adam;
use mnist_autoencoder::prior::diffusion::{
    ddpm_loss_backward, ddpm_loss_forward, BetaSchedule, EpsNet, EpsWorkspace, NoiseSchedule,
    Nonlinearity, STEPS,
};
use ndarray::{Array1, Array2};
use safetensors::SafeTensors;

const FIXTURE: &str = "tests/fixtures/torch_diffusion.safetensors";
const TOLERANCE: f64 = 1e-5;
const LAYERS: usize = 3;
const EMBED: usize = 4;

use crate::support::fixture_values as values;

fn matrix(file: &SafeTensors, name: &str) -> Array2<f32> {
    let (shape, data) = values(file, name);
    Array2::from_shape_vec((shape[0], shape[1]), data).unwrap()
}

/// Layers `{prefix}eps.{l}` as this crate stores them: W (in, out), b.
fn params(file: &SafeTensors, prefix: &str) -> Params {
    let layers = (0..LAYERS)
        .map(|l| Dense {
            w: matrix(file, &format!("{prefix}eps.{l}.weight"))
                .reversed_axes()
                .as_standard_layout()
                .into_owned(),
            b: Array1::from(values(file, &format!("{prefix}eps.{l}.bias")).1),
        })
        .collect();
    Params { layers }
}

/// ‖ours − torch‖ / ‖torch‖, printed and checked.
fn agree(name: &str, ours: &[f32], torch: &[f32]) {
    assert_eq!(ours.len(), torch.len(), "{name}: sizes differ");
    let diff: f64 = ours
        .iter()
        .zip(torch)
        .map(|(a, b)| f64::from(a - b).powi(2))
        .sum();
    let norm: f64 = torch.iter().map(|b| f64::from(*b).powi(2)).sum();
    let error = (diff / norm.max(1e-30)).sqrt();
    println!("{name:24} relative error {error:.2e}");
    assert!(error < TOLERANCE, "{name}: relative error {error:.2e}");
}

#[test]
fn one_ddpm_step_and_ten_adam_steps_match_pytorch() {
    let bytes = std::fs::read(Path::new(FIXTURE)).expect("the fixture is committed");
    let file = SafeTensors::deserialize(&bytes).unwrap();
    let mut net = EpsNet {
        params: params(&file, ""),
        latent: 3,
        embed: EMBED,
        nonlinearity: Nonlinearity::Silu,
    };
    let (x0, noise) = (matrix(&file, "x0"), matrix(&file, "noise"));
    let steps: Vec<usize> = values(&file, "steps")
        .1
        .iter()
        .map(|&t| t as usize)
        .collect();
    let schedule = NoiseSchedule::new(BetaSchedule::Cosine, STEPS);
    let rows = x0.nrows();
    let mut ws = EpsWorkspace::new(&net, rows);
    let mut grads = net.params.clone();
    let mut step = |net: &EpsNet, grads: &mut Params| {
        let loss = ddpm_loss_forward(net, &schedule, &mut ws, x0.view(), &steps, noise.view());
        ddpm_loss_backward(net, &mut ws, grads, rows);
        loss
    };

    let loss = step(&net, &mut grads);
    agree("loss", &[loss as f32], &values(&file, "loss").1);
    let torch_grads = params(&file, "grad.");
    for (l, (ours, torch)) in grads.layers.iter().zip(&torch_grads.layers).enumerate() {
        agree(
            &format!("d eps.{l}.weight"),
            ours.w.as_slice().unwrap(),
            torch.w.as_slice().unwrap(),
        );
        agree(
            &format!("d eps.{l}.bias"),
            ours.b.as_slice().unwrap(),
            torch.b.as_slice().unwrap(),
        );
    }

    let mut adam = Adam::new(&net.params, 1e-3);
    let mut losses = Vec::new();
    for _ in 0..10 {
        losses.push(step(&net, &mut grads) as f32);
        adam.update(&mut net.params, &grads);
    }
    agree(
        "losses of 10 Adam steps",
        &losses,
        &values(&file, "adam_losses").1,
    );
    let torch_after = params(&file, "adam.");
    for (l, (ours, torch)) in net
        .params
        .layers
        .iter()
        .zip(&torch_after.layers)
        .enumerate()
    {
        agree(
            &format!("eps.{l}.weight after Adam"),
            ours.w.as_slice().unwrap(),
            torch.w.as_slice().unwrap(),
        );
        agree(
            &format!("eps.{l}.bias after Adam"),
            ours.b.as_slice().unwrap(),
            torch.b.as_slice().unwrap(),
        );
    }
}
