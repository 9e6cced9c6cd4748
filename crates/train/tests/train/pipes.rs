//! Every binary that prints (train, sweep, infer, bench) with its stdout or
//! stderr a pipe whose reader has already gone, as under `| head`: it ends
//! with the status it would have had, without a panic message.

use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

/// Which of the program's outputs is closed.
#[derive(Clone, Copy, Debug)]
enum Closed {
    Stdout,
    Stderr,
}

/// A pipe whose read end is already closed: every write to it fails with
/// EPIPE, which is what `| head` does to a program once `head` has exited.
fn closed_pipe() -> std::io::PipeWriter {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    writer
}

/// Runs `program` with `closed` a closed pipe; returns the exit status and
/// what reached the other output.
fn run_closed(program: &Path, args: &[&str], closed: Closed) -> (ExitStatus, String) {
    let mut command = Command::new(program);
    command.args(args).stdin(Stdio::null());
    match closed {
        Closed::Stdout => command.stdout(closed_pipe()).stderr(Stdio::piped()),
        Closed::Stderr => command.stdout(Stdio::piped()).stderr(closed_pipe()),
    };
    let output = command.output().unwrap();
    let other = match closed {
        Closed::Stdout => &output.stderr,
        Closed::Stderr => &output.stdout,
    };
    (output.status, String::from_utf8_lossy(other).into_owned())
}

/// Asserts the exit status and that nothing panicked.
fn assert_quiet(program: &Path, args: &[&str], closed: Closed, code: i32) {
    let (status, other) = run_closed(program, args, closed);
    let name = program.file_name().unwrap().to_string_lossy();
    assert!(
        !other.contains("panicked"),
        "{name} {args:?} with {closed:?} closed:\n{other}"
    );
    // A panic exits 101, even when its message has nowhere to go.
    assert_eq!(
        status.code(),
        Some(code),
        "{name} {args:?} with {closed:?} closed:\n{other}"
    );
}

fn path(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn train_and_sweep_run_to_the_end_when_nobody_reads_them() {
    let data = synthetic_mnist(320, 100);
    let artifacts = tempfile::tempdir().unwrap();
    for closed in [Closed::Stdout, Closed::Stderr] {
        let name = format!("{closed:?}");
        let mut args = run_args(data.path(), artifacts.path(), &name);
        args.extend(["--epochs", "1"]);
        assert_quiet(&train_bin(), &args, closed, 0);
        // The run is whole: the lines were dropped, not the work.
        assert_eq!(test_summary(&artifacts.path().join(&name)).test_images, 100);
    }
    // An error with nowhere to say it still exits 1.
    let missing = artifacts.path().join("missing.toml");
    for closed in [Closed::Stdout, Closed::Stderr] {
        assert_quiet(&train_bin(), &["--config", path(&missing)], closed, 1);
    }

    let sweep_args = [
        "--data-dir",
        path(data.path()),
        "--artifacts",
        path(artifacts.path()),
        "--name",
        "piped",
        "--set",
        "epochs=1",
    ];
    assert_quiet(&sweep_bin(), &sweep_args, Closed::Stdout, 0);
    let table = train::sweep::read_summary(&artifacts.path().join("piped")).unwrap();
    assert_eq!(table.len(), 1, "{table:?}");
    assert_quiet(&sweep_bin(), &["--grid", "epochs"], Closed::Stderr, 1);
}

#[test]
fn infer_and_bench_end_quietly_when_nobody_reads_them() {
    let data = synthetic_mnist(10, 50);
    let artifacts = tempfile::tempdir().unwrap();
    let run = artifacts.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let config = model::MlpConfig::new();
    model::save_model(&run, &config, &config.init(&burn::tensor::Device::flex())).unwrap();

    let infer = workspace_bin("infer");
    let read = ["--run", path(&run), "--data-dir", path(data.path())];
    for extra in [&["--all", "--json"][..], &["--count", "5"], &["--all"]] {
        assert_quiet(&infer, &[&read[..], extra].concat(), Closed::Stdout, 0);
    }
    let nowhere = artifacts.path().join("nowhere");
    assert_quiet(&infer, &["--run", path(&nowhere)], Closed::Stderr, 1);

    let bench = workspace_bin("bench");
    let matmul = ["matmul", "--size", "32", "--reps", "2"];
    assert_quiet(&bench, &matmul, Closed::Stdout, 0);
    assert_quiet(
        &bench,
        &["profile", "--data-dir", path(&nowhere)],
        Closed::Stderr,
        1,
    );
}

/// A port of 127.0.0.1 that was free a moment ago (the server's own line,
/// which names the port it got, goes to the closed stdout).
fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `GET /healthz`'s status line, once the server answers (within 30 s).
/// A refused, reset or silent connection is tried again: the server may not
/// be listening yet, and the port was only free a moment ago.
fn health(port: u16) -> String {
    let started = Instant::now();
    loop {
        let head = "GET /healthz HTTP/1.1\r\nHost: x";
        let address = (Ipv4Addr::LOCALHOST, port);
        if let Ok(answer) = testkit::raw_request(address, head, b"", Duration::from_secs(5)) {
            return answer.status_line().to_string();
        }
        assert!(started.elapsed() < Duration::from_secs(30), "no server");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn infer_serve_serves_and_stops_with_both_outputs_closed() {
    let data = synthetic_mnist(10, 20);
    let run: PathBuf = data.path().join("run");
    std::fs::create_dir(&run).unwrap();
    let config = model::MlpConfig::new();
    model::save_model(&run, &config, &config.init(&burn::tensor::Device::flex())).unwrap();
    let port = free_port().to_string();
    let mut server = Command::new(workspace_bin("infer"))
        .args(["serve", "--port", &port, "--run", path(&run)])
        .args(["--data-dir", path(data.path())])
        .stdin(Stdio::null())
        .stdout(closed_pipe())
        .stderr(closed_pipe())
        .spawn()
        .unwrap();
    assert_eq!(health(port.parse().unwrap()), "HTTP/1.1 200 OK");
    signal(&server, "-TERM");
    // Its "stopped" line has nowhere to go either; it exits 0 all the same.
    assert_eq!(server.wait().unwrap().code(), Some(0));
}
