//! The `train` binary on small generated IDX data: plain output without a
//! terminal, reproducibility, the wgpu path, and one-line errors on bad input.

use crate::common::*;

#[test]
fn without_a_terminal_it_prints_one_plain_line_per_epoch_and_writes_the_run() {
    let data = synthetic_mnist(640, 200);
    let artifacts = tempfile::tempdir().unwrap();
    let output = train(data.path(), artifacts.path(), "plain", &["--epochs", "2"]);
    assert_success(&output);
    let out = stdout(&output);
    assert!(
        !out.contains('\u{1b}'),
        "escape codes in plain output:\n{out}"
    );
    let epochs: Vec<&str> = out.lines().filter(|l| l.starts_with("Epoch ")).collect();
    assert_eq!(epochs.len(), 2, "{out}");
    assert!(epochs[1].starts_with("Epoch 2/2 - "), "{out}");
    assert!(out.lines().count() < 12, "too chatty:\n{out}");
    assert!(out.contains("test accuracy: "), "{out}");
    // A run that learned says nothing about chance.
    assert!(!stderr(&output).contains("chance"), "{}", stderr(&output));

    let run = artifacts.path().join("plain");
    for file in [
        "config.toml",
        "metrics.csv",
        "test.json",
        "model.json",
        "model.bpk",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    assert_eq!(metrics_without_time(&run).len(), 2);
    let summary = test_summary(&run);
    assert_eq!(summary.test_images, 200);
    assert_eq!(summary.epochs_completed, 2);
    // The bars are easy: two epochs learn them.
    assert!(summary.test_accuracy > 0.9, "{summary:?}");
    let resolved = run::read_config(&run).unwrap();
    assert_eq!(resolved.epochs, 2, "{resolved:?}");
}

#[test]
fn the_same_seed_gives_identical_metrics_and_another_seed_does_not() {
    let data = synthetic_mnist(320, 100);
    let artifacts = tempfile::tempdir().unwrap();
    for (name, seed) in [("a", "3"), ("b", "3"), ("c", "4")] {
        let output = train(
            data.path(),
            artifacts.path(),
            name,
            &["--epochs", "2", "--seed", seed],
        );
        assert_success(&output);
    }
    let runs = |name: &str| artifacts.path().join(name);
    assert_eq!(
        metrics_without_time(&runs("a")),
        metrics_without_time(&runs("b"))
    );
    assert_eq!(
        test_summary(&runs("a")).test_loss,
        test_summary(&runs("b")).test_loss
    );
    // (model.bpk differs byte for byte: Burn stores random parameter ids in it.)
    assert_eq!(
        test_summary(&runs("a")).correct,
        test_summary(&runs("b")).correct
    );
    assert_ne!(
        test_summary(&runs("a")).test_loss,
        test_summary(&runs("c")).test_loss
    );
}

#[test]
fn ndarray_trains_too() {
    let data = synthetic_mnist(320, 100);
    let artifacts = tempfile::tempdir().unwrap();
    let output = train(
        data.path(),
        artifacts.path(),
        "nd",
        &["--epochs", "2", "--backend", "ndarray"],
    );
    assert_success(&output);
    assert!(stdout(&output).contains("backend ndarray"));
    let summary = test_summary(&artifacts.path().join("nd"));
    assert_eq!(summary.backend, "ndarray");
    assert!(summary.test_accuracy > 0.5, "{summary:?}");
}

#[test]
fn wgpu_trains_a_few_batches() {
    // 4 batches of 32 on lavapipe take a few seconds.
    let data = synthetic_mnist(128, 64);
    let artifacts = tempfile::tempdir().unwrap();
    let output = train(
        data.path(),
        artifacts.path(),
        "gpu",
        &["--epochs", "1", "--backend", "wgpu"],
    );
    let err = stderr(&output);
    if !output.status.success()
        && err.contains("no usable GPU adapter")
        && std::env::var("CI").as_deref() != Ok("true")
    {
        eprintln!("skipping: {err}");
        return;
    }
    assert_success(&output);
    let summary = test_summary(&artifacts.path().join("gpu"));
    assert_eq!(summary.backend, "wgpu");
    assert_eq!(summary.test_images, 64);
    assert!(summary.test_loss.is_finite());
}

/// The GPU's path (fused network, device Adam, data on the device) learns
/// as flex's does: the same seed and data, two epochs, test accuracy within
/// one point.
#[test]
fn wgpu_reaches_the_accuracy_of_flex() {
    wgpu_against_flex(&[], 0.01);
}

/// Likewise with affine and elastic distortions, drawn on the device on wgpu
/// and on the host on flex: the same affine draws, elastic noise of the same
/// distribution but not the same numbers, so the two runs see different
/// images; within two points.
#[test]
fn wgpu_distorts_on_the_device_and_learns_as_flex_does() {
    wgpu_against_flex(AUGMENTED, 0.02);
}

/// Trains on wgpu and on flex with `extra` flags; test accuracies within
/// `tolerance`. Skipped without a Vulkan adapter except under `CI=true`.
fn wgpu_against_flex(extra: &[&str], tolerance: f64) {
    let data = synthetic_mnist(640, 200);
    let artifacts = tempfile::tempdir().unwrap();
    let args = [&["--epochs", "2", "--seed", "3"], extra].concat();
    let gpu = train(
        data.path(),
        artifacts.path(),
        "gpu",
        &[&args[..], &["--backend", "wgpu"]].concat(),
    );
    if !gpu.status.success()
        && stderr(&gpu).contains("no usable GPU adapter")
        && std::env::var("CI").as_deref() != Ok("true")
    {
        eprintln!("skipping: {}", stderr(&gpu));
        return;
    }
    assert_success(&gpu);
    assert_success(&train(data.path(), artifacts.path(), "cpu", &args));
    let accuracy = |name: &str| test_summary(&artifacts.path().join(name)).test_accuracy;
    let (gpu, cpu) = (accuracy("gpu"), accuracy("cpu"));
    eprintln!("test accuracy: wgpu {gpu}, flex {cpu}");
    assert!(cpu > 0.5, "flex learned nothing: {cpu}");
    assert!(
        (gpu - cpu).abs() <= tolerance,
        "wgpu {gpu} against flex {cpu}"
    );
}

#[test]
fn a_second_run_of_the_same_name_is_numbered_not_overwritten() {
    let data = synthetic_mnist(64, 20);
    let artifacts = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        assert_success(&train(
            data.path(),
            artifacts.path(),
            "twice",
            &["--epochs", "1"],
        ));
    }
    assert!(artifacts.path().join("twice/model.bpk").is_file());
    assert!(artifacts.path().join("twice-2/model.bpk").is_file());
}

