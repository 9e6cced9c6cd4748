//! The experiment knobs end to end on small generated IDX data: early
//! stopping and the best checkpoint, a held-out validation set, the other
//! optimizers and schedules, gradient-norm logging, the run's pictures, and
//! a sweep of two configs.

use std::path::Path;

use crate::common::{self, *};

/// The PNG at `path`, decoded: its width and height.
fn png_size(path: &Path) -> (u32, u32) {
    let image = image::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (image.width(), image.height())
}

/// `--epochs N` and one `--set` per assignment.
fn epochs_and_sets<'a>(epochs: &'a str, assignments: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--epochs", epochs];
    for assignment in assignments {
        args.extend(["--set", assignment]);
    }
    args
}

#[test]
fn early_stopping_stops_and_keep_best_keeps_the_lowest_validation_loss() {
    let data = synthetic_mnist(640, 200);
    let artifacts = tempfile::tempdir().unwrap();
    // After epoch 1 the rate falls to 1e-3 * 1e-30: the weights no longer
    // change, so no later epoch improves on the validation loss.
    let output = train(
        data.path(),
        artifacts.path(),
        "stops",
        &epochs_and_sets(
            "30",
            &[
                "schedule.kind=step",
                "schedule.gamma=1e-30",
                "validation.patience=2",
                "validation.keep_best=true",
            ],
        ),
    );
    assert_success(&output);
    let out = stdout(&output);
    let run = artifacts.path().join("stops");
    let summary = test_summary(&run);
    // Epoch 1 is the best; epochs 2 and 3 do not improve: stop after 3.
    assert_eq!(summary.epochs_completed, 3, "{out}");
    assert_eq!(summary.best_epoch, Some(1), "{out}");
    assert!(
        out.contains("training stopped after epoch 3 of 30 (early stopping: the validation loss has not improved for 2 epochs)"),
        "{out}"
    );
    assert!(out.contains("kept the weights of epoch 1"), "{out}");
    assert!(run.join("checkpoint/best-model.bpk").is_file());
    assert_eq!(metrics_without_time(&run).len(), 3);

    // Without patience, all 4 epochs run.
    let output = train(
        data.path(),
        artifacts.path(),
        "runs-on",
        &epochs_and_sets("4", &["schedule.kind=step", "schedule.gamma=1e-30"]),
    );
    assert_success(&output);
    assert_eq!(
        test_summary(&artifacts.path().join("runs-on")).epochs_completed,
        4
    );
}

#[test]
fn a_validation_split_is_held_out_of_the_training_set() {
    let data = synthetic_mnist(640, 200);
    let artifacts = tempfile::tempdir().unwrap();
    let output = train(
        data.path(),
        artifacts.path(),
        "held-out",
        &epochs_and_sets("2", &["validation.split=0.25"]),
    );
    assert_success(&output);
    let out = stdout(&output);
    assert!(
        out.contains("validation on 25% of the training set"),
        "{out}"
    );
    let summary = test_summary(&artifacts.path().join("held-out"));
    assert_eq!(summary.validation, "held-out part of the training set");
    // The test set is still all 200 images, evaluated once at the end.
    assert_eq!(summary.test_images, 200);

    // A split that leaves nothing to train on is an error, before training.
    let tiny = synthetic_mnist(2, 10);
    let output = train(
        tiny.path(),
        artifacts.path(),
        "none",
        &["--set", "validation.split=0.9", "--batch-size", "1"],
    );
    let error = assert_one_line_error(&output);
    assert!(
        error.contains("validation.split = 0.9 leaves 0 training and 2 validation images"),
        "{error}"
    );
}

