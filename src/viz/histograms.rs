//! Overlaid histograms of positive values on a logarithmic x axis, e.g. the
//! per-image reconstruction errors of MNIST and of another dataset
//! (docs/images/anomaly_errors.png).

use std::path::Path;

use plotters::prelude::*;

use super::curves::{positive_range, two_significant_digits};
use super::{write_png, FONT_FAMILY, PALETTE};
use crate::error::Result;

/// Bars per histogram.
const BINS: usize = 60;

/// One histogram: a name and its values (> 0; others are not counted).
pub struct Histogram {
    pub name: String,
    pub values: Vec<f64>,
}

/// Draws the histograms over one shared set of bins, equally wide on the log
/// axis, each bar the share of its histogram's values that fall in it.
pub fn draw_histograms(
    path: &Path,
    title: &str,
    x_label: &str,
    histograms: &[Histogram],
) -> Result<()> {
    let (low, high) = positive_range(histograms.iter().flat_map(|h| &h.values).copied());
    let shares: Vec<Vec<f64>> = histograms
        .iter()
        .map(|h| log_bin_shares(&h.values, low, high))
        .collect();
    let top = shares
        .iter()
        .flatten()
        .copied()
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let edge = |i: usize| low * (high / low).powf(i as f64 / BINS as f64);
    write_png(path, (900, 560), |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT_FAMILY, 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            .build_cartesian_2d((low..high).log_scale(), 0.0..top)?;
        chart
            .configure_mesh()
            .x_desc(x_label)
            .y_desc("share of images per bin")
            .label_style((FONT_FAMILY, 15))
            .axis_desc_style((FONT_FAMILY, 17))
            .x_labels(10)
            .x_label_formatter(&|v| two_significant_digits(*v))
            .y_labels(6)
            .y_label_formatter(&|v| format!("{v:.2}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (k, (histogram, bars)) in histograms.iter().zip(&shares).enumerate() {
            let color = PALETTE[k % PALETTE.len()].mix(0.5);
            let rectangles = bars
                .iter()
                .enumerate()
                .map(|(i, &h)| Rectangle::new([(edge(i), 0.0), (edge(i + 1), h)], color.filled()));
            chart
                .draw_series(rectangles)?
                .label(histogram.name.clone())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 20, y + 5)], color.filled())
                });
        }
        super::draw_legend(&mut chart, SeriesLabelPosition::UpperRight)
    })
}

/// The share of `values` in each of BINS bins of equal width in log v over
/// [low, high]; values outside, and values ≤ 0, are in no bin.
fn log_bin_shares(values: &[f64], low: f64, high: f64) -> Vec<f64> {
    let mut counts = vec![0.0; BINS];
    let width = (high / low).ln() / BINS as f64;
    for &v in values.iter().filter(|v| **v > 0.0) {
        let bin = ((v / low).ln() / width).floor();
        if bin >= 0.0 && (bin as usize) < BINS {
            counts[bin as usize] += 1.0;
        }
    }
    let total = values.len().max(1) as f64;
    counts.iter().map(|c| c / total).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shares_add_up_to_the_values_inside_the_range() {
        // 0.001, 0.01, 0.1 and 1 (outside) and 0 (never counted): 3 of 5 inside.
        let shares = log_bin_shares(&[0.001, 0.01, 0.1, 1.0, 0.0], 0.0005, 0.5);
        assert!(
            (shares.iter().sum::<f64>() - 0.6).abs() < 1e-12,
            "{shares:?}"
        );
        assert_eq!(shares.iter().filter(|&&s| s > 0.0).count(), 3);
    }
}
