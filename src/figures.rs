//! What the pictures show, and the one place that connects the model to `viz/`.
//!
//! Everything is drawn from *fixed* inputs chosen once from the seed, so frames
//! of an animation compare: the same 20 test digits (two of each class), the
//! same class-balanced subset of test images for the latent maps, the same
//! Gaussian noise vectors for generated digits. During training, [`Figures::capture`]
//! records a [`Snapshot`] of the model's behaviour on them (the untrained model
//! and every drawn epoch); after training, [`Figures::render`] turns the
//! snapshots into files.

use std::path::Path;

use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::seq::SliceRandom;
use ndarray_rand::rand::SeedableRng;
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use crate::data::mnist::{fill_batch, Dataset, Splits};
use crate::error::Result;
use crate::model::{decode, encode, reconstruct, Architecture, Params};
use crate::nn::LossKind;
use crate::output::Summary;
use crate::reduce::linalg::{cholesky, procrustes_align};
use crate::reduce::pca::{mean_squared_error, Pca};
use crate::reduce::tsne::{affinities, embed, TsneOptions};
use crate::train::EpochRecord;
use crate::viz::digits::{draw_digit_animation, draw_digit_sheet, ImageRow};
use crate::viz::latent::{draw_latent_animation, draw_latent_map};
use crate::viz::loss::{draw_losses, Baseline};
use crate::viz::report::{write_report, Report, ReportFigure};

/// Rows per forward pass when computing pictures.
const CHUNK: usize = 1000;
/// Digits per row in the sheets.
const COLUMNS: usize = 10;
/// Training images whose codes define the fitted Gaussian.
const GAUSSIAN_FIT_IMAGES: usize = 5000;
/// Generated digits per panel (4 rows of 10).
const SAMPLES: usize = 40;
/// Steps along each interpolation line, end points included.
const STEPS: usize = 10;
/// t-SNE iterations per warm-started animation frame.
const TSNE_WARM_ITERATIONS: usize = 200;

/// The model's behaviour on the fixed inputs at one moment of training.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// 0 for the untrained model.
    pub epoch: usize,
    pub val_loss: f64,
    /// (20, D) reconstructions of the shown test digits.
    pub reconstructions: Array2<f32>,
    /// (M, Z) codes of the latent-map subset.
    pub codes: Array2<f32>,
    /// (SAMPLES, D) the fixed noise decoded through this epoch's fitted Gaussian.
    pub generated: Array2<f32>,
}

/// The fixed inputs, and the snapshots taken so far.
pub struct Figures {
    shape: (usize, usize),
    /// (20, D) two test digits of each class, chosen by the seed, ordered by class.
    shown: Array2<f32>,
    shown_labels: Vec<u8>,
    /// (M, D) a class-balanced subset of test images for the latent maps.
    mapped: Array2<f32>,
    mapped_labels: Vec<u8>,
    /// (GAUSSIAN_FIT_IMAGES, D) training images whose codes the Gaussian is fitted to.
    fit_images: Array2<f32>,
    /// (SAMPLES, Z) fixed standard-normal vectors ε.
    noise: Array2<f32>,
    pub snapshots: Vec<Snapshot>,
}

/// A Gaussian N(μ, Σ) fitted to codes, with Σ = L·Lᵀ.
pub struct Gaussian {
    mean: Array1<f32>,
    cholesky: Array2<f32>,
}

impl Gaussian {
    /// Mean and full covariance of `codes` (N, Z); a tiny ridge keeps Σ positive definite.
    pub fn fit(codes: ArrayView2<f32>) -> Gaussian {
        let mean = codes.mean_axis(Axis(0)).expect("codes");
        let centred = (&codes - &mean).mapv(f64::from);
        let mut covariance = centred.t().dot(&centred) / codes.nrows() as f64;
        let scale = covariance.diag().mean().unwrap_or(1.0).max(1e-12);
        let mut ridge = 1e-6 * scale;
        loop {
            if let Some(l) = cholesky(covariance.view()) {
                return Gaussian {
                    mean,
                    cholesky: l.mapv(|v| v as f32),
                };
            }
            covariance.diag_mut().mapv_inplace(|v| v + ridge);
            ridge *= 10.0;
        }
    }

