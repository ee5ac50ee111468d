//! Arbitrary bytes into the IDX reader (raw or gzip): an error is fine, a panic,
//! a hang or a huge allocation is not. `cargo fuzz run idx -- -rss_limit_mb=512`
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|bytes: &[u8]| {
    let _ = mnist_autoencoder::data::idx::parse_idx(bytes, Path::new("fuzz.idx"));
});
