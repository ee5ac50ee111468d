//! Data augmentation: each training image moved at random by a pixel or so,
//! so that a classifier learns that a digit one pixel off is the same digit.

use ndarray::ArrayViewMut2;
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::Rng;

/// Moves every image by its own random offset of −max_shift..=max_shift
/// pixels down and right, filling the uncovered border with 0 (background):
/// the judge learns that a digit one pixel off is the same digit.
///
/// images: (B, rows·cols), one image per row; scratch: rows·cols values.
pub fn shift_images(
    mut images: ArrayViewMut2<f32>,
    rows: usize,
    cols: usize,
    max_shift: usize,
    rng: &mut StdRng,
    scratch: &mut [f32],
) {
    assert_eq!(
        images.ncols(),
        rows * cols,
        "shift_images: images are not rows × cols"
    );
    let max = max_shift as i32;
    let (rows, cols) = (rows as isize, cols as isize);
    for mut image in images.rows_mut() {
        let down = rng.random_range(-max..=max) as isize;
        let right = rng.random_range(-max..=max) as isize;
        scratch.copy_from_slice(image.as_slice().expect("rows are contiguous"));
        for (i, pixel) in image.iter_mut().enumerate() {
            let from_r = i as isize / cols - down;
            let from_c = i as isize % cols - right;
            let inside = (0..rows).contains(&from_r) && (0..cols).contains(&from_c);
            *pixel = if inside {
                scratch[(from_r * cols + from_c) as usize]
            } else {
                0.0
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use ndarray_rand::rand::SeedableRng;

    /// Each image moves by one offset in −1..=1 along each axis, without
    /// losing or duplicating pixels away from the border, and the offsets vary.
    #[test]
    fn shifts_move_each_image_by_at_most_one_pixel() {
        let mut images = Array2::<f32>::zeros((200, 25));
        images.column_mut(2 * 5 + 2).fill(1.0); // a dot in the middle of a 5×5 image
        let mut rng = StdRng::seed_from_u64(3);
        shift_images(images.view_mut(), 5, 5, 1, &mut rng, &mut [0.0; 25]);
        let mut seen = std::collections::HashSet::new();
        for image in images.rows() {
            let lit: Vec<usize> = (0..25).filter(|&i| image[i] == 1.0).collect();
            assert_eq!((lit.len(), image.sum()), (1, 1.0), "{image}");
            let (r, c) = (lit[0] / 5, lit[0] % 5);
            assert!(
                (1..=3).contains(&r) && (1..=3).contains(&c),
                "moved to ({r}, {c})"
            );
            seen.insert((r, c));
        }
        assert_eq!(seen.len(), 9, "all nine offsets occur");
    }
}