    /// z = μ + L·ε for each row ε of `noise` (N, Z).
    pub fn sample(&self, noise: ArrayView2<f32>) -> Array2<f32> {
        noise.dot(&self.cholesky.t()) + &self.mean
    }
}

/// Images of `data` at `indices` as f32 rows in [0, 1].
pub fn images(data: &Dataset, indices: &[usize]) -> Array2<f32> {
    let mut out = Array2::zeros((indices.len(), data.pixels()));
    fill_batch(&data.images, indices, out.view_mut());
    out
}

/// `per_class` indices of each class 0-9 from `data`, in a seeded random order,
/// grouped by class.
fn balanced_indices(data: &Dataset, per_class: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(&mut StdRng::seed_from_u64(seed));
    (0..10u8)
        .flat_map(|class| {
            order
                .iter()
                .copied()
                .filter(move |&i| data.labels[i] == class)
                .take(per_class)
        })
        .collect()
}

impl Figures {
    /// Chooses the fixed inputs from `splits` with `seed`.
    pub fn new(splits: &Splits, latent: usize, map_points: usize, seed: u64) -> Figures {
        let shown_indices = balanced_indices(&splits.test, 2, seed);
        let mapped_indices = balanced_indices(&splits.test, map_points.div_ceil(10), seed + 1);
        let fit_count = GAUSSIAN_FIT_IMAGES.min(splits.train.len());
        Figures {
            shape: (splits.test.rows, splits.test.cols),
            shown: images(&splits.test, &shown_indices),
            shown_labels: shown_indices
                .iter()
                .map(|&i| splits.test.labels[i])
                .collect(),
            mapped: images(&splits.test, &mapped_indices),
            mapped_labels: mapped_indices
                .iter()
                .map(|&i| splits.test.labels[i])
                .collect(),
            fit_images: images(&splits.train, &(0..fit_count).collect::<Vec<_>>()),
            noise: Array2::random_using(
                (SAMPLES, latent),
                StandardNormal,
                &mut StdRng::seed_from_u64(seed + 2),
            ),
            snapshots: Vec::new(),
        }
    }

    /// Records the model's behaviour on the fixed inputs after `epoch`.
    pub fn capture(&mut self, epoch: usize, val_loss: f64, params: &Params, arch: &Architecture) {
        let gaussian = Gaussian::fit(encode(params, arch, self.fit_images.view(), CHUNK).view());
        self.snapshots.push(Snapshot {
            epoch,
            val_loss,
            reconstructions: reconstruct(params, arch, self.shown.view(), CHUNK),
            codes: encode(params, arch, self.mapped.view(), CHUNK),
            generated: decode(
                params,
                arch,
                gaussian.sample(self.noise.view()).view(),
                CHUNK,
            ),
        });
    }

