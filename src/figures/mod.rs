//! What the pictures show, and the one place that connects the model to `viz/`.
//!
//! Everything is drawn from *fixed* inputs chosen once from the seed, so frames
//! of an animation compare: the same test digits (two of each class), the same
//! class-balanced subset of test images for the latent maps, the same Gaussian
//! noise vectors for generated digits. During training,
//! [`FigureInputs::snapshot`] records a [`Snapshot`] of the model's behaviour on
//! them (the untrained model and every drawn epoch); after training,
//! [`draw::draw_figures`] turns the snapshots into files and [`report`] writes
//! the page.
//!
//! - [`draw`] draws every figure file
//! - [`report`] writes report.html
//! - [`explorer`] builds the latent explorer inside it (explorer.js decodes in the browser)

pub mod draw;
pub mod explorer;
pub mod filters;
pub mod judging;
pub mod report;

use std::path::Path;

use ndarray::{Array2, ArrayView2, Axis, CowArray};
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::seq::SliceRandom;
use ndarray_rand::rand_distr::StandardNormal;
use ndarray_rand::RandomExt;

use crate::checkpoint::Extra;
use crate::data::mnist::{fill_batch, Dataset, Splits};
use crate::error::{Error, Result};
use crate::model::{decode, encode, reconstruct, Architecture, Params, Sampler};
use crate::nn::loss::mse_forward;
use crate::reduce::gaussian::Gaussian;
use crate::reduce::pca::Pca;
use crate::seeds::{self, Purpose};

/// Rows per forward pass when computing pictures.
pub const ROWS_PER_PASS: usize = 1000;
/// Training images whose codes define the fitted Gaussian.
pub const GAUSSIAN_FIT_IMAGES: usize = 5000;
/// Generated digits per panel (4 rows of 10).
const SAMPLES: usize = 40;

/// The model's behaviour on the fixed inputs at one moment of training.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// 0 for the untrained model.
    pub epoch: usize,
    pub val_loss: f64,
    /// (S, D) reconstructions of the shown test digits.
    pub reconstructions: Array2<f32>,
    /// (M, Z) codes of the latent-map subset.
    pub codes: Array2<f32>,
    /// (SAMPLES, D) the fixed noise decoded through this epoch's fitted
    /// Gaussian (plain autoencoder) or as N(0, I) codes (VAE).
    pub generated: Array2<f32>,
    /// (400, D) a VAE with a 2-D code: the 20×20 manifold grid decoded.
    pub manifold: Option<Array2<f32>>,
}

/// The fixed inputs every picture is drawn from.
pub struct FigureInputs {
    /// (rows, cols) of an image.
    pub shape: (usize, usize),
    /// (S, D) up to two test digits of each class, chosen by the seed, ordered by class.
    pub shown: Array2<f32>,
    pub shown_labels: Vec<u8>,
    /// (M, D) a class-balanced subset of test images for the latent maps.
    pub mapped: Array2<f32>,
    pub mapped_labels: Vec<u8>,
    /// (GAUSSIAN_FIT_IMAGES, D) training images whose codes the Gaussian is fitted to.
    pub fit_images: Array2<f32>,
    /// (SAMPLES, Z) fixed standard-normal vectors ε, decoded into samples.
    pub eps: Array2<f32>,
    /// The name of each class (index = label).
    pub class_names: Vec<String>,
}

/// Images of `data` at `indices` as f32 rows in [0, 1].
pub fn images(data: &Dataset, indices: &[usize]) -> Array2<f32> {
    let mut out = Array2::zeros((indices.len(), data.pixels()));
    fill_batch(&data.images, indices, out.view_mut());
    out
}

/// Up to `per_class` indices of each class present in `data`, in a seeded
/// random order, grouped by class.
fn balanced_indices(data: &Dataset, per_class: usize, rng: &mut StdRng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(rng);
    let mut classes: Vec<u8> = data.labels.to_vec();
    classes.sort_unstable();
    classes.dedup();
    classes
        .into_iter()
        .flat_map(|class| {
            order
                .iter()
                .copied()
                .filter(move |&i| data.labels[i] == class)
                .take(per_class)
        })
        .collect()
}