#[test]
fn bad_input_is_one_line_naming_the_culprit_and_leaves_no_run() {
    let data = synthetic_mnist(64, 20);
    let dir = tempfile::tempdir().unwrap();
    let artifacts = dir.path().join("artifacts");
    let config = |name: &str, text: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    };
    let unknown = config("unknown.toml", "epochs = 1\nlearning_rate = 0.1\n");
    let wrong_type = config("type.toml", "batch_size = \"big\"\n");
    let range = config("range.toml", "[optimizer]\nbeta1 = 1.5\n");
    let missing_data = dir.path().join("no-such-dir");
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (
            vec!["--config", &unknown],
            vec!["unknown.toml:2", "unknown field `learning_rate`"],
        ),
        (
            vec!["--config", &wrong_type],
            vec!["type.toml:1", "batch_size = \"big\""],
        ),
        (
            vec!["--config", &range],
            vec!["range.toml: optimizer.beta1 = 1.5", "[0, 1)"],
        ),
        (
            vec!["--config", "absent.toml"],
            vec!["cannot read config absent.toml"],
        ),
        (
            vec!["--lr", "0"],
            vec!["command line: optimizer.learning_rate = 0"],
        ),
        (
            vec!["--lr", "-1"],
            vec!["command line: optimizer.learning_rate = -1: expected a finite number above 0"],
        ),
        (vec!["--run-name", "a/b"], vec!["run_name = \"a/b\""]),
        (
            vec!["--data-dir", missing_data.to_str().unwrap()],
            vec!["no-such-dir"],
        ),
        // Sizes that cannot fit are refused before anything is allocated.
        (
            vec!["--batch-size", "1000000000000"],
            vec!["batch_size = 1000000000000: larger than the 64 training images"],
        ),
        (
            vec!["--batch-size", "18446744073709551615"],
            vec!["batch_size = 18446744073709551615: larger than the 64 training images"],
        ),
        (
            vec!["--set", "model.hidden=[1048576,8192]"],
            vec![
                "the network 784-1048576-8192-10 relu (9413156874 parameters)",
                "GiB of memory available; shrink model.hidden or batch_size",
            ],
        ),
        (
            vec!["--config", "/dev/zero"],
            vec!["config /dev/zero is larger than 1048576 bytes: not a config file"],
        ),
        (
            vec!["--set", "epochs=1\nbatch_size=2"],
            vec!["--set epochs=1\\nbatch_size=2: a line break in the value"],
        ),
    ];
    for (args, expected) in cases {
        let mut all = vec!["--artifacts", artifacts.to_str().unwrap()];
        if !args.contains(&"--data-dir") {
            all.extend(["--data-dir", data.path().to_str().unwrap()]);
        }
        all.extend(&args);
        let output = run(&train_bin(), &all, dir.path());
        let line = assert_one_line_error(&output);
        for part in expected {
            assert!(line.contains(part), "{args:?}: `{line}` lacks `{part}`");
        }
        assert!(
            !artifacts.exists(),
            "{args:?} created {}",
            artifacts.display()
        );
    }
}