    /// Writes every figure into `out_dir` and returns what the report shows.
    /// `params` are the final weights.
    pub fn render(
        &self,
        out_dir: &Path,
        params: &Params,
        arch: &Architecture,
    ) -> Result<Vec<ReportFigure>> {
        let last = self
            .snapshots
            .last()
            .expect("at least the untrained snapshot");
        let delay = 600;

        // Reconstructions: originals above, reconstructions beneath, ten per row.
        let sheet = |recon: &Array2<f32>| -> Vec<ImageRow> {
            let mut rows = Vec::new();
            for block in 0..self.shown.nrows().div_ceil(COLUMNS) {
                let range = block * COLUMNS..((block + 1) * COLUMNS).min(self.shown.nrows());
                rows.push(image_row(
                    "original",
                    self.shown.slice(s![range.clone(), ..]),
                ));
                rows.push(image_row("reconstruction", recon.slice(s![range, ..])));
            }
            rows
        };
        let caption = |snap: &Snapshot, what: &str| {
            if snap.epoch == 0 {
                format!("{what}: untrained model (val loss {:.4})", snap.val_loss)
            } else {
                format!(
                    "{what}: epoch {} (val loss {:.4})",
                    snap.epoch, snap.val_loss
                )
            }
        };
        draw_digit_sheet(
            &out_dir.join("reconstructions.png"),
            &caption(last, "Test images and reconstructions"),
            &sheet(&last.reconstructions),
            self.shape,
        )?;
        // One sheet per snapshot, captioned with its epoch and validation loss.
        let frames = |what: &str,
                      rows_of: &dyn Fn(&Snapshot) -> Vec<ImageRow>|
         -> Vec<(String, Vec<ImageRow>)> {
            self.snapshots
                .iter()
                .map(|snap| (caption(snap, what), rows_of(snap)))
                .collect()
        };
        let frames_reconstructions =
            frames("Reconstructions", &|snap| sheet(&snap.reconstructions));
        draw_digit_animation(
            &out_dir.join("reconstructions.gif"),
            &frames_reconstructions,
            self.shape,
            delay,
        )?;

        // Generation: fitted Gaussian versus N(0, I), from the same noise. The
        // last snapshot is always the final model, so its samples are the final ones.
        let fitted = &last.generated;
        let standard = decode(params, arch, self.noise.view(), CHUNK);
        let mut rows = vec![heading("z ~ N(μ, Σ), a Gaussian fitted to the training codes (mean, full covariance, Cholesky)")];
        rows.extend(image_rows("fitted N(μ, Σ)", fitted.view()));
        rows.push(heading("z ~ N(0, I), the same noise without the fit"));
        rows.extend(image_rows("N(0, I)", standard.view()));
        draw_digit_sheet(
            &out_dir.join("samples.png"),
            "New digits decoded from sampled latent vectors",
            &rows,
            self.shape,
        )?;
        let frames_generated = frames("Decoded samples of N(μ, Σ)", &|snap| {
            image_rows("fitted N(μ, Σ)", snap.generated.view())
        });
        draw_digit_animation(
            &out_dir.join("generated.gif"),
            &frames_generated,
            self.shape,
            delay,
        )?;

        // Interpolation between test digits of different classes.
        let codes = encode(params, arch, self.shown.view(), CHUNK);
        let mut rows = Vec::new();
        for (a, b) in [(0usize, 10usize), (2, 16), (4, 12), (6, 18), (14, 8)] {
            let (za, zb) = (codes.row(a), codes.row(b));
            let mut line = Array2::zeros((STEPS, codes.ncols()));
            for (t, mut z) in line.rows_mut().into_iter().enumerate() {
                let w = t as f32 / (STEPS - 1) as f32;
                z.assign(&(&za * (1.0 - w) + &zb * w));
            }
            let decoded = decode(params, arch, line.view(), CHUNK);
            let mut images = vec![self.shown.row(a).to_vec()];
            images.extend(decoded.rows().into_iter().map(|r| r.to_vec()));
            images.push(self.shown.row(b).to_vec());
            rows.push(ImageRow {
                label: format!("{} → {}", self.shown_labels[a], self.shown_labels[b]),
                images,
            });
        }
        draw_digit_sheet(
            &out_dir.join("interpolation.png"),
            "Straight lines in latent space (original | 10 decoded steps | original)",
            &rows,
            self.shape,
        )?;

        // Latent maps (the last frame) and their animations, by PCA and t-SNE.
        let class_names: Vec<String> = (0..10).map(|c| c.to_string()).collect();
        let labels = &self.mapped_labels;
        let (pca_frames, explained) = self.pca_frames();
        let tsne_frames = self.tsne_frames();
        let maps = [
            (
                "latent_pca",
                "PCA",
                format!("PCA ({:.0}% of variance)", 100.0 * explained),
                ("PC 1", "PC 2"),
                pca_frames,
            ),
            (
                "latent_tsne",
                "t-SNE",
                "t-SNE (perplexity 30)".to_string(),
                ("t-SNE 1", "t-SNE 2"),
                tsne_frames,
            ),
        ];
        for (file, method, description, axis_names, frames) in maps {
            let title = format!(
                "Latent codes of {} test images, {description}",
                labels.len()
            );
            let last_frame = frames.last().expect("at least one frame").view();
            draw_latent_map(
                &out_dir.join(format!("{file}.png")),
                &title,
                axis_names,
                last_frame,
                labels,
                &class_names,
            )?;
            let captioned: Vec<(String, Array2<f32>)> = self
                .snapshots
                .iter()
                .zip(&frames)
                .map(|(snap, frame)| (caption(snap, &format!("Latent {method}")), frame.clone()))
                .collect();
            draw_latent_animation(
                &out_dir.join(format!("{file}.gif")),
                axis_names,
                &captioned,
                labels,
                &class_names,
                500,
            )?;
        }
        Ok(figure_descriptions(self.snapshots.len(), labels.len()))
    }

