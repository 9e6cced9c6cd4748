//! This crate's helpers: a small learnable IDX dataset and a way to run the
//! `train`, `sweep` and `infer` binaries. Running programs and judging their
//! output is testkit's, shared with the other crates' tests.

use std::path::{Path, PathBuf};

pub use testkit::{
    assert_one_line_error, assert_success, run, signal, start, stderr, stdout, workspace_bin,
};

/// `train` flags for affine and elastic distortions (on wgpu drawn on the
/// device, on the CPUs on the host).
pub const AUGMENTED: &[&str] = &[
    "--set",
    "augment.rotation=10.0",
    "--set",
    "augment.elastic_alpha=20.0",
    "--set",
    "augment.elastic_sigma=4.0",
];

/// A new temporary directory holding [`data::synthetic::write_learnable`]'s
/// `train` and `test` images.
pub fn synthetic_mnist(train: usize, test: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    data::synthetic::write_learnable(dir.path(), train, test).unwrap();
    dir
}

/// The `train` binary. Like every binary the tests run, from
/// [`workspace_bin`]'s one build of the workspace: under `cargo test -p
/// train` that build links this package's binaries again (Burn's features
/// differ), so `CARGO_BIN_EXE_train` could be missing for that moment.
pub fn train_bin() -> PathBuf {
    workspace_bin("train")
}

/// The `sweep` binary, built with `train`.
pub fn sweep_bin() -> PathBuf {
    workspace_bin("sweep")
}

/// The `infer` binary (`cargo test -p train` alone builds only this
/// package's binaries; [`workspace_bin`] builds the rest).
pub fn infer_bin() -> PathBuf {
    workspace_bin("infer")
}

/// A run's `test.json`, read by its owner.
pub fn test_summary(run: &Path) -> run::TestSummary {
    run::TestSummary::read(run).unwrap()
}

/// The flags that point `train` at `data` and at the run `artifacts/<name>`.
pub fn run_args<'a>(data: &'a Path, artifacts: &'a Path, name: &'a str) -> Vec<&'a str> {
    vec![
        "--data-dir",
        data.to_str().unwrap(),
        "--artifacts",
        artifacts.to_str().unwrap(),
        "--run-name",
        name,
    ]
}

/// Trains on `data` into `artifacts/<name>` with `extra` flags; returns the output.
pub fn train(data: &Path, artifacts: &Path, name: &str, extra: &[&str]) -> std::process::Output {
    let mut args = run_args(data, artifacts, name);
    args.extend_from_slice(extra);
    run(&train_bin(), &args, artifacts)
}

/// metrics.csv without the seconds, read by its owner.
pub fn metrics_without_time(run: &Path) -> Vec<run::EpochMetrics> {
    run::EpochMetrics::read_csv(run)
        .unwrap()
        .into_iter()
        .map(|epoch| run::EpochMetrics {
            seconds: 0.0,
            ..epoch
        })
        .collect()
}

/// The epoch `<run>/checkpoint/latest.json` names, if it exists.
pub fn committed_epoch(run: &Path) -> Option<u64> {
    let text = std::fs::read_to_string(run.join("checkpoint/latest.json")).ok()?;
    let latest: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|error| panic!("latest.json is half-written: {error}: {text:?}"));
    latest["epoch"].as_u64()
}
