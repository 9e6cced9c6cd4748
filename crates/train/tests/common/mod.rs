//! Helpers shared by the binary tests: a small learnable IDX dataset and a way
//! to run the `train` and `infer` binaries.

#![allow(dead_code)] // each test file uses its own subset

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use data::idx::{IdxImages, encode_images, encode_labels};

/// Writes `train` and `test` MNIST-shaped images (raw IDX) into a new temporary
/// directory. Digit `d` is a bright bar on rows `2d+4` and `2d+5` over light
/// noise, so a network learns it within an epoch.
pub fn synthetic_mnist(train: usize, test: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (prefix, count, salt) in [("train", train, 1usize), ("t10k", test, 7)] {
        let labels: Vec<u8> = (0..count).map(|i| ((i * 7 + salt) % 10) as u8).collect();
        let mut pixels = Vec::with_capacity(count * 784);
        for (i, &label) in labels.iter().enumerate() {
            for p in 0..784 {
                let row = p / 28;
                let bar = row == 2 * label as usize + 4 || row == 2 * label as usize + 5;
                let noise = ((i * 131 + p * 29 + salt) % 61) as u8;
                pixels.push(if bar { 200 + noise / 2 } else { noise });
            }
        }
        let images = IdxImages {
            count,
            rows: 28,
            cols: 28,
            pixels,
        };
        std::fs::write(
            dir.path().join(format!("{prefix}-images-idx3-ubyte")),
            encode_images(&images),
        )
        .unwrap();
        std::fs::write(
            dir.path().join(format!("{prefix}-labels-idx1-ubyte")),
            encode_labels(&labels),
        )
        .unwrap();
    }
    dir
}

/// The `train` binary Cargo built for these tests.
pub fn train_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_train"))
}

/// The `infer` binary, built next to `train` by `cargo test --workspace`.
pub fn infer_bin() -> PathBuf {
    let path = train_bin().with_file_name(format!("infer{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test --workspace` so both binaries are built",
        path.display()
    );
    path
}

/// Runs `program` with `args` in `cwd`, stdin closed, stdout and stderr captured.
pub fn run(program: &Path, args: &[&str], cwd: &Path) -> Output {
    Command::new(program)
        .args(args)
        .current_dir(cwd)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Asserts the command succeeded, showing its output if not.
pub fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

/// Asserts the command failed with exactly one line on stderr, `error: ...`, and
/// no panic; returns that line.
pub fn assert_one_line_error(output: &Output) -> String {
    let err = stderr(output);
    assert_eq!(output.status.code(), Some(1), "stderr: {err}");
    assert!(!err.contains("panicked"), "{err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got:\n{err}");
    assert!(lines[0].starts_with("error: "), "{err}");
    lines[0].to_string()
}

/// A run's `test.json`, parsed.
pub fn test_json(run: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(run.join("test.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}