#[test]
fn wgpu_without_any_adapter_is_a_clear_error() {
    // Hide every Vulkan driver and every EGL vendor (the GL fallback) from wgpu.
    let data = synthetic_mnist(64, 20);
    let artifacts = tempfile::tempdir().unwrap();
    let output = std::process::Command::new(train_bin())
        .args([
            "--backend",
            "wgpu",
            "--data-dir",
            data.path().to_str().unwrap(),
        ])
        .args(["--artifacts", artifacts.path().to_str().unwrap()])
        .env("VK_ICD_FILENAMES", "/nonexistent/vulkan.json")
        .env("__EGL_VENDOR_LIBRARY_FILENAMES", "/nonexistent/egl.json")
        // Without it the Vulkan loader adds a (harmless) line of its own.
        .env("XDG_RUNTIME_DIR", artifacts.path())
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    if output.status.success() {
        eprintln!("skipping: this machine offers a wgpu adapter these variables do not hide");
        return;
    }
    let line = assert_one_line_error(&output);
    assert!(
        line.contains("backend wgpu: no usable GPU adapter"),
        "{line}"
    );
    assert!(line.contains("--backend flex"), "{line}");
    assert_eq!(std::fs::read_dir(artifacts.path()).unwrap().count(), 0);
}

/// `--overwrite` builds the new run beside the old one and puts it in place
/// only once it is complete: a replacement that diverges leaves the old run
/// whole and readable; one that finishes replaces it, leaving nothing beside.
#[test]
fn overwrite_replaces_a_run_only_once_its_successor_is_complete() {
    let data = synthetic_mnist(640, 200);
    let artifacts = tempfile::tempdir().unwrap();
    let old = artifacts.path().join("kept");
    assert_success(&train(
        data.path(),
        artifacts.path(),
        "kept",
        &["--epochs", "1"],
    ));
    let weights = std::fs::read(old.join("model.bpk")).unwrap();

    let diverged = train(
        data.path(),
        artifacts.path(),
        "kept",
        &["--epochs", "2", "--lr", "1e30", "--overwrite"],
    );
    assert!(!diverged.status.success());
    assert_eq!(std::fs::read(old.join("model.bpk")).unwrap(), weights);
    let infer = run(
        &infer_bin(),
        &[
            "--run",
            old.to_str().unwrap(),
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        artifacts.path(),
    );
    assert_success(&infer);

    let replaced = train(
        data.path(),
        artifacts.path(),
        "kept",
        &["--epochs", "1", "--seed", "7", "--overwrite"],
    );
    assert_success(&replaced);
    assert!(
        stdout(&replaced).contains(&format!("saved {}", old.display())),
        "{}",
        stdout(&replaced)
    );
    assert_eq!(run::read_config(&old).unwrap().seed, 7);
    assert_ne!(std::fs::read(old.join("model.bpk")).unwrap(), weights);
    // The diverged attempt and the finished one leave nothing beside it.
    let mut left: Vec<String> = std::fs::read_dir(artifacts.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, ["kept"]);
}
