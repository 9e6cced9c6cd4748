//! The drawing page end to end in headless Chromium: `scripts/e2e/page.mjs`
//! draws a stroke on the canvas, waits for the bars, checks a digit is shown
//! and that the page made no failed request; then switches the page to run
//! the model in the browser, whose answer to the same drawing must equal the
//! server's, and `infer --image`'s, within 1e-4. `scripts/test.sh` installs
//! Chromium and playwright-core (scripts/e2e/install.sh); without them the
//! test is skipped, except under CI=true, where it fails.

use std::path::Path;
use std::process::Command;

use crate::common::{
    Server, TestRun, assert_close, browser_tools_or_skip, e2e_script, image_probabilities,
    probabilities,
};

#[test]
fn drawing_a_digit_in_headless_chromium_shows_an_answer() {
    if !browser_tools_or_skip() {
        return;
    }
    let run = TestRun::new();
    let server = Server::start(&run, &[]);
    let page = server.page_with_browser_mode();
    assert_eq!(
        page["browser"], true,
        "onnxruntime-web was not found: {page}"
    );
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-page.png");
    let scratch = tempfile::tempdir().unwrap();
    let drawing = scratch.path().join("drawing.png");
    let output = Command::new("node")
        .arg(e2e_script("page.mjs"))
        .arg(server.url("/"))
        .arg(&screenshot)
        .env("E2E_DRAWING", &drawing)
        .env("E2E_TOGGLE", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {stderr}"
    );
    let answer: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert!(
        answer["digit"].as_u64().is_some_and(|digit| digit < 10),
        "{answer}"
    );
    assert_eq!(answer["failed"], serde_json::json!([]), "{answer}");
    assert_eq!(answer["console_errors"], serde_json::json!([]), "{answer}");
    assert_eq!(answer["samples"], 8, "{answer}");
    assert_eq!(answer["mode"], "server", "{answer}");
    let on_server = probabilities(&answer["probabilities"]);
    let in_browser = probabilities(&answer["browser_probabilities"]);
    assert_close(&on_server, &in_browser, 1e-4);
    assert_close(&on_server, &image_probabilities(&run.dir(), &drawing), 1e-4);
    let png = image::open(&screenshot).unwrap();
    assert!(
        png.width() >= 600 && png.height() >= 400,
        "{}x{}",
        png.width(),
        png.height()
    );
}
