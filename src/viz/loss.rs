//! `losses.png`: training and validation loss per epoch on a log scale, with
//! the linear baseline (PCA) as a dashed line.

use std::path::Path;

use plotters::prelude::*;

use super::{write_png, FONT_FAMILY};
use crate::error::Result;

/// One dashed horizontal reference line.
pub struct Baseline {
    pub label: String,
    pub value: f64,
}

/// Draws train and validation loss against epoch. `epochs`, `train`, `val` have
/// equal length; `baseline` is drawn dashed across the plot if given.
pub fn draw_losses(
    path: &Path,
    loss_name: &str,
    epochs: &[usize],
    train: &[f64],
    val: &[f64],
    baseline: Option<&Baseline>,
) -> Result<()> {
    write_png(path, (900, 560), |root| {
        root.fill(&WHITE)?;
        let (low, high) = loss_range(train, val, baseline);
        let (x0, x1) = epoch_range(epochs);
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("Reconstruction loss ({loss_name}) per epoch"),
                (FONT_FAMILY, 24),
            )
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, (low..high).log_scale())?;
        chart
            .configure_mesh()
            .x_desc("epoch")
            .y_desc(format!("{loss_name} (log scale)"))
            .label_style((FONT_FAMILY, 15))
            .axis_desc_style((FONT_FAMILY, 17))
            .x_labels(epochs.len().clamp(2, 20))
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_labels(12)
            .y_label_formatter(&|v| format!("{v:.4}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let series = [
            ("train", train, PALETTE_TRAIN),
            ("validation", val, PALETTE_VAL),
        ];
        for (name, ys, color) in series {
            let points: Vec<(f64, f64)> = epochs
                .iter()
                .zip(ys)
                .map(|(&e, &y)| (e as f64, y))
                .collect();
            chart
                .draw_series(LineSeries::new(points.clone(), color.stroke_width(3)))?
                .label(name)
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 24, y)], color.stroke_width(3))
                });
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        if let Some(b) = baseline {
            let style = BLACK.stroke_width(2);
            chart
                .draw_series(DashedLineSeries::new(
                    vec![(x0, b.value), (x1, b.value)],
                    10,
                    6,
                    style,
                ))?
                .label(b.label.clone())
                .legend(move |(x, y)| {
                    PathElement::new(vec![(x, y), (x + 10, y), (x + 14, y), (x + 24, y)], style)
                });
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .label_font((FONT_FAMILY, 16))
            .background_style(WHITE.mix(0.9))
            .border_style(BLACK.mix(0.4))
            .draw()?;
        Ok(())
    })
}

/// The y range of the plot: the positive finite losses and the baseline, with
/// a margin below and above (the axis is logarithmic).
fn loss_range(train: &[f64], val: &[f64], baseline: Option<&Baseline>) -> (f64, f64) {
    let mut values: Vec<f64> = train
        .iter()
        .chain(val)
        .copied()
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if let Some(b) = baseline {
        values.push(b.value);
    }
    let low = values.iter().copied().fold(f64::INFINITY, f64::min) * 0.8;
    let high = values.iter().copied().fold(0.0, f64::max) * 1.25;
    (low, high)
}

/// The x range: first to last epoch, widened by half an epoch on each side
/// when there is only one.
fn epoch_range(epochs: &[usize]) -> (f64, f64) {
    let last = *epochs.last().unwrap_or(&1) as f64;
    let first = *epochs.first().unwrap_or(&1) as f64;
    if last > first {
        (first, last)
    } else {
        (first - 0.5, last + 0.5)
    }
}

const PALETTE_TRAIN: RGBColor = super::PALETTE[0];
const PALETTE_VAL: RGBColor = super::PALETTE[1];
