//! Pictures. Every function here takes plain data (numbers, images as `[0, 1]`
//! pixel rows, 2-D points, labels) and a path, and writes one file; none of
//! them knows about the model. `crate::figures` decides what to draw.
//!
//! Text is drawn with the vendored DejaVu Sans (no system fonts needed), and
//! every file is drawn to a temporary name and renamed into place.

pub mod digits;
pub mod latent;
pub mod loss;
pub mod report;

use std::path::{Path, PathBuf};
use std::sync::Once;

use plotters::style::{FontStyle, RGBColor};

use crate::error::{Error, Result};

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

/// Where a figure is drawn before it is renamed to `path`: same folder, same
/// extension (plotters picks the encoder from it), e.g. `losses.tmp.png`.
fn temp_path(path: &Path) -> PathBuf {
    let stem = path
        .file_stem()
        .and_then(|s| s.to_str())
        .unwrap_or("figure");
    let ext = path.extension().and_then(|s| s.to_str()).unwrap_or("png");
    path.with_file_name(format!("{stem}.tmp.{ext}"))
}

/// Draws with `draw` into a temporary file, then renames it to `path`.
fn write_figure(
    path: &Path,
    draw: impl FnOnce(&Path) -> std::result::Result<(), Box<dyn std::error::Error>>,
) -> Result<()> {
    register_font();
    let tmp = temp_path(path);
    if let Err(e) = draw(&tmp) {
        let _ = std::fs::remove_file(&tmp);
        return Err(Error::figure(path, e));
    }
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}