    /// 2-D PCA of each snapshot's codes, each frame aligned to the previous one;
    /// and the share of variance the last frame's two axes explain.
    fn pca_frames(&self) -> (Vec<Array2<f32>>, f64) {
        let mut frames: Vec<Array2<f32>> = Vec::new();
        let mut explained = 0.0;
        for snap in &self.snapshots {
            let pca = Pca::fit(snap.codes.view(), 2);
            let total: f64 = snap
                .codes
                .var_axis(Axis(0), 0.0)
                .iter()
                .map(|&v| v as f64)
                .sum();
            explained = pca.variances.sum() / total.max(1e-30);
            let mut points = pca.project(snap.codes.view());
            if let Some(previous) = frames.last() {
                points = procrustes_align(points.view(), previous.view());
            }
            frames.push(points);
        }
        (frames, explained)
    }

    /// t-SNE of each snapshot's codes: the first from scratch, each next one
    /// warm-started from (and aligned to) the previous frame.
    fn tsne_frames(&self) -> Vec<Array2<f32>> {
        let mut frames: Vec<Array2<f32>> = Vec::new();
        for snap in &self.snapshots {
            let p = affinities(snap.codes.view(), 30.0);
            let points = match frames.last() {
                None => embed(&p, None, &TsneOptions::default()),
                Some(previous) => {
                    let warm = embed(
                        &p,
                        Some(previous.view()),
                        &TsneOptions::warm(TSNE_WARM_ITERATIONS),
                    );
                    procrustes_align(warm.view(), previous.view())
                }
            };
            frames.push(points);
        }
        frames
    }
}

/// The test MSE of the best linear autoencoder with `k` units: PCA with k
/// components fitted on the training images, reconstructing the test images.
pub fn pca_test_mse(splits: &Splits, k: usize) -> f64 {
    let all = |d: &Dataset| images(d, &(0..d.len()).collect::<Vec<_>>());
    let pca = Pca::fit(all(&splits.train).view(), k);
    let test = all(&splits.test);
    mean_squared_error(pca.reconstruct(test.view()).view(), test.view())
}

