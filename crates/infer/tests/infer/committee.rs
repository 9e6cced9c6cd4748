//! `infer committee` and committees read by `infer --run`, `export` and
//! `serve`: the committee's probabilities are its members' combined (in
//! Burn, and in its ONNX and SafeTensors files read by tract, onnxruntime
//! and NumPy), its directory appears whole, and a bad or changed member is
//! refused in one line.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use burn::tensor::Device;
use model::MlpConfig;
use serde_json::Value;
use testkit::assert_one_line_error;

use crate::common::{self, assert_success, probabilities};

/// Three saved runs of different networks (`<root>/runs/{a,b,c}`) and a
/// synthetic MNIST of 30 test images (`<root>/mnist`).
struct Members {
    root: tempfile::TempDir,
}

impl Members {
    fn new() -> Self {
        let root = tempfile::tempdir().unwrap();
        for (name, hidden) in [("a", vec![16]), ("b", vec![8, 8]), ("c", vec![])] {
            save_run(&root.path().join("runs").join(name), hidden);
        }
        let mnist = root.path().join("mnist");
        std::fs::create_dir(&mnist).unwrap();
        data::synthetic::write_learnable(&mnist, 50, 30).unwrap();
        Self { root }
    }

    fn run(&self, name: &str) -> PathBuf {
        self.root.path().join("runs").join(name)
    }