impl FigureInputs {
    /// Chooses the fixed inputs from `splits` with `seed`.
    pub fn new(
        splits: &Splits,
        latent: usize,
        map_points: usize,
        seed: u64,
        class_names: Vec<String>,
    ) -> FigureInputs {
        let test = &splits.test;
        let classes = class_names.len().max(1);
        let shown_indices = balanced_indices(test, 2, &mut seeds::rng(seed, Purpose::ShownDigits));
        let per_class = map_points.div_ceil(classes);
        let mapped_rng = &mut seeds::rng(seed, Purpose::MappedDigits);
        let mapped_indices = balanced_indices(test, per_class, mapped_rng);
        let fit_count = GAUSSIAN_FIT_IMAGES.min(splits.train.len());
        let labels = |indices: &[usize]| indices.iter().map(|&i| test.labels[i]).collect();
        FigureInputs {
            shape: (test.rows, test.cols),
            shown: images(test, &shown_indices),
            shown_labels: labels(&shown_indices),
            mapped: images(test, &mapped_indices),
            mapped_labels: labels(&mapped_indices),
            fit_images: images(&splits.train, &(0..fit_count).collect::<Vec<_>>()),
            eps: Array2::random_using(
                (SAMPLES, latent),
                StandardNormal,
                &mut seeds::rng(seed, Purpose::SampleNoise),
            ),
            class_names,
        }
    }

    /// The Gaussian fitted to the codes of the fit images.
    pub fn fit_gaussian(&self, params: &Params, arch: &Architecture) -> Result<Gaussian> {
        fit_gaussian(params, arch, self.fit_images.view())
    }

    /// The codes `sampler` gives for the fixed noise vectors (see [`sample_codes`]).
    pub fn sample_codes(
        &self,
        sampler: Sampler,
        params: &Params,
        arch: &Architecture,
    ) -> Result<Array2<f32>> {
        let fit_images = self.fit_images.view();
        sample_codes(sampler, self.eps.view(), params, arch, fit_images)
    }

    /// Records the model's behaviour on the fixed inputs after `epoch`.
    pub fn snapshot(
        &self,
        epoch: usize,
        val_loss: f64,
        params: &Params,
        arch: &Architecture,
    ) -> Result<Snapshot> {
        let codes_to_decode = self.sample_codes(arch.kind.rules().samplers[0], params, arch)?;
        Ok(Snapshot {
            epoch,
            val_loss,
            reconstructions: reconstruct(params, arch, self.shown.view(), ROWS_PER_PASS),
            codes: encode(params, arch, self.mapped.view(), ROWS_PER_PASS),
            generated: decode(params, arch, codes_to_decode.view(), ROWS_PER_PASS),
            manifold: arch.draws_manifold().then(|| {
                decode(
                    params,
                    arch,
                    draw::manifold_codes(draw::MANIFOLD_SIDE).view(),
                    ROWS_PER_PASS,
                )
            }),
        })
    }
}

/// The codes `sampler` gives for the noise vectors ε (N, Z): ε itself, or ε
/// mapped through N(μ, Σ) fitted to the codes of `fit_images` (F, D).
pub fn sample_codes(
    sampler: Sampler,
    eps: ArrayView2<f32>,
    params: &Params,
    arch: &Architecture,
    fit_images: ArrayView2<f32>,
) -> Result<Array2<f32>> {
    if !sampler.fits_codes() {
        return Ok(eps.to_owned());
    }
    Ok(fit_gaussian(params, arch, fit_images)?.sample(eps))
}

/// N(μ, Σ) fitted to the codes of `fit_images` (F, D).
pub fn fit_gaussian(
    params: &Params,
    arch: &Architecture,
    fit_images: ArrayView2<f32>,
) -> Result<Gaussian> {
    let codes = encode(params, arch, fit_images, ROWS_PER_PASS);
    Gaussian::fit(codes.view()).map_err(|message| Error::Sampling {
        message: format!("no Gaussian fits the training codes: {message}"),
    })
}

/// The epoch and validation loss of a snapshot, stored as JSON in a checkpoint.
#[derive(serde::Serialize, serde::Deserialize)]
struct SnapshotInfo {
    epoch: usize,
    val_loss: f64,
}

/// The snapshots as named arrays for a checkpoint (borrowed, not copied).
pub fn snapshots_to_extra(snapshots: &[Snapshot]) -> Extra<'_> {
    let infos: Vec<SnapshotInfo> = snapshots
        .iter()
        .map(|s| SnapshotInfo {
            epoch: s.epoch,
            val_loss: s.val_loss,
        })
        .collect();
    let mut arrays = Vec::new();
    for (k, snap) in snapshots.iter().enumerate() {
        let named = [
            ("reconstructions", Some(&snap.reconstructions)),
            ("codes", Some(&snap.codes)),
            ("generated", Some(&snap.generated)),
            ("manifold", snap.manifold.as_ref()),
        ];
        for (name, array) in named {
            if let Some(array) = array {
                arrays.push((format!("snapshot.{k}.{name}"), CowArray::from(array.view())));
            }
        }
    }
    Extra {
        info: serde_json::to_string(&infos).expect("snapshot info serialises"),
        arrays,
    }
}

