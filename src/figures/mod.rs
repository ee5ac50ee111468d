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
use crate::reduce::pca::{Pca, FIT_CHUNK_ROWS};
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

/// The classes present in `labels`, ascending, each with its image count.
fn class_counts(labels: &[u8]) -> Vec<(u8, usize)> {
    let mut counts = [0usize; 256];
    labels.iter().for_each(|&l| counts[l as usize] += 1);
    (0..=u8::MAX)
        .filter(|&c| counts[c as usize] > 0)
        .map(|c| (c, counts[c as usize]))
        .collect()
}

/// How many images of each class in `counts` to take so that together they
/// make `total` (every image, if there are fewer): an equal share each, the
/// unused share of a small class spread over the others. Deterministic:
/// classes are served from the smallest count up (ties by label).
fn shares(counts: &[(u8, usize)], total: usize) -> Vec<(u8, usize)> {
    let mut by_size: Vec<(u8, usize)> = counts.to_vec();
    by_size.sort_by_key(|&(class, count)| (count, class));
    let mut left = total;
    let mut taken: Vec<(u8, usize)> = by_size
        .iter()
        .enumerate()
        .map(|(served, &(class, count))| {
            let share = left.div_ceil(by_size.len() - served).min(count);
            left -= share;
            (class, share)
        })
        .collect();
    taken.sort_unstable();
    taken
}

