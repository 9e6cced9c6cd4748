//! Sweeps through a real Slurm cluster: the single-node cluster
//! `scripts/slurm/start.sh` starts (the test command does, as root, and
//! exports its `SLURM_CONF`). Without one these tests say why and skip,
//! except the ones that need no cluster.
//!
//! Slurm holds a requeued task back for about two minutes (its begin time);
//! the tests release it with `scontrol update StartTime=now` as soon as the
//! node will start it again (see `wait_requeued`).

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::common::{self, *};

/// One test at a time on the cluster's two CPUs: a test's timing assumes
/// its own tasks are the ones running.
static CLUSTER: Mutex<()> = Mutex::new(());

/// Whether a local cluster is up; says why not when it is not.
fn cluster() -> bool {
    match std::env::var_os("SLURM_CONF") {
        Some(conf) if Path::new(&conf).is_file() => true,
        _ => {
            eprintln!(
                "skipped: no local Slurm cluster (SLURM_CONF unset; scripts/slurm/start.sh \
                 starts one, as root)"
            );
            false
        }
    }
}

fn slurm(program: &str, args: &[&str]) -> String {
    let output = std::process::Command::new(program)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?}: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// `sweep` with `args` in `cwd`.
fn sweep(args: &[&str], cwd: &Path) -> Output {
    run(&sweep_bin(), args, cwd)
}

/// A config `small.toml` in `dir`: `epochs` epochs of a `hidden` network.
fn config(dir: &Path, epochs: u32, hidden: &str) -> PathBuf {
    let path = dir.join("small.toml");
    std::fs::write(
        &path,
        format!("epochs = {epochs}\n[model]\nhidden = {hidden}\n"),
    )
    .unwrap();
    path
}

/// The flags of a sweep of `small.toml` named `name` on `data`.
fn sweep_args<'a>(data: &'a Path, artifacts: &'a Path, name: &'a str) -> Vec<&'a str> {
    vec![
        "small.toml",
        "--name",
        name,
        "--artifacts",
        artifacts.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
    ]
}

/// The Slurm job array a sweep was submitted as first.
fn array_id(dir: &Path) -> String {
    let plan: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("sweep.json")).unwrap()).unwrap();
    plan["submitted"][0].as_str().unwrap().to_string()
}

/// Waits until `run` (of a sweep) has committed at least `epoch` (within 90
/// s; then fails with the sweep's logs).
fn wait_for_epoch(run: &Path, epoch: u64) {
    let started = Instant::now();
    while committed_epoch(run).is_none_or(|committed| committed < epoch) {
        if started.elapsed() > Duration::from_secs(90) {
            let sweep = run.parent().unwrap();
            let read = |path: PathBuf| std::fs::read_to_string(path).unwrap_or_default();
            panic!(
                "no epoch {epoch} of {} after 90 s; queue: {:?}\ntask 0: {}\nlog: {}\n{}",
                run.display(),
                slurm("squeue", &["-h", "-r", "-o", "%i %t %r"]),
                read(sweep.join("slurm/task-0.out")),
                read(run.with_extension("log")),
                cluster_story(),
            );
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What the cluster knows of its jobs, for a test that failed waiting on
/// one: every job it still holds (ended ones too, for `MinJobAge`) and the
/// controller's last 60 log lines (`slurmctld.log` beside `SLURM_CONF`, as
/// `scripts/slurm/start.sh` writes it).
fn cluster_story() -> String {
    let jobs = std::process::Command::new("scontrol")
        .args(["show", "job"])
        .output()
        .map(|output| stdout(&output))
        .unwrap_or_else(|error| format!("scontrol show job: {error}"));
    let log = std::env::var_os("SLURM_CONF")
        .map(|conf| Path::new(&conf).with_file_name("slurmctld.log"))
        .and_then(|path| std::fs::read_to_string(path).ok())
        .unwrap_or_default();
    let lines: Vec<&str> = log.lines().collect();
    let tail = lines[lines.len().saturating_sub(60)..].join("\n");
    format!("jobs:\n{jobs}\nslurmctld.log, last lines:\n{tail}")
}

/// Slurm's short state of array task `task`, if it is in the queue.
fn queued(task: &str) -> Option<String> {
    let out = slurm("squeue", &["-h", "-r", "-o", "%i %t"]);
    out.lines()
        .find_map(|line| line.strip_prefix(&format!("{task} ")).map(str::to_string))
}

/// Waits until `task` (of the sweep in `dir`) is pending again after a
/// requeue and its last start has ended, then lets it start at once
/// instead of after Slurm's two-minute hold (set again as the requeue
/// completes, so released until the task runs).
fn release_requeued(task: &str, dir: &Path) {
    wait_requeued(task, dir);
    release(task);
}

/// Waits until `task` is pending again after a requeue, no process of its
/// last start is left (every process of a sweep names its directory `dir`
/// on its command line), and the clock is in a later second than when it
/// was seen pending.
///
/// The second matters: the requeue revokes the task's credential on the
/// node, and slurmd refuses a start whose credential is from the same
/// second as a revocation ("Job N already killed, do not launch batch
/// job"); the controller then ends the task ("Killing non-startable batch
/// JobId=N: Job credential revoked") and it leaves the queue. Slurm's own
/// two-minute hold after a requeue keeps this from happening outside a
/// test; released at once, 4 of 38 runs of the test below failed so.
fn wait_requeued(task: &str, dir: &Path) {
    let started = Instant::now();
    while queued(task).as_deref() != Some("PD") || !processes_naming(dir).is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{task} not requeued, or its processes {:?} still running\n{}",
            processes_naming(dir),
            cluster_story()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(Duration::from_millis(1050 - u64::from(now.subsec_millis())));
}

/// The ids of the processes whose command line names `dir`.
fn processes_naming(dir: &Path) -> Vec<u32> {
    let needle = dir.to_string_lossy().into_owned().into_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline")).is_ok_and(|cmdline| {
                cmdline
                    .windows(needle.len())
                    .any(|window| window == needle.as_slice())
            })
        })
        .collect()
}

