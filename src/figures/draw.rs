//! Every figure file of a run, one function per figure, each from the fixed
//! inputs and the snapshots (see [`super`]).

use std::path::Path;

use ndarray::{s, Array2, ArrayView2, Axis};
use ndarray_rand::rand_distr::{Distribution, StandardNormal};

use super::judging::judge_numbers;
use super::{rows_of, FigureInputs, Snapshot, ROWS_PER_PASS};
use crate::code_usage::CodeUsage;
use crate::error::Result;
use crate::metrics::EpochRecord;
use crate::model::{decode, encode, reconstruct, Architecture, Params};
use crate::prior::Prior;
use crate::reduce::linalg::procrustes_align;
use crate::reduce::pca::Pca;
use crate::reduce::tsne::{affinities, embed, TsneOptions};
use crate::seeds::{self, Purpose};
use crate::viz::bars::{draw_bars, Bar};
use crate::viz::digits::{draw_digit_animation, draw_digit_sheet, ImageRow};
use crate::viz::latent::{draw_latent_animation, draw_latent_map};
use crate::viz::loss::{draw_losses, Baseline};
use crate::viz::marginals::{draw_marginals, Marginal};

/// Digits per row in the sheets.
const COLUMNS: usize = 10;
/// Steps along each interpolation line, end points included.
const STEPS: usize = 10;
/// t-SNE iterations per warm-started animation frame.
const TSNE_WARM_ITERATIONS: usize = 200;
/// Milliseconds per frame of the digit animations.
const DIGIT_FRAME_MS: u32 = 600;
/// Milliseconds per frame of the latent-map animations.
const LATENT_FRAME_MS: u32 = 500;
/// Digits per side of the VAE's 2-D manifold.
pub const MANIFOLD_SIDE: usize = 20;

/// The final model and run, as every figure needs them.
pub struct Run<'a> {
    pub out_dir: &'a Path,
    pub inputs: &'a FigureInputs,
    pub snapshots: &'a [Snapshot],
    pub params: &'a Params,
    pub arch: &'a Architecture,
    pub history: &'a [EpochRecord],
    /// The y-axis name of the loss plot ("MSE", "BCE", "negative ELBO (nats)").
    pub loss_name: &'a str,
    /// A horizontal line on the loss plot (PCA's test MSE), if it compares.
    pub baseline: Option<Baseline>,
    /// The denoising noise's standard deviation (0: none).
    pub noise: f32,
    pub seed: u64,
    /// t-SNE's perplexity.
    pub perplexity: f64,
    /// The prior fitted after training, if any: its block leads samples.png.
    pub prior: Option<&'a Prior>,
    /// The digit judge's scores (summary.json's `judge` block), shown beside
    /// each block of samples.png.
    pub judge: Option<&'a serde_json::Value>,
    /// A VAE's KL per code dimension and active units (summary.json's
    /// `code_usage`), which kl_per_dimension.png draws.
    pub code_usage: Option<&'a CodeUsage>,
}

/// Draws every figure of `run`; returns the PCA map's frames (the last one is
/// the map the report's explorer shows).
pub fn draw_figures(run: &Run) -> Result<Vec<Array2<f32>>> {
    draw_loss_plot(run)?;
    draw_reconstructions(run)?;
    draw_samples(run)?;
    draw_code_marginals(run)?;
    draw_prior_walk(run)?;
    draw_interpolation(run)?;
    if run.noise > 0.0 {
        draw_denoising(run)?;
    }
    if run.arch.draws_manifold() {
        draw_manifold(run)?;
    }
    if let Some(usage) = run.code_usage.filter(|_| run.arch.draws_kl_per_dimension()) {
        draw_kl_per_dimension(run, usage)?;
    }
    if run.arch.draws_filters() {
        super::filters::draw_filters(run)?;
        super::filters::draw_feature_maps(run)?;
    }
    draw_latent_maps(run)
}

/// `kl_per_dimension.png`: each code dimension's KL term on the test set,
/// largest first, the active units (A_u > 0.01) in colour.
fn draw_kl_per_dimension(run: &Run, usage: &CodeUsage) -> Result<()> {
    let mut bars: Vec<Bar> = usage
        .kl_per_dimension
        .iter()
        .zip(&usage.activity)
        .enumerate()
        .map(|(u, (&kl, &activity))| Bar {
            label: format!("z{}", u + 1),
            value: kl,
            highlighted: activity > usage.active_unit_threshold,
        })
        .collect();
    bars.sort_by(|a, b| b.value.total_cmp(&a.value));
    let title = format!(
        "KL per code dimension, {} test images: {} of {} units active",
        usage.images,
        usage.active_units,
        bars.len()
    );
    let legend = [
        format!("active: Cov_x E_q[z_u] > {}", usage.active_unit_threshold),
        "inactive: its posterior mean ignores x".to_string(),
    ];
    draw_bars(
        &run.out_dir.join("kl_per_dimension.png"),
        &title,
        "KL (nats per image)",
        &bars,
        &legend,
    )
}

