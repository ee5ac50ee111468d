//! The area under the ROC curve (AUC) of a score meant to be higher for
//! positives (here: anomalies) than for negatives (here: the training
//! distribution's test images), computed from ranks, as the Mann–Whitney U
//! statistic over n⁺·n⁻:
//!
//! ```text
//! AUC = P(s⁺ > s⁻) + ½·P(s⁺ = s⁻)          s⁺ a random positive's score, s⁻ a negative's
//!     = (R⁺ − n⁺(n⁺ + 1)/2) / (n⁺·n⁻)
//! ```
//! where R⁺ is the sum of the positives' ranks (1 for the lowest) among all
//! n⁺ + n⁻ scores, and scores that tie share the mean of the ranks they
//! span. Sorting costs O(n log n) instead of the O(n⁺·n⁻) pairs. 1 is perfect
//! separation, 0.5 a coin toss, 0 perfect separation the wrong way round.

/// The AUC of `positives` against `negatives` (any lengths); NaN if either is
/// empty or a score is NaN.
pub fn roc_auc(negatives: &[f64], positives: &[f64]) -> f64 {
    let all = negatives.iter().chain(positives);
    if negatives.is_empty() || positives.is_empty() || all.clone().any(|s| s.is_nan()) {
        return f64::NAN;
    }
    // (score, is positive), ascending by score.
    let mut scored: Vec<(f64, bool)> = negatives
        .iter()
        .map(|&s| (s, false))
        .chain(positives.iter().map(|&s| (s, true)))
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut positive_rank_sum = 0.0;
    let mut start = 0;
    while start < scored.len() {
        // The run [start, end) of tied scores holds ranks start + 1 ..= end.
        let end = start
            + scored[start..]
                .iter()
                .take_while(|s| s.0 == scored[start].0)
                .count();
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        let tied_positives = scored[start..end].iter().filter(|s| s.1).count();
        positive_rank_sum += mean_rank * tied_positives as f64;
        start = end;
    }
    let (n_pos, n_neg) = (positives.len() as f64, negatives.len() as f64);
    (positive_rank_sum - n_pos * (n_pos + 1.0) / 2.0) / (n_pos * n_neg)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The definition: the share of (positive, negative) pairs in the right
    /// order, ties counting one half.
    fn by_pairs(negatives: &[f64], positives: &[f64]) -> f64 {
        let mut wins = 0.0;
        for p in positives {
            for n in negatives {
                wins += if p > n {
                    1.0
                } else if p == n {
                    0.5
                } else {
                    0.0
                };
            }
        }
        wins / (positives.len() * negatives.len()) as f64
    }

    #[test]
    fn perfect_separation_is_one_and_reversed_is_zero() {
        let (low, high) = ([0.1, 0.2, 0.3], [0.5, 0.9]);
        assert_eq!(roc_auc(&low, &high), 1.0);
        assert_eq!(roc_auc(&high, &low), 0.0);
    }

    #[test]
    fn all_scores_tied_is_one_half() {
        assert_eq!(roc_auc(&[0.4; 3], &[0.4; 5]), 0.5);
    }

    #[test]
    fn a_small_example_by_hand() {
        // Positives 0.8 and 0.4 against negatives 0.1, 0.4, 0.35: 0.8 beats all
        // three (3), 0.4 beats 0.1 and 0.35 and ties 0.4 (2.5): 5.5 of 6 pairs.
        // By ranks: 0.1 → 1, 0.35 → 2, the two 0.4s → 3.5 each, 0.8 → 5; R⁺ = 8.5,
        // (8.5 − 2·3/2) / (2·3) = 5.5/6.
        let auc = roc_auc(&[0.1, 0.4, 0.35], &[0.8, 0.4]);
        assert!((auc - 5.5 / 6.0).abs() < 1e-15, "{auc}");
    }

    #[test]
    fn ranks_agree_with_counting_pairs_and_nan_or_empty_give_nan() {
        // Scores on a coarse grid, so that many tie.
        let negatives: Vec<f64> = (0..37).map(|i| ((i * 7) % 11) as f64).collect();
        let positives: Vec<f64> = (0..23).map(|i| ((i * 5) % 13) as f64 + 1.0).collect();
        let auc = roc_auc(&negatives, &positives);
        assert!(
            (auc - by_pairs(&negatives, &positives)).abs() < 1e-12,
            "{auc}"
        );
        assert!(roc_auc(&[], &[1.0]).is_nan());
        assert!(roc_auc(&[1.0, f64::NAN], &[2.0]).is_nan());
    }
}
