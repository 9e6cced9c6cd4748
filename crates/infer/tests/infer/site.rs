//! The static site of `infer export --format web`, served by Python's
//! `http.server` with no `infer` running, in headless Chromium:
//! - `scripts/e2e/page.mjs` draws a digit on it and reads the answer, which
//!   must equal `infer --image`'s for the same drawing within 1e-4, with no
//!   request to another origin and no console error; it writes a screenshot;
//! - `scripts/e2e/site_model.mjs` feeds a set of drawings to the page's own
//!   preprocessing and model: each 28x28 must be within 2/255 per pixel (mean
//!   absolute difference) of `data::own_image`'s (what `infer --image` saw)
//!   and the probabilities within 1e-4 of `infer --image`'s.
//!
//! - a committee's site answers with the committee (one ONNX graph).
//!
//! Needs npm (onnxruntime-web's files), and node, Chromium and playwright-core
//! (scripts/e2e/install.sh); skipped without the browser tools, except under
//! CI=true, where it fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use image::{GrayImage, Luma};
use testkit::ChildServer;

use crate::common::{
    TestRun, assert_close, assert_success, browser_tools_or_skip, e2e_script, image_probabilities,
    probabilities,
};

/// `infer export --format web` of the run (or committee) in `run_dir` into
/// `<tmp>/site`, with `run`'s test digits.
fn export_site(run: &TestRun, run_dir: &Path, tmp: &Path) -> PathBuf {
    let site = tmp.join("site");
    let output = Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(["export", "--format", "web", "--run"])
        .arg(run_dir)
        .arg("--data-dir")
        .arg(run.data_dir())
        .arg("--out")
        .arg(&site)
        .output()
        .unwrap();
    assert_success(&output);
    site
}

/// `python3 -m http.server` on a free loopback port, serving `dir`; killed
/// when dropped. Its first line: "Serving HTTP on 127.0.0.1 port 40123
/// (http://127.0.0.1:40123/) ...".
fn static_server(dir: &Path) -> ChildServer {
    ChildServer::spawn(
        Command::new("python3")
            .args([
                "-u",
                "-m",
                "http.server",
                "--bind",
                "127.0.0.1",
                "0",
                "--directory",
            ])
            .arg(dir)
            .stderr(Stdio::null()),
    )
}

#[test]
fn the_static_site_reads_a_drawing_with_no_server_of_ours() {
    if !browser_tools_or_skip() {
        return;
    }
    let run = TestRun::new();
    let tmp = tempfile::tempdir().unwrap();
    let site = export_site(&run, &run.dir(), tmp.path());
    let mut files: Vec<String> = ["", "ort"]
        .iter()
        .flat_map(|dir| std::fs::read_dir(site.join(dir)).unwrap())
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .map(|path| path.strip_prefix(&site).unwrap().display().to_string())
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "app.js",
            "index.html",
            "model.onnx",
            "ort/ort-wasm-simd-threaded.mjs",
            "ort/ort-wasm-simd-threaded.wasm",
            "ort/ort.wasm.min.mjs",
            "page.json",
            "preprocess.js",
            "runtime.js",
            "style.css"
        ]
    );
    let page: serde_json::Value =
        serde_json::from_slice(&std::fs::read(site.join("page.json")).unwrap()).unwrap();
    assert_eq!(
        (&page["server"], &page["browser"]),
        (&false.into(), &true.into())
    );
    assert_eq!(page["samples"].as_array().unwrap().len(), 64);
    assert_eq!(page["model"]["test_accuracy"], 0.625);

    let answer = draw_on(&site, "site-page.png", tmp.path());
    assert_close(
        &probabilities(&answer["probabilities"]),
        &image_probabilities(&run.dir(), &tmp.path().join("drawing.png")),
        1e-4,
    );
}