/// `losses.png`.
fn draw_loss_plot(run: &Run) -> Result<()> {
    let epochs: Vec<usize> = run.history.iter().map(|r| r.epoch).collect();
    let train: Vec<f64> = run.history.iter().map(|r| r.train_loss).collect();
    let val: Vec<f64> = run.history.iter().map(|r| r.val_loss).collect();
    let path = run.out_dir.join("losses.png");
    draw_losses(
        &path,
        run.loss_name,
        &epochs,
        &train,
        &val,
        run.baseline.as_ref(),
    )
}

/// Caption of a frame: "{what}: epoch N (val loss …)".
fn caption(snap: &Snapshot, what: &str) -> String {
    if snap.epoch == 0 {
        format!("{what}: untrained model (val loss {:.4})", snap.val_loss)
    } else {
        format!(
            "{what}: epoch {} (val loss {:.4})",
            snap.epoch, snap.val_loss
        )
    }
}

/// One labelled row per image block of ten.
fn image_row(label: &str, images: ArrayView2<f32>) -> ImageRow {
    ImageRow {
        label: label.to_string(),
        images: rows_of(images),
    }
}

/// Rows of ten images each, every row labelled `label`.
pub fn image_rows(label: &str, images: ArrayView2<f32>) -> Vec<ImageRow> {
    images
        .axis_chunks_iter(Axis(0), COLUMNS)
        .map(|chunk| image_row(label, chunk))
        .collect()
}

fn heading(text: &str) -> ImageRow {
    ImageRow {
        label: text.to_string(),
        images: Vec::new(),
    }
}

/// Originals above, `below` beneath, ten per row.
fn paired_rows(
    originals: ArrayView2<f32>,
    below_label: &str,
    below: ArrayView2<f32>,
) -> Vec<ImageRow> {
    let mut rows = Vec::new();
    for block in 0..originals.nrows().div_ceil(COLUMNS) {
        let range = block * COLUMNS..((block + 1) * COLUMNS).min(originals.nrows());
        rows.push(image_row(
            "original",
            originals.slice(s![range.clone(), ..]),
        ));
        rows.push(image_row(below_label, below.slice(s![range, ..])));
    }
    rows
}

/// `reconstructions.png` (the final model) and `reconstructions.gif` (a frame per snapshot).
fn draw_reconstructions(run: &Run) -> Result<()> {
    let shown = run.inputs.shown.view();
    let sheet = |snap: &Snapshot| paired_rows(shown, "reconstruction", snap.reconstructions.view());
    let last = run
        .snapshots
        .last()
        .expect("at least the untrained snapshot");
    draw_digit_sheet(
        &run.out_dir.join("reconstructions.png"),
        &caption(last, "Test images and reconstructions"),
        &sheet(last),
        run.inputs.shape,
    )?;
    let frames: Vec<(String, Vec<ImageRow>)> = run
        .snapshots
        .iter()
        .map(|snap| (caption(snap, "Reconstructions"), sheet(snap)))
        .collect();
    draw_digit_animation(
        &run.out_dir.join("reconstructions.gif"),
        &frames,
        run.inputs.shape,
        DIGIT_FRAME_MS,
    )
}

