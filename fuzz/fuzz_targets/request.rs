//! `POST /api/predict` of `infer serve`: a Content-Type line, then the body,
//! through the same parsing the server does. Bad requests are errors with a
//! 4xx status, never a panic.
#![no_main]

use std::sync::OnceLock;

use infer::request::{BodyKind, first_file, parse_image, parse_pixels};
use libfuzzer_sys::fuzz_target;

fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    })
}

fuzz_target!(|bytes: &[u8]| {
    let split = bytes
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len());
    let Ok(content_type) = std::str::from_utf8(&bytes[..split]) else {
        return;
    };
    let body = bytes.get(split + 1..).unwrap_or_default();
    let result = match BodyKind::of(Some(content_type)) {
        Ok(BodyKind::Pixels) => parse_pixels(body).map(drop),
        Ok(BodyKind::Image) => parse_image(body, "fuzz").map(drop),
        Ok(BodyKind::Multipart) => runtime()
            .block_on(first_file(content_type, body.to_vec().into()))
            .and_then(|(file, name)| parse_image(&file, &name).map(drop)),
        Err(error) => Err(error),
    };
    if let Err(error) = result {
        assert!(error.status().is_client_error(), "{error:?}");
        assert!(!error.message().contains('\n'), "{error:?}");
    }
});