/// A committee's site runs its one ONNX graph in the browser: the page's
/// answer is `infer --image`'s with the committee.
#[test]
fn the_static_site_of_a_committee_answers_with_the_committee() {
    if !browser_tools_or_skip() {
        return;
    }
    let run = TestRun::new();
    let committee = run.committee();
    let tmp = tempfile::tempdir().unwrap();
    let site = export_site(&run, &committee, tmp.path());
    let page: serde_json::Value =
        serde_json::from_slice(&std::fs::read(site.join("page.json")).unwrap()).unwrap();
    let architecture = page["model"]["architecture"].as_str().unwrap();
    assert!(
        architecture.starts_with("a committee of 3 (mean of probabilities): "),
        "{page}"
    );
    let answer = draw_on(&site, "site-committee-page.png", tmp.path());
    let ours = image_probabilities(&committee, &tmp.path().join("drawing.png"));
    assert_close(&probabilities(&answer["probabilities"]), &ours, 1e-4);
    let alone = image_probabilities(&run.dir(), &tmp.path().join("drawing.png"));
    assert!(
        ours.iter().zip(&alone).any(|(a, b)| (a - b).abs() > 1e-3),
        "the committee answers as its first member alone: {ours:?}"
    );
}

/// `scripts/e2e/page.mjs` on `site` served by Python: draws a digit (saved
/// as `<tmp>/drawing.png`), checks the page answered in the browser with no
/// failed request, and returns its answer; the screenshot goes to
/// `screenshot` in the target's scratch directory.
fn draw_on(site: &Path, screenshot: &str, tmp: &Path) -> serde_json::Value {
    let server = static_server(site);
    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join(screenshot);
    let output = Command::new("node")
        .arg(e2e_script("page.mjs"))
        .arg(&server.url)
        .arg(&screenshot)
        .env("E2E_DRAWING", tmp.join("drawing.png"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "stdout: {stdout}\nstderr: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let answer: serde_json::Value = serde_json::from_str(stdout.trim()).unwrap();
    assert_eq!(answer["mode"], "browser", "{answer}");
    assert_eq!(answer["samples"], 8, "{answer}");
    let png = image::open(&screenshot).unwrap();
    assert!(png.width() >= 600 && png.height() >= 400);
    answer
}

/// Distance from `(x, y)` to the segment `a`-`b`.
fn distance(x: f32, y: f32, a: (f32, f32), b: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let t = (((x - a.0) * dx + (y - a.1) * dy) / (dx * dx + dy * dy).max(1e-9)).clamp(0.0, 1.0);
    ((x - a.0 - t * dx).powi(2) + (y - a.1 - t * dy).powi(2)).sqrt()
}

/// A `width` x `height` page of `paper` with the polyline `points` drawn in
/// `ink`, `pen` pixels wide, its edges anti-aliased as a canvas draws them.
fn drawing(
    width: u32,
    height: u32,
    paper: u8,
    ink: u8,
    pen: f32,
    points: &[(f32, f32)],
) -> GrayImage {
    GrayImage::from_fn(width, height, |x, y| {
        let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
        let d = points
            .windows(2)
            .map(|pair| distance(px, py, pair[0], pair[1]))
            .fold(f32::INFINITY, f32::min);
        let cover = (pen / 2.0 - d + 0.5).clamp(0.0, 1.0);
        Luma([(f32::from(paper) + cover * (f32::from(ink) - f32::from(paper))).round() as u8])
    })
}

/// Drawings unlike MNIST's own: off-centre, thin, thick, dark on light, grey
/// pencil on grey paper, tiny in a corner, very wide, very tall, non-square
/// pages, and a blank page.
fn drawings() -> Vec<(&'static str, GrayImage)> {
    let seven = [(80.0, 70.0), (200.0, 70.0), (165.0, 150.0), (130.0, 230.0)];
    let moved = |dx: f32, dy: f32, s: f32| -> Vec<(f32, f32)> {
        seven
            .iter()
            .map(|(x, y)| (x * s + dx, y * s + dy))
            .collect()
    };
    let zero: Vec<(f32, f32)> = (0..=24)
        .map(|i| {
            let a = i as f32 / 24.0 * std::f32::consts::TAU;
            (140.0 + 60.0 * a.cos(), 140.0 + 90.0 * a.sin())
        })
        .collect();
    vec![
        ("a-centred", drawing(280, 280, 0, 255, 19.0, &seven)),
        (
            "b-off-centre",
            drawing(280, 280, 0, 255, 12.0, &moved(-60.0, -50.0, 0.6)),
        ),
        (
            "c-thin",
            drawing(280, 280, 0, 255, 3.0, &[(150.0, 40.0), (120.0, 250.0)]),
        ),
        ("d-thick", drawing(280, 280, 0, 255, 45.0, &zero)),
        (
            "e-dark-on-light",
            drawing(200, 160, 255, 0, 9.0, &moved(-40.0, -40.0, 0.6)),
        ),
        (
            "f-pencil",
            drawing(300, 240, 225, 90, 7.0, &moved(20.0, 0.0, 0.8)),
        ),
        (
            "g-tiny-corner",
            drawing(280, 280, 0, 255, 4.0, &moved(200.0, 210.0, 0.25)),
        ),
        (
            "h-wide",
            drawing(400, 120, 0, 255, 14.0, &[(30.0, 70.0), (370.0, 50.0)]),
        ),
        (
            "i-tall",
            drawing(120, 400, 255, 20, 10.0, &[(60.0, 30.0), (58.0, 370.0)]),
        ),
        ("j-blank", GrayImage::from_pixel(280, 280, Luma([250]))),
    ]
}

#[test]
fn the_pages_preprocessing_and_model_match_infer_on_many_drawings() {
    if !browser_tools_or_skip() {
        return;
    }
    let run = TestRun::new();
    let tmp = tempfile::tempdir().unwrap();
    let site = export_site(&run, &run.dir(), tmp.path());
    let dir = tmp.path().join("drawings");
    std::fs::create_dir(&dir).unwrap();
    let drawings = drawings();
    for (name, image) in &drawings {
        image.save(dir.join(format!("{name}.png"))).unwrap();
    }

    // infer: the 28x28 each became, and its probabilities (the blank page is
    // an error line, the others answered).
    let seen = tmp.path().join("seen");
    let output = Command::new(env!("CARGO_BIN_EXE_infer"))
        .args([
            "--run",
            run.dir().to_str().unwrap(),
            "--json",
            "--save-preprocessed",
        ])
        .arg(&seen)
        .arg("--image")
        .args(
            drawings
                .iter()
                .map(|(name, _)| dir.join(format!("{name}.png"))),
        )
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("j-blank.png: blank"), "{stderr}");
    let ours: Vec<serde_json::Value> = String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(ours.len(), drawings.len() - 1);

    let server = static_server(&site);
    let output = Command::new("node")
        .arg(e2e_script("site_model.mjs"))
        .arg(&server.url)
        .arg("drawings")
        .arg(&dir)
        .output()
        .unwrap();
    let page: Vec<serde_json::Value> = serde_json::from_str(&assert_success(&output)).unwrap();
    assert_eq!(page.len(), drawings.len());

    let mut worst_pixels = 0f64;
    for (theirs, ours) in page.iter().zip(&ours) {
        let name = theirs["name"].as_str().unwrap();
        assert!(ours["file"].as_str().unwrap().ends_with(name), "{name}");
        let expected = image::open(seen.join(format!("{name}.png")))
            .unwrap()
            .to_luma8()
            .into_raw();
        let pixels: Vec<u8> = serde_json::from_value(theirs["pixels"].clone()).unwrap();
        let mean = pixels
            .iter()
            .zip(&expected)
            .map(|(&a, &b)| (f64::from(a) - f64::from(b)).abs())
            .sum::<f64>()
            / 784.0;
        assert!(
            mean <= 2.0,
            "{name}: the page's 28x28 differs by {mean:.2}/255 per pixel"
        );
        worst_pixels = worst_pixels.max(mean);
        assert_close(
            &probabilities(&theirs["probabilities"]),
            &probabilities(&ours["probabilities"]),
            1e-4,
        );
    }
    let blank = page.last().unwrap();
    assert_eq!(
        (&blank["name"], &blank["pixels"]),
        (&"j-blank.png".into(), &serde_json::Value::Null)
    );
    eprintln!(
        "parity: {} drawings, largest mean pixel difference {worst_pixels:.3}/255",
        drawings.len() - 1
    );
}
