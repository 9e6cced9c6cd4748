//! The drawing page end to end in headless Chromium: `scripts/e2e/page.mjs`
//! draws a stroke on the canvas, waits for the bars, checks a digit is shown
//! and that the page made no failed request. `scripts/test.sh` installs
//! Chromium and playwright-core (scripts/e2e/install.sh); without them the
//! test is skipped, except under CI=true, where it fails.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, TestRun};

fn e2e_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/e2e/page.mjs")
}

/// Why the browser test cannot run here, if it cannot.
fn missing_tools() -> Option<String> {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node = Command::new("node").arg("--version").output();
    let playwright = std::env::var_os("HOME")
        .map(|home| Path::new(&home).join(".cache/simple-nn/e2e/node_modules/playwright-core"));
    if node.is_err() {
        Some("node is not installed".into())
    } else if !Path::new(&chromium).exists() {
        Some(format!("no Chromium at {chromium}"))
    } else if !playwright.is_some_and(|path| path.exists()) {
        Some("playwright-core is not installed".into())
    } else {
        None
    }
}

#[test]
fn drawing_a_digit_in_headless_chromium_shows_an_answer() {
    if let Some(reason) = missing_tools() {
        let message = format!("{reason}: run scripts/e2e/install.sh");
        assert!(std::env::var("CI").as_deref() != Ok("true"), "{message}");
        eprintln!("skipped: {message}");
        return;
    }
    let run = TestRun::new();
    let server = Server::start(&run, &[]);
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("serve-page.png");
    let output = Command::new("node")
        .arg(e2e_script())
        .arg(server.url("/"))
        .arg(&screenshot)
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
    let png = image::open(&screenshot).unwrap();
    assert!(
        png.width() >= 600 && png.height() >= 400,
        "{}x{}",
        png.width(),
        png.height()
    );
}
