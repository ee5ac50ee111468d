//! Binarisation: every grey level p ∈ [0, 1] becomes a black-or-white pixel
//! drawn as a Bernoulli variable with P(x = 1) = p (Burda et al., 2015's
//! "dynamically binarised" MNIST).
//!
//! ```text
//! x = 1[u < p],   u ~ U[0, 1)   so   P(x = 1) = P(u < p) = p
//! ```
//! Training draws a fresh x for every image in every epoch (from the step's
//! seeded generator, so a run repeats for a seed); the validation and test
//! sets are binarised once, from [`FIXED_SEED`], so that every run, whatever
//! its `--seed`, is measured on the same black-and-white test images.

use ndarray::ArrayViewMut2;
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::{Rng, SeedableRng};

use super::mnist::{Dataset, Splits};

/// The seed of the held-out sets' one binarisation (Burda et al.'s code
/// seeds its evaluation with 123 too); the validation set's stream is this
/// seed + 1.
pub const FIXED_SEED: u64 = 123;

/// One Bernoulli draw with P(1) = `p`.
fn bernoulli(p: f32, rng: &mut StdRng) -> bool {
    rng.random::<f32>() < p
}

/// Replaces every grey level p of `images` (B, D) in [0, 1] by a fresh 0 or
/// 1 drawn with P(1) = p, row by row in order.
pub fn binarize_batch(mut images: ArrayViewMut2<f32>, rng: &mut StdRng) {
    images
        .iter_mut()
        .for_each(|x| *x = if bernoulli(*x, rng) { 1.0 } else { 0.0 });
}

/// `data` with every pixel binarised once from `seed`: a u8 grey level v
/// becomes 255 with probability v/255, else 0 (so a batch loads as 1 or 0).
pub fn binarize_once(data: &Dataset, seed: u64) -> Dataset {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = data.clone();
    out.images.iter_mut().for_each(|v| {
        *v = if bernoulli(f32::from(*v) / 255.0, &mut rng) {
            255
        } else {
            0
        };
    });
    out
}

impl Splits {
    /// Binarises the validation and test sets once, from [`FIXED_SEED`] (the
    /// validation set from the next seed); the training set stays grey, to be
    /// drawn afresh every epoch.
    pub fn binarize_held_out(&mut self) {
        self.test = binarize_once(&self.test, FIXED_SEED);
        self.validation = binarize_once(&self.validation, FIXED_SEED + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    /// Each pixel is 1 with probability equal to its grey level: over 20,000
    /// draws per level the frequency is within 4.5 standard errors of p, and
    /// 0 and 1 stay 0 and 1.
    #[test]
    fn binarisation_is_bernoulli_with_the_grey_level_as_p() {
        let levels = [0.0f32, 0.1, 0.5, 0.9, 1.0];
        let draws = 20_000;
        let mut images = Array2::<f32>::zeros((draws, levels.len()));
        for mut row in images.rows_mut() {
            row.assign(&ndarray::ArrayView1::from(&levels));
        }
        binarize_batch(images.view_mut(), &mut StdRng::seed_from_u64(5));
        assert!(images.iter().all(|&x| x == 0.0 || x == 1.0));
        for (j, &p) in levels.iter().enumerate() {
            let frequency = images.column(j).sum() / draws as f32;
            let error = (p * (1.0 - p) / draws as f32).sqrt();
            assert!(
                (frequency - p).abs() <= 4.5 * error + 1e-6,
                "level {p}: frequency {frequency}"
            );
        }
    }

    /// The same seed gives the same pixels, another seed others; binarising
    /// a u8 dataset keeps 0 and 255 and turns greys into 0 or 255.
    #[test]
    fn binarisation_repeats_for_a_seed() {
        let grey = Array2::from_elem((50, 20), 0.5f32);
        let draw = |seed| {
            let mut x = grey.clone();
            binarize_batch(x.view_mut(), &mut StdRng::seed_from_u64(seed));
            x
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));

        let data = Dataset {
            images: Array2::from_shape_fn((30, 4), |(i, j)| [0u8, 255, 128, 30][(i + j) % 4]),
            labels: vec![0; 30],
            rows: 2,
            cols: 2,
        };
        let once = binarize_once(&data, FIXED_SEED);
        assert_eq!(once.images, binarize_once(&data, FIXED_SEED).images);
        assert!(once.images.iter().all(|&v| v == 0 || v == 255));
        for (&before, &after) in data.images.iter().zip(&once.images) {
            if before == 0 || before == 255 {
                assert_eq!(before, after);
            }
        }
    }
}
