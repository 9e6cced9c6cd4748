//! The `bench` binary end to end on a small synthetic dataset: each subcommand's
//! JSON, and one-line errors on bad input.

use std::path::Path;
use std::process::{Command, Output};

use burn::tensor::Device;
use serde_json::Value;
use testkit::{ChildServer, assert_one_line_error, assert_success};

/// Runs `bench` (from the same build as `infer`: see [`testkit::workspace_bin`]).
fn bench(args: &[&str]) -> Output {
    Command::new(testkit::workspace_bin("bench"))
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

/// The one JSON object a successful run prints.
fn report(output: &Output) -> Value {
    let stdout = assert_success(output);
    serde_json::from_str(&stdout).expect("stdout is one JSON object")
}

fn synthetic(train: usize, test: usize) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    data::synthetic::write_learnable(dir.path(), train, test).unwrap();
    dir
}

fn path(dir: &Path) -> &str {
    dir.to_str().unwrap()
}

#[test]
fn profile_splits_every_step_of_each_epoch() {
    let data = synthetic(100, 30);
    let args = [
        "profile",
        "--data-dir",
        path(data.path()),
        "--batch-size",
        "16",
    ];
    let json = report(&bench(
        &[&args[..], &["--epochs", "2", "--hidden", "8"]].concat(),
    ));

    assert_eq!(json["network"], "784-8-8-10 relu");
    assert_eq!(json["epoch"], 2);
    assert_eq!(json["data_dir"], path(data.path()));
    let seconds = &json["seconds"];
    // 100 images in batches of 16: six full batches and one of 4.
    assert_eq!(seconds["steps"], 7);
    let phases = [
        "data",
        "forward",
        "backward",
        "optimizer",
        "metrics",
        "evaluation",
    ];
    let sum: f64 = phases.iter().map(|p| seconds[p].as_f64().unwrap()).sum();
    assert!(phases.iter().all(|p| seconds[p].as_f64().unwrap() >= 0.0));
    assert!(seconds["forward"].as_f64().unwrap() > 0.0);
    assert!((json["total_seconds"].as_f64().unwrap() - sum).abs() < 1e-9);
    assert_eq!(json["distorted"], false);
}

/// `--dropout` reaches the profiled network: the same seed's epoch trains
/// to another loss with half the hidden units dropped than without (the
/// fused path draws masks only for a batch on the training device; the
/// profile's loader once left its batches outside it, and `--dropout`
/// silently did nothing).
#[test]
fn profile_trains_with_the_dropout_asked_for() {
    let data = synthetic(64, 10);
    let loss = |dropout: &str| {
        let json = report(&bench(&[
            "profile",
            "--data-dir",
            path(data.path()),
            "--hidden",
            "16",
            "--dropout",
            dropout,
        ]));
        let loss = json["train_loss"].as_f64().unwrap();
        assert!(loss.is_finite() && loss > 0.0, "{json}");
        loss
    };
    let plain = loss("0");
    assert_eq!(loss("0"), plain, "the same seed trains to the same loss");
    assert_ne!(loss("0.5"), plain);
}

/// `--augment` distorts the training images as the config's `[augment]`
/// says (here the distorted preset's, which the profiles in docs/ use).
#[test]
fn profile_distorts_with_a_configs_augment_section() {
    let data = synthetic(40, 10);
    let preset = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../configs/distorted.toml");
    let json = report(&bench(&[
        "profile",
        "--data-dir",
        path(data.path()),
        "--hidden",
        "8",
        "--augment",
        path(&preset),
    ]));
    assert_eq!(json["distorted"], true);
    assert_eq!(json["seconds"]["steps"], 2);
    assert!(json["seconds"]["data"].as_f64().unwrap() > 0.0);
}

#[test]
fn infer_times_the_whole_test_split_and_one_image() {
    let data = synthetic(10, 25);
    let run = tempfile::tempdir().unwrap();
    let config = model::MlpConfig::new().with_hidden(vec![8, 8]);
    model::save_model(run.path(), &config, &config.init(&Device::flex())).unwrap();

    let args = [
        "infer",
        "--run",
        path(run.path()),
        "--data-dir",
        path(data.path()),
    ];
    let json = report(&bench(&[&args[..], &["--reps", "2"]].concat()));

    assert_eq!(json["images"], 25);
    assert_eq!(json["network"], "784-8-8-10 relu");
    let all = json["all_seconds"].as_f64().unwrap();
    let single = json["single_seconds"].as_f64().unwrap();
    assert!(all > 0.0 && single > 0.0);

    // A committee of that run and another is timed as one model.
    let other = tempfile::tempdir().unwrap();
    let config = model::MlpConfig::new().with_hidden(vec![4]);
    model::save_model(other.path(), &config, &config.init(&Device::flex())).unwrap();
    let committee = run.path().join("committee");
    let runs = [run.path().to_path_buf(), other.path().to_path_buf()];
    std::fs::create_dir(&committee).unwrap();
    model::CommitteeFile::of_runs(&runs, model::Combine::Mean, &committee)
        .unwrap()
        .write(&committee)
        .unwrap();
    let args = [
        "infer",
        "--run",
        path(&committee),
        "--data-dir",
        path(data.path()),
    ];
    let json = report(&bench(&[&args[..], &["--reps", "2"]].concat()));
    assert_eq!(
        json["network"],
        "a committee of 2 (mean of probabilities): 784-8-8-10 relu, 784-4-10 relu"
    );
    assert!(json["all_seconds"].as_f64().unwrap() > 0.0);
}

