//! The latent explorer inside report.html: the run's decoder, its test codes
//! and the slider directions, embedded as JSON for the page's own
//! plain-JavaScript decoder (explorer.js, beside this file), so it runs from
//! the one file with no library and no network.
//!
//! The map and the sliders share their axes: the map's x and y are the first
//! two sliders. A code of one or two numbers is its own map (z1 to the right,
//! z2 up, as in manifold.png) with one slider per number; a longer code gets
//! the principal directions of the test codes as sliders, in standard
//! deviations, and the map shows the first two.
//!
//! Weights are base64 little-endian f32 (the default decoder is about 2.2 MB,
//! 2.9 MB as base64: f16 is not needed). The page decodes five reference codes
//! on load and shows its largest difference from the Rust decoder's output.
//!
//! With a diffusion prior fitted in the run, the page also gets its ε-network
//! (the default 32-512-512-512-32 (+32) is about 2.4 MB, 3.3 MB as base64), the
//! standardisation, x̂₀'s box and the DDIM steps with their ᾱ, and samples
//! codes itself by the prior's own walk (`diffusion_data`); it checks its
//! sampler against [`DiffusionPrior::sample_ddim_with_noise`] on
//! [`PARITY_SAMPLES`] fixed noises.

use ndarray::{arr2, s, Array1, Array2, ArrayView2, Axis};
use serde_json::{json, Value};

use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use super::{FigureInputs, ROWS_PER_PASS};
use crate::error::Result;
use crate::model::{decode, Architecture, Params};
use crate::prior::diffusion::{ddim_steps, time_frequencies, DiffusionPrior};
use crate::prior::Prior;
use crate::reduce::pca::Pca;
use crate::seeds::{self, Purpose};
use crate::viz::report::base64;

const SCRIPT: &str = include_str!("explorer.js");
const STYLE: &str = include_str!("explorer.css");
const SECTION: &str = include_str!("explorer.html");

/// Principal directions offered as sliders (for codes longer than two).
const SLIDERS: usize = 8;
/// Reference codes decoded by both Rust and the page.
const PARITY_CODES: usize = 5;
/// Fixed noises the page's diffusion sampler and Rust's both turn into digits.
pub const PARITY_SAMPLES: usize = 3;

/// The explorer's HTML: style, section, data, script. `codes` (N, Z) are the
/// mapped test codes and `map` (N, 2) the latent_pca.png map drawn of them,
/// used only to face the explorer's map the same way. `prior`: the prior fitted
/// in the run; a diffusion prior gets a "sample (diffusion)" button, its parity
/// noise drawn from `seed`.
pub fn explorer_html(
    inputs: &FigureInputs,
    codes: ArrayView2<f32>,
    map: ArrayView2<f32>,
    params: &Params,
    arch: &Architecture,
    prior: Option<&Prior>,
    seed: u64,
) -> Result<String> {
    let mut data = explorer_data(inputs, codes, map, params, arch)?;
    if let Some((diffusion, steps, eta)) = prior.and_then(Prior::ddim_walk) {
        data["diffusion"] = diffusion_data(diffusion, (steps, eta), params, arch, seed);
    }
    // `<` escaped so nothing in the data can close the script element.
    let json = serde_json::to_string(&data)
        .expect("data serialises")
        .replace('<', "\\u003c");
    Ok(format!(
        "<style>\n{STYLE}</style>\n{SECTION}<script type=\"application/json\" id=\"explorer-data\">{json}</script>\n<script>\n{SCRIPT}</script>\n"
    ))
}

/// f32 values as base64 little-endian bytes.
fn floats(values: impl IntoIterator<Item = f32>) -> String {
    let bytes: Vec<u8> = values.into_iter().flat_map(f32::to_le_bytes).collect();
    base64(&bytes)
}

/// Rows of a matrix as JSON arrays.
fn rows(a: ArrayView2<f32>) -> Value {
    Value::from(a.rows().into_iter().map(|r| r.to_vec()).collect::<Vec<_>>())
}

/// The sliders: slider k reads `(code − origin)·directions[k] / scales[k]` in
/// `unit`, and moves the code along `directions[k]` only. The map's x and y
/// are sliders 0 and 1.
struct Sliders {
    names: Vec<String>,
    unit: &'static str,
    /// (Z) the point every slider reads as 0.
    origin: Array1<f32>,
    /// (K, Z) orthonormal rows.
    directions: Array2<f32>,
    /// (K) code units per slider unit.
    scales: Vec<f32>,
}

/// The code's own axes for Z ≤ 2; else the principal directions of `codes`
/// (N, Z) in standard deviations, the first two signed to face like `map`.
fn sliders(codes: ArrayView2<f32>, map: ArrayView2<f32>) -> Sliders {
    let z = codes.ncols();
    if z <= 2 {
        return Sliders {
            names: (1..=z).map(|k| format!("z{k}")).collect(),
            unit: "",
            origin: Array1::zeros(z),
            directions: Array2::eye(z),
            scales: vec![1.0; z],
        };
    }
    let pca = Pca::fit(codes, SLIDERS.min(z));
    let mut directions = pca.components.t().to_owned();
    for (k, sign) in facing(codes, map, &pca).into_iter().enumerate() {
        directions.row_mut(k).mapv_inplace(|v| sign * v);
    }
    Sliders {
        names: (1..=directions.nrows())
            .map(|k| format!("PC {k}"))
            .collect(),
        unit: "σ",
        origin: pca.mean.clone(),
        directions,
        scales: pca
            .variances
            .iter()
            .map(|v| match v.max(0.0).sqrt() as f32 {
                s if s > 0.0 => s,
                _ => 1.0,
            })
            .collect(),
    }
}