#[test]
fn sgd_with_momentum_adamw_and_schedules_train() {
    let data = synthetic_mnist(640, 200);
    let artifacts = tempfile::tempdir().unwrap();
    let cases: [(&str, &[&str], &str); 3] = [
        (
            "sgd",
            &[
                "optimizer.kind=sgd",
                "optimizer.learning_rate=0.05",
                "optimizer.momentum=0.9",
            ],
            "SGD lr 0.05 momentum 0.9",
        ),
        (
            "adamw-cosine",
            &[
                "optimizer.kind=adamw",
                "schedule.kind=cosine",
                "schedule.warmup_epochs=1",
            ],
            "AdamW lr 0.001 weight decay 0.01, cosine schedule, 1-epoch warm-up",
        ),
        (
            "deep-gelu-dropout",
            &[
                "model.hidden=[32,32,32]",
                "model.activation=gelu",
                "model.dropout=0.2",
            ],
            "network 784-32-32-32-10 gelu dropout 0.2 (27562 parameters)",
        ),
    ];
    for (name, sets, described) in cases {
        let args = epochs_and_sets("3", sets);
        let output = train(data.path(), artifacts.path(), name, &args);
        assert_success(&output);
        let out = stdout(&output);
        assert!(out.contains(described), "{name}: {out}");
        let accuracy = test_summary(&artifacts.path().join(name)).test_accuracy;
        assert!(accuracy > 0.8, "{name}: test accuracy {accuracy}\n{out}");
    }
}

#[test]
fn gradient_norms_are_one_value_per_layer_per_epoch_and_plotted() {
    let data = synthetic_mnist(640, 200);
    let artifacts = tempfile::tempdir().unwrap();
    let output = train(
        data.path(),
        artifacts.path(),
        "norms",
        &epochs_and_sets("3", &["grad_norms=true", "model.hidden=[16,16,16]"]),
    );
    assert_success(&output);
    let run = artifacts.path().join("norms");
    // Three epochs of four layers (16, 16, 16 hidden, then the output).
    let norms = run::GradNorms::read(&run).unwrap().expect("grad_norms.csv");
    assert_eq!(norms.len(), 3, "{norms:?}");
    for epoch in &norms {
        assert_eq!(epoch.len(), 4, "{norms:?}");
        assert!(epoch.iter().all(|n| n.is_finite() && *n > 0.0), "{norms:?}");
    }
    assert_eq!(
        png_size(&run.join("plots/grad_norms.png")),
        (plot::GRAD_NORMS_WIDTH, plot::GRAD_NORMS_HEIGHT)
    );

    // Off by default: no file, no picture.
    let output = train(data.path(), artifacts.path(), "plain", &["--epochs", "1"]);
    assert_success(&output);
    let plain = artifacts.path().join("plain");
    assert_eq!(run::GradNorms::read(&plain).unwrap(), None);
    assert!(!plain.join("plots/grad_norms.png").exists());
}

/// With `[augment]` the run draws its distortions before training starts.
#[test]
fn augmentation_draws_its_picture_and_trains() {
    let data = synthetic_mnist(640, 200);
    let artifacts = tempfile::tempdir().unwrap();
    let output = train(
        data.path(),
        artifacts.path(),
        "warped",
        &epochs_and_sets(
            "2",
            &[
                "augment.rotation=10.0",
                "augment.elastic_alpha=20.0",
                "augment.elastic_sigma=4.0",
            ],
        ),
    );
    assert_success(&output);
    let out = stdout(&output);
    assert!(
        out.contains("augmentation: ")
            && out.contains("augmentation.png shows what the network sees"),
        "{out}"
    );
    let run = artifacts.path().join("warped");
    assert_eq!(
        png_size(&run.join("plots/augmentation.png")),
        plot::augmentation_grid_size(6, 6)
    );
    let config = run::read_config(&run).unwrap();
    assert_eq!(config.augment.elastic_alpha, 20.0, "{config:?}");
    assert!(test_summary(&run).test_accuracy > 0.5);
}

