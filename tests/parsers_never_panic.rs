//! Property tests: the IDX reader and the checkpoint loader, fed arbitrary
//! bytes, truncations and corruptions of valid files, return an error instead of
//! panicking, and never allocate more than the input can justify.
//!
//! This test binary installs a counting allocator that records the largest
//! single allocation; the properties run in one test so nothing else allocates
//! concurrently.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use mnist_autoencoder::checkpoint::{
    checkpoint_from_bytes, model_from_bytes, model_to_bytes, save_checkpoint, Extra,
};
use mnist_autoencoder::config::TrainConfig;
use mnist_autoencoder::data::idx::{encode_idx, parse_idx};
use mnist_autoencoder::model::{Architecture, Params};

use mnist_autoencoder::metrics::EpochRecord;
use mnist_autoencoder::train::TrainState;
use ndarray_rand::rand::rngs::StdRng;
use ndarray_rand::rand::SeedableRng;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

struct Counting;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Runs `f` and returns the largest single allocation it made.
fn largest_allocation(f: impl FnOnce()) -> usize {
    LARGEST.store(0, Ordering::SeqCst);
    f();
    LARGEST.load(Ordering::SeqCst)
}

/// What parsing `n` bytes may allocate at most: the payload a file of that size
/// can hold (×1032 if it is gzip), plus a fixed 1 MiB for decoders and messages.
fn idx_budget(bytes: &[u8]) -> usize {
    let ratio = if bytes.starts_with(&[0x1f, 0x8b]) {
        1032
    } else {
        1
    };
    bytes.len() * ratio + (1 << 20)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

fn check_idx(bytes: &[u8]) -> Result<(), TestCaseError> {
    let used = largest_allocation(|| {
        let _ = parse_idx(bytes, Path::new("fuzz.idx"));
    });
    prop_assert!(
        used <= idx_budget(bytes),
        "{used} bytes allocated for a {}-byte input",
        bytes.len()
    );
    Ok(())
}

fn valid_model_file() -> Vec<u8> {
    let arch = Architecture::plain(12, vec![7], 3);
    model_to_bytes(&Params::init(&arch, &mut StdRng::seed_from_u64(0)), &arch)
}

fn valid_checkpoint() -> Vec<u8> {
    let arch = Architecture::plain(12, vec![7], 3);
    let mut state = TrainState::new(arch, 1e-3, 0);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("checkpoint.safetensors");
    state.history = vec![EpochRecord {
        epoch: 1,
        train_loss: 0.1,
        val_loss: 0.1,
        seconds: 1.0,
        images_per_second: 1.0,
        elbo_parts: None,
    }];
    state.progress.epochs_done = 1;
    save_checkpoint(
        &path,
        &state,
        &TrainConfig::default(),
        (3, 4),
        &Extra::default(),
    )
    .unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn parsers_never_panic_nor_overallocate() {
    let mut runner = TestRunner::new(Config {
        cases: 400,
        ..Config::default()
    });
    let raw = encode_idx(
        &[20, 5, 4],
        &(0..400).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    );
    let gz = gzip(&raw);

    // Arbitrary bytes, with and without an IDX or gzip start.
    runner
        .run(
            &(prop::collection::vec(any::<u8>(), 0..600), 0u8..3),
            |(mut bytes, start)| {
                match start {
                    1 => bytes.splice(0..0, [0, 0, 8, 3]).for_each(drop),
                    2 => bytes.splice(0..0, [0x1f, 0x8b, 8, 0]).for_each(drop),
                    _ => {}
                }
                check_idx(&bytes)
            },
        )
        .unwrap();

    // Every truncation of a valid raw and gzip file.
    for file in [&raw, &gz] {
        for cut in 0..file.len() {
            let bytes = &file[..cut];
            check_idx(bytes).unwrap();
            assert!(
                parse_idx(bytes, Path::new("cut")).is_err(),
                "a truncated file parsed"
            );
        }
    }

    // Headers with arbitrary dimensions over a small payload.
    runner
        .run(
            &(
                prop::collection::vec(any::<u32>(), 1..5),
                prop::collection::vec(any::<u8>(), 0..100),
                any::<bool>(),
            ),
            |(dims, payload, zip)| {
                let mut bytes = vec![0, 0, 8, dims.len() as u8];
                for d in &dims {
                    bytes.extend_from_slice(&d.to_be_bytes());
                }
                bytes.extend_from_slice(&payload);
                let bytes = if zip { gzip(&bytes) } else { bytes };
                check_idx(&bytes)
            },
        )
        .unwrap();

    // Byte flips and truncations of a valid model file and checkpoint, read as both.
    let checkpoint = valid_checkpoint();
    assert!(checkpoint_from_bytes(&checkpoint, Path::new("c")).is_ok());
    for file in [valid_model_file(), checkpoint] {
        runner
            .run(
                &(0..file.len(), any::<u8>(), 0..=file.len()),
                |(at, value, cut)| {
                    let mut bytes = file.clone();
                    bytes[at] = value;
                    let bytes = &bytes[..cut];
                    let used = largest_allocation(|| {
                        let _ = model_from_bytes(bytes, Path::new("m"));
                        let _ = checkpoint_from_bytes(bytes, Path::new("c"));
                    });
                    prop_assert!(
                        used <= bytes.len() + (1 << 20),
                        "{used} bytes allocated for a {}-byte checkpoint",
                        bytes.len()
                    );
                    Ok(())
                },
            )
            .unwrap();
    }
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..2000), |bytes| {
            let _ = checkpoint_from_bytes(&bytes, Path::new("c"));
            Ok(())
        })
        .unwrap();
}
