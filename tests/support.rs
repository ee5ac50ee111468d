//! Helpers shared by the integration tests (compiled into tests/all.rs).

use std::path::Path;

use mnist_autoencoder::data::idx::encode_idx;

/// A dataset folder of `train`/`test` tiny 4×4 images with the given labels.
pub fn write_dataset(
    dir: &Path,
    train: usize,
    test: usize,
    label: impl Fn(usize) -> u8,
    salt: usize,
) {
    std::fs::create_dir_all(dir).unwrap();
    for (split, n) in [("train", train), ("t10k", test)] {
        let pixels: Vec<u8> = (0..n * 16).map(|i| ((i * 37 + salt) % 256) as u8).collect();
        let labels: Vec<u8> = (0..n).map(&label).collect();
        std::fs::write(
            dir.join(format!("{split}-images-idx3-ubyte")),
            encode_idx(&[n, 4, 4], &pixels),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{split}-labels-idx1-ubyte")),
            encode_idx(&[n], &labels),
        )
        .unwrap();
    }
}

/// Tensor `name` of a PyTorch fixture: its shape and its f32 values.
pub fn fixture_values(file: &safetensors::SafeTensors, name: &str) -> (Vec<usize>, Vec<f32>) {
    let view = file
        .tensor(name)
        .unwrap_or_else(|_| panic!("fixture lacks {name}"));
    let data = view
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    (view.shape().to_vec(), data)
}
