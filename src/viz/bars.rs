//! A bar chart: one bar per named value, some highlighted (kl_per_dimension.png).

use std::path::Path;

use plotters::prelude::*;

use super::{write_png, FONT_FAMILY, PALETTE};
use crate::error::Result;

/// One bar: its label under the axis, its height, and whether it is drawn in
/// colour (the others grey).
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    pub label: String,
    pub value: f64,
    pub highlighted: bool,
}

/// Draws `bars` left to right as given, with `legend[0]` naming the
/// highlighted bars and `legend[1]` the others.
pub fn draw_bars(
    path: &Path,
    title: &str,
    y_name: &str,
    bars: &[Bar],
    legend: &[String; 2],
) -> Result<()> {
    let top = bars.iter().map(|b| b.value).fold(0.0f64, f64::max);
    let top = if top.is_finite() && top > 0.0 {
        top * 1.15
    } else {
        1.0
    };
    let n = bars.len().max(1);
    write_png(path, (900, 520), |root| {
        root.fill(&WHITE)?;
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT_FAMILY, 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(70)
            // A segmented 0..k has k + 1 segments, one per bar.
            .build_cartesian_2d((0..(n - 1).max(1)).into_segmented(), 0.0..top)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_desc("code dimension, sorted")
            .y_desc(y_name)
            .label_style((FONT_FAMILY, 14))
            .axis_desc_style((FONT_FAMILY, 17))
            .x_labels(n.min(40))
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => {
                    bars.get(*i).map_or(String::new(), |b| b.label.clone())
                }
                _ => String::new(),
            })
            .y_labels(8)
            .y_label_formatter(&|v| format!("{v:.2}"))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        let (on, off) = (PALETTE[0], RGBColor(170, 170, 170));
        for (highlighted, name, color) in [(true, &legend[0], on), (false, &legend[1], off)] {
            let rects = bars
                .iter()
                .enumerate()
                .filter(|(_, b)| b.highlighted == highlighted)
                .map(|(i, b)| {
                    let corners = [
                        (SegmentValue::Exact(i), 0.0),
                        (SegmentValue::Exact(i + 1), b.value),
                    ];
                    let mut bar = Rectangle::new(corners, color.filled());
                    bar.set_margin(0, 0, 3, 3);
                    bar
                });
            chart
                .draw_series(rects)?
                .label(name.as_str())
                .legend(move |(x, y)| {
                    Rectangle::new([(x, y - 6), (x + 16, y + 6)], color.filled())
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
