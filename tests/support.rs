//! Helpers shared by the integration tests (compiled into tests/all.rs).

use std::path::{Path, PathBuf};

use mnist_autoencoder::data::idx::{encode_idx, read_idx_prefix};

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

/// A folder of the bundled MNIST's first `train` training and `test` test
/// digits (made once, under Cargo's temporary folder for tests): the same
/// digits as `--limit train`, but a run's test-set passes (test MSE, figures)
/// cost `test` images instead of 10,000.
pub fn mnist_subset(train: usize, test: usize) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("mnist-{train}-{test}"));
    if dir.join("done").exists() {
        return dir;
    }
    // Each test process writes its own copy, then renames it into place.
    let scratch = dir.with_extension(format!(
        "{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    std::fs::create_dir_all(&scratch).unwrap();
    for (split, n) in [("train", train), ("t10k", test)] {
        for kind in ["images-idx3", "labels-idx1"] {
            let name = format!("{split}-{kind}-ubyte");
            let source = Path::new("data/mnist").join(format!("{name}.gz"));
            let idx = read_idx_prefix(&source, Some(n)).unwrap();
            std::fs::write(scratch.join(&name), encode_idx(&idx.dims, &idx.data)).unwrap();
        }
    }
    std::fs::write(scratch.join("done"), "").unwrap();
    if std::fs::rename(&scratch, &dir).is_err() {
        std::fs::remove_dir_all(&scratch).unwrap(); // another test was first
    }
    dir
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