/// `quota` indices of each `(class, quota)` in `data`, in a seeded random
/// order, grouped by class.
fn balanced_indices(data: &Dataset, quotas: &[(u8, usize)], rng: &mut StdRng) -> Vec<usize> {
    let mut order: Vec<usize> = (0..data.len()).collect();
    order.shuffle(rng);
    quotas
        .iter()
        .flat_map(|&(class, quota)| {
            order
                .iter()
                .copied()
                .filter(move |&i| data.labels[i] == class)
                .take(quota)
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
        let counts = class_counts(&test.labels);
        let two_each: Vec<(u8, usize)> = counts.iter().map(|&(c, n)| (c, n.min(2))).collect();
        let shown_rng = &mut seeds::rng(seed, Purpose::ShownDigits);
        let shown_indices = balanced_indices(test, &two_each, shown_rng);
        // The points are shared among the classes present, not among every
        // label up to the largest (labels 0-9 and 255 are 11 classes, not 256).
        let mapped_rng = &mut seeds::rng(seed, Purpose::MappedDigits);
        let mapped_indices = balanced_indices(test, &shares(&counts, map_points), mapped_rng);
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
/// at the pixel count. The test images are reconstructed [`ROWS_PER_PASS`] at
/// a time: whatever the test set's size, they add no more than that to the
/// memory [`pca_bytes`] counts.
pub fn pca_test_mse(splits: &Splits, k: usize) -> f64 {
    if k >= splits.train.pixels() {
        return 0.0; // as many components as pixels: PCA reconstructs exactly
    }
    let train = &splits.train;
    let pca = Pca::fit_in_chunks(train.len(), train.pixels(), k.max(1), |rows| {
        CowArray::from(images(train, &rows.collect::<Vec<_>>()))
    });
    let test = &splits.test;
    let indices: Vec<usize> = (0..test.len()).collect();
    let squared_sum: f64 = indices
        .chunks(ROWS_PER_PASS)
        .map(|chunk| {
            let x = images(test, chunk);
            mse_forward(pca.reconstruct(x.view()).view(), x.view()) * x.len() as f64
        })
        .sum();
    squared_sum / (test.len() * test.pixels()) as f64
}

/// Bytes [`pca_test_mse`] needs at most for `n` training images of `d`
/// pixels and `k` components: a pass of training images as f32 and its
/// centred copy, the covariance (f64 sum and f32 product, D×D), the subspace
/// iteration's vectors, and one pass of test images. None if it overflows.
pub fn pca_bytes(n: usize, d: usize, k: usize) -> Option<u128> {
    let rows = n.min(FIT_CHUNK_ROWS) as u128;
    let (d, k) = (d as u128, k.min(d) as u128);
    let train = rows.checked_mul(d)?.checked_mul(4 * 2)?;
    let covariance = d.checked_mul(d)?.checked_mul(12)?;
    let vectors = d.checked_mul(k + 8)?.checked_mul(8 * 3)?;
    let pass = (ROWS_PER_PASS as u128).checked_mul(d)?.checked_mul(4 * 4)?;
    train
        .checked_add(covariance)?
        .checked_add(vectors)?
        .checked_add(pass)
}

/// Every file the figures phase of `train` writes into the output folder.
pub const DRAWN_FILES: &[&str] = &[
    "report.html",
    "losses.png",
    "reconstructions.png",
    "reconstructions.gif",
    "samples.png",
    "generated.gif",
    "interpolation.png",
    "code_marginals.png",
    "diffusion.gif",
    "filters.png",
    "kl_per_dimension.png",
    "feature_maps.png",
    "prior-gmm.safetensors",
    "prior-diffusion.safetensors",
    "prior-gaussian.safetensors",
    "denoising.png",
    "manifold.png",
    "manifold.gif",
    "latent_pca.png",
    "latent_pca.gif",
    "latent_tsne.png",
    "latent_tsne.gif",
];

/// Removes the [`DRAWN_FILES`] an earlier run left in `out_dir` (report.html
/// first), so that no figure of another run sits beside this run's model.
pub fn remove_drawn_files(out_dir: &Path) -> Result<()> {
    for name in DRAWN_FILES {
        let path = out_dir.join(name);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io(&path, e));
            }
            _ => {}
        }
    }
    Ok(())
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

/// FNV-1a (64 bit) of the 10,000 labels of Fashion-MNIST's
/// t10k-labels-idx1-ubyte: the dataset is recognised by its files, not by a
/// folder name (a folder `Fashion_backup/digits` may hold MNIST).
const FASHION_MNIST_TEST_LABELS: u64 = 0x25bd_f812_3f06_fac3;

/// Whether `labels` are Fashion-MNIST's test labels.
fn is_fashion_mnist(labels: &[u8]) -> bool {
    let fnv1a = labels.iter().fold(0xcbf2_9ce4_8422_2325u64, |hash, &byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    labels.len() == 10_000 && fnv1a == FASHION_MNIST_TEST_LABELS
}

/// The class names of a dataset whose test labels are `labels`: one per line
/// in `classes.txt` in its folder if there is one, Fashion-MNIST's when the
/// labels are Fashion-MNIST's, else the labels as numbers.
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
    if is_fashion_mnist(labels) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 28 item 2: the test images are reconstructed a pass at a time,
    /// with the same result as all at once.
    #[test]
    fn pca_test_mse_in_passes_equals_the_whole_computation() {
        use crate::data::mnist::Dataset;
        let set = |n: usize, salt: usize| Dataset {
            images: Array2::from_shape_fn((n, 12), |(i, j)| ((i * 31 + j * 7 + salt) % 256) as u8),
            labels: vec![0; n],
            rows: 3,
            cols: 4,
        };
        let splits = Splits {
            train: set(300, 0),
            validation: set(5, 1),
            test: set(2 * ROWS_PER_PASS + 17, 2),
        };
        let all = |d: &Dataset| images(d, &(0..d.len()).collect::<Vec<_>>());
        let pca = Pca::fit(all(&splits.train).view(), 3);
        let test = all(&splits.test);
        let whole = mse_forward(pca.reconstruct(test.view()).view(), test.view());
        let passes = pca_test_mse(&splits, 3);
        assert!(
            (passes - whole).abs() <= 1e-9 * whole,
            "{passes} vs {whole}"
        );
    }

    /// Issue 28 item 16: the points are shared among the classes present.
    #[test]
    fn map_points_are_shared_among_the_classes_present() {
        let even = [(0, 500), (1, 500), (2, 500)];
        assert_eq!(shares(&even, 20), [(0, 7), (1, 7), (2, 6)]);
        // A class of one image gives its unused share to the others.
        let mut labels: Vec<u8> = (0..1000).map(|i| (i % 10) as u8).collect();
        labels.extend([200, 255]);
        let shared = shares(&class_counts(&labels), 200);
        assert_eq!(shared.iter().map(|s| s.1).sum::<usize>(), 200);
        assert_eq!(shared[10..], [(200, 1), (255, 1)]);
        // Fewer images than asked: every image.
        assert_eq!(shares(&[(3, 2), (7, 1)], 200), [(3, 2), (7, 1)]);
    }
}