    fn runs(&self) -> Vec<PathBuf> {
        ["a", "b", "c"].iter().map(|name| self.run(name)).collect()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// `infer` with `args` and `--data-dir` the synthetic MNIST.
    fn infer(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_infer"))
            .args(args)
            .arg("--data-dir")
            .arg(self.path("mnist"))
            .output()
            .unwrap()
    }

    /// `infer committee [--runs RUNS] --out OUT` with `extra` flags.
    fn build(&self, runs: &[PathBuf], out: &Path, extra: &[&str]) -> Output {
        let mut args = vec!["committee".to_string()];
        if !runs.is_empty() {
            args.push("--runs".into());
        }
        args.extend(runs.iter().map(|run| run.display().to_string()));
        args.extend(["--out".into(), out.display().to_string()]);
        args.extend(extra.iter().map(|arg| arg.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        self.infer(&args)
    }

    /// Every test image's probabilities as `infer --run DIR --all --json`
    /// prints them, and its final summary line.
    fn all(&self, dir: &Path) -> (Vec<Vec<f32>>, Value) {
        let output = self.infer(&["--run", dir.to_str().unwrap(), "--all", "--json"]);
        let lines: Vec<Value> = assert_success(&output)
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        let (summary, images) = lines.split_last().unwrap();
        (
            images
                .iter()
                .map(|image| probabilities(&image["probabilities"]))
                .collect(),
            summary.clone(),
        )
    }
}

/// A freshly initialised network of `hidden` units saved as a run in `dir`.
fn save_run(dir: &Path, hidden: Vec<usize>) {
    std::fs::create_dir_all(dir).unwrap();
    let config = MlpConfig::new().with_hidden(hidden);
    model::save_model(dir, &config, &config.init(&Device::flex())).unwrap();
}

#[test]
fn a_committee_reads_digits_with_its_members_probabilities_combined() {
    let members = Members::new();
    let singles: Vec<Vec<Vec<f32>>> = members
        .runs()
        .iter()
        .map(|run| members.all(run).0)
        .collect();

    let out = members.path("committees/mean");
    let built = members.build(&members.runs(), &out, &[]);
    let stdout = assert_success(&built);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{stdout}");
    assert!(
        lines[0].starts_with(&format!(
            "member {}: 784-16-10 relu - test accuracy ",
            members.run("a").display()
        )),
        "{stdout}"
    );
    assert!(
        lines[3].starts_with(&format!(
            "committee {}: a committee of 3 (mean of probabilities): 784-16-10 relu, 784-8-8-10 relu, 784-10 relu - test accuracy ",
            out.display()
        )),
        "{stdout}"
    );
    for file in [
        "committee.json",
        "test.json",
        "plots/confusion_matrix.png",
        "plots/misclassified.png",
    ] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let left: Vec<_> = std::fs::read_dir(members.path("committees"))
        .unwrap()
        .collect();
    assert_eq!(left.len(), 1, "no scratch directory is left: {left:?}");

    // The mean of the members' probabilities, image by image.
    let (together, summary) = members.all(&out);
    assert_eq!(together.len(), 30);
    for (image, combined) in together.iter().enumerate() {
        let mean: Vec<f32> = (0..10)
            .map(|class| {
                singles
                    .iter()
                    .map(|single| single[image][class])
                    .sum::<f32>()
                    / 3.0
            })
            .collect();
        common::assert_close(combined, &mean, 1e-6);
    }
    let test: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("test.json")).unwrap()).unwrap();
    assert_eq!(test["test_accuracy"], summary["accuracy"]);
    assert_eq!(test["test_images"], 30);

    // The geometric mean: the product of the roots, normalised.
    let out = members.path("committees/geometric");
    assert_success(&members.build(&members.runs(), &out, &["--combine", "geometric"]));
    let (together, _) = members.all(&out);
    for (image, combined) in together.iter().enumerate() {
        let roots: Vec<f64> = (0..10)
            .map(|class| {
                singles
                    .iter()
                    .map(|single| f64::from(single[image][class]).ln())
                    .sum::<f64>()
                    / 3.0
            })
            .map(f64::exp)
            .collect();
        let total: f64 = roots.iter().sum();
        let product: Vec<f32> = roots.iter().map(|root| (root / total) as f32).collect();
        common::assert_close(combined, &product, 1e-5);
    }

    // `infer plot` draws the committee's test-set pictures again.
    std::fs::remove_dir_all(out.join("plots")).unwrap();
    assert_success(&members.infer(&["plot", "--run", out.to_str().unwrap()]));
    assert!(out.join("plots/confusion_matrix.png").is_file());
}

#[test]
fn bad_committees_are_refused_in_one_line_and_nothing_is_written() {
    let members = Members::new();
    let runs = members.runs();
    let good = members.path("good");
    assert_success(&members.build(&runs, &good, &[]));
    let missing = members.path("runs/missing");
    let out = members.path("bad");
    let cases: Vec<(Vec<PathBuf>, PathBuf, String)> = vec![
        (
            vec![runs[0].clone(), missing.clone()],
            out.clone(),
            format!(
                "error: member {}: cannot read {}",
                missing.display(),
                missing.join("model.json").display()
            ),
        ),
        (
            vec![runs[0].clone(), good.clone()],
            out.clone(),
            format!("error: member {}: is itself a committee", good.display()),
        ),
        (
            runs.clone(),
            good.clone(),
            format!(
                "error: {} already exists; name a new directory",
                good.display()
            ),
        ),
    ];
    for (runs, out, want) in cases {
        let error = assert_one_line_error(&members.build(&runs, &out, &[]));
        assert!(error.starts_with(&want), "{error}\nwant {want}");
    }
    assert!(!out.exists());

    // A member retrained after the committee was built.
    save_run(&members.run("b"), vec![8, 8]);
    let error = assert_one_line_error(&members.infer(&["--run", good.to_str().unwrap()]));
    assert!(
        error.starts_with(&format!(
            "error: member {}: its model.bpk changed since the committee was built",
            good.join("../runs/b").display()
        )),
        "{error}"
    );
}

#[test]
fn a_finished_sweep_gives_its_runs_and_a_failed_one_is_refused() {
    let members = Members::new();
    let sweep = members.path("runs");
    let row = |name: &str| run::sweep_summary::Row {
        name: name.into(),
        epochs: 1,
        best_valid_accuracy: 0.5,
        test_accuracy: 0.5,
        test_loss: 1.0,
        seconds_per_epoch: 1.0,
        parameters: 1,
    };
    let out = members.path("from-sweep");
    let from = ["--from", sweep.to_str().unwrap()];

    // Still running: no summary yet.
    let error = assert_one_line_error(&members.build(&[], &out, &from));
    assert_eq!(
        error,
        format!(
            "error: {} is not a finished sweep: it holds no summary.csv (a sweep writes it \
             once every run has ended)",
            sweep.display()
        )
    );

    // One run failed.
    let rows = [row("a"), row("c")];
    run::sweep_summary::write_summary(&sweep, &rows, &[("b".into(), "exit 1".into())]).unwrap();
    let error = assert_one_line_error(&members.build(&[], &out, &from));
    assert_eq!(
        error,
        format!(
            "error: sweep {}: 1 of its runs failed (b; see its summary.md); name the runs to \
             read together with --runs",
            sweep.display()
        )
    );
    assert!(!out.exists());

    // Every run finished: each is a member, in the table's order.
    run::sweep_summary::write_summary(&sweep, &rows, &[]).unwrap();
    let stdout = assert_success(&members.build(&[], &out, &from));
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(lines[0].starts_with(&format!("member {}: ", sweep.join("a").display())));
    assert!(lines[1].starts_with(&format!("member {}: ", sweep.join("c").display())));
    let file = model::CommitteeFile::read(&out).unwrap();
    let named: Vec<PathBuf> = file
        .members
        .iter()
        .map(|member| member.run.clone())
        .collect();
    assert_eq!(named, [Path::new("../runs/a"), Path::new("../runs/c")]);

    // Several sweeps: their runs in turn.
    let other = members.path("other");
    save_run(&other.join("d"), vec![4]);
    run::sweep_summary::write_summary(&other, &[row("d")], &[]).unwrap();
    let both = members.path("from-both");
    let stdout = assert_success(&members.build(
        &[],
        &both,
        &["--from", sweep.to_str().unwrap(), other.to_str().unwrap()],
    ));
    assert_eq!(stdout.lines().count(), 4, "{stdout}");
    let file = model::CommitteeFile::read(&both).unwrap();
    let named: Vec<&Path> = file
        .members
        .iter()
        .map(|member| member.run.as_path())
        .collect();
    assert_eq!(
        named,
        ["../runs/a", "../runs/c", "../other/d"].map(Path::new)
    );
}

/// Gives `run` a `config.toml` seeded `seed` that held out
/// `validation.split = 0.2` of the training set, drawn with `holdout_seed`
/// (the run's seed when `None`).
fn held_out_config(run: &Path, seed: u64, holdout_seed: Option<u64>) {
    let mut config = config::TrainConfig {
        seed,
        ..Default::default()
    };
    config.validation.split = 0.2;
    config.validation.seed = holdout_seed;
    run::RunDir::open(run)
        .unwrap()
        .write_config(&config)
        .unwrap();
}

/// `held out 90.00% (9 of 10), loss 2.3026` at the end of `line`, as
/// (right, count, loss).
fn held_out_figures(line: &str) -> (usize, usize, f64) {
    let tail = &line[line.rfind("held out ").expect(line)..];
    let numbers: Vec<&str> = tail
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter(|part| !part.is_empty() && *part != ".")
        .collect();
    // [percent, right, count, loss]
    (
        numbers[1].parse().unwrap(),
        numbers[2].parse().unwrap(),
        numbers[3].parse().unwrap(),
    )
}

#[test]
fn choose_takes_members_on_the_images_every_run_held_out() {
    let members = Members::new();
    // Seeded differently, drawn alike: the same 10 of the 50 training images.
    for (name, seed) in [("a", 1), ("b", 2), ("c", 3)] {
        held_out_config(&members.run(name), seed, Some(7));
    }
    let out = members.path("chosen");
    let stdout = assert_success(&members.build(&members.runs(), &out, &["--choose"]));
    let lines: Vec<&str> = stdout.lines().collect();
    // Each candidate alone, in the order given.
    let alone: Vec<(usize, usize, f64)> = members
        .runs()
        .iter()
        .zip(&lines)
        .map(|(run, line)| {
            let start = format!("candidate {}: held out ", run.display());
            assert!(line.starts_with(&start), "{stdout}");
            held_out_figures(line)
        })
        .collect();
    assert!(alone.iter().all(|&(_, count, _)| count == 10), "{stdout}");
    let chose: Vec<&str> = lines
        .iter()
        .copied()
        .filter(|line| line.starts_with("chose "))
        .collect();
    // The first to join has the lowest held-out loss alone.
    let best = (0..3)
        .min_by(|&i, &j| alone[i].2.total_cmp(&alone[j].2))
        .unwrap();
    assert!(
        chose[0].starts_with(&format!(
            "chose {}: a committee of 1 - held out ",
            members.runs()[best].display()
        )),
        "{stdout}"
    );
    // Every later step lowers the loss.
    for pair in chose.windows(2) {
        let (before, after) = (held_out_figures(pair[0]), held_out_figures(pair[1]));
        assert!(after.2 < before.2, "{stdout}");
    }
    // The committee is the chosen runs, in the order they joined, and
    // scores on the held-out images what the last step did.
    let file = model::CommitteeFile::read(&out).unwrap();
    assert_eq!(file.members.len(), chose.len());
    for (member, line) in file.members.iter().zip(&chose) {
        let name = member.run.file_name().unwrap().to_str().unwrap();
        let run = members.run(name);
        assert!(
            line.starts_with(&format!("chose {}: ", run.display())),
            "{stdout}"
        );
    }
    let last = lines.last().unwrap();
    assert!(
        last.starts_with(&format!("committee {}: ", out.display())),
        "{stdout}"
    );
    assert_eq!(
        held_out_figures(last),
        held_out_figures(chose.last().unwrap())
    );
    let summary = run::TestSummary::read(&out).unwrap();
    assert_eq!(
        summary.validation,
        "the part of the training set every member held out (validation.split = 0.2: 10 \
         images drawn with seed 7)"
    );
    let (right, count, _) = held_out_figures(last);
    assert_eq!(
        summary.best_valid_accuracy,
        Some(right as f64 / count as f64)
    );
}

#[test]
fn choose_refuses_runs_that_held_out_other_images() {
    let members = Members::new();
    let (a, b) = (members.run("a"), members.run("b"));
    let out = members.path("chosen");
    let refused =
        |runs: &[PathBuf]| assert_one_line_error(&members.build(runs, &out, &["--choose"]));
    // Each drawn with its own seed.
    held_out_config(&a, 1, None);
    held_out_config(&b, 2, None);
    assert_eq!(
        refused(&[a.clone(), b.clone()]),
        format!(
            "error: --choose needs runs that held out the same training images: {} held out \
             validation.split = 0.2 of the training set drawn with seed 2, {} 0.2 drawn with \
             seed 1 (give runs of different seeds the same validation.seed)",
            b.display(),
            a.display()
        )
    );
    // Nothing held out.
    let mut whole = run::read_config(&b).unwrap();
    whole.validation.split = 0.0;
    run::RunDir::open(&b).unwrap().write_config(&whole).unwrap();
    assert_eq!(
        refused(&[a.clone(), b.clone()]),
        format!(
            "error: --choose needs runs that held out the same training images: {} held \
             nothing out of the training set (validation.split = 0)",
            b.display()
        )
    );
    // No config at all (c was saved without one).
    let c = members.run("c");
    let error = refused(&[a.clone(), c.clone()]);
    assert!(
        error.starts_with("error: --choose needs runs that held out the same training images: ")
            && error.contains(&c.join("config.toml").display().to_string()),
        "{error}"
    );
    assert!(!out.exists());
    // Without --choose the committee is built all the same, judged on the
    // test set alone.
    let stdout = assert_success(&members.build(&[a, c], &out, &[]));
    assert!(!stdout.contains("held out"), "{stdout}");
}

/// A killed `infer committee` leaves its scratch directory; the next one
/// into the same place removes it.
#[test]
fn a_scratch_directory_left_by_a_killed_build_is_removed() {
    let members = Members::new();
    let left = members.path(".built.AbC123");
    std::fs::create_dir_all(left.join("plots")).unwrap();
    assert_success(&members.build(&members.runs(), &members.path("built"), &[]));
    assert!(!left.exists());
}

#[test]
fn a_committee_exports_and_serves_as_one_model() {
    let members = Members::new();
    let test = data::load_dir(&members.path("mnist")).unwrap().test;
    for combine in ["mean", "geometric"] {
        let committee = members.path(combine);
        assert_success(&members.build(&members.runs(), &committee, &["--combine", combine]));
        let (ours, _) = members.all(&committee);
        let jsonl = members.path(&format!("{combine}.jsonl"));
        let lines: Vec<String> = ours
            .iter()
            .enumerate()
            .map(|(index, p)| serde_json::json!({ "index": index, "probabilities": p }).to_string())
            .collect();
        std::fs::write(&jsonl, lines.join("\n")).unwrap();

        for (format, name) in [("onnx", "model.onnx"), ("safetensors", "model.safetensors")] {
            let file = members.path(&format!("{combine}-{name}"));
            let stdout = assert_success(&members.infer(&[
                "export",
                "--format",
                format,
                "--run",
                committee.to_str().unwrap(),
                "--out",
                file.to_str().unwrap(),
            ]));
            assert!(
                stdout.starts_with(&format!(
                    "wrote {} (a committee of 3 ({} of probabilities): ",
                    file.display(),
                    if combine == "mean" {
                        "mean"
                    } else {
                        "geometric mean"
                    }
                )),
                "{stdout}"
            );
            if format == "onnx" {
                let theirs = common::tract::probabilities(&file, test.images()).unwrap();
                assert_eq!(theirs.len(), ours.len());
                for (a, b) in ours.iter().zip(&theirs) {
                    common::assert_close(a, b, 1e-5);
                }
            }
            // onnxruntime (the ONNX file) and NumPy (the SafeTensors file),
            // within 1e-5.
            let images = members.path("mnist/t10k-images-idx3-ubyte");
            if let Some(report) = common::export_check(&file, &images, &jsonl) {
                assert_eq!(report["same_prediction"], 30, "{report}");
                assert_eq!(report["architecture"]["combine"], combine, "{report}");
                assert_eq!(
                    report["architecture"]["members"][1]["hidden"],
                    serde_json::json!([8, 8])
                );
            }
        }
    }

    // The server answers with the committee and says it is one; its page's
    // in-browser model is the committee's graph.
    let committee = members.path("mean");
    let server = common::Server::start_on(&committee, &members.path("mnist"), &[]);
    let (status, description) = server.get_json("/api/model");
    assert_eq!(status, 200);
    let architecture = description["architecture"].as_str().unwrap();
    assert!(
        architecture.starts_with("a committee of 3 (mean of probabilities): "),
        "{description}"
    );
    let parameters: usize = ["a", "b", "c"]
        .iter()
        .map(|name| {
            model::artifact::check_saved(&members.run(name))
                .unwrap()
                .num_params()
        })
        .sum();
    assert_eq!(description["parameters"], parameters);
    let (ours, _) = members.all(&committee);
    for index in [0, 7] {
        let pixels = &test.images()[index * 784..(index + 1) * 784];
        let body = serde_json::json!({ "pixels": pixels }).to_string();
        let (status, answer) = server.post("/api/predict", "application/json", body.as_bytes());
        assert_eq!(status, 200, "{answer}");
        common::assert_close(&probabilities(&answer["probabilities"]), &ours[index], 1e-6);
    }
    // Offered once onnxruntime-web's files are found (npm, or the cache).
    let page = server.page_with_browser_mode();
    assert_eq!(
        page["browser"], true,
        "onnxruntime-web was not found: {page}"
    );
    assert_eq!(page["model"]["architecture"], architecture);
    let mut response = ureq::get(&server.url("/model.onnx")).call().unwrap();
    let onnx = members.path("served.onnx");
    std::fs::write(&onnx, response.body_mut().read_to_vec().unwrap()).unwrap();
    let theirs = common::tract::probabilities(&onnx, test.images()).unwrap();
    common::assert_close(&theirs[3], &ours[3], 1e-5);
}
