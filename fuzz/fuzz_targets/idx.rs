//! The IDX reader (raw and gzip) on arbitrary bytes: an error, never a panic,
//! and never an allocation the bytes cannot back.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let path = Path::new("fuzz-idx");
    let _ = data::idx::parse_images(bytes, path);
    let _ = data::idx::parse_labels(bytes, path);
});
