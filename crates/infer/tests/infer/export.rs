//! `infer export` read back by programs we did not write, each of which must
//! reproduce the probabilities `infer --json` prints for 1,000 test images
//! within 1e-5 and predict the same digit for all:
//! - the SafeTensors file, in NumPy (scripts/export/check.py);
//! - the ONNX file, in onnxruntime (the same script) and in tract (here).
//!
//! `scripts/test.sh` makes the Python environment (scripts/export/install.sh);
//! without it the Python checks are skipped, except under CI=true, where they
//! fail. Also: the one-line errors of every format, and --overwrite.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use testkit::assert_one_line_error;
use tract_onnx::prelude::Framework;

use crate::common::{self, TestRun, assert_success, tract};

const IMAGES: usize = 1000;

fn infer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_infer"))
        .args(args)
        .output()
        .unwrap()
}

/// A run with 1,000 test images, its model exported as `file_name` (the
/// format from the extension), and what `infer --json` says of the images.
struct Exported {
    run: TestRun,
    /// Holds `file` and `jsonl`; removed when dropped.
    _out: tempfile::TempDir,
    file: PathBuf,
    /// `infer --json` for test images 0..IMAGES.
    jsonl: PathBuf,
}

impl Exported {
    fn new(format: &str, file_name: &str) -> Self {
        let run = TestRun::with_test_images(IMAGES);
        let out = tempfile::tempdir().unwrap();
        let file = out.path().join(file_name);
        let run_dir = run.dir();
        let stdout = assert_success(&infer(&[
            "export",
            "--format",
            format,
            "--run",
            run_dir.to_str().unwrap(),
            "--out",
            file.to_str().unwrap(),
        ]));
        assert_eq!(
            stdout,
            format!(
                "wrote {} (784-64-64-10 relu, 55050 parameters) from run {}\n",
                file.display(),
                run_dir.display()
            )
        );
        let data_dir = run.data_dir();
        let predicted = assert_success(&infer(&[
            "--run",
            run_dir.to_str().unwrap(),
            "--data-dir",
            data_dir.to_str().unwrap(),
            "--index",
            "0",
            "--count",
            &IMAGES.to_string(),
            "--json",
        ]));
        let jsonl = out.path().join("ours.jsonl");
        std::fs::write(&jsonl, predicted).unwrap();
        Self {
            run,
            _out: out,
            file,
            jsonl,
        }
    }

    /// `infer --json`'s probabilities, one row per image.
    fn ours(&self) -> Vec<Vec<f32>> {
        std::fs::read_to_string(&self.jsonl)
            .unwrap()
            .lines()
            .map(|line| {
                let row: serde_json::Value = serde_json::from_str(line).unwrap();
                serde_json::from_value(row["probabilities"].clone()).unwrap()
            })
            .collect()
    }

    /// scripts/export/check.py's report on the exported file, or `None`
    /// (skipped) without its venv.
    fn python_check(&self) -> Option<serde_json::Value> {
        let images = self.run.data_dir().join("t10k-images-idx3-ubyte");
        let report = common::export_check(&self.file, &images, &self.jsonl)?;
        assert_eq!(report["images"], IMAGES);
        assert_eq!(report["same_prediction"], IMAGES, "{report}");
        assert!(
            report["max_abs_difference"].as_f64().unwrap() <= 1e-5,
            "{report}"
        );
        assert_eq!(
            report["architecture"]["hidden"],
            serde_json::json!([64, 64])
        );
        Some(report)
    }
}

fn argmax(row: &[f32]) -> usize {
    (0..row.len()).fold(0, |best, i| if row[i] > row[best] { i } else { best })
}

#[test]
fn numpy_reproduces_the_probabilities_from_the_safetensors_file() {
    let exported = Exported::new("safetensors", "model.safetensors");
    if let Some(report) = exported.python_check() {
        assert!(report["runtime"].as_str().unwrap().starts_with("numpy "));
        eprintln!("safetensors in numpy: {report}");
    }
}

#[test]
fn onnxruntime_reproduces_the_probabilities_from_the_onnx_file() {
    let exported = Exported::new("onnx", "model.onnx");
    if let Some(report) = exported.python_check() {
        assert_eq!(report["runtime"], "onnxruntime 1.32.0", "{report}");
        eprintln!("onnx in onnxruntime: {report}");
    }
}

