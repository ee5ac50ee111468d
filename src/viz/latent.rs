//! 2-D maps of latent codes, coloured by class: `latent_pca.png`,
//! `latent_tsne.png`, and their animations over epochs.

use std::path::Path;

use ndarray::{Array2, ArrayView2};
use plotters::coord::Shift;
use plotters::prelude::*;

use super::{class_color, write_gif, write_png, FONT_FAMILY};
use crate::error::Result;

/// Axis limits ((x min, x max), (y min, y max)).
pub type Limits = ((f32, f32), (f32, f32));

/// Limits that contain every point of every map, with a 5% margin, so that
/// all frames of an animation share the same axes.
pub fn limits_of(maps: &[Array2<f32>]) -> Limits {
    let mut lo = [f32::INFINITY; 2];
    let mut hi = [f32::NEG_INFINITY; 2];
    for map in maps {
        for p in map.rows() {
            for a in 0..2 {
                if p[a].is_finite() {
                    lo[a] = lo[a].min(p[a]);
                    hi[a] = hi[a].max(p[a]);
                }
            }
        }
    }
    // Every range is finite with a span of at least 2e-3: no point, NaN
    // points (t-SNE of one to three codes) or identical points give
    // (−1, 1) or a small box around the point, never a range plotters
    // cannot divide into ticks.
    let range = |a: usize| {
        if lo[a] > hi[a] {
            return (-1.0, 1.0);
        }
        let pad = ((hi[a] - lo[a]) * 0.05).max(1e-3);
        (lo[a] - pad, hi[a] + pad)
    };
    (range(0), range(1))
}

const SIZE: (u32, u32) = (820, 700);

/// Draws one scatter of `points` (N, 2) with `labels` (N) into `area`.
fn draw_map<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    axis_names: (&str, &str),
    points: ArrayView2<f32>,
    labels: &[u8],
    class_names: &[String],
    limits: Limits,
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT_FAMILY, 22))
        .margin(14)
        .x_label_area_size(40)
        .y_label_area_size(56)
        .build_cartesian_2d(limits.0 .0..limits.0 .1, limits.1 .0..limits.1 .1)?;
    chart
        .configure_mesh()
        .x_desc(axis_names.0)
        .y_desc(axis_names.1)
        .label_style((FONT_FAMILY, 13))
        .axis_desc_style((FONT_FAMILY, 15))
        .light_line_style(WHITE.mix(0.0))
        .draw()?;
    let classes = labels
        .iter()
        .map(|&l| l as usize + 1)
        .max()
        .unwrap_or(0)
        .max(class_names.len());
    for class in 0..classes {
        let color = class_color(class);
        if !labels.iter().any(|&l| l as usize == class) {
            continue;
        }
        let members = points
            .rows()
            .into_iter()
            .zip(labels)
            .filter(|(_, &l)| l as usize == class)
            .map(|(p, _)| (p[0], p[1]));
        let name = class_names
            .get(class)
            .cloned()
            .unwrap_or_else(|| class.to_string());
        chart
            .draw_series(members.map(|p| Circle::new(p, 3, color.mix(0.75).filled())))?
            .label(name)
            .legend(move |(x, y)| Circle::new((x + 8, y), 5, color.filled()));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .label_font((FONT_FAMILY, 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()?;
    Ok(())
}

/// A coloured 2-D map of points, written as a PNG.
pub fn draw_latent_map(
    path: &Path,
    title: &str,
    axis_names: (&str, &str),
    points: ArrayView2<f32>,
    labels: &[u8],
    class_names: &[String],
) -> Result<()> {
    let limits = limits_of(&[points.to_owned()]);
    write_png(path, SIZE, |root| {
        draw_map(root, title, axis_names, points, labels, class_names, limits)?;
        Ok(())
    })
}

/// An animated GIF of maps `(caption, points)` sharing one set of axis limits.
pub fn draw_latent_animation(
    path: &Path,
    axis_names: (&str, &str),
    frames: &[(String, Array2<f32>)],
    labels: &[u8],
    class_names: &[String],
    frame_delay_ms: u32,
) -> Result<()> {
    let maps: Vec<Array2<f32>> = frames.iter().map(|f| f.1.clone()).collect();
    let limits = limits_of(&maps);
    write_gif(path, SIZE, frame_delay_ms, frames.len(), |i, root| {
        let (caption, points) = &frames[i];
        draw_map(
            root,
            caption,
            axis_names,
            points.view(),
            labels,
            class_names,
            limits,
        )?;
        Ok(())
    })
}
