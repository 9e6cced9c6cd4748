//! `infer --image` and uploads: an image file's bytes to an MNIST-style
//! 28x28 digit, or a one-line error naming the input.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    match data::decode_digit(bytes, Path::new("fuzz-image")) {
        Ok(digit) => assert_eq!(digit.len(), data::IMAGE_PIXELS),
        Err(error) => assert!(!error.to_string().contains('\n'), "{error}"),
    }
});