/// Signs (±1) for the first two principal axes so that the explorer's map
/// faces like `map`, the drawn latent_pca.png (which is turned by orthogonal
/// Procrustes onto the previous epoch's frame): the signs of the diagonal of
/// R = argmin ‖P·R − M‖, P the plain projection, M the centred drawn map.
fn facing(codes: ArrayView2<f32>, map: ArrayView2<f32>, pca: &Pca) -> [f32; 2] {
    if pca.components.ncols() < 2 || map.nrows() != codes.nrows() || map.ncols() != 2 {
        return [1.0, 1.0];
    }
    let projected = pca.project(codes).slice(s![.., ..2]).mapv(f64::from);
    let drawn = map.mapv(f64::from);
    let drawn = &drawn - &drawn.mean_axis(Axis(0)).expect("points");
    let ptp = projected.t().dot(&projected);
    let ptm = projected.t().dot(&drawn);
    let det = ptp[[0, 0]] * ptp[[1, 1]] - ptp[[0, 1]] * ptp[[1, 0]];
    if det.abs() <= 1e-30 {
        return [1.0, 1.0];
    }
    let inverse = arr2(&[[ptp[[1, 1]], -ptp[[0, 1]]], [-ptp[[1, 0]], ptp[[0, 0]]]]) / det;
    let r = inverse.dot(&ptm);
    [0, 1].map(|k| if r[[k, k]] < 0.0 { -1.0 } else { 1.0 })
}

/// The JSON the page reads (keys documented in explorer.js).
fn explorer_data(
    inputs: &FigureInputs,
    codes: ArrayView2<f32>,
    map: ArrayView2<f32>,
    params: &Params,
    arch: &Architecture,
) -> Result<Value> {
    let sliders = sliders(codes, map);
    let gaussian = inputs.fit_gaussian(params, arch)?;
    let parity_codes = codes
        .slice(s![..PARITY_CODES.min(codes.nrows()), ..])
        .to_owned();
    let parity_outputs = decode(params, arch, parity_codes.view(), ROWS_PER_PASS);
    let decoder = decoder_layers(params, arch);
    Ok(json!({
        "kind": arch.kind.name(),
        "image": {"rows": inputs.shape.0, "cols": inputs.shape.1},
        "latent": arch.latent,
        "weights_encoding": "base64 little-endian f32",
        "decoder": decoder,
        "classes": inputs.class_names,
        "points": {
            "count": codes.nrows(),
            "labels": inputs.mapped_labels,
            "codes": floats(codes.iter().copied()),
        },
        "sliders": {
            "names": sliders.names,
            "unit": sliders.unit,
            "origin": sliders.origin.to_vec(),
            "directions": rows(sliders.directions.view()),
            "scales": sliders.scales,
        },
        "gaussian": {"mean": gaussian.mean.to_vec(), "cholesky": rows(gaussian.cholesky.view())},
        "parity": {"codes": rows(parity_codes.view()), "outputs": floats(parity_outputs.iter().copied())},
        "diffusion": null,
    }))
}

