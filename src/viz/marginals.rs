//! `code_marginals.png`: histograms of a few code dimensions, each against the
//! density of the one Gaussian fitted to the codes and, where there is one, the
//! histogram of the prior's samples.

use std::path::Path;

use plotters::prelude::*;

use super::{write_png, FONT_FAMILY, PALETTE};
use crate::error::Result;

/// Bars per histogram.
const BINS: usize = 40;

/// One panel: the values of one code dimension.
pub struct Marginal {
    pub title: String,
    /// The training codes' values in this dimension.
    pub codes: Vec<f32>,
    /// Mean and standard deviation of the fitted Gaussian's marginal.
    pub gaussian: (f64, f64),
    /// The prior's samples in this dimension, if there is a prior.
    pub prior: Option<Vec<f32>>,
}

/// Draws the panels side by side, two per row.
pub fn draw_marginals(path: &Path, title: &str, panels: &[Marginal]) -> Result<()> {
    let rows = panels.len().div_ceil(2).max(1);
    write_png(path, (1000, 60 + 300 * rows as u32), |root| {
        root.fill(&WHITE)?;
        let root = root.titled(title, (FONT_FAMILY, 22))?;
        for (panel, area) in panels.iter().zip(root.split_evenly((rows, 2))) {
            draw_panel(&area, panel)?;
        }
        Ok(())
    })
}

/// The range shown: the codes' 0.5th to 99.5th percentile, widened by 10%,
/// never empty.
fn range(values: &[f32]) -> (f64, f64) {
    let mut sorted: Vec<f64> = values
        .iter()
        .map(|&v| f64::from(v))
        .filter(|v| v.is_finite())
        .collect();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return (-1.0, 1.0);
    }
    let at = |q: f64| sorted[((sorted.len() - 1) as f64 * q).round() as usize];
    let (low, high) = (at(0.005), at(0.995));
    let pad = ((high - low) * 0.1).max(1e-3);
    (low - pad, high + pad)
}

/// A density histogram of `values` over `[low, high)` in BINS bins.
fn histogram(values: &[f32], low: f64, high: f64) -> Vec<f64> {
    let width = (high - low) / BINS as f64;
    let mut counts = vec![0.0; BINS];
    for &v in values {
        let bin = ((f64::from(v) - low) / width).floor();
        if bin >= 0.0 && (bin as usize) < BINS {
            counts[bin as usize] += 1.0;
        }
    }
    let scale = 1.0 / (values.len().max(1) as f64 * width);
    counts.iter().map(|c| c * scale).collect()
}

/// The top edges of a histogram's bars, as one line.
fn outline(bars: &[f64], low: f64, width: f64) -> Vec<(f64, f64)> {
    bars.iter()
        .enumerate()
        .flat_map(|(i, &h)| {
            let x = low + i as f64 * width;
            [(x, h), (x + width, h)]
        })
        .collect()
}

/// The fitted Gaussian's density N(x; mean, std²) at 201 points of [low, high].
fn gaussian_curve((mean, std): (f64, f64), low: f64, high: f64) -> Vec<(f64, f64)> {
    let std = std.max(1e-12);
    let norm = std * (2.0 * std::f64::consts::PI).sqrt();
    (0..=200)
        .map(|i| low + (high - low) * i as f64 / 200.0)
        .map(|x| (x, (-0.5 * ((x - mean) / std).powi(2)).exp() / norm))
        .collect()
}

/// Plotters' errors, boxed as [`write_figure`] takes them.
type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;

fn draw_panel(
    area: &DrawingArea<BitMapBackend, plotters::coord::Shift>,
    panel: &Marginal,
) -> Drawn {
    let (low, high) = range(&panel.codes);
    let width = (high - low) / BINS as f64;
    let codes = histogram(&panel.codes, low, high);
    let prior = panel.prior.as_ref().map(|p| histogram(p, low, high));
    let curve = gaussian_curve(panel.gaussian, low, high);
    let top = codes
        .iter()
        .chain(prior.iter().flatten())
        .chain(curve.iter().map(|(_, y)| y))
        .copied()
        .fold(0.0, f64::max)
        .max(1e-9)
        * 1.1;
    let mut chart = ChartBuilder::on(area)
        .caption(&panel.title, (FONT_FAMILY, 17))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(50)
        .build_cartesian_2d(low..high, 0.0..top)?;
    chart
        .configure_mesh()
        .label_style((FONT_FAMILY, 13))
        .x_labels(6)
        .y_labels(4)
        .x_label_formatter(&|v| format!("{v:.1}"))
        .y_label_formatter(&|v| format!("{v:.2}"))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let bars = codes.iter().enumerate().map(|(i, &h)| {
        let x = low + i as f64 * width;
        Rectangle::new([(x, 0.0), (x + width, h)], PALETTE[0].mix(0.45).filled())
    });
    chart
        .draw_series(bars)?
        .label("training codes")
        .legend(|(x, y)| {
            Rectangle::new([(x, y - 5), (x + 20, y + 5)], PALETTE[0].mix(0.45).filled())
        });
    if let Some(prior) = prior {
        let steps = outline(&prior, low, width);
        let color = PALETTE[2];
        chart
            .draw_series(LineSeries::new(steps, color.stroke_width(2)))?
            .label("prior's samples")
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
    }
    chart
        .draw_series(LineSeries::new(curve, BLACK.stroke_width(2)))?
        .label("one fitted Gaussian")
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT_FAMILY, 12))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_histogram_is_a_density_and_the_range_is_never_empty() {
        let values: Vec<f32> = (0..1000).map(|i| (i % 10) as f32).collect();
        let (low, high) = range(&values);
        assert!(low < 0.0 && high > 9.0, "{low} {high}");
        let bars = histogram(&values, low, high);
        let area: f64 = bars.iter().sum::<f64>() * (high - low) / BINS as f64;
        assert!((area - 1.0).abs() < 1e-9, "area {area}");
        let (low, high) = range(&[3.0; 5]);
        assert!(high > low);
        assert_eq!(range(&[]), (-1.0, 1.0));
    }
}