/// The snapshots a checkpoint carries, checked against the fixed inputs of this
/// run: snapshots taken with other figure settings (another `--tsne-points`)
/// cannot continue the animations and are dropped, with a note returned.
pub fn snapshots_from_extra(
    extra: &Extra<'_>,
    inputs: &FigureInputs,
    path: &Path,
) -> Result<(Vec<Snapshot>, Option<String>)> {
    if extra.arrays.is_empty() {
        return Ok((Vec::new(), None));
    }
    let infos: Vec<SnapshotInfo> = serde_json::from_str(&extra.info).map_err(|e| {
        Error::bad_file(
            path,
            format!("metadata field 'extra_info' is malformed: {e}"),
        )
    })?;
    let find = |name: String| {
        extra
            .arrays
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, a)| a.to_owned())
            .ok_or_else(|| Error::bad_file(path, format!("tensor 'extra.{name}' is missing")))
    };
    let mut snapshots = Vec::new();
    for (k, info) in infos.into_iter().enumerate() {
        snapshots.push(Snapshot {
            epoch: info.epoch,
            val_loss: info.val_loss,
            reconstructions: find(format!("snapshot.{k}.reconstructions"))?,
            codes: find(format!("snapshot.{k}.codes"))?,
            generated: find(format!("snapshot.{k}.generated"))?,
            manifold: find(format!("snapshot.{k}.manifold")).ok(),
        });
    }
    let fits = snapshots.iter().all(|s| {
        s.reconstructions.dim() == inputs.shown.dim()
            && s.codes.dim() == (inputs.mapped.nrows(), inputs.eps.ncols())
            && s.generated.dim() == (inputs.eps.nrows(), inputs.shown.ncols())
    });
    if fits {
        Ok((snapshots, None))
    } else {
        let note = "the checkpoint's figure snapshots were taken with other figure settings; the animations restart from this epoch".to_string();
        Ok((Vec::new(), Some(note)))
    }
}

/// The test MSE of PCA with `k` components fitted on the training images, a
/// linear baseline (on the data it was fitted to, PCA is the best linear
/// autoencoder; on the test set it is a baseline, not a bound). `k` is capped
/// at the pixel count.
pub fn pca_test_mse(splits: &Splits, k: usize) -> f64 {
    if k >= splits.train.pixels() {
        return 0.0; // as many components as pixels: PCA reconstructs exactly
    }
    let all = |d: &Dataset| images(d, &(0..d.len()).collect::<Vec<_>>());
    let train = all(&splits.train);
    let pca = Pca::fit(train.view(), k.max(1));
    let test = all(&splits.test);
    mse_forward(pca.reconstruct(test.view()).view(), test.view())
}

/// Rows of `images` (N, D) as owned pixel vectors.
pub fn rows_of(images: ArrayView2<f32>) -> Vec<Vec<f32>> {
    images.axis_iter(Axis(0)).map(|r| r.to_vec()).collect()
}

/// Characters of a class name kept for drawing and the report.
const MAX_CLASS_NAME: usize = 40;

/// The most bytes read of classes.txt (names for up to 256 classes fit).
const MAX_CLASSES_FILE: u64 = 64 << 10;

/// classes.txt's text, if it is a regular file of at most [`MAX_CLASSES_FILE`]
/// bytes: a FIFO or a device (a link to /dev/zero, say) is never opened, so
/// reading can neither block nor run out of memory. Invalid UTF-8 is replaced
/// (U+FFFD), not a reason to ignore the file.
fn read_classes_file(path: &Path) -> Option<String> {
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() || meta.len() > MAX_CLASSES_FILE {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

/// The class names of a dataset: one per line in `classes.txt` in its folder
/// if there is one, Fashion-MNIST's when the folder looks like it, else the
/// labels as numbers.
pub fn class_names(data_dir: &Path, labels: &[u8]) -> Vec<String> {
    let count = labels.iter().map(|&l| l as usize + 1).max().unwrap_or(1);
    if let Some(text) = read_classes_file(&data_dir.join("classes.txt")) {
        // Line c names class c; a blank line leaves its class numbered.
        let mut names: Vec<String> = text.lines().map(|l| l.trim().to_string()).collect();
        while names.last().is_some_and(|n| n.is_empty()) {
            names.pop();
        }
        if !names.is_empty() {
            let name = |c: usize| match names.get(c) {
                Some(n) if !n.is_empty() => n.chars().take(MAX_CLASS_NAME).collect(),
                _ => c.to_string(),
            };
            return (0..count.max(names.len())).map(name).collect();
        }
    }
    let fashion = data_dir
        .to_string_lossy()
        .to_lowercase()
        .contains("fashion");
    if fashion && count == 10 {
        return [
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
    }
    (0..count).map(|c| c.to_string()).collect()
}
