//! What the convolutional model's layers see: `filters.png`, the first
//! layer's learned 3×3 kernels, and `feature_maps.png`, one test digit's maps
//! at every layer whose output is an image. Drawn for models whose first
//! layer is a convolution ([`crate::model::Architecture::draws_filters`]).

use ndarray::{Array2, ArrayView1};

use super::draw::Run;
use crate::error::Result;
use crate::model::{feature_maps, first_filters};
use crate::viz::digits::{draw_digit_sheet, ImageRow};

/// Screen side of one drawn filter or map, in image pixels (×2 on screen).
const DRAWN_SIDE: usize = 24;
/// Filters per row of filters.png.
const FILTERS_PER_ROW: usize = 8;
/// Maps per row of feature_maps.png.
const MAPS_PER_ROW: usize = 16;

/// `side`×`side` values (row-major) resampled to `out`×`out` by nearest neighbour.
fn enlarge(values: ArrayView1<f32>, side: usize, out: usize) -> Vec<f32> {
    let source = |i: usize| i * side / out;
    let pixels = (0..out * out).map(|k| values[source(k / out) * side + source(k % out)]);
    pixels.collect()
}

/// `filters.png`: every first-layer kernel, scaled on its own so that 0 is mid
/// grey, positive weights dark and negative light (the sheet draws 1 as ink).
pub fn draw_filters(run: &Run) -> Result<()> {
    let Some((filters, kernel)) = first_filters(run.params, run.arch) else {
        return Ok(());
    };
    let images: Vec<Vec<f32>> = filters
        .rows()
        .into_iter()
        .map(|w| {
            let largest = w.fold(0.0f32, |m, v| m.max(v.abs())).max(f32::MIN_POSITIVE);
            let shade = w.mapv(|v| 0.5 + 0.5 * v / largest);
            enlarge(shade.view(), kernel, DRAWN_SIDE)
        })
        .collect();
    let rows: Vec<ImageRow> = images
        .chunks(FILTERS_PER_ROW)
        .enumerate()
        .map(|(r, chunk)| ImageRow {
            label: format!(
                "filters {}–{}",
                r * FILTERS_PER_ROW + 1,
                r * FILTERS_PER_ROW + chunk.len()
            ),
            images: chunk.to_vec(),
        })
        .collect();
    let title = format!(
        "First layer: {} learned {kernel}×{kernel} filters (dark +, light −, grey 0)",
        images.len()
    );
    let path = run.out_dir.join("filters.png");
    draw_digit_sheet(&path, &title, &rows, (DRAWN_SIDE, DRAWN_SIDE))
}

/// `feature_maps.png`: the first shown test digit, then each image-shaped
/// layer output (after its activation), every map scaled by its layer's
/// largest value and enlarged to the image's size.
pub fn draw_feature_maps(run: &Run) -> Result<()> {
    let (rows, cols) = run.inputs.shape;
    let Some(digit) = run.inputs.shown.rows().into_iter().next() else {
        return Ok(());
    };
    let layers = feature_maps(run.params, run.arch, digit);
    if layers.is_empty() || rows != cols {
        return Ok(());
    }
    let mut sheet = vec![ImageRow {
        label: "input".into(),
        images: vec![digit.to_vec()],
    }];
    for layer in &layers {
        sheet.push(ImageRow {
            label: format!(
                "{}: {} map{} of {}×{}",
                layer.layer,
                layer.maps.nrows(),
                if layer.maps.nrows() == 1 { "" } else { "s" },
                layer.side,
                layer.side
            ),
            images: Vec::new(),
        });
        sheet.extend(map_rows(&layer.maps, layer.side, rows));
    }
    let title = format!(
        "One test digit through the layers of {}",
        run.arch.describe()
    );
    let path = run.out_dir.join("feature_maps.png");
    draw_digit_sheet(&path, &title, &sheet, run.inputs.shape)
}

/// `maps` (C, S·S) as rows of enlarged images, scaled by their largest value.
fn map_rows(maps: &Array2<f32>, side: usize, out: usize) -> Vec<ImageRow> {
    let largest = maps
        .fold(0.0f32, |m, v| m.max(v.abs()))
        .max(f32::MIN_POSITIVE);
    let images: Vec<Vec<f32>> = maps
        .rows()
        .into_iter()
        .map(|map| enlarge(map.mapv(|v| v.abs() / largest).view(), side, out))
        .collect();
    let rows = images.chunks(MAPS_PER_ROW).map(|chunk| ImageRow {
        label: String::new(),
        images: chunk.to_vec(),
    });
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn enlarging_repeats_each_value_as_a_block() {
        let values = array![1.0f32, 2.0, 3.0, 4.0];
        let out = enlarge(values.view(), 2, 4);
        assert_eq!(
            out,
            [1.0, 1.0, 2.0, 2.0, 1.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 4.0, 3.0, 3.0, 4.0, 4.0]
        );
    }
}
