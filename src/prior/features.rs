//! The judge's hidden-layer features: what the Fréchet distance
//! ([`crate::reduce::frechet`]) compares a set of samples and the test digits by.
//!
//! ```text
//! features  A = ReLU(X·W₀ + b₀)      X (N, D), W₀ (D, H), b₀ (H), A (N, H)
//! ```
//! The same first layer the judge classifies with ([`crate::judge`]): 784-256
//! after the ReLU, for the committed judge. The FID of Heusel et al. (2017) uses
//! an Inception network's last pooling layer in the same role.

use ndarray::{s, Array2, ArrayView2};

use crate::judge::Judge;
use crate::nn::{activation_forward, dense_forward, Activation};

/// Images per forward pass (bounds memory).
const CHUNK_ROWS: usize = 1000;

/// A = ReLU(X·W₀ + b₀) for every image. images: (N, D) in [0, 1]; returns (N, H).
pub fn judge_features(judge: &Judge, images: ArrayView2<f32>) -> Array2<f32> {
    let first = &judge.params.layers[0];
    assert_eq!(
        images.ncols(),
        first.w.nrows(),
        "judge_features: images have {} pixels, the judge takes {}",
        images.ncols(),
        first.w.nrows()
    );
    let mut features = Array2::zeros((images.nrows(), first.w.ncols()));
    for start in (0..images.nrows()).step_by(CHUNK_ROWS) {
        let end = (start + CHUNK_ROWS).min(images.nrows());
        let mut out = features.slice_mut(s![start..end, ..]);
        dense_forward(
            out.view_mut(),
            images.slice(s![start..end, ..]),
            first.w.view(),
            first.b.view(),
        ); // (B, H)
        activation_forward(Activation::Relu, out); // (B, H)
    }
    features
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Against the formula computed element by element, over two chunks.
    #[test]
    fn features_are_the_hidden_layer_after_relu() {
        let judge = Judge::init(6, 4, 3);
        let images =
            Array2::from_shape_fn((1500, 6), |(n, d)| ((n * 7 + d) as f32 * 0.13).sin().abs());
        let features = judge_features(&judge, images.view());
        let layer = &judge.params.layers[0];
        for n in [0, 999, 1000, 1499] {
            for h in 0..4 {
                let z: f32 = layer.b[h]
                    + (0..6)
                        .map(|d| images[[n, d]] * layer.w[[d, h]])
                        .sum::<f32>();
                assert!((features[[n, h]] - z.max(0.0)).abs() < 1e-5, "({n}, {h})");
            }
        }
        assert!(features.iter().any(|&v| v == 0.0) && features.iter().any(|&v| v > 0.0));
    }
}