#[test]
fn matmul_reports_a_positive_throughput() {
    let json = report(&bench(&["matmul", "--size", "64", "--reps", "3"]));
    assert_eq!(json["backend"], "flex");
    assert_eq!(json["size"], 64);
    assert!(json["gflops"].as_f64().unwrap() > 0.0);
}

#[test]
fn bad_input_is_a_one_line_error() {
    let missing = tempfile::tempdir().unwrap();
    let gone = missing.path().join("no-such-run");
    let error = assert_one_line_error(&bench(&["infer", "--run", path(&gone), "--reps", "1"]));
    assert!(error.contains("no-such-run"), "{error}");

    let error = assert_one_line_error(&bench(&["profile", "--data-dir", path(&gone)]));
    assert!(error.contains("no-such-run"), "{error}");

    let error = assert_one_line_error(&bench(&["profile", "--augment", path(&gone)]));
    assert!(error.contains("no-such-run"), "{error}");

    let error = assert_one_line_error(&bench(&["profile", "--dropout", "1"]));
    assert_eq!(
        error.trim_end(),
        "error: --dropout 1: dropout must be in [0, 1), got 1"
    );

    // Flag values clap rejects exit with its usage code.
    let output = bench(&["profile", "--batch-size", "0"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--batch-size"));
}

/// `infer serve` (another package's binary, built if need be) on a freshly
/// initialised model, on a free port; killed when dropped.
struct Server(ChildServer);

impl Server {
    /// Starts it with `extra` flags.
    fn start(data: &Path, run: &Path, extra: &[&str]) -> Self {
        let config = model::MlpConfig::new();
        model::save_model(run, &config, &config.init(&Device::flex())).unwrap();
        Self(ChildServer::spawn(
            Command::new(testkit::workspace_bin("infer"))
                .args([
                    "serve",
                    "--port",
                    "0",
                    "--run",
                    path(run),
                    "--data-dir",
                    path(data),
                ])
                .args(extra)
                .stderr(std::process::Stdio::null()),
        ))
    }

    /// Its URL, without the final `/`.
    fn url(&self) -> &str {
        self.0.url.trim_end_matches('/')
    }
}

#[test]
fn load_counts_every_request_against_a_real_server() {
    let data = synthetic(50, 40);
    let run = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), run.path(), &[]);
    for body in ["pixels", "png"] {
        let json = report(&bench(&[
            "load",
            "--url",
            server.url(),
            "--connections",
            "3",
            "--requests",
            "100",
            "--body",
            body,
            "--data-dir",
            path(data.path()),
        ]));
        assert_eq!(json["requests"], 100, "{body}: {json}");
        assert_eq!(json["errors"], 0, "{body}: {json}");
        let (p50, p99, max) = (
            json["p50_ms"].as_f64().unwrap(),
            json["p99_ms"].as_f64().unwrap(),
            json["max_ms"].as_f64().unwrap(),
        );
        assert!(0.0 < p50 && p50 <= p99 && p99 <= max, "{body}: {json}");
        let rate = json["requests_per_second"].as_f64().unwrap();
        let seconds = json["seconds"].as_f64().unwrap();
        assert!((rate * seconds - 100.0).abs() < 1e-6, "{body}: {json}");
    }
}

/// The soak's short form (the figures in docs/inference.md come from three
/// minutes):
/// the server's timeouts at 1 s so that the slow client's requests end.
#[test]
fn a_short_soak_gets_every_answer_it_is_owed_and_reports_memory() {
    let data = synthetic(50, 40);
    let run = tempfile::tempdir().unwrap();
    let server = Server::start(
        data.path(),
        run.path(),
        &["--timeout", "1", "--header-timeout", "1"],
    );
    let pid = server.0.child.id().to_string();
    let json = report(&bench(&[
        "load",
        "--url",
        server.url(),
        "--soak",
        "3",
        "--connections",
        "2",
        "--server-pid",
        &pid,
        "--data-dir",
        path(data.path()),
    ]));
    assert_eq!(
        (json["unexpected"].clone(), json["good_errors"].clone()),
        (0.into(), 0.into()),
        "{json}"
    );
    let kinds = json["kinds"].as_object().unwrap();
    let names = [
        "pixels",
        "png",
        "bad_pixels",
        "not_an_image",
        "oversized",
        "slow_body",
        "half_head",
    ];
    for name in names {
        assert!(kinds[name]["sent"].as_u64().unwrap() > 0, "{name}: {json}");
    }
    let sent: u64 = kinds
        .values()
        .map(|kind| kind["sent"].as_u64().unwrap())
        .sum();
    assert_eq!(json["requests"], sent);
    let rss = &json["rss"];
    let (before, after) = (
        rss["before_kib"].as_i64().unwrap(),
        rss["after_kib"].as_i64().unwrap(),
    );
    assert!(
        before > 0 && rss["max_kib"].as_i64().unwrap() >= after,
        "{json}"
    );
    assert_eq!(rss["growth_kib"].as_i64().unwrap(), after - before);
}

#[test]
fn load_on_a_closed_port_fails_with_one_line() {
    let data = synthetic(50, 40);
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let error = assert_one_line_error(&bench(&[
        "load",
        "--url",
        &url,
        "--connections",
        "2",
        "--requests",
        "5",
        "--data-dir",
        path(data.path()),
    ]));
    assert!(
        error.starts_with("error: 25 of 25 requests failed; the first: POST "),
        "{error}"
    );
}