/// `samples.png` and `generated.gif`: one block of digits per sampler of the
/// model's kind, all from the same noise (a plain autoencoder: the fitted
/// Gaussian above N(0, I); a VAE: N(0, I), its prior). The animation shows
/// the first sampler's digits, which every snapshot records.
fn draw_samples(run: &Run) -> Result<()> {
    let last = run
        .snapshots
        .last()
        .expect("at least the untrained snapshot");
    let samplers = run.arch.kind.rules().samplers;
    // A block's heading, and the judge's numbers on a line of their own.
    let headings = |text: &str, key: &str| {
        let scores = run.judge.and_then(|j| j.get(key));
        let verdict = scores.map(|v| heading(&format!("    judge: {}", judge_numbers(v))));
        std::iter::once(heading(text)).chain(verdict)
    };
    let mut rows = Vec::new();
    if let Some(prior) = run.prior {
        let mut rng = seeds::rng(run.seed, Purpose::SampleNoise);
        let codes = prior.sample(run.inputs.eps.nrows(), &mut rng);
        let decoded = decode(run.params, run.arch, codes.view(), ROWS_PER_PASS);
        let key = prior.kind().key();
        rows.extend(headings(&prior.describe(), &key));
        rows.extend(image_rows(
            &format!("prior {}", prior.kind().name()),
            decoded.view(),
        ));
    }
    for (k, &sampler) in samplers.iter().enumerate() {
        let decoded = match k {
            0 => last.generated.clone(),
            _ => {
                let codes = run.inputs.sample_codes(sampler, run.params, run.arch)?;
                decode(run.params, run.arch, codes.view(), ROWS_PER_PASS)
            }
        };
        rows.extend(headings(sampler.describe(), sampler.key()));
        rows.extend(image_rows(sampler.label(), decoded.view()));
    }
    draw_digit_sheet(
        &run.out_dir.join("samples.png"),
        "New digits decoded from sampled latent vectors",
        &rows,
        run.inputs.shape,
    )?;
    let first = samplers[0];
    let what = format!("Decoded samples of {}", first.label());
    let frames: Vec<(String, Vec<ImageRow>)> = run
        .snapshots
        .iter()
        .map(|snap| {
            (
                caption(snap, &what),
                image_rows(first.label(), snap.generated.view()),
            )
        })
        .collect();
    draw_digit_animation(
        &run.out_dir.join("generated.gif"),
        &frames,
        run.inputs.shape,
        DIGIT_FRAME_MS,
    )
}

/// Codes followed in diffusion.gif, and the steps between its frames.
const WALK_CODES: usize = 20;
const WALK_EVERY: usize = 50;

/// `diffusion.gif`, for a prior that walks from noise to codes (the diffusion
/// prior): 20 codes decoded at every 50th step of ancestral sampling.
fn draw_prior_walk(run: &Run) -> Result<()> {
    let mut rng = seeds::rng(run.seed, Purpose::SampleNoise);
    let Some(walk) = run
        .prior
        .and_then(|p| p.trajectory(WALK_CODES, WALK_EVERY, &mut rng))
    else {
        return Ok(());
    };
    let frames: Vec<(String, Vec<ImageRow>)> = walk
        .iter()
        .map(|(t, codes)| {
            let decoded = decode(run.params, run.arch, codes.view(), ROWS_PER_PASS);
            let caption = format!(
                "Ancestral sampling, noise to codes: t = {t} of {}",
                walk[0].0
            );
            (caption, image_rows(&format!("t = {t}"), decoded.view()))
        })
        .collect();
    draw_digit_animation(
        &run.out_dir.join("diffusion.gif"),
        &frames,
        run.inputs.shape,
        DIGIT_FRAME_MS,
    )
}

/// Panels in code_marginals.png.
const MARGINAL_PANELS: usize = 4;

/// `code_marginals.png`: the code dimensions whose training codes (those the
/// Gaussian is fitted to) are least Gaussian, by the Jarque–Bera statistic
/// n/6·(S² + K²/4) (S skewness, K excess kurtosis), each against its fitted
/// Gaussian and the prior's samples: why one Gaussian samples badly.
fn draw_code_marginals(run: &Run) -> Result<()> {
    let codes = encode(
        run.params,
        run.arch,
        run.inputs.fit_images.view(),
        ROWS_PER_PASS,
    );
    let prior_codes = run.prior.map(|prior| {
        let mut rng = seeds::rng(run.seed, Purpose::SampleNoise);
        prior.sample(codes.nrows(), &mut rng)
    });
    let moments: Vec<(usize, f64, f64, f64)> = codes
        .columns()
        .into_iter()
        .enumerate()
        .map(|(d, column)| {
            let (mean, std, jarque_bera) = shape_of(column.iter().map(|&v| f64::from(v)));
            (d, mean, std, jarque_bera)
        })
        .collect();
    let mut ranked = moments.clone();
    ranked.sort_by(|a, b| b.3.total_cmp(&a.3));
    let panels: Vec<Marginal> = ranked
        .iter()
        .take(MARGINAL_PANELS)
        .map(|&(d, mean, std, jarque_bera)| Marginal {
            title: format!("code dimension {} (Jarque–Bera {jarque_bera:.0})", d + 1),
            codes: codes.column(d).to_vec(),
            gaussian: (mean, std),
            prior: prior_codes.as_ref().map(|p| p.column(d).to_vec()),
        })
        .collect();
    let title = format!(
        "The {} least Gaussian of {} code dimensions ({} training codes)",
        panels.len(),
        run.arch.latent,
        codes.nrows()
    );
    draw_marginals(&run.out_dir.join("code_marginals.png"), &title, &panels)
}

