//! Gradient checks: every hand-written backward function against centered
//! finite differences of its forward function.
//!
//! Thresholds. Everything runs in f32 (machine epsilon 1.2e-7). For a function
//! that is *linear* in the checked tensor (the dense layer, a loss weighted by
//! fixed coefficients) the centered difference has no truncation error, only
//! rounding: measured tensor errors are around 1e-6 to 1e-4, so 1e-3 leaves a
//! margin and still catches any real mistake. For the whole network the
//! difference also has an O(ε²) truncation error and ReLU kinks; measured errors
//! are below 2e-3 with ε = 1e-2 (ReLU patterns frozen at θ, so crossing a kink
//! does not spoil the difference), so we assert 1e-2. A wrong transpose, sign, dropped term or
//! factor of 2 gives errors from 0.3 to 2 (a factor 2 gives exactly 1/2): every
//! threshold here is far below that.

use mnist_autoencoder::gradcheck::{check_model, compare, numeric_gradient};
use mnist_autoencoder::model::{Architecture, ModelKind, Params};
use mnist_autoencoder::nn::vae::{
    kl_backward, kl_forward, reparameterise_backward, reparameterise_forward,
};
use mnist_autoencoder::nn::{
    activation_backward, activation_forward, dense_backward, dense_forward, Activation, LossKind,
};
use ndarray::array;
use ndarray::{Array1, Array2};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::SeedableRng;
use ndarray_rand::rand_distr::Uniform;
use ndarray_rand::RandomExt;

fn random(rows: usize, cols: usize, low: f32, high: f32, seed: u64) -> Array2<f32> {
    Array2::random_using(
        (rows, cols),
        Uniform::new(low, high).unwrap(),
        &mut StdRng::seed_from_u64(seed),
    )
}

/// Σ c ⊙ y in f64: a scalar whose gradient with respect to y is c.
fn weighted_sum(y: &Array2<f32>, c: &Array2<f32>) -> f64 {
    y.iter().zip(c).map(|(&y, &c)| y as f64 * c as f64).sum()
}

#[test]
fn dense_layer_gradients_match_finite_differences() {
    // Non-square everywhere (B=5, I=7, O=4) so a wrong transpose cannot fit.
    let x = random(5, 7, -1.0, 1.0, 1);
    let w = random(7, 4, -1.0, 1.0, 2);
    let b = Array1::from(vec![0.3f32, -0.2, 0.5, 0.1]);
    let c = random(5, 4, -1.0, 1.0, 3); // upstream gradient dY
    let loss = |(x, w, b): &(Array2<f32>, Array2<f32>, Array1<f32>)| {
        let mut y = Array2::zeros((5, 4));
        dense_forward(y.view_mut(), x.view(), w.view(), b.view());
        weighted_sum(&y, &c)
    };

    let mut dx = Array2::zeros((5, 7));
    let mut dw = Array2::zeros((7, 4));
    let mut db = Array1::zeros(4);
    dense_backward(
        Some(dx.view_mut()),
        dw.view_mut(),
        db.view_mut(),
        c.view(),
        x.view(),
        w.view(),
    );

    let mut state = (x, w, b);
    let eps = 1e-2;
    let nx = numeric_gradient(&mut state, |s| s.0.as_slice_mut().unwrap(), eps, loss);
    let nw = numeric_gradient(&mut state, |s| s.1.as_slice_mut().unwrap(), eps, loss);
    let nb = numeric_gradient(&mut state, |s| s.2.as_slice_mut().unwrap(), eps, loss);
    for (name, analytic, numeric) in [
        ("dX", dx.as_slice().unwrap(), &nx),
        ("dW", dw.as_slice().unwrap(), &nw),
        ("db", db.as_slice().unwrap(), &nb),
    ] {
        let err = compare(analytic, numeric).tensor_error;
        assert!(err < 1e-3, "{name}: relative error {err}");
    }
}

#[test]
fn dense_backward_overwrites_dw_and_db() {
    let x = random(3, 4, -1.0, 1.0, 4);
    let w = random(4, 2, -1.0, 1.0, 5);
    let dy = random(3, 2, -1.0, 1.0, 6);
    // dW = Xᵀ·dY and db = Σ_rows dY, term by term.
    let expected_dw = Array2::from_shape_fn((4, 2), |(i, o)| {
        (0..3).map(|n| x[[n, i]] * dy[[n, o]]).sum::<f32>()
    });
    let expected_db = Array1::from_shape_fn(2, |o| (0..3).map(|n| dy[[n, o]]).sum::<f32>());
    // Whatever dW and db held before (here NaN, then the first call's result)
    // must not show in the result.
    let mut dw = Array2::from_elem((4, 2), f32::NAN);
    let mut db = Array1::from_elem(2, f32::NAN);
    for call in 1..=2 {
        dense_backward(
            None,
            dw.view_mut(),
            db.view_mut(),
            dy.view(),
            x.view(),
            w.view(),
        );
        // (A NaN difference fails `<`, where a fold with f32::max would skip it.)
        let close = |d: &f32| d.abs() < 1e-6;
        assert!(
            (&dw - &expected_dw).iter().all(close),
            "call {call}: dW {dw} ≠ {expected_dw}"
        );
        assert!(
            (&db - &expected_db).iter().all(close),
            "call {call}: db {db} ≠ {expected_db}"
        );
    }
}

