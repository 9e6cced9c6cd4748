//! `infer --image` and uploads: an image file's bytes to an MNIST-style
//! 28x28 digit, or an error naming the input.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(digit) = data::decode_digit(bytes, Path::new("fuzz-image")) {
        assert_eq!(digit.len(), data::IMAGE_PIXELS);
    }
});