fn image_row(label: &str, images: ArrayView2<f32>) -> ImageRow {
    ImageRow {
        label: label.to_string(),
        images: images.rows().into_iter().map(|r| r.to_vec()).collect(),
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

/// The figures in the report's order, each with a paragraph on what it shows.
fn figure_descriptions(frames: usize, points: usize) -> Vec<ReportFigure> {
    let f = |file: &str, title: &str, explanation: String| ReportFigure {
        file: file.into(),
        title: title.into(),
        explanation,
    };
    vec![
        f("losses.png", "Loss per epoch", "Training loss (mean over each epoch's batches) and validation loss (held-out training images) per epoch, on a log scale. The dashed line is the test MSE of PCA with as many components as the latent size: the best any linear autoencoder can do. A nonlinear autoencoder that ends above it has learned less than linear algebra gives for free.".into()),
        f("reconstructions.png", "Reconstructions", "Twenty test digits, two of each class, never seen in training, with the model's reconstructions beneath. Each passes through a 32-number code: what survives is what the code keeps.".into()),
        f("reconstructions.gif", "Reconstructions over training", format!("The same digits, one frame per drawn epoch ({frames} frames, the first for the untrained model). Reconstructions go from a grey blur (the untrained decoder outputs about 0.5 everywhere) to the average digit shape, then to each digit's own strokes.")),
        f("latent_pca.png", "Latent space, PCA", format!("The 32-dimensional codes of {points} test images (the same number from each class), projected on their two principal axes, coloured by class. PCA is linear: what it shows is truly there, but two axes hide most of the structure.")),
        f("latent_pca.gif", "Latent space over training, PCA", "The same projection after each drawn epoch. Axes have fixed signs and each frame is rotated (orthogonal Procrustes) onto the previous one, with the same limits throughout, so motion means change in the codes.".into()),
        f("latent_tsne.png", "Latent space, t-SNE", "t-SNE (perplexity 30) of the same codes: it keeps neighbourhoods, not distances, so it shows which digits the encoder puts near each other. Clusters that touch are classes the code confuses.".into()),
        f("latent_tsne.gif", "Latent space over training, t-SNE", "t-SNE after each drawn epoch. Each frame starts from the previous frame's map (a warm start) and is aligned to it; restarting from random every frame would scatter and flip the clusters between frames even when the codes barely changed.".into()),
        f("samples.png", "Sampling new digits", "Top: codes drawn from a Gaussian fitted to the training codes (mean and full covariance, sampled through its Cholesky factor), then decoded. Bottom: the same noise used directly as codes, z ~ N(0, I). A plain autoencoder puts no prior on its codes, so N(0, I) lands where no training code lives and decodes to blots; the fitted Gaussian at least samples the right region. Variational autoencoders make this work by training the codes toward a known distribution.".into()),
        f("generated.gif", "Samples over training", "The same noise vectors decoded through each epoch's fitted Gaussian.".into()),
        f("interpolation.png", "Interpolation", "Each row walks a straight line in latent space from one test digit's code to another's (of a different class); the first and last decoded images are the two reconstructions. Where the middle of the line decodes to no digit at all, the latent space has holes.".into()),
    ]
}

/// Draws `losses.png`, every figure of `pictures`, and `report.html`.
pub fn draw_all(
    out_dir: &Path,
    pictures: &Figures,
    params: &Params,
    arch: &Architecture,
    history: &[EpochRecord],
    summary: &Summary,
) -> Result<()> {
    let epochs: Vec<usize> = history.iter().map(|r| r.epoch).collect();
    let train: Vec<f64> = history.iter().map(|r| r.train_loss).collect();
    let val: Vec<f64> = history.iter().map(|r| r.val_loss).collect();
    let loss = summary.config.flags.loss;
    // The PCA line is an MSE: drawn only when the plotted loss is MSE too.
    let baseline = summary
        .pca_test_mse
        .filter(|_| loss == LossKind::Mse)
        .map(|value| Baseline {
            label: format!("PCA-{} (best linear)", arch.latent),
            value,
        });
    let loss_name = if loss == LossKind::Mse { "MSE" } else { "BCE" };
    draw_losses(
        &out_dir.join("losses.png"),
        loss_name,
        &epochs,
        &train,
        &val,
        baseline.as_ref(),
    )?;
    let figures = pictures.render(out_dir, params, arch)?;

    let mut summary_lines = vec![
        format!(
            "model {} ({} parameters), {} loss, {} epochs",
            summary.architecture, summary.parameters, loss_name, summary.epochs
        ),
        format!(
            "test MSE {:.6} on {} test images",
            summary.test_mse, summary.test_images
        ),
        format!(
            "best validation loss {:.6} at epoch {}",
            summary.best_val_loss, summary.best_epoch
        ),
        format!(
            "median {:.2} s per training epoch, {:.0} images/s",
            summary.seconds_per_epoch, summary.images_per_second
        ),
    ];
    if let Some(pca) = summary.pca_test_mse {
        summary_lines.push(format!(
            "PCA-{} test MSE {pca:.6} (the best linear autoencoder with as many units)",
            arch.latent
        ));
    }
    let report = Report {
        title: "mnist-autoencoder: training report",
        summary_lines,
        config_json: serde_json::to_string_pretty(&summary.config).expect("config serialises"),
        metrics_header: ["epoch", "train_loss", "val_loss", "seconds", "images/s"]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        metrics: history
            .iter()
            .map(|r| {
                vec![
                    r.epoch.to_string(),
                    format!("{:.6}", r.train_loss),
                    format!("{:.6}", r.val_loss),
                    format!("{:.2}", r.seconds),
                    format!("{:.0}", r.images_per_second),
                ]
            })
            .collect(),
        figures,
    };
    write_report(out_dir, &report)
}