/// Lets the pending `task` start at once.
fn release(task: &str) {
    let started = Instant::now();
    while queued(task).as_deref() == Some("PD") {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{task} not restarted\n{}",
            cluster_story()
        );
        let _ = std::process::Command::new("scontrol")
            .args(["update", &format!("JobId={task}"), "StartTime=now"])
            .output();
        std::thread::sleep(Duration::from_millis(300));
    }
}

/// Waits (within 120 s) until `sweep status DIR` says every task has ended.
fn status_when_ended(dir: &Path) -> Output {
    let started = Instant::now();
    loop {
        let output = sweep(&["status", dir.to_str().unwrap()], dir);
        if !stdout(&output).contains("table:") && output.status.success() {
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "{}",
                stdout(&output)
            );
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        return output;
    }
}

/// A 4-point grid through Slurm gives the table a local sweep gives (same
/// runs, same order, same figures but the seconds); a grid point with a bad
/// value fails in its task, is named with its log, and the rest are
/// summarised.
#[test]
fn a_grid_through_slurm_gives_the_local_sweeps_table() {
    if !cluster() {
        return;
    }
    let _cluster = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let data = synthetic_mnist(640, 200);
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), 2, "[16]");
    let artifacts = dir.path().join("out");
    let grid = [
        "--grid",
        "seed=1,2",
        "--grid",
        "batch_size=16,64",
        "--jobs",
        "2",
    ];
    let mut local = sweep_args(data.path(), &artifacts, "local");
    local.extend(grid);
    assert_success(&sweep(&local, dir.path()));
    let mut slurm_args = sweep_args(data.path(), &artifacts, "slurm");
    slurm_args.extend(grid);
    slurm_args.push("--slurm");
    let output = sweep(&slurm_args, dir.path());
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("submitted as Slurm job array"), "{text}");
    assert!(
        text.contains("0 pending, 0 running, 4 done, 0 failed"),
        "{text}"
    );
    let without_time = |rows: Vec<train::sweep::Row>| -> Vec<train::sweep::Row> {
        rows.into_iter()
            .map(|row| train::sweep::Row {
                seconds_per_epoch: 0.0,
                ..row
            })
            .collect()
    };
    let local_rows = without_time(train::sweep::read_summary(&artifacts.join("local")).unwrap());
    let slurm_rows = without_time(train::sweep::read_summary(&artifacts.join("slurm")).unwrap());
    assert_eq!(local_rows.len(), 4);
    assert_eq!(slurm_rows, local_rows);
    for row in &local_rows {
        assert_eq!(
            metrics_without_time(&artifacts.join("slurm").join(&row.name)),
            metrics_without_time(&artifacts.join("local").join(&row.name))
        );
    }
    assert!(artifacts.join("slurm/val_accuracy.png").is_file());
    assert!(artifacts.join("slurm/sweep.sbatch").is_file());

    // A bad grid point fails in its own task; the other is summarised.
    let mut bad = sweep_args(data.path(), &artifacts, "bad");
    bad.extend(["--grid", "batch_size=16,0", "--slurm"]);
    let output = sweep(&bad, dir.path());
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    let text = stdout(&output);
    assert!(
        text.contains("small_batch_size-0 failed: exit status: 1: error: ")
            && text.contains("batch_size"),
        "{text}"
    );
    assert_eq!(stderr(&output), "error: 1 of 2 runs failed\n");
    let rows = train::sweep::read_summary(&artifacts.join("bad")).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].name, "small_batch_size-16");
    let table = std::fs::read_to_string(artifacts.join("bad/summary.md")).unwrap();
    assert!(table.contains("| small_batch_size-0 | failed: "), "{table}");
}

