//! An MNIST-style dataset folder, the train/validation split and mini-batches.
//!
//! A dataset folder holds the four standard files, gzipped or not:
//! `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte` (MNIST, Fashion-MNIST, KMNIST, ... all use them).
//!
//! Images stay as `u8` in memory (47 MB for MNIST's 60,000 training images
//! instead of 188 MB as f32) and are scaled to `[0, 1]` f32 one batch at a time
//! by [`fill_batch`].

use std::path::{Path, PathBuf};

use ndarray::{s, Array2, ArrayView1, ArrayViewMut1, ArrayViewMut2, Zip};
use ndarray_rand::rand::seq::SliceRandom;

use super::idx::{read_idx_dims, read_idx_prefix};
use crate::error::{Error, Result};
use crate::parallel::{worth_splitting, PARALLEL_MIN_ELEMENTS};
use crate::seeds::{self, Purpose};

/// Images and their labels. N = number of images, D = pixels per image.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// (N, D) pixel intensities 0-255, one image per row.
    pub images: Array2<u8>,
    /// (N) class labels.
    pub labels: Vec<u8>,
    /// Image height and width in pixels (D = rows × cols).
    pub rows: usize,
    pub cols: usize,
}

/// The three sets a run uses.
#[derive(Debug, Clone)]
pub struct Splits {
    pub train: Dataset,
    pub validation: Dataset,
    pub test: Dataset,
}

impl Dataset {
    /// Number of images N.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// True if the dataset holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Pixels per image D.
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }

    /// A new dataset made of the images at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> Dataset {
        let mut images = Array2::zeros((indices.len(), self.pixels()));
        for (mut row, &i) in images.rows_mut().into_iter().zip(indices) {
            row.assign(&self.images.row(i));
        }
        Dataset {
            images,
            labels: indices.iter().map(|&i| self.labels[i]).collect(),
            rows: self.rows,
            cols: self.cols,
        }
    }

    /// The first `n` images (all of them if `n >= len`).
    pub fn first(&self, n: usize) -> Dataset {
        let indices: Vec<usize> = (0..n.min(self.len())).collect();
        self.select(&indices)
    }
}

