//! Arbitrary bytes into the model and checkpoint loaders: an error is fine, a
//! panic or a huge allocation is not. `cargo fuzz run checkpoint`
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|bytes: &[u8]| {
    let _ = mnist_autoencoder::checkpoint::model_from_bytes(bytes, Path::new("fuzz.safetensors"));
    let _ = mnist_autoencoder::checkpoint::checkpoint_from_bytes(bytes, Path::new("fuzz.safetensors"));
});
