//! Several curves against one x axis on a logarithmic y axis, e.g. test MSE
//! against noise level, one curve per model (docs/images/denoising_curve.png).

use std::path::Path;

use plotters::prelude::*;

use super::{class_color, write_png, FONT_FAMILY};
use crate::error::Result;

/// One curve: a value for each x of the figure.
pub struct Curve {
    pub name: String,
    /// (X) one value per x; those ≤ 0 are not drawn (the y axis is logarithmic).
    pub values: Vec<f64>,
    /// Drawn dashed and black, as a reference (e.g. doing nothing).
    pub reference: bool,
}

/// Draws every curve against `xs`, with a legend of their names; `axes` are
/// the x and y axis descriptions.
pub fn draw_curves(
    path: &Path,
    title: &str,
    axes: (&str, &str),
    xs: &[f64],
    curves: &[Curve],
) -> Result<()> {
    for curve in curves {
        let name = &curve.name;
        assert_eq!(curve.values.len(), xs.len(), "{name}: one value per x");
    }
    write_png(path, (900, 600), |root| {
        root.fill(&WHITE)?;
        let (low, high) = positive_range(curves.iter().flat_map(|c| &c.values).copied());
        let x0 = xs.iter().copied().fold(0.0, f64::min);
        let x1 = xs.iter().copied().fold(x0 + 1e-9, f64::max);
        let mut chart = ChartBuilder::on(root)
            .caption(title, (FONT_FAMILY, 22))
            .margin(16)
            .x_label_area_size(44)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, (low..high).log_scale())?;
        chart
            .configure_mesh()
            .x_desc(axes.0)
            .y_desc(axes.1)
            .label_style((FONT_FAMILY, 15))
            .axis_desc_style((FONT_FAMILY, 17))
            .x_labels(xs.len().clamp(2, 12))
            .x_label_formatter(&|v| format!("{v:.1}"))
            .y_labels(10)
            .y_label_formatter(&|v| two_significant_digits(*v))
            .light_line_style(WHITE.mix(0.0))
            .draw()?;
        for (curve, color) in curves.iter().zip(curve_colors(curves)) {
            let points: Vec<(f64, f64)> = (xs.iter().copied().zip(curve.values.clone()))
                .filter(|(_, y)| *y > 0.0)
                .collect();
            let style = color.stroke_width(3);
            let drawn = if curve.reference {
                chart.draw_series(DashedLineSeries::new(points.clone(), 10, 6, style))?
            } else {
                chart.draw_series(LineSeries::new(points.clone(), style))?
            };
            drawn
                .label(curve.name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 24, y)], style));
            chart.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
        }
        super::draw_legend(&mut chart, SeriesLabelPosition::UpperLeft)
    })
}

/// Black for the reference curves, the palette in order for the others.
fn curve_colors(curves: &[Curve]) -> Vec<RGBColor> {
    let mut next = 0;
    let mut colors = Vec::new();
    for curve in curves {
        colors.push(if curve.reference {
            BLACK
        } else {
            class_color(next)
        });
        next += usize::from(!curve.reference);
    }
    colors
}

/// `v` with two significant digits and no exponent: 0.0050, 0.010, 0.20.
pub fn two_significant_digits(v: f64) -> String {
    let decimals = if v > 0.0 {
        (1.0 - v.log10().floor()).max(0.0) as usize
    } else {
        1
    };
    format!("{v:.decimals$}")
}

/// The range of the positive finite values, widened by a quarter of a decade
/// on each side for a logarithmic axis; (0.1, 1) if there are none.
pub fn positive_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (low, high) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, 0.0f64), |(l, h), v| (l.min(v), h.max(v)));
    if low > high {
        return (0.1, 1.0);
    }
    let pad = 10f64.powf(0.25);
    (low / pad, high * pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_keep_two_significant_digits_and_ranges_skip_non_positive_values() {
        assert_eq!(two_significant_digits(0.005), "0.0050");
        assert_eq!(two_significant_digits(0.1), "0.10");
        assert_eq!(two_significant_digits(12.0), "12");
        let (low, high) = positive_range([0.0, 0.01, 0.1, f64::NAN].into_iter());
        assert!((low * 10f64.powf(0.25) - 0.01).abs() < 1e-12, "{low}");
        assert!((high / 10f64.powf(0.25) - 0.1).abs() < 1e-12, "{high}");
        assert_eq!(positive_range([0.0, -1.0].into_iter()), (0.1, 1.0));
    }
}