#[test]
fn a_run_draws_its_pictures_and_infer_plot_draws_them_again() {
    let data = synthetic_mnist(640, 200);
    let artifacts = tempfile::tempdir().unwrap();
    let output = train(
        data.path(),
        artifacts.path(),
        "pictures",
        &["--epochs", "2"],
    );
    assert_success(&output);
    let run = artifacts.path().join("pictures");
    let plots = run.join("plots");
    let expected = [
        (
            "training_curves.png",
            (plot::TRAINING_CURVES_WIDTH, plot::TRAINING_CURVES_HEIGHT),
        ),
        (
            "confusion_matrix.png",
            png_size(&plots.join("confusion_matrix.png")),
        ),
        (
            "misclassified.png",
            (
                plot::MISCLASSIFIED_GRID_WIDTH,
                png_size(&plots.join("misclassified.png")).1,
            ),
        ),
    ];
    for (file, size) in expected {
        let (width, height) = png_size(&plots.join(file));
        assert_eq!((width, height), size, "{file}");
        assert!(
            (400..=3000).contains(&width) && (200..=3000).contains(&height),
            "{file}: {width}x{height}"
        );
    }
    assert!(
        stdout(&output)
            .contains("plots/{training_curves.png,confusion_matrix.png,misclassified.png}")
    );

    // Drawn again from the run's files alone, the same pictures; other
    // metrics give another training-curves picture.
    let before = std::fs::read(plots.join("training_curves.png")).unwrap();
    std::fs::remove_dir_all(&plots).unwrap();
    let data_dir = data.path().to_str().unwrap();
    let again = run_plot(&run, data_dir);
    assert_success(&again);
    assert_eq!(
        std::fs::read(plots.join("training_curves.png")).unwrap(),
        before
    );
    assert!(plots.join("misclassified.png").is_file());
    // Double every validation loss.
    let mut epochs = run::EpochMetrics::read_csv(&run).unwrap();
    for epoch in &mut epochs {
        epoch.valid_loss *= 2.0;
    }
    run::EpochMetrics::write_csv(&run::RunDir::open(&run).unwrap(), &epochs).unwrap();
    assert_success(&run_plot(&run, data_dir));
    assert_ne!(
        std::fs::read(plots.join("training_curves.png")).unwrap(),
        before
    );
}

fn run_plot(run: &Path, data_dir: &str) -> std::process::Output {
    let run_dir = run.to_str().unwrap();
    common::run(
        &infer_bin(),
        &["plot", "--run", run_dir, "--data-dir", data_dir],
        run,
    )
}

