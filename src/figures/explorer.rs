//! The latent explorer inside report.html: the run's decoder, its test codes
//! and their maps, embedded as JSON for the page's own plain-JavaScript decoder
//! (explorer.js, beside this file), so it runs from the one file with no
//! library and no network.
//!
//! Weights are base64 little-endian f32 (the default decoder is about 2.2 MB,
//! 2.9 MB as base64: f16 is not needed). The page decodes five reference codes
//! on load and shows its largest difference from the Rust decoder's output.

use ndarray::{s, Array2, ArrayView2};
use serde_json::{json, Value};

use super::{FigureInputs, ROWS_PER_PASS};
use crate::error::Result;
use crate::model::{decode, Architecture, Params};
use crate::reduce::pca::Pca;
use crate::viz::report::base64;

const SCRIPT: &str = include_str!("explorer.js");
const STYLE: &str = include_str!("explorer.css");
const SECTION: &str = include_str!("explorer.html");

/// Principal directions offered as sliders.
const SLIDERS: usize = 8;
/// Reference codes decoded by both Rust and the page.
const PARITY_CODES: usize = 5;

/// The explorer's HTML: style, section, data, script.
pub fn explorer_html(
    inputs: &FigureInputs,
    codes: ArrayView2<f32>,
    map: ArrayView2<f32>,
    params: &Params,
    arch: &Architecture,
) -> Result<String> {
    let data = explorer_data(inputs, codes, map, params, arch)?;
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

/// The JSON the page reads (keys documented in explorer.js).
fn explorer_data(
    inputs: &FigureInputs,
    codes: ArrayView2<f32>,
    map: ArrayView2<f32>,
    params: &Params,
    arch: &Architecture,
) -> Result<Value> {
    let pca = Pca::fit(codes, SLIDERS.min(arch.latent));
    let map_axes = map_axes(codes, map, &pca);
    let centred = &codes - &pca.mean;
    let exact_map = centred.dot(&map_axes.t());
    let gaussian = inputs.fit_gaussian(params, arch)?;
    let parity_codes = codes
        .slice(s![..PARITY_CODES.min(codes.nrows()), ..])
        .to_owned();
    let parity_outputs = decode(params, arch, parity_codes.view(), ROWS_PER_PASS);
    let decoder: Vec<Value> = (arch.encoder_layers()..arch.layer_count())
        .map(|l| {
            let layer = &params.layers[l];
            json!({
                "name": arch.layer_name(l),
                "inputs": layer.w.nrows(),
                "outputs": layer.w.ncols(),
                "activation": arch.activation(l).name(),
                "weight": floats(layer.w.iter().copied()),
                "bias": floats(layer.b.iter().copied()),
            })
        })
        .collect();
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
            "map": floats(exact_map.iter().copied()),
        },
        "map_axes": rows(map_axes.view()),
        "mean": pca.mean.to_vec(),
        "directions": rows(pca.components.t()),
        "direction_scales": pca.variances.iter().map(|v| v.max(0.0).sqrt()).collect::<Vec<_>>(),
        "gaussian": {"mean": gaussian.mean.to_vec(), "cholesky": rows(gaussian.cholesky.view())},
        "parity": {"codes": rows(parity_codes.view()), "outputs": floats(parity_outputs.iter().copied())},
    }))
}

/// The 2×Z axes A with `map ≈ (code − mean)·Aᵀ`: the first two principal
/// axes U, turned by the 2×2 matrix R that takes the plain projection to the
/// drawn (Procrustes-aligned) map, R = argmin ‖P·R − M‖ by least squares.
fn map_axes(codes: ArrayView2<f32>, map: ArrayView2<f32>, pca: &Pca) -> Array2<f32> {
    let k = pca.components.ncols().min(2);
    let mut u = Array2::<f32>::zeros((codes.ncols(), 2));
    u.slice_mut(s![.., ..k])
        .assign(&pca.components.slice(s![.., ..k]));
    let projected = (&codes - &pca.mean).dot(&u).mapv(f64::from);
    let centred_map = {
        let m = map.mapv(f64::from);
        let mean = m.mean_axis(ndarray::Axis(0)).expect("points");
        m - mean
    };
    let ptp = projected.t().dot(&projected);
    let ptm = projected.t().dot(&centred_map);
    let det = ptp[[0, 0]] * ptp[[1, 1]] - ptp[[0, 1]] * ptp[[1, 0]];
    let r = if det.abs() > 1e-30 {
        let inv = ndarray::arr2(&[[ptp[[1, 1]], -ptp[[0, 1]]], [-ptp[[1, 0]], ptp[[0, 0]]]]) / det;
        inv.dot(&ptm)
    } else {
        Array2::eye(2)
    };
    u.dot(&r.mapv(|v| v as f32)).t().to_owned()
}
