//! How digit-like and varied a set of images is, in the digit judge's eyes.
//!
//! Given the judge's p(y|x) on a set of N images (real or generated), three
//! numbers say how digit-like and how varied the set is:
//! ```text
//! confident   1/N · #{x : max_y p(y|x) ≥ 0.9}           share judged with confidence
//! coverage    −Σ_y h(y) ln h(y) / ln C                  h = histogram of argmax_y p(y|x), over N
//! score       exp(1/N Σ_x KL(p(y|x) ‖ p(y))),  p(y) = 1/N Σ_x p(y|x)
//! ```
//! `score` is the MNIST analogue of the Inception Score (Salimans et al., 2016):
//! it is 1 when every image gets the same distribution over classes and C = 10
//! when every image is classified with certainty and the classes are equally
//! frequent. All three are computed in f64.

use ndarray::{ArrayView1, ArrayView2};

/// A prediction counts as confident from this class probability on.
pub const CONFIDENCE: f64 = 0.9;

/// How digit-like and varied a set of images is, in the judge's eyes (see the
/// module documentation for the formulas).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Scores {
    /// Share of images whose largest class probability is ≥ 0.9, in [0, 1].
    pub confident: f64,
    /// Entropy of the predicted-class histogram over ln 10, in [0, 1].
    pub coverage: f64,
    /// exp(E_x KL(p(y|x) ‖ p(y))), in [1, 10].
    pub score: f64,
}

/// The first index of a row's largest value. row: (C).
pub(crate) fn argmax(row: ArrayView1<f32>) -> usize {
    let mut best = 0;
    for (c, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = c;
        }
    }
    best
}

impl Scores {
    /// The scores of a set of N images from their class probabilities p(y|x).
    ///
    /// probabilities: (N, C), N > 0, rows summing to 1.
    pub fn from_probabilities(probabilities: ArrayView2<f32>) -> Scores {
        let (n, classes) = probabilities.dim();
        assert!(n > 0, "Scores: no images to judge");
        let mut confident = 0usize;
        let mut histogram = vec![0usize; classes];
        let mut marginal = vec![0.0f64; classes]; // p(y) = 1/N Σ_x p(y|x)
        for row in probabilities.rows() {
            let best = argmax(row);
            histogram[best] += 1;
            if row[best] as f64 >= CONFIDENCE {
                confident += 1;
            }
            for (m, &p) in marginal.iter_mut().zip(&row) {
                *m += p as f64 / n as f64;
            }
        }
        // −Σ_y h(y) ln h(y), with 0·ln 0 = 0.
        let entropy: f64 = histogram
            .iter()
            .filter(|&&count| count > 0)
            .map(|&count| {
                let h = count as f64 / n as f64;
                -h * h.ln()
            })
            .sum();
        // 1/N Σ_x Σ_y p(y|x) (ln p(y|x) − ln p(y)), with 0·ln 0 = 0.
        let mut kl_sum = 0.0f64;
        for row in probabilities.rows() {
            for (&p, &m) in row.iter().zip(&marginal) {
                if p > 0.0 {
                    kl_sum += p as f64 * ((p as f64).ln() - m.ln());
                }
            }
        }
        Scores {
            confident: confident as f64 / n as f64,
            coverage: entropy / (classes as f64).ln() + 0.0, // + 0.0 turns −0 into 0
            score: (kl_sum / n as f64).exp(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    /// Number of classes in the worked examples.
    const CLASSES: usize = 10;

    /// By hand: ten images each certain of a different class score 10 with
    /// full coverage; ten identical uncertain ones score 1 with none.
    #[test]
    fn scores_reach_their_bounds_on_sets_worked_by_hand() {
        let certain = Array2::<f32>::eye(CLASSES);
        let best = Scores::from_probabilities(certain.view());
        assert_eq!(best.confident, 1.0);
        assert!((best.coverage - 1.0).abs() < 1e-12, "{best:?}");
        assert!((best.score - 10.0).abs() < 1e-9, "{best:?}");

        let unsure = Array2::<f32>::from_elem((10, CLASSES), 0.1);
        let worst = Scores::from_probabilities(unsure.view());
        assert_eq!((worst.confident, worst.coverage), (0.0, 0.0));
        assert!((worst.score - 1.0).abs() < 1e-6, "{worst:?}");

        // Two classes, two images certain of one each: p(y) = (½, ½), KL = ln 2
        // per image, score 2; a third image at 0.8 is not confident.
        let mixed = array![[1.0f32, 0.0], [0.0, 1.0]];
        let scores = Scores::from_probabilities(mixed.view());
        assert!((scores.score - 2.0).abs() < 1e-9);
        assert!(
            (scores.coverage - 1.0).abs() < 1e-12,
            "two classes of two: full coverage"
        );
        let three = array![[1.0f32, 0.0], [0.0, 1.0], [0.8, 0.2]];
        assert!((Scores::from_probabilities(three.view()).confident - 2.0 / 3.0).abs() < 1e-12);
    }
}
