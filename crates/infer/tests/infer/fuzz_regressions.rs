//! Inputs the `request` fuzz target once crashed on (`fuzz/regressions/request/`),
//! run through the same checks: a predict request's body is parsed or refused
//! with a one-line 4xx error, never a panic.

use std::path::Path;

use infer::request::{BodyKind, first_file, parse_image, parse_pixels};

/// The fuzz target's input format: a Content-Type line, then the body.
fn check(input: &[u8], runtime: &tokio::runtime::Runtime) -> Result<(), String> {
    let split = input
        .iter()
        .position(|&b| b == b'\n')
        .unwrap_or(input.len());
    let Ok(content_type) = std::str::from_utf8(&input[..split]) else {
        return Ok(());
    };
    let body = input.get(split + 1..).unwrap_or_default();
    let result = match BodyKind::of(Some(content_type)) {
        Ok(BodyKind::Pixels) => parse_pixels(body).map(drop),
        Ok(BodyKind::Image) => parse_image(body, "fuzz").map(drop),
        Ok(BodyKind::Multipart) => runtime
            .block_on(first_file(content_type, body.to_vec().into()))
            .and_then(|(file, name)| parse_image(&file, &name).map(drop)),
        Err(error) => Err(error),
    };
    match result {
        Err(error) if !error.status().is_client_error() || error.message().contains('\n') => {
            Err(format!("{error:?}"))
        }
        _ => Ok(()),
    }
}

#[test]
fn every_request_regression_is_refused_cleanly() {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/regressions/request");
    let mut checked = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let input = std::fs::read(&path).unwrap();
        check(&input, &runtime).unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        checked += 1;
    }
    assert!(checked >= 1, "no regression inputs in {}", dir.display());
}