/// What the page's DDIM sampler, in `(steps, eta)` S steps at η, reads (keys documented in explorer.js): the
/// ε-network's layers (W (wₗ + E, Oₗ) row-major, as Rust stores it), the time
/// embedding's ωₖ, the standardisation `code = mean + std ⊙ x₀`, x̂₀'s box
/// [low, high], the steps τ_S … τ₁ with ᾱ at each (ᾱ₀ = 1 after the last), η,
/// and the parity fixture: [`PARITY_SAMPLES`] noises x_T (n, Z) and per-step z
/// (S, n, Z) from the run's seed, and Rust's decoded samples of them (n, D).
/// One DDIM step, from τ to the next τ′ (0 after the last), on the page as in Rust:
/// ```text
/// x̂₀ = clip((x_τ − √(1 − ᾱ_τ)·ε̂(x_τ, τ)) / √ᾱ_τ, low, high),  ε̂ ← (x_τ − √ᾱ_τ·x̂₀) / √(1 − ᾱ_τ)
/// x_τ′ = √ᾱ_τ′·x̂₀ + √(1 − ᾱ_τ′ − σ²)·ε̂ + σ·z,   σ = η·√((1 − ᾱ_τ′)/(1 − ᾱ_τ))·√(1 − ᾱ_τ/ᾱ_τ′)
/// ```
fn diffusion_data(
    prior: &DiffusionPrior,
    (steps, eta): (usize, f64),
    params: &Params,
    arch: &Architecture,
    seed: u64,
) -> Value {
    let net = &prior.net;
    let latent = net.latent;
    let taus = ddim_steps(prior.schedule.steps(), steps);
    let alpha_bars: Vec<f64> = taus.iter().map(|&t| prior.schedule.alpha_bar(t)).collect();
    let rng = &mut seeds::rng(seed, Purpose::ExplorerNoise);
    let noise = Array2::<f32>::random_using((PARITY_SAMPLES, latent), StandardNormal, rng);
    let step_noise: Vec<Array2<f32>> = (0..steps)
        .map(|_| Array2::random_using((PARITY_SAMPLES, latent), StandardNormal, rng))
        .collect();
    let codes = prior.sample_ddim_with_noise(noise.view(), steps, eta, |i| step_noise[i].clone());
    let outputs = decode(params, arch, codes.view(), ROWS_PER_PASS);
    let layers: Vec<Value> = net
        .params
        .layers
        .iter()
        .map(|layer| {
            json!({
                "inputs": layer.w.nrows(),
                "outputs": layer.w.ncols(),
                "weight": floats(layer.w.iter().copied()),
                "bias": floats(layer.b.iter().copied()),
            })
        })
        .collect();
    json!({
        "walk": format!("DDIM in {} steps, η = {}", steps, eta),
        "network": net.describe(),
        "latent": latent,
        "embed": net.embed,
        "nonlinearity": net.nonlinearity.name(),
        "frequencies": time_frequencies(net.embed / 2),
        "layers": layers,
        "mean": prior.mean.to_vec(),
        "std": prior.std.to_vec(),
        "low": prior.low.to_vec(),
        "high": prior.high.to_vec(),
        "steps": taus,
        "alpha_bars": alpha_bars,
        "eta": eta,
        "parity": {
            "count": PARITY_SAMPLES,
            "noise": floats(noise.iter().copied()),
            "step_noise": floats(step_noise.iter().flat_map(|z| z.iter().copied())),
            "outputs": floats(outputs.iter().copied()),
        },
    })
}

/// The decoder's layers as the page reads them: the operation, its sizes
/// (and a convolution's geometry), the activation, and the weights.
fn decoder_layers(params: &Params, arch: &Architecture) -> Vec<Value> {
    let ops = arch.layer_ops();
    (arch.encoder_layers()..arch.layer_count())
        .map(|l| {
            let (layer, op) = (&params.layers[l], &ops[l]);
            let conv = op.convolution().map(|(kernel, c)| {
                json!({
                    "in_channels": c.in_channels, "out_channels": c.out_channels,
                    "in_side": c.in_side, "out_side": c.out_side, "kernel": kernel,
                    "stride": c.geometry.stride, "padding": c.geometry.padding,
                    "output_padding": c.geometry.output_padding,
                })
            });
            json!({
                "name": arch.layer_name(l),
                "op": op.name(),
                "inputs": op.input_width(),
                "outputs": op.output_width(),
                "conv": conv,
                "activation": arch.activation(l).name(),
                "weight": floats(layer.w.iter().copied()),
                "bias": floats(layer.b.iter().copied()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array;

    /// Codes spread mostly along (1, 1, 0), then along (1, −1, 0).
    fn codes() -> Array2<f32> {
        Array::from_shape_fn((200, 3), |(i, j)| {
            let a = (i as f32 * 0.37).sin() * 3.0;
            let b = (i as f32 * 1.3).cos();
            [a + b, a - b, 0.01 * (i % 7) as f32][j]
        })
    }

    #[test]
    fn a_two_number_code_is_its_own_map() {
        let codes = codes().slice(s![.., ..2]).to_owned();
        let sliders = sliders(codes.view(), Array2::zeros((0, 2)).view());
        assert_eq!(sliders.names, ["z1", "z2"]);
        assert_eq!(sliders.directions, Array2::<f32>::eye(2));
        assert_eq!(sliders.origin.to_vec(), [0.0, 0.0]);
        assert_eq!(sliders.scales, [1.0, 1.0]);
    }

    #[test]
    fn longer_codes_get_principal_directions_facing_like_the_drawn_map() {
        let codes = codes();
        let pca = Pca::fit(codes.view(), 3);
        let plain = pca.project(codes.view()).slice(s![.., ..2]).to_owned();
        // A drawn map that mirrors PC 1 and keeps PC 2: the explorer mirrors PC 1 too.
        let drawn = &plain * &arr2(&[[-1.0f32, 1.0]]) + 5.0;
        let sliders = sliders(codes.view(), drawn.view());
        assert_eq!(sliders.names, ["PC 1", "PC 2", "PC 3"]);
        assert_eq!(sliders.unit, "σ");
        for k in 0..3 {
            let sign = if k == 0 { -1.0 } else { 1.0 };
            let expected = pca.components.column(k).mapv(|v| sign * v);
            let diff = (&sliders.directions.row(k) - &expected)
                .iter()
                .fold(0.0f32, |m, v| m.max(v.abs()));
            assert!(diff < 1e-6, "direction {k} differs by {diff}");
            let sigma = pca.variances[k].sqrt() as f32;
            assert!((sliders.scales[k] - sigma).abs() < 1e-5 * sigma.max(1.0));
        }
    }
}
