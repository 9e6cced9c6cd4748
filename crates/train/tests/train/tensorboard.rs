//! A run's TensorBoard event files read back by TensorBoard's own reader
//! (`scripts/export/tensorboard_check.py`, in the venv
//! `scripts/export/install.sh` makes): every epoch value equals metrics.csv
//! and grad_norms.csv, the learning rate is the config's, and each
//! `batch_loss` point is the mean of its batches. Without the venv the test
//! is skipped, except under CI=true, where it fails.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{assert_success, run, sweep_bin, synthetic_mnist, train_bin};

fn check_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../scripts/export/tensorboard_check.py")
}

#[test]
fn tensorboards_reader_finds_every_value_of_metrics_csv() {
    let Some(python) = testkit::export_python_or_skip() else {
        return;
    };
    // 200 images in batches of 2: 100 batches an epoch, so each epoch's one
    // batch_loss point (BATCH_LOSS_EVERY = 100) averages all its batches,
    // which is the epoch's training loss.
    let data = synthetic_mnist(200, 100);
    let artifacts = tempfile::tempdir().unwrap();
    let data_dir = data.path().to_str().unwrap();
    let output = run(
        &train_bin(),
        &[
            "--plain",
            "--data-dir",
            data_dir,
            "--artifacts",
            artifacts.path().to_str().unwrap(),
            "--run-name",
            "tb",
            "--epochs",
            "2",
            "--batch-size",
            "2",
            "--lr",
            "0.002",
            "--set",
            "grad_norms=true",
        ],
        artifacts.path(),
    );
    assert_success(&output);
    let run_dir = artifacts.path().join("tb");
    let check = Command::new(python)
        .arg(check_script())
        .arg(&run_dir)
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{report}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let report: serde_json::Value = serde_json::from_str(report.trim()).unwrap();
    // Per epoch: loss and accuracy of both splits, and 3 layers' gradient norms.
    assert_eq!(report["compared"], 2 * (4 + 3), "{report}");
    assert_eq!(
        report["learning_rate"],
        serde_json::json!([[1, 0.002f32], [2, 0.002f32]]),
        "{report}"
    );
    let metrics = std::fs::read_to_string(run_dir.join("metrics.csv")).unwrap();
    let train_losses: Vec<f64> = metrics
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(2).unwrap().parse().unwrap())
        .collect();
    let points = report["batch_loss"].as_array().unwrap();
    assert_eq!(points.len(), 2, "{report}");
    for (point, (step, loss)) in points.iter().zip([100, 200].into_iter().zip(train_losses)) {
        assert_eq!(point[0], step, "{report}");
        let value = point[1].as_f64().unwrap();
        assert!(
            (value - loss).abs() <= 1e-6 * loss.max(1.0),
            "{value} vs {loss}"
        );
    }
    eprintln!("tensorboard check: {report}");
}

/// `tensorboard --logdir artifacts/<sweep>` shows every run of the sweep,
/// training and validation apart, each with its curves.
#[test]
fn a_sweeps_runs_appear_side_by_side() {
    let Some(python) = testkit::export_python_or_skip() else {
        return;
    };
    let data = synthetic_mnist(200, 100);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("small.toml"),
        "epochs = 1\n[model]\nhidden = [16]\n",
    )
    .unwrap();
    let artifacts = dir.path().join("out");
    let output = run(
        &sweep_bin(),
        &[
            "small.toml",
            "--grid",
            "seed=1,2",
            "--name",
            "side",
            "--artifacts",
            artifacts.to_str().unwrap(),
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_success(&output);
    let check = Command::new(python)
        .arg(check_script())
        .arg("--runs")
        .arg(artifacts.join("side"))
        .output()
        .unwrap();
    assert_success(&check);
    let runs: serde_json::Value = serde_json::from_slice(&check.stdout).unwrap();
    let runs = runs.as_object().unwrap();
    let names: Vec<&str> = runs.keys().map(String::as_str).collect();
    assert_eq!(names.len(), 4, "{runs:?}");
    for name in names {
        let split = name.rsplit('/').next().unwrap();
        assert!(
            name.contains("seed-") && ["train", "validation"].contains(&split),
            "{name}"
        );
        let tags = runs[name].as_array().unwrap();
        assert!(tags.contains(&"epoch_accuracy".into()), "{name}: {tags:?}");
    }
}