/// A task requeued while it trains (`scontrol requeue`, as preemption
/// does) and then warned of its time limit (USR1 to the batch shell, as
/// `--signal=B:USR1@90` does) resumes by itself each time and ends
/// bit-identical to the same run never interrupted.
#[test]
fn a_task_requeued_and_warned_mid_run_ends_as_if_never_stopped() {
    if !cluster() {
        return;
    }
    let _cluster = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let data = synthetic_mnist(3000, 300);
    let dir = tempfile::tempdir().unwrap();
    // Epochs take about 0.04 s: enough of them that the run is still
    // training when the second stop reaches it.
    config(dir.path(), 40, "[128, 128]");
    let artifacts = dir.path().join("out");
    let mut args = sweep_args(data.path(), &artifacts, "preempted");
    args.extend(["--grid", "seed=5", "--slurm", "--no-wait"]);
    let output = sweep(&args, dir.path());
    assert_success(&output);
    let sweep_dir = artifacts.join("preempted");
    let run = sweep_dir.join("small_seed-5");
    let task = format!("{}_0", array_id(&sweep_dir));

    wait_for_epoch(&run, 2);
    slurm("scontrol", &["requeue", &task]);
    // Where it stopped, read while it is pending, before it trains on.
    wait_requeued(&task, &sweep_dir);
    let stopped = committed_epoch(&run).unwrap();
    assert!(stopped < 30, "the run ended before it was requeued");
    release(&task);
    wait_for_epoch(&run, stopped + 2);
    slurm("scancel", &["--signal=USR1", "--batch", &task]);
    release_requeued(&task, &sweep_dir);
    let output = status_when_ended(&sweep_dir);
    assert_success(&output);
    let record = std::fs::read_to_string(sweep_dir.join("slurm/task-0.json")).unwrap();
    assert_eq!(record, r#"{"starts":3,"state":"done","why":null}"#);
    let log = std::fs::read_to_string(sweep_dir.join("slurm/task-0.out")).unwrap();
    assert!(
        log.contains("stopped on Slurm's warning with its checkpoint; requeued"),
        "{log}"
    );
    assert_eq!(log.matches("resuming ").count(), 2, "{log}");
    // Each time from where it stopped inside an epoch, not the epoch's start.
    let trained = std::fs::read_to_string(sweep_dir.join("small_seed-5.log")).unwrap();
    assert_eq!(
        trained.matches("resuming in epoch ").count(),
        2,
        "{trained}"
    );

    // The same run, never interrupted.
    let mut plain = run_args(data.path(), &artifacts, "plain");
    plain.extend(["--config", "small.toml", "--set", "seed=5", "--plain"]);
    assert_success(&common::run(&train_bin(), &plain, dir.path()));
    let plain = artifacts.join("plain");
    assert_eq!(metrics_without_time(&run), metrics_without_time(&plain));
    let (a, b) = (test_summary(&run), test_summary(&plain));
    assert_eq!(
        (a.test_loss, a.test_accuracy, a.correct),
        (b.test_loss, b.test_accuracy, b.correct)
    );
    assert_eq!(weights(&run), weights(&plain));
}

/// A saved model's tensors by name, their bytes exported to SafeTensors (a
/// Burn record also holds each parameter's random id, which differs between
/// any two runs).
fn weights(run: &Path) -> Vec<(String, Vec<u8>)> {
    let device = burn::tensor::Device::flex();
    let (model, config) = model::artifact::load_model(run, &device).unwrap();
    let path = run.join("weights.safetensors");
    model::export::export_safetensors(&model, &config, &path).unwrap();
    let bytes = std::fs::read(path).unwrap();
    let tensors = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let mut named: Vec<(String, Vec<u8>)> = tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| (name, view.data().to_vec()))
        .collect();
    named.sort();
    assert!(!named.is_empty());
    named
}

