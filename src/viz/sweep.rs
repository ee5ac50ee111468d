//! A sweep figure: several quantities against one setting (docs/images/beta_sweep.png),
//! one small panel each, side by side, the setting on a log-2 axis.

use std::path::Path;

use plotters::prelude::*;

use super::{write_png, FONT_FAMILY, PALETTE};
use crate::error::Result;

/// One panel: a quantity's name and its value at each setting.
#[derive(Debug, Clone, PartialEq)]
pub struct Panel {
    pub name: String,
    /// One value per setting, in the settings' order.
    pub values: Vec<f64>,
}

/// Draws each of `panels` against `settings` (positive, increasing), in a
/// row, under `title`; `setting_name` labels every x axis.
pub fn draw_sweep(
    path: &Path,
    title: &str,
    setting_name: &str,
    settings: &[f64],
    panels: &[Panel],
) -> Result<()> {
    let low = settings.iter().copied().fold(f64::INFINITY, f64::min);
    let high = settings.iter().copied().fold(0.0f64, f64::max);
    let (x0, x1) = (low / 1.4, high * 1.4);
    let width = 300 * panels.len().max(1) as u32;
    write_png(path, (width, 330), |root| {
        root.fill(&WHITE)?;
        let root = root.titled(title, (FONT_FAMILY, 22))?;
        let areas = root.split_evenly((1, panels.len().max(1)));
        for (panel, area) in panels.iter().zip(&areas) {
            let (y0, y1) = value_range(&panel.values);
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.name, (FONT_FAMILY, 17))
                .margin(10)
                .x_label_area_size(40)
                .y_label_area_size(50)
                .build_cartesian_2d((x0..x1).log_scale(), y0..y1)?;
            chart
                .configure_mesh()
                .x_desc(setting_name)
                .label_style((FONT_FAMILY, 13))
                .axis_desc_style((FONT_FAMILY, 15))
                .x_labels(settings.len())
                .x_label_formatter(&|v| format!("{v}"))
                .y_labels(6)
                .y_label_formatter(&|v| format!("{v:.1}"))
                .light_line_style(WHITE.mix(0.0))
                .draw()?;
            let points: Vec<(f64, f64)> = settings
                .iter()
                .copied()
                .zip(panel.values.iter().copied())
                .collect();
            let color = PALETTE[0];
            chart.draw_series(LineSeries::new(points.clone(), color.stroke_width(2)))?;
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        Ok(())
    })
}

/// The y range of a panel: its finite values with a tenth of their spread
/// (or 1) as a margin on each side.
fn value_range(values: &[f64]) -> (f64, f64) {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    let (low, high) = finite.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), v| {
        (l.min(v), h.max(v))
    });
    if low > high {
        return (0.0, 1.0);
    }
    let margin = if high > low { (high - low) / 10.0 } else { 1.0 };
    (low - margin, high + margin)
}