#[test]
fn a_sweep_of_two_configs_tabulates_both() {
    let data = synthetic_mnist(640, 200);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("small.toml"),
        "epochs = 2\n[model]\nhidden = [16]\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("wide.toml"),
        "epochs = 1\n[model]\nhidden = [32, 32]\n",
    )
    .unwrap();
    let sweep = sweep_bin();
    let artifacts = dir.path().join("out");
    let output = run(
        &sweep,
        &[
            "small.toml",
            "wide.toml",
            "--jobs",
            "2",
            "--name",
            "pair",
            "--artifacts",
            artifacts.to_str().unwrap(),
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_success(&output);
    let sweep_dir = artifacts.join("pair");
    let table = std::fs::read_to_string(sweep_dir.join("summary.md")).unwrap();
    let rows: Vec<&str> = table.lines().collect();
    assert_eq!(
        rows[0],
        "| config | epochs run | best val acc | test acc | test loss | s/epoch | params |"
    );
    assert_eq!(rows.len(), 4, "{table}");
    // 784*16+16 + 16*10+10 and 784*32+32 + 32*32+32 + 32*10+10 parameters.
    assert!(
        rows[2].starts_with("| small | 2 | ") && rows[2].ends_with("| 12730 |"),
        "{table}"
    );
    assert!(
        rows[3].starts_with("| wide | 1 | ") && rows[3].ends_with("| 26506 |"),
        "{table}"
    );
    let csv = train::sweep::read_summary(&sweep_dir).unwrap();
    assert_eq!(csv.len(), 2);
    for (row, run) in csv.iter().zip(["small", "wide"]) {
        let summary = test_summary(&sweep_dir.join(run));
        assert_eq!(row.name, run);
        assert_eq!(row.test_accuracy, summary.test_accuracy);
        assert!(summary.test_accuracy > 0.5, "{row:?}");
        assert!(sweep_dir.join(format!("{run}.log")).is_file());
    }
    assert_eq!(
        png_size(&sweep_dir.join("val_accuracy.png")),
        (plot::SWEEP_CHART_WIDTH, plot::SWEEP_CHART_HEIGHT)
    );

    // `--jobs 2` trains both at once: each run started (its config written)
    // before the other ended (its test figures written).
    let modified = |run: &str, file: &str| {
        let path = sweep_dir.join(run).join(file);
        std::fs::metadata(&path).unwrap().modified().unwrap()
    };
    for (run, other) in [("small", "wide"), ("wide", "small")] {
        assert!(
            modified(run, "config.toml") < modified(other, "test.json"),
            "{run} started after {other} ended: the jobs ran one at a time"
        );
    }

    // Without recorded gradient norms, no gradient chart.
    assert!(!sweep_dir.join("grad_norms-small.png").exists());

    // A grid over one config: one run per value; both record gradient norms,
    // so each gets a chart (drawn on one shared axis).
    let output = run(
        &sweep,
        &[
            "small.toml",
            "--grid",
            "batch_size=16,64",
            "--set",
            "grad_norms=true",
            "--name",
            "grid",
            "--artifacts",
            artifacts.to_str().unwrap(),
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        dir.path(),
    );
    assert_success(&output);
    let table = std::fs::read_to_string(artifacts.join("grid/summary.md")).unwrap();
    assert!(
        table.contains("| small_batch_size-16 | 2 |")
            && table.contains("| small_batch_size-64 | 2 |"),
        "{table}"
    );
    for run in ["small_batch_size-16", "small_batch_size-64"] {
        let chart = artifacts.join(format!("grid/grad_norms-{run}.png"));
        assert_eq!(
            png_size(&chart),
            (plot::GRAD_NORMS_WIDTH, plot::GRAD_NORMS_HEIGHT)
        );
    }
    // A sweep's name is one directory inside --artifacts, never a path out.
    for name in ["../../escaped", "/tmp/escaped", "a/b", ".hidden", ""] {
        let output = run(
            &sweep,
            &[
                "small.toml",
                "--name",
                name,
                "--artifacts",
                artifacts.to_str().unwrap(),
            ],
            dir.path(),
        );
        let line = assert_one_line_error(&output);
        assert!(
            line.contains("--name") && line.contains("expected a directory name"),
            "{line}"
        );
    }
    assert!(!dir.path().join("escaped").exists());
}

/// A name a sweep's run would take, taken by another process first (here a
/// directory holding a foreign run's test.json): the sweep's run trains
/// into `<name>-2`, and the summary reads back that run, its own, never the
/// other's.
#[test]
fn a_sweep_reads_back_its_own_runs_even_when_a_name_was_taken() {
    let data = synthetic_mnist(640, 200);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("small.toml"),
        "epochs = 1\n[model]\nhidden = [16]\n",
    )
    .unwrap();
    let artifacts = dir.path().join("out");
    let child = std::process::Command::new(sweep_bin())
        .args([
            "small.toml",
            "--grid",
            "seed=1,2",
            "--jobs",
            "1",
            "--name",
            "s",
        ])
        .args(["--artifacts", artifacts.to_str().unwrap()])
        .args(["--data-dir", data.path().to_str().unwrap()])
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // While the first run trains, "another process" takes the second's name.
    let first = artifacts.join("s/small_seed-1");
    let started = std::time::Instant::now();
    while !first.exists() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "no first run"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let foreign = artifacts.join("s/small_seed-2");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(
        foreign.join("test.json"),
        r#"{"correct": 18, "test_accuracy": 0.09, "test_images": 200, "test_loss": 9.0}"#,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert_success(&output);
    let rows = train::sweep::read_summary(&artifacts.join("s")).unwrap();
    let names: Vec<&str> = rows.iter().map(|row| row.name.as_str()).collect();
    assert_eq!(names, ["small_seed-1", "small_seed-2-2"]);
    assert!(rows.iter().all(|row| row.test_accuracy != 0.09), "{rows:?}");
    assert!(artifacts.join("s/small_seed-2-2/model.bpk").is_file());
}
