//! Pictures. Every function here takes plain data (numbers, images as `[0, 1]`
//! pixel rows, 2-D points, labels) and a path, and writes one file; none of
//! them knows about the model. The figures module decides what to draw.
//!
//! Text is drawn with the vendored DejaVu Sans (no system fonts needed), and
//! every file is written through the one atomic writer, [`crate::files`].

pub mod bars;
pub mod curves;
pub mod digits;
pub mod histograms;
pub mod latent;
pub mod loss;
pub mod marginals;
pub mod report;
pub mod sweep;

use std::path::Path;
use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::{BitMapBackend, DrawingArea, IntoDrawingArea};
use plotters::style::{FontStyle, RGBColor};

use crate::error::Result;
use crate::files::write_atomic_by_name;

/// DejaVu Sans, Bitstream Vera license (see assets/fonts/DejaVu-LICENSE.txt).
static FONT: &[u8] = include_bytes!("../../assets/fonts/DejaVuSans.ttf");

/// The font family name every figure uses.
pub const FONT_FAMILY: &str = "sans-serif";

/// Registers the embedded font with plotters, once per process.
pub fn register_font() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        plotters::style::register_font(FONT_FAMILY, FontStyle::Normal, FONT)
            .unwrap_or_else(|_| panic!("the embedded DejaVu Sans is a valid TTF font"));
    });
}

/// Tableau's 10-colour categorical palette: one distinct colour per class.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of class `class`: the palette, then darker shades of it for
/// datasets with more than ten classes.
pub fn class_color(class: usize) -> RGBColor {
    let RGBColor(r, g, b) = PALETTE[class % PALETTE.len()];
    let shade = 0.6f32.powi((class / PALETTE.len()) as i32);
    let dim = |c: u8| (c as f32 * shade).round() as u8;
    RGBColor(dim(r), dim(g), dim(b))
}

/// Draws with `draw` into a temporary file, then renames it to `path` (see
/// [`crate::files`]).
fn write_figure(path: &Path, draw: impl FnOnce(&Path) -> Drawn) -> Result<()> {
    register_font();
    write_atomic_by_name(path, |tmp| draw(tmp).map_err(|e| e.to_string()))
}

/// What a drawing function returns: plotters' errors and I/O errors alike.
type Drawn = std::result::Result<(), Box<dyn std::error::Error>>;

/// Draws the legend of `chart`'s labelled series at `position`, in the style
/// of curves.rs and histograms.rs.
fn draw_legend<'a, X, Y>(
    chart: &mut plotters::chart::ChartContext<
        'a,
        BitMapBackend<'a>,
        plotters::coord::cartesian::Cartesian2d<X, Y>,
    >,
    position: plotters::chart::SeriesLabelPosition,
) -> Drawn
where
    X: plotters::coord::ranged1d::Ranged,
    Y: plotters::coord::ranged1d::Ranged,
{
    use plotters::style::{Color, BLACK, WHITE};
    chart
        .configure_series_labels()
        .position(position)
        .label_font((FONT_FAMILY, 15))
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK.mix(0.4))
        .draw()?;
    Ok(())
}

/// Draws a PNG of `size` (width, height) with `draw` on an RGB canvas in
/// memory, then encodes it with the png crate (adaptive filters, default
/// compression) into a temporary file renamed to `path`.
fn write_png(
    path: &Path,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<BitMapBackend<'_>, Shift>) -> Drawn,
) -> Result<()> {
    write_figure(path, |tmp| {
        let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
            draw(&root)?;
            root.present()?;
        }
        let file = std::io::BufWriter::new(std::fs::File::create(tmp)?);
        let mut encoder = png::Encoder::new(file, size.0, size.1);
        encoder.set_color(png::ColorType::Rgb);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
        encoder.write_header()?.write_image_data(&pixels)?;
        Ok(())
    })
}

/// Draws an animated GIF of `size` with `frames` frames, frame i drawn by
/// `draw(i, canvas)` on an RGB canvas in memory (kept from frame to frame),
/// then quantised to 256 colours (NeuQuant at speed 10) and added to the file,
/// shown for `frame_delay_ms` each, looping for ever.
fn write_gif(
    path: &Path,
    size: (u32, u32),
    frame_delay_ms: u32,
    frames: usize,
    mut draw: impl FnMut(usize, &DrawingArea<BitMapBackend<'_>, Shift>) -> Drawn,
) -> Result<()> {
    write_figure(path, |tmp| {
        let side = |pixels: u32| {
            u16::try_from(pixels)
                .map_err(|_| format!("a GIF side is at most 65,535 pixels, not {pixels}"))
        };
        let (width, height) = (side(size.0)?, side(size.1)?);
        let file = std::io::BufWriter::new(std::fs::File::create(tmp)?);
        let mut encoder = gif::Encoder::new(file, width, height, &[])?;
        encoder.set_repeat(gif::Repeat::Infinite)?;
        let mut pixels = vec![0u8; size.0 as usize * size.1 as usize * 3];
        for i in 0..frames {
            {
                let root = BitMapBackend::with_buffer(&mut pixels, size).into_drawing_area();
                draw(i, &root)?;
                root.present()?;
            }
            let mut frame = gif::Frame::from_rgb_speed(width, height, &pixels, 10);
            frame.delay = u16::try_from(frame_delay_ms.div_ceil(10)).unwrap_or(u16::MAX); // centiseconds
            encoder.write_frame(&frame)?;
        }
        Ok(())
    })
}