/// Finds `name` or `name.gz` in `dir`.
fn find_file(dir: &Path, name: &str) -> Result<PathBuf> {
    for candidate in [dir.join(name), dir.join(format!("{name}.gz"))] {
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(Error::bad_file(
        &dir.join(name),
        format!("missing dataset file (looked for {name} and {name}.gz)"),
    ))
}

/// The images file of one split (`"train"` or `"t10k"`) in `dir` and the
/// dimensions its header gives (images, rows, cols, ...), read without its
/// payload.
pub fn image_dims(dir: &Path, split: &str) -> Result<(PathBuf, Vec<usize>)> {
    let path = find_file(dir, &format!("{split}-images-idx3-ubyte"))?;
    let dims = read_idx_dims(&path)?;
    Ok((path, dims))
}

/// Loads one split (`"train"` or `"t10k"`) of a dataset folder.
pub fn load_split(dir: &Path, split: &str) -> Result<Dataset> {
    load_split_prefix(dir, split, None)
}

/// Loads the first `limit` images of one split (all if `None`), inflating
/// only those.
pub fn load_split_prefix(dir: &Path, split: &str, limit: Option<usize>) -> Result<Dataset> {
    if dir.is_file() {
        return Err(Error::bad_file(
            dir,
            "is a file; --data-dir must name the folder that holds the four IDX files",
        ));
    }
    if !dir.is_dir() {
        return Err(Error::bad_file(
            dir,
            "data folder not found (set it with --data-dir)",
        ));
    }
    let images_path = find_file(dir, &format!("{split}-images-idx3-ubyte"))?;
    let labels_path = find_file(dir, &format!("{split}-labels-idx1-ubyte"))?;
    let images = read_idx_prefix(&images_path, limit)?;
    let labels = read_idx_prefix(&labels_path, limit)?;

    let [count, rows, cols] = images.dims[..] else {
        return Err(Error::bad_file(
            &images_path,
            format!(
                "expected 3 dimensions (images × rows × cols), found {:?}",
                images.dims
            ),
        ));
    };
    let [label_count] = labels.dims[..] else {
        return Err(Error::bad_file(
            &labels_path,
            format!("expected 1 dimension (labels), found {:?}", labels.dims),
        ));
    };
    if count != label_count || images.header_count != labels.header_count {
        return Err(Error::bad_file(
            &labels_path,
            format!(
                "holds {} labels but {} holds {} images",
                labels.header_count,
                images_path.display(),
                images.header_count
            ),
        ));
    }
    if count == 0 || rows == 0 || cols == 0 {
        return Err(Error::bad_file(
            &images_path,
            format!("holds no pixels (dimensions {:?})", images.dims),
        ));
    }
    let images = Array2::from_shape_vec((count, rows * cols), images.data)
        .expect("IDX payload length was checked against its dimensions");
    Ok(Dataset {
        images,
        labels: labels.data,
        rows,
        cols,
    })
}

/// Loads a dataset folder and splits it: the first `limit` training images
/// (all if `None`), of which a seeded random `val_size` are held out for
/// validation; the t10k files are the test set.
pub fn load_splits(dir: &Path, val_size: usize, limit: Option<usize>, seed: u64) -> Result<Splits> {
    let all_train = load_split_prefix(dir, "train", limit)?;
    let test = load_split(dir, "t10k")?;
    if (test.rows, test.cols) != (all_train.rows, all_train.cols) {
        return Err(Error::bad_file(
            dir,
            format!(
                "training images are {}×{} but test images are {}×{}",
                all_train.rows, all_train.cols, test.rows, test.cols
            ),
        ));
    }
    if val_size >= all_train.len() {
        return Err(Error::bad_flag(
            "--val-size",
            format!(
                "{val_size} validation images leave none to train on ({} training images{})",
                all_train.len(),
                if limit.is_some() {
                    " after --limit"
                } else {
                    ""
                }
            ),
        ));
    }
    let val_indices = validation_indices(all_train.len(), val_size, seed);
    let mut is_validation = vec![false; all_train.len()];
    val_indices.iter().for_each(|&i| is_validation[i] = true);
    let train_indices: Vec<usize> = (0..all_train.len())
        .filter(|&i| !is_validation[i])
        .collect();
    Ok(Splits {
        train: all_train.select(&train_indices),
        validation: all_train.select(&val_indices),
        test,
    })
}

/// The order in which epoch `epoch` visits the `n` training images: a
/// permutation drawn from an RNG seeded by `(seed, epoch)` alone, so any epoch's
/// order can be recomputed without replaying the ones before it.
pub fn epoch_order(n: usize, seed: u64, epoch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut seeds::rng(seed, Purpose::EpochOrder { epoch }));
    order
}