/// Mean, standard deviation and Jarque–Bera statistic of `values`.
fn shape_of(values: impl Iterator<Item = f64> + Clone) -> (f64, f64, f64) {
    let n = values.clone().count().max(1) as f64;
    let mean = values.clone().sum::<f64>() / n;
    let moment = |p: i32| values.clone().map(|v| (v - mean).powi(p)).sum::<f64>() / n;
    let variance = moment(2).max(1e-24);
    let skewness = moment(3) / variance.powf(1.5);
    let excess_kurtosis = moment(4) / (variance * variance) - 3.0;
    let jarque_bera = n / 6.0 * (skewness * skewness + excess_kurtosis * excess_kurtosis / 4.0);
    (mean, variance.sqrt(), jarque_bera)
}

/// Pairs of shown digits of different classes to interpolate between: up to
/// five, whatever classes the dataset has.
fn interpolation_pairs(labels: &[u8]) -> Vec<(usize, usize)> {
    let preferred = [(0usize, 10usize), (2, 16), (4, 12), (6, 18), (14, 8)];
    let valid =
        |&(a, b): &(usize, usize)| a < labels.len() && b < labels.len() && labels[a] != labels[b];
    let mut pairs: Vec<(usize, usize)> = preferred.iter().copied().filter(valid).collect();
    let n = labels.len();
    for a in 0..n {
        for b in (a + 1..n).rev() {
            if pairs.len() < 5 && valid(&(a, b)) && !pairs.contains(&(a, b)) {
                pairs.push((a, b));
            }
        }
    }
    pairs.truncate(5);
    pairs
}

/// `interpolation.png`: straight lines in latent space between test digits.
fn draw_interpolation(run: &Run) -> Result<()> {
    let shown = &run.inputs.shown;
    let codes = encode(run.params, run.arch, shown.view(), ROWS_PER_PASS);
    let mut rows = Vec::new();
    for (a, b) in interpolation_pairs(&run.inputs.shown_labels) {
        let (za, zb) = (codes.row(a), codes.row(b));
        let mut line = Array2::zeros((STEPS, codes.ncols()));
        for (t, mut z) in line.rows_mut().into_iter().enumerate() {
            let w = t as f32 / (STEPS - 1) as f32;
            z.assign(&(&za * (1.0 - w) + &zb * w));
        }
        let decoded = decode(run.params, run.arch, line.view(), ROWS_PER_PASS);
        let mut images = vec![shown.row(a).to_vec()];
        images.extend(rows_of(decoded.view()));
        images.push(shown.row(b).to_vec());
        let names = &run.inputs.class_names;
        let name = |i: usize| {
            names
                .get(run.inputs.shown_labels[i] as usize)
                .cloned()
                .unwrap_or_default()
        };
        rows.push(ImageRow {
            label: format!("{} → {}", name(a), name(b)),
            images,
        });
    }
    draw_digit_sheet(
        &run.out_dir.join("interpolation.png"),
        "Straight lines in latent space (original | 10 decoded steps | original)",
        &rows,
        run.inputs.shape,
    )
}

/// `denoising.png`: noisy test digits (the same noise level as training), the
/// model's output, the clean originals.
fn draw_denoising(run: &Run) -> Result<()> {
    let clean = &run.inputs.shown;
    let mut rng = seeds::rng(run.seed, Purpose::DenoisingFigure);
    let noisy = clean.mapv(|x| {
        let e: f32 = StandardNormal.sample(&mut rng);
        (x + run.noise * e).clamp(0.0, 1.0)
    });
    let cleaned = reconstruct(run.params, run.arch, noisy.view(), ROWS_PER_PASS);
    let mut rows = Vec::new();
    for block in 0..clean.nrows().div_ceil(COLUMNS) {
        let range = block * COLUMNS..((block + 1) * COLUMNS).min(clean.nrows());
        rows.push(image_row(
            &format!("noisy (σ = {})", run.noise),
            noisy.slice(s![range.clone(), ..]),
        ));
        rows.push(image_row("denoised", cleaned.slice(s![range.clone(), ..])));
        rows.push(image_row("clean original", clean.slice(s![range, ..])));
    }
    draw_digit_sheet(
        &run.out_dir.join("denoising.png"),
        "Denoising: noisy input, the model's output, the clean original",
        &rows,
        run.inputs.shape,
    )
}