#[test]
fn activation_gradients_match_finite_differences() {
    // Inputs kept away from 0 by more than eps so ReLU's kink is never crossed.
    let mut z = random(6, 5, 0.05, 2.0, 7);
    for (i, v) in z.iter_mut().enumerate() {
        if i % 2 == 0 {
            *v = -*v;
        }
    }
    let c = random(6, 5, -1.0, 1.0, 8);
    for activation in [
        Activation::Identity,
        Activation::Relu,
        Activation::LeakyRelu,
        Activation::Sigmoid,
        Activation::Tanh,
    ] {
        let loss = |z: &Array2<f32>| {
            let mut a = z.clone();
            activation_forward(activation, a.view_mut());
            weighted_sum(&a, &c)
        };
        let mut a = z.clone();
        activation_forward(activation, a.view_mut());
        let mut dz = c.clone();
        activation_backward(activation, dz.view_mut(), a.view());
        let mut state = z.clone();
        let numeric = numeric_gradient(&mut state, |s| s.as_slice_mut().unwrap(), 1e-2, loss);
        let err = compare(dz.as_slice().unwrap(), &numeric).tensor_error;
        // Sigmoid and tanh are curved: O(ε²) = 1e-4 truncation error.
        assert!(err < 1e-3, "{activation:?}: relative error {err}");
    }
}

#[test]
fn loss_gradients_match_finite_differences() {
    let x_hat = random(4, 6, 0.05, 0.95, 9);
    let x = random(4, 6, 0.0, 1.0, 10);
    for loss in [LossKind::Mse, LossKind::Bce] {
        let mut grad = Array2::zeros((4, 6));
        loss.backward(grad.view_mut(), x_hat.view(), x.view());
        let mut state = x_hat.clone();
        let numeric = numeric_gradient(
            &mut state,
            |s| s.as_slice_mut().unwrap(),
            1e-3,
            |p| loss.forward(p.view(), x.view()),
        );
        let err = compare(grad.as_slice().unwrap(), &numeric).tensor_error;
        assert!(err < 1e-3, "{loss:?}: relative error {err}");
    }
}

#[test]
fn mse_matches_pytorch_reduction_by_hand() {
    // nn.MSELoss()(x̂, x) = mean over every element.
    let x_hat = Array2::from_shape_vec((2, 2), vec![0.0f32, 0.5, 1.0, 0.25]).unwrap();
    let x = Array2::from_shape_vec((2, 2), vec![1.0f32, 0.5, 0.0, 0.75]).unwrap();
    let expected = (1.0 + 0.0 + 1.0 + 0.25) / 4.0;
    assert!((LossKind::Mse.forward(x_hat.view(), x.view()) - expected).abs() < 1e-12);
}

/// Step of the centered differences for the whole network: large enough that
/// f32 rounding noise (~1e-8 on the loss) stays far below the ~2ε·g signal.
const EPS: f32 = 1e-2;

fn small_network() -> (Architecture, Params, Array2<f32>) {
    // 12-7-5-3-5-7-12: every layer non-square, every bias non-zero.
    let arch = Architecture::plain(12, vec![7, 5], 3);
    let mut params = Params::init(&arch, &mut StdRng::seed_from_u64(11));
    for layer in &mut params.layers {
        layer.b.mapv_inplace(|b| b + 0.1);
    }
    let x = random(4, 12, 0.0, 1.0, 12);
    (arch, params, x)
}

#[test]
fn whole_autoencoder_gradients_match_finite_differences() {
    let (arch, params, x) = small_network();
    for loss in [LossKind::Mse, LossKind::Bce] {
        let checks = check_model(&params, &arch, &x, None, loss, EPS, usize::MAX);
        assert_eq!(checks.len(), 12, "6 layers × (weight, bias)");
        for check in checks {
            let err = check.comparison.tensor_error;
            println!(
                "{loss:?} {:<18} {:?} tensor error {err:.2e} ({} crossed a kink)",
                check.name, check.shape, check.kinks_frozen
            );
            assert!(err < 1e-2, "{loss:?} {}: relative error {err}", check.name);
            let elements: usize = check.shape.iter().product();
            assert_eq!(check.checked, elements, "every element is compared");
        }
    }
}

/// A small VAE, 12-7-5-(3+3)-5-7-12, with non-zero biases and a fixed ε.
fn small_vae() -> (Architecture, Params, Array2<f32>, Array2<f32>) {
    let arch = Architecture {
        kind: ModelKind::Vae,
        ..Architecture::plain(12, vec![7, 5], 3)
    };
    let mut params = Params::init(&arch, &mut StdRng::seed_from_u64(13));
    for layer in &mut params.layers {
        layer.b.mapv_inplace(|b| b + 0.1);
    }
    let x = random(4, 12, 0.0, 1.0, 14);
    let noise = random(4, 3, -1.5, 1.5, 15);
    (arch, params, x, noise)
}