/// `scancel` of the whole job: `sweep status` names the runs that did not
/// finish and how to go on; `sweep resume` submits them again, each from
/// its checkpoint, and summarises the whole sweep.
#[test]
fn a_cancelled_sweep_is_reported_and_resumed() {
    if !cluster() {
        return;
    }
    let _cluster = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    let data = synthetic_mnist(3000, 300);
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), 8, "[128, 128]");
    let artifacts = dir.path().join("out");
    let mut args = sweep_args(data.path(), &artifacts, "cancelled");
    args.extend(["--grid", "seed=1,2", "--jobs", "1", "--slurm", "--no-wait"]);
    let output = sweep(&args, dir.path());
    assert_success(&output);
    assert!(stdout(&output).contains("follow it with: sweep status"));
    let sweep_dir = artifacts.join("cancelled");
    wait_for_epoch(&sweep_dir.join("small_seed-1"), 2);
    slurm("scancel", &[&array_id(&sweep_dir)]);
    let output = status_when_ended(&sweep_dir);
    let line = assert_one_line_error(&output);
    assert!(
        line.contains(
            "2 of 2 runs did not finish (cancelled, timed out or lost): small_seed-1, small_seed-2"
        ) && line.contains("sweep resume"),
        "{line}"
    );
    assert!(!sweep_dir.join("summary.csv").exists());

    let output = sweep(&["resume", sweep_dir.to_str().unwrap()], dir.path());
    assert_success(&output);
    let text = stdout(&output);
    assert!(
        text.contains("2 runs submitted again as Slurm job array"),
        "{text}"
    );
    let rows = train::sweep::read_summary(&sweep_dir).unwrap();
    assert_eq!(rows.len(), 2);
    assert!(rows.iter().all(|row| row.epochs == 8), "{rows:?}");
    let log = std::fs::read_to_string(sweep_dir.join("slurm/task-0.out")).unwrap();
    assert!(log.contains("resuming "), "{log}");
}

/// A partition Slurm does not have: one line saying what sbatch refused,
/// and no sweep directory left behind.
#[test]
fn a_job_slurm_refuses_leaves_nothing() {
    if !cluster() {
        return;
    }
    let data = synthetic_mnist(64, 32);
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), 1, "[16]");
    let artifacts = dir.path().join("out");
    let mut args = sweep_args(data.path(), &artifacts, "refused");
    args.extend(["--slurm", "--partition", "nowhere"]);
    let line = assert_one_line_error(&sweep(&args, dir.path()));
    assert!(
        line.starts_with("error: sbatch refused (exit status: 1): ")
            && line.to_lowercase().contains("partition"),
        "{line}"
    );
    assert!(!artifacts.join("refused").exists());
}

/// Without a cluster: `--dry-run` prints the job script and writes nothing;
/// no `sbatch` on PATH, an existing sweep directory and Slurm flags without
/// `--slurm` each get one clear line.
#[test]
fn submitting_checks_its_input_first() {
    let data = synthetic_mnist(64, 32);
    let dir = tempfile::tempdir().unwrap();
    config(dir.path(), 1, "[16]");
    let artifacts = dir.path().join("out");
    let mut args = sweep_args(data.path(), &artifacts, "dry");
    args.extend([
        "--grid",
        "seed=1,2,3",
        "--jobs",
        "2",
        "--slurm",
        "--dry-run",
    ]);
    args.extend(["--time", "10", "--sbatch-arg", "--qos=short"]);
    let output = sweep(&args, dir.path());
    assert_success(&output);
    let script = stdout(&output);
    for line in [
        "#SBATCH --array=0-2%2",
        "#SBATCH --time=10",
        "#SBATCH --qos=short",
        "#SBATCH --signal=B:USR1@90",
    ] {
        assert!(script.lines().any(|l| l == line), "{line}:\n{script}");
    }
    assert!(!artifacts.exists());

    let mut args = sweep_args(data.path(), &artifacts, "nobatch");
    args.push("--slurm");
    let output = std::process::Command::new(sweep_bin())
        .args(&args)
        .current_dir(dir.path())
        .env("PATH", "/nonexistent")
        .output()
        .unwrap();
    let line = assert_one_line_error(&output);
    assert!(
        line.starts_with("error: cannot run sbatch: it is not on PATH"),
        "{line}"
    );
    assert!(!artifacts.join("nobatch").exists());

    std::fs::create_dir_all(artifacts.join("taken")).unwrap();
    let mut args = sweep_args(data.path(), &artifacts, "taken");
    args.push("--slurm");
    let line = assert_one_line_error(&sweep(&args, dir.path()));
    assert!(
        line.contains("taken exists: give the sweep another --name, or --overwrite"),
        "{line}"
    );

    let output = sweep(&["--partition", "debug"], dir.path());
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--slurm"), "{}", stderr(&output));

    let line = assert_one_line_error(&sweep(&["status", "nowhere"], dir.path()));
    assert!(
        line.contains("nowhere/sweep.json") && line.contains("--slurm"),
        "{line}"
    );
}
