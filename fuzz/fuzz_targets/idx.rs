//! The IDX reader (raw and gzip) on arbitrary bytes: a one-line error, never a
//! panic, and never an allocation the bytes cannot back.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let path = Path::new("fuzz-idx");
    if let Err(error) = data::idx::parse_images(bytes, path) {
        assert!(!error.to_string().contains('\n'), "{error}");
    }
    if let Err(error) = data::idx::parse_labels(bytes, path) {
        assert!(!error.to_string().contains('\n'), "{error}");
    }
});