/// With β = 1 (the negative ELBO) and with the KL term weighted by β = 0.25
/// and β = 4 (`--beta`): a β used in the loss but dropped from its gradient
/// (or applied twice) fails the encoder's and both heads' tensors.
#[test]
fn whole_vae_gradients_match_finite_differences_with_eps_held_fixed() {
    let (arch, params, x, noise) = small_vae();
    for beta in [1.0, 0.25, 4.0] {
        let checks = check_model(
            &params,
            &arch,
            &x,
            Some((&noise, beta)),
            LossKind::Bce,
            EPS,
            usize::MAX,
        );
        assert_eq!(
            checks.len(),
            14,
            "7 layers (6 + the log σ² head) × (weight, bias)"
        );
        let names: Vec<&str> = checks.iter().map(|c| c.name.as_str()).collect();
        assert!(
            names.contains(&"mu.weight") && names.contains(&"logvar.bias"),
            "{names:?}"
        );
        for check in checks {
            let err = check.comparison.tensor_error;
            println!(
                "VAE β {beta} {:<18} {:?} tensor error {err:.2e}",
                check.name, check.shape
            );
            assert!(
                err < 1e-2,
                "VAE β {beta} {}: relative error {err}",
                check.name
            );
        }
    }
}

// The VAE's two pieces, each checked alone (src/nn/vae.rs).

fn vae_inputs() -> (Array2<f32>, Array2<f32>, Array2<f32>) {
    let mu = array![[0.3f32, -1.2, 0.5], [0.9, 0.1, -0.4]];
    let log_var = array![[-0.5f32, 0.4, -1.5], [0.2, -0.3, 0.7]];
    let eps = array![[1.1f32, -0.3, 0.6], [-0.8, 1.4, 0.2]];
    (mu, log_var, eps)
}

/// `Σ c ⊙ z`: a loss whose gradient with respect to z is the fixed `c`.
fn weighted_z(mu: &Array2<f32>, log_var: &Array2<f32>, eps: &Array2<f32>, c: &Array2<f32>) -> f64 {
    let mut z = Array2::zeros(mu.dim());
    reparameterise_forward(z.view_mut(), mu.view(), log_var.view(), eps.view());
    (&z * c).iter().map(|&v| v as f64).sum()
}

#[test]
fn reparameterisation_backward_matches_finite_differences() {
    let (mu, log_var, eps) = vae_inputs();
    let c = array![[0.7f32, -0.2, 1.3], [0.4, 0.9, -1.1]];
    let dmu = c.clone(); // dz = c, and dμ = dz
    let mut d_log_var = Array2::zeros(mu.dim());
    reparameterise_backward(dmu.view(), d_log_var.view_mut(), log_var.view(), eps.view());
    let mut state = (mu, log_var);
    let numeric_mu = numeric_gradient(
        &mut state,
        |s| s.0.as_slice_mut().unwrap(),
        1e-2,
        |s| weighted_z(&s.0, &s.1, &eps, &c),
    );
    let numeric_lv = numeric_gradient(
        &mut state,
        |s| s.1.as_slice_mut().unwrap(),
        1e-2,
        |s| weighted_z(&s.0, &s.1, &eps, &c),
    );
    assert!(compare(dmu.as_slice().unwrap(), &numeric_mu).tensor_error < 1e-3);
    let error = compare(d_log_var.as_slice().unwrap(), &numeric_lv).tensor_error;
    assert!(error < 1e-3, "d log σ² off by {error}");
}

#[test]
fn kl_is_zero_at_the_prior_and_its_backward_matches_finite_differences() {
    let zeros = Array2::<f32>::zeros((2, 3));
    assert_eq!(kl_forward(zeros.view(), zeros.view()), 0.0);
    let (mu, log_var, _) = vae_inputs();
    let mut dmu = Array2::zeros(mu.dim());
    let mut d_log_var = Array2::zeros(mu.dim());
    kl_backward(
        dmu.view_mut(),
        d_log_var.view_mut(),
        mu.view(),
        log_var.view(),
        1.0,
    );
    let mut state = (mu, log_var);
    let numeric_mu = numeric_gradient(
        &mut state,
        |s| s.0.as_slice_mut().unwrap(),
        1e-2,
        |s| kl_forward(s.0.view(), s.1.view()),
    );
    let numeric_lv = numeric_gradient(
        &mut state,
        |s| s.1.as_slice_mut().unwrap(),
        1e-2,
        |s| kl_forward(s.0.view(), s.1.view()),
    );
    assert!(compare(dmu.as_slice().unwrap(), &numeric_mu).tensor_error < 1e-3);
    assert!(compare(d_log_var.as_slice().unwrap(), &numeric_lv).tensor_error < 1e-3);
}