#[test]
fn tract_reproduces_the_probabilities_from_the_onnx_file() {
    let exported = Exported::new("onnx", "model.onnx");
    let proto = tract_onnx::onnx()
        .proto_model_for_path(&exported.file)
        .unwrap();
    let metadata: Vec<(&str, &str)> = proto
        .metadata_props
        .iter()
        .map(|p| (p.key.as_str(), p.value.as_str()))
        .collect();
    assert!(
        metadata.contains(&("test_accuracy", "0.625")),
        "{metadata:?}"
    );
    assert!(
        metadata
            .iter()
            .any(|(key, value)| *key == "architecture" && value.contains("\"hidden\":[64,64]")),
        "{metadata:?}"
    );
    let test = data::load_dir(&exported.run.data_dir()).unwrap().test;
    let theirs = tract::probabilities(&exported.file, &test.images()[..IMAGES * 784]).unwrap();
    let ours = exported.ours();
    assert_eq!(ours.len(), IMAGES);
    let mut worst = 0f32;
    for (ours, theirs) in ours.iter().zip(&theirs) {
        assert_eq!(argmax(ours), argmax(theirs));
        worst = ours
            .iter()
            .zip(theirs)
            .map(|(a, b)| (a - b).abs())
            .fold(worst, f32::max);
    }
    assert!(worst <= 1e-5, "{worst}");
    eprintln!("onnx in tract: {IMAGES} images, largest difference {worst:e}, same digit for all");
}

/// Runs `infer export --format <format> --run <run> --out <out> [extra...]`.
fn export(format: &str, run: &Path, out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "export",
        "--format",
        format,
        "--run",
        run.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    infer(&args)
}

/// Every format, with what it needs besides the run (the site: test digits).
fn formats(run: &TestRun) -> [(&'static str, &'static str, Vec<String>); 3] {
    let data = vec![
        "--data-dir".to_string(),
        run.data_dir().display().to_string(),
    ];
    [
        ("safetensors", "model.safetensors", vec![]),
        ("onnx", "model.onnx", vec![]),
        ("web", "site", data),
    ]
}

#[test]
fn export_errors_are_one_line_and_leave_nothing_behind() {
    let run = TestRun::new();
    let out = tempfile::tempdir().unwrap();
    for (format, name, extra) in formats(&run) {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let missing_dir = out.path().join("no/such/dir").join(name);
        let stderr = assert_one_line_error(&export(format, &run.dir(), &missing_dir, &extra));
        assert!(
            stderr.starts_with(&format!("error: cannot write {}: ", missing_dir.display())),
            "{format}: {stderr}"
        );

        // A directory holding no run: the error names model.json.
        let stderr =
            assert_one_line_error(&export(format, out.path(), &out.path().join(name), &extra));
        assert!(stderr.contains("model.json"), "{format}: {stderr}");
        assert_eq!(
            std::fs::read_dir(out.path()).unwrap().count(),
            0,
            "{format}: nothing written"
        );
    }
    // The site without test digits to show: the error names the directory.
    let empty = tempfile::tempdir().unwrap();
    let site = out.path().join("site");
    let data = empty.path().to_str().unwrap();
    let stderr = assert_one_line_error(&export("web", &run.dir(), &site, &["--data-dir", data]));
    assert!(stderr.contains(data), "{stderr}");
    assert_eq!(std::fs::read_dir(out.path()).unwrap().count(), 0);
}

#[test]
fn an_existing_file_is_replaced_only_with_overwrite() {
    let run = TestRun::new();
    let out = tempfile::tempdir().unwrap();
    for (format, name, extra) in formats(&run) {
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let path = out.path().join(name);
        std::fs::write(&path, "keep me").unwrap();
        let stderr = assert_one_line_error(&export(format, &run.dir(), &path, &extra));
        assert_eq!(
            stderr,
            format!(
                "error: {} exists; add --overwrite to replace it",
                path.display()
            )
        );
        assert_eq!(std::fs::read(&path).unwrap(), b"keep me");
        let overwrite: Vec<&str> = extra.iter().copied().chain(["--overwrite"]).collect();
        assert_success(&export(format, &run.dir(), &path, &overwrite));
        let written = if format == "web" {
            path.join("model.onnx")
        } else {
            path.clone()
        };
        assert!(
            std::fs::metadata(&written).unwrap().len() > 200_000,
            "{name}"
        );
    }
    // The site replaces a site too, whole.
    let site = out.path().join("site");
    std::fs::write(site.join("stale.txt"), "from before").unwrap();
    // What killed exports leave beside it is removed by the next export
    // into the same place: a staging directory, and an old site moved aside
    // (by exports before the swap was atomic).
    for left in [".site.AbC123/ort", ".replaced.XyZ789/old/ort"] {
        std::fs::create_dir_all(out.path().join(left)).unwrap();
        std::fs::write(out.path().join(left).join("big.wasm"), vec![0u8; 1000]).unwrap();
    }
    let data = run.data_dir();
    let extra = ["--data-dir", data.to_str().unwrap(), "--overwrite"];
    assert_success(&export("web", &run.dir(), &site, &extra));
    assert!(!site.join("stale.txt").exists());
    // Only the three: no temporary file or directory left beside them.
    let mut left: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["model.onnx", "model.safetensors", "site"]);
}