/// A fingerprint of the images and labels a run trains, validates and tests
/// on: FNV-1a (64-bit) over their bytes, as 16 hex digits. A checkpoint stores
/// it so that a resume on other data is refused.
pub fn fingerprint(splits: &Splits) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for set in [&splits.train, &splits.validation, &splits.test] {
        let bytes = set.images.iter().chain(set.labels.iter());
        for &byte in bytes.chain((set.rows as u32).to_le_bytes().iter()) {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// The `val_size` training images held out for validation, sorted: the first
/// `val_size` of a seeded shuffle of `0..n`. (reference/ holds the list for
/// seed 0, so the PyTorch scripts train on the same 55,000 images.)
pub fn validation_indices(n: usize, val_size: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut seeds::rng(seed, Purpose::ValidationSplit));
    let mut chosen = order[..val_size.min(n)].to_vec();
    chosen.sort_unstable();
    chosen
}

/// Copies the images at `indices` into the first rows of `batch`, scaled to [0, 1].
///
/// images: (N, D) u8; indices: B values < N; batch: (≥B, D) f32, rows 0..B overwritten.
pub fn fill_batch(images: &Array2<u8>, indices: &[usize], mut batch: ArrayViewMut2<f32>) {
    assert_eq!(
        images.ncols(),
        batch.ncols(),
        "fill_batch: pixel counts differ"
    );
    assert!(
        indices.len() <= batch.nrows(),
        "fill_batch: batch buffer too small"
    );
    const SCALE: f32 = 1.0 / 255.0;
    let fill_row = |mut out: ArrayViewMut1<f32>, &i: &usize| {
        // As slices where the rows are contiguous (always, in training): a loop
        // the compiler turns into vector conversions.
        match (out.as_slice_mut(), images.row(i).to_slice()) {
            (Some(out), Some(pixels)) => {
                for (o, &p) in out.iter_mut().zip(pixels) {
                    *o = p as f32 * SCALE;
                }
            }
            _ => out.zip_mut_with(&images.row(i), |o, &p| *o = p as f32 * SCALE),
        }
    };
    let mut rows = batch.slice_mut(s![..indices.len(), ..]);
    let rows = Zip::from(rows.rows_mut()).and(ArrayView1::from(indices));
    if worth_splitting(indices.len() * images.ncols(), PARALLEL_MIN_ELEMENTS) {
        rows.par_for_each(fill_row);
    } else {
        rows.for_each(fill_row);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn epoch_order_is_a_seeded_permutation_that_changes_per_epoch() {
        let a = epoch_order(100, 7, 1);
        assert_eq!(a, epoch_order(100, 7, 1));
        assert_ne!(a, epoch_order(100, 7, 2));
        assert_ne!(a, epoch_order(100, 8, 1));
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
    }

    #[test]
    fn fill_batch_scales_and_gathers_rows() {
        let images = Array2::from_shape_vec((3, 2), vec![0, 255, 51, 102, 10, 20]).unwrap();
        let mut batch = Array2::<f32>::from_elem((4, 2), -1.0);
        fill_batch(&images, &[2, 0], batch.view_mut());
        assert_eq!(batch.row(0).to_vec(), vec![10.0 / 255.0, 20.0 / 255.0]);
        assert_eq!(batch.row(1).to_vec(), vec![0.0, 1.0]);
        assert_eq!(
            batch.row(2).to_vec(),
            vec![-1.0, -1.0],
            "rows past B untouched"
        );
    }

    #[test]
    fn a_large_batch_loads_the_same_on_two_threads() {
        // 100 rows of 784 pixels: above the size that splits rows between threads.
        let images = Array2::from_shape_fn((300, 784), |(i, j)| ((i * 31 + j * 7) % 256) as u8);
        let indices: Vec<usize> = (0..100).map(|i| (i * 37) % 300).collect();
        let pool = crate::parallel::build_pool(2).unwrap();
        let mut batch = Array2::<f32>::from_elem((101, 784), -1.0);
        pool.install(|| fill_batch(&images, &indices, batch.view_mut()));
        for (row, &i) in indices.iter().enumerate() {
            for j in 0..784 {
                let expected = images[[i, j]] as f32 * (1.0 / 255.0); // as fill_batch scales
                assert_eq!(batch[[row, j]], expected, "row {row} pixel {j}");
            }
        }
        assert!(
            batch.row(100).iter().all(|&v| v == -1.0),
            "the row past B untouched"
        );
    }

    /// reference/validation-indices-seed0.txt is what the default split holds
    /// out (write it anew with `WRITE_REFERENCE=1 cargo test committed_validation`).
    #[test]
    fn committed_validation_indices_match_the_default_split() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("reference/validation-indices-seed0.txt");
        let indices = validation_indices(60_000, 5_000, 0);
        let text: String = indices.iter().map(|i| format!("{i}\n")).collect();
        if std::env::var_os("WRITE_REFERENCE").is_some() {
            std::fs::write(&path, &text).unwrap();
        }
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
    }
}
