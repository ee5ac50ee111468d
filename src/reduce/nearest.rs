//! Distance from each image to its nearest neighbour in a reference set: the
//! copy check behind `novelty`.
//!
//! ```text
//! d(q) = min_n ‖q − r_n‖,   ‖q − r‖² = ‖q‖² + ‖r‖² − 2 q·r
//! novelty = median_q d(q) over the samples / median_q d(q) over the reconstructions of test digits
//! ```
//! The products q·r of all M queries with a chunk of references are one
//! matrix product ([`matmul`], f32), Q·R_chunkᵀ (M, chunk): 1,000 samples
//! against 55,000 training images is 43 GFLOP of products instead of 43
//! billion scalar loops. The expansion loses precision when q ≈ r (cancellation
//! of two large terms), so the winner's distance is then recomputed directly,
//! in f64: a training image finds itself at distance exactly 0.

use ndarray::{s, Array1, Array2, ArrayView2};

use crate::nn::matmul::matmul;

/// References per matrix product (the product's output, M × chunk f32, bounds memory).
const REFERENCE_CHUNK: usize = 4096;

/// For every row of `queries` (M, D), the L2 distance to the nearest row of
/// `references` (N, D), N > 0. Returns (M).
pub fn nearest_distances(queries: ArrayView2<f32>, references: ArrayView2<f32>) -> Array1<f32> {
    nearest_in_chunks(queries, references, REFERENCE_CHUNK)
}

fn nearest_in_chunks(
    queries: ArrayView2<f32>,
    references: ArrayView2<f32>,
    chunk: usize,
) -> Array1<f32> {
    let (m, d) = queries.dim();
    assert_eq!(
        references.ncols(),
        d,
        "nearest_distances: queries have {d} values, references {}",
        references.ncols()
    );
    assert!(references.nrows() > 0, "nearest_distances: no references");
    let norms = |x: ArrayView2<f32>| -> Array1<f32> {
        x.rows()
            .into_iter()
            .map(|r| r.iter().map(|&v| v as f64 * v as f64).sum::<f64>() as f32)
            .collect()
    };
    let query_norms = norms(queries); // ‖q‖², (M)
    let reference_norms = norms(references); // ‖r‖², (N)
                                             // (approximate ‖q − r‖², index of r) of the best reference so far, per query.
    let mut best = vec![(f32::INFINITY, 0usize); m];
    let mut products = Array2::<f32>::zeros((m, chunk.min(references.nrows())));
    for start in (0..references.nrows()).step_by(chunk) {
        let end = (start + chunk).min(references.nrows());
        let mut block = products.slice_mut(s![.., ..end - start]);
        matmul(
            queries,
            references.slice(s![start..end, ..]).t(),
            0.0,
            block.view_mut(),
        ); // Q·Rᵀ, (M, chunk)
        for ((row, best), &q_norm) in block.rows().into_iter().zip(&mut best).zip(&query_norms) {
            for (j, &product) in row.iter().enumerate() {
                let squared = q_norm + reference_norms[start + j] - 2.0 * product;
                if squared < best.0 {
                    *best = (squared, start + j);
                }
            }
        }
    }
    // The winner's distance, directly and in f64.
    best.iter()
        .zip(queries.rows())
        .map(|(&(_, n), q)| {
            let r = references.row(n);
            let squared: f64 = q
                .iter()
                .zip(&r)
                .map(|(&a, &b)| (a as f64 - b as f64).powi(2))
                .sum();
            squared.sqrt() as f32
        })
        .collect()
}

/// The median of `values` (the mean of the two middle values for an even
/// count), NaN for none.
pub fn median(values: &[f32]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f32::total_cmp);
    let middle = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[middle] as f64
    } else {
        (sorted[middle - 1] as f64 + sorted[middle] as f64) / 2.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    /// By hand: references (0, 0), (3, 4), (10, 0).
    #[test]
    fn nearest_distances_worked_by_hand() {
        let references = array![[0.0f32, 0.0], [3.0, 4.0], [10.0, 0.0]];
        let queries = array![[3.0f32, 4.0], [0.0, 1.0], [6.0, 0.0], [-3.0, -4.0]];
        let d = nearest_distances(queries.view(), references.view());
        assert_eq!(d.to_vec(), vec![0.0, 1.0, 4.0, 5.0]);
        assert_eq!(median(&d.to_vec()), 2.5);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
    }

    /// Images of 784 pixels in [0, 1], over several chunks: each reference
    /// finds itself at exactly 0, and other queries match a brute-force search.
    #[test]
    fn references_find_themselves_and_others_match_brute_force() {
        let image = |i: usize| {
            Array1::from_shape_fn(784, |p| ((i * 131 + p * 7) as f32 * 0.37).sin().max(0.0))
        };
        let references = ndarray::stack(
            ndarray::Axis(0),
            &(0..50)
                .map(image)
                .collect::<Vec<_>>()
                .iter()
                .map(|a| a.view())
                .collect::<Vec<_>>(),
        )
        .unwrap();
        let itself = nearest_in_chunks(references.slice(s![10..20, ..]), references.view(), 7);
        assert!(itself.iter().all(|&d| d == 0.0), "{itself}");

        let queries = Array2::from_shape_fn((9, 784), |(i, p)| {
            ((i * 17 + p * 3) as f32 * 0.11).cos().max(0.0)
        });
        let got = nearest_in_chunks(queries.view(), references.view(), 7);
        for (q, &g) in queries.rows().into_iter().zip(&got) {
            let want = references
                .rows()
                .into_iter()
                .map(|r| {
                    q.iter()
                        .zip(&r)
                        .map(|(a, b)| ((a - b) as f64).powi(2))
                        .sum::<f64>()
                        .sqrt()
                })
                .fold(f64::INFINITY, f64::min);
            assert!((g as f64 - want).abs() < 1e-4, "{g} vs {want}");
        }
    }
}