/// The codes of the 2-D manifold grid: evenly spaced quantiles of N(0, 1) on
/// each axis (Kingma & Welling's figure), row by row, z₂ decreasing downwards.
pub fn manifold_codes(side: usize) -> Array2<f32> {
    let quantile = |i: usize| standard_normal_quantile((i as f64 + 0.5) / side as f64) as f32;
    let mut codes = Array2::zeros((side * side, 2));
    for row in 0..side {
        for col in 0..side {
            codes[[row * side + col, 0]] = quantile(col);
            codes[[row * side + col, 1]] = quantile(side - 1 - row);
        }
    }
    codes
}

/// Φ⁻¹(p) by bisection on the error function (accurate to 1e-9; 20×20 calls).
fn standard_normal_quantile(p: f64) -> f64 {
    let cdf = |x: f64| 0.5 * (1.0 + erf(x / std::f64::consts::SQRT_2));
    let (mut lo, mut hi) = (-10.0, 10.0);
    for _ in 0..80 {
        let mid = 0.5 * (lo + hi);
        if cdf(mid) < p {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

/// The error function, by Numerical Recipes' `erfcc` Chebyshev fit of erfc
/// (relative error below 1.2e-7).
fn erf(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.265_512_23
        + t * (1.000_023_68
            + t * (0.374_091_96
                + t * (0.096_784_18
                    + t * (-0.186_288_06
                        + t * (0.278_868_07
                            + t * (-1.135_203_98
                                + t * (1.488_515_87 + t * (-0.822_152_23 + t * 0.170_872_77))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 {
        1.0 - erfc
    } else {
        erfc - 1.0
    }
}

/// `manifold.png` (the final model) and `manifold.gif` (one frame per snapshot).
fn draw_manifold(run: &Run) -> Result<()> {
    let title = "2-D latent manifold: decoded at evenly spaced quantiles of N(0, I)";
    let decoded = decode(
        run.params,
        run.arch,
        manifold_codes(MANIFOLD_SIDE).view(),
        ROWS_PER_PASS,
    );
    draw_digit_sheet(
        &run.out_dir.join("manifold.png"),
        title,
        &sheet_of(decoded.view(), MANIFOLD_SIDE),
        run.inputs.shape,
    )?;
    // The animation shows every other row and column (a quarter of the
    // bytes), so that the report can embed most of its frames.
    let what = "2-D manifold, every other row and column";
    let frames: Vec<(String, Vec<ImageRow>)> = run
        .snapshots
        .iter()
        .filter_map(|snap| {
            let m = snap.manifold.as_ref()?;
            Some((
                caption(snap, what),
                sheet_of(every_other(m.view()).view(), MANIFOLD_SIDE / 2),
            ))
        })
        .collect();
    draw_digit_animation(
        &run.out_dir.join("manifold.gif"),
        &frames,
        run.inputs.shape,
        DIGIT_FRAME_MS,
    )
}

/// The images of the even rows and columns of the MANIFOLD_SIDE² grid
/// `images` (side², D), in grid order: a grid of half the side.
fn every_other(images: ArrayView2<f32>) -> Array2<f32> {
    let side = MANIFOLD_SIDE;
    let kept: Vec<usize> = (0..side * side)
        .filter(|i| (i / side).is_multiple_of(2) && (i % side).is_multiple_of(2))
        .collect();
    images.select(Axis(0), &kept)
}

/// A side×side grid of images (side², D) as sheet rows.
fn sheet_of(images: ArrayView2<f32>, side: usize) -> Vec<ImageRow> {
    images
        .axis_chunks_iter(Axis(0), side)
        .map(|row| ImageRow {
            label: String::new(),
            images: rows_of(row),
        })
        .collect()
}

/// `latent_pca.png/.gif` and `latent_tsne.png/.gif`; returns the PCA frames.
fn draw_latent_maps(run: &Run) -> Result<Vec<Array2<f32>>> {
    let labels = &run.inputs.mapped_labels;
    let (pca_frames, explained) = pca_frames(run.snapshots);
    let tsne_frames = tsne_frames(run.snapshots, run.perplexity);
    let maps = [
        (
            "latent_pca",
            "PCA",
            format!("PCA ({:.0}% of variance)", 100.0 * explained),
            ("PC 1", "PC 2"),
            &pca_frames,
        ),
        (
            "latent_tsne",
            "t-SNE",
            format!("t-SNE (perplexity {})", run.perplexity),
            ("t-SNE 1", "t-SNE 2"),
            &tsne_frames,
        ),
    ];
    for (file, method, description, axis_names, frames) in maps {
        let title = format!(
            "Latent codes of {} test images, {description}",
            labels.len()
        );
        let last_frame = frames.last().expect("at least one frame").view();
        let names = &run.inputs.class_names;
        draw_latent_map(
            &run.out_dir.join(format!("{file}.png")),
            &title,
            axis_names,
            last_frame,
            labels,
            names,
        )?;
        let captioned: Vec<(String, Array2<f32>)> = run
            .snapshots
            .iter()
            .zip(frames.iter())
            .map(|(snap, frame)| (caption(snap, &format!("Latent {method}")), frame.clone()))
            .collect();
        draw_latent_animation(
            &run.out_dir.join(format!("{file}.gif")),
            axis_names,
            &captioned,
            labels,
            names,
            LATENT_FRAME_MS,
        )?;
    }
    Ok(pca_frames)
}

/// 2-D PCA of each snapshot's codes, each frame aligned to the previous one;
/// and the share of variance the last frame's two axes explain. A 1-D code is
/// drawn against zeros.
fn pca_frames(snapshots: &[Snapshot]) -> (Vec<Array2<f32>>, f64) {
    let mut frames: Vec<Array2<f32>> = Vec::new();
    let mut explained = 0.0;
    for snap in snapshots {
        let (points, share) = pca_map(snap.codes.view());
        explained = share;
        let points = match frames.last() {
            Some(previous) => procrustes_align(points.view(), previous.view()),
            None => points,
        };
        frames.push(points);
    }
    (frames, explained)
}

/// The codes (N, Z) projected on their first two principal axes (N, 2), and
/// the share of variance those explain.
pub fn pca_map(codes: ArrayView2<f32>) -> (Array2<f32>, f64) {
    let k = codes.ncols().min(2);
    let pca = Pca::fit(codes, k);
    let total: f64 = codes.var_axis(Axis(0), 0.0).iter().map(|&v| v as f64).sum();
    let explained = pca.variances.sum() / total.max(1e-30);
    let projected = pca.project(codes);
    let mut points = Array2::zeros((codes.nrows(), 2));
    points.slice_mut(s![.., ..k]).assign(&projected);
    (points, explained)
}

/// t-SNE of each snapshot's codes: the first from scratch, each next one
/// warm-started from (and aligned to) the previous frame.
fn tsne_frames(snapshots: &[Snapshot], perplexity: f64) -> Vec<Array2<f32>> {
    let mut frames: Vec<Array2<f32>> = Vec::new();
    for snap in snapshots {
        let p = affinities(snap.codes.view(), perplexity);
        let points = match frames.last() {
            None => embed(
                &p,
                None,
                &TsneOptions {
                    perplexity,
                    ..TsneOptions::default()
                },
            ),
            Some(previous) => {
                let options = TsneOptions {
                    perplexity,
                    ..TsneOptions::warm(TSNE_WARM_ITERATIONS)
                };
                let warm = embed(&p, Some(previous.view()), &options);
                procrustes_align(warm.view(), previous.view())
            }
        };
        frames.push(points);
    }
    frames
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifold_quantiles_are_symmetric_and_match_known_values() {
        assert!((standard_normal_quantile(0.975) - 1.959_964).abs() < 1e-5);
        assert!(standard_normal_quantile(0.5).abs() < 1e-6);
        let codes = manifold_codes(MANIFOLD_SIDE);
        assert_eq!(codes.dim(), (400, 2));
        assert!((codes[[0, 0]] + codes[[19, 0]]).abs() < 1e-6);
        assert!(codes[[0, 1]] > 0.0 && codes[[399, 1]] < 0.0);
    }

    #[test]
    fn interpolation_pairs_exist_for_few_classes() {
        assert_eq!(interpolation_pairs(&[0, 0, 1, 1]).len(), 4);
        assert!(interpolation_pairs(&[3, 3]).is_empty());
        let mnist: Vec<u8> = (0..20).map(|i| (i / 2) as u8).collect();
        assert_eq!(interpolation_pairs(&mnist)[0], (0, 10));
    }
}
