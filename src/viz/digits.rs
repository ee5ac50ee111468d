//! Grids of digit images with labelled rows: `reconstructions.png`,
//! `samples.png`, `interpolation.png`, and the animations
//! `reconstructions.gif` and `generated.gif` (one sheet per frame).
//!
//! Images are rows of pixel intensities in [0, 1], drawn dark on white.

use std::path::Path;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::{write_gif, write_png, FONT_FAMILY};
use crate::error::Result;

/// One labelled row of images. A row with no images is a section heading.
#[derive(Debug, Clone)]
pub struct ImageRow {
    pub label: String,
    /// Each image: height × width intensities in [0, 1], row-major.
    pub images: Vec<Vec<f32>>,
}

/// Image height and width in pixels (28 × 28 for MNIST).
pub type ImageShape = (usize, usize);

/// Screen pixels per image pixel.
const SCALE: u32 = 2;
const GAP: u32 = 4;
const LABEL_WIDTH: u32 = 200;
const TITLE_HEIGHT: u32 = 44;
const HEADING_HEIGHT: u32 = 30;
const MARGIN: u32 = 12;

/// Width and height of a sheet of `rows`.
fn sheet_size(rows: &[ImageRow], shape: ImageShape) -> (u32, u32) {
    let (h, w) = (shape.0 as u32 * SCALE, shape.1 as u32 * SCALE);
    let columns = rows.iter().map(|r| r.images.len()).max().unwrap_or(0) as u32;
    let height: u32 = rows
        .iter()
        .map(|r| {
            if r.images.is_empty() {
                HEADING_HEIGHT
            } else {
                h + GAP
            }
        })
        .sum();
    (
        2 * MARGIN + LABEL_WIDTH + columns * (w + GAP),
        TITLE_HEIGHT + height + 2 * MARGIN,
    )
}

/// Draws a title and the rows onto `area`.
fn draw_sheet<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    title: &str,
    rows: &[ImageRow],
    shape: ImageShape,
) -> std::result::Result<(), Box<dyn std::error::Error>>
where
    DB::ErrorType: 'static,
{
    area.fill(&WHITE)?;
    area.draw(&Text::new(
        title.to_string(),
        (MARGIN as i32, MARGIN as i32),
        (FONT_FAMILY, 22).into_font().color(&BLACK),
    ))?;
    let (h, w) = (shape.0 as u32 * SCALE, shape.1 as u32 * SCALE);
    let mut y = MARGIN + TITLE_HEIGHT;
    for row in rows {
        if row.images.is_empty() {
            area.draw(&Text::new(
                row.label.clone(),
                (MARGIN as i32, y as i32 + 6),
                (FONT_FAMILY, 18).into_font().color(&BLACK),
            ))?;
            y += HEADING_HEIGHT;
            continue;
        }
        area.draw(&Text::new(
            row.label.clone(),
            (MARGIN as i32, (y + h / 2) as i32 - 8),
            (FONT_FAMILY, 15).into_font().color(&RGBColor(60, 60, 60)),
        ))?;
        for (c, image) in row.images.iter().enumerate() {
            let x0 = MARGIN + LABEL_WIDTH + c as u32 * (w + GAP);
            draw_image(area, image, shape, (x0 as i32, y as i32))?;
        }
        y += h + GAP;
    }
    Ok(())
}

/// Draws one image at `origin`, each pixel as a SCALE × SCALE block, ink dark.
fn draw_image<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    image: &[f32],
    shape: ImageShape,
    origin: (i32, i32),
) -> std::result::Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    for (i, &v) in image.iter().enumerate() {
        let shade = 255 - (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        let color = RGBColor(shade, shade, shade);
        let (r, c) = ((i / shape.1) as i32, (i % shape.1) as i32);
        for dy in 0..SCALE as i32 {
            for dx in 0..SCALE as i32 {
                area.draw_pixel(
                    (
                        origin.0 + c * SCALE as i32 + dx,
                        origin.1 + r * SCALE as i32 + dy,
                    ),
                    &color,
                )?;
            }
        }
    }
    Ok(())
}

/// Writes one sheet of labelled image rows as a PNG.
pub fn draw_digit_sheet(
    path: &Path,
    title: &str,
    rows: &[ImageRow],
    shape: ImageShape,
) -> Result<()> {
    write_png(path, sheet_size(rows, shape), |root| {
        draw_sheet(root, title, rows, shape)?;
        Ok(())
    })
}

/// Writes an animated GIF, one sheet per frame: `(caption, rows)`. All frames
/// take the size of the first.
pub fn draw_digit_animation(
    path: &Path,
    frames: &[(String, Vec<ImageRow>)],
    shape: ImageShape,
    frame_delay_ms: u32,
) -> Result<()> {
    let size = frames
        .first()
        .map_or((100, 100), |f| sheet_size(&f.1, shape));
    write_gif(path, size, frame_delay_ms, frames.len(), |i, root| {
        let (caption, rows) = &frames[i];
        draw_sheet(root, caption, rows, shape)?;
        Ok(())
    })
}
