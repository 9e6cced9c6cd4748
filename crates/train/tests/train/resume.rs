//! Never losing a run: Ctrl-C then `--resume` ends exactly where an
//! uninterrupted run ends; SIGKILL at random moments never leaves a run that
//! cannot resume; a diverging loss (NaN, or far above its start for a
//! stretch) stops with the epoch, batch and rate, and a run that learned
//! nothing says so; a full disk is reported with the path.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::Device;

use crate::common::*;

/// 3,000 training images (94 batches an epoch) and 300 test images.
fn data() -> tempfile::TempDir {
    synthetic_mnist(3000, 300)
}

fn train_args<'a>(
    data: &'a Path,
    artifacts: &'a Path,
    name: &'a str,
    epochs: &'a str,
) -> Vec<&'a str> {
    let mut args = run_args(data, artifacts, name);
    args.extend(["--epochs", epochs, "--plain"]);
    args
}

fn spawn(args: &[&str], cwd: &Path) -> Child {
    start(&train_bin(), args, cwd)
}

/// Waits until the run has committed at least `epoch`, or `child` exits.
fn wait_for_epoch(child: &mut Child, run: &Path, epoch: u64) {
    let started = Instant::now();
    while committed_epoch(run).is_none_or(|committed| committed < epoch) {
        assert!(
            child.try_wait().unwrap().is_none(),
            "the run ended before epoch {epoch}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no epoch {epoch} after 60 s"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// All that `pipe` gives until it closes, read on a thread of its own.
fn drain(mut pipe: impl Read + Send + 'static) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        pipe.read_to_end(&mut bytes).unwrap();
        bytes
    })
}

/// The result fields of test.json that must match exactly.
fn test_result(run: &Path) -> (f64, f64, usize) {
    let json = test_summary(run);
    (json.test_loss, json.test_accuracy, json.correct)
}

#[test]
fn ctrl_c_then_resume_ends_exactly_where_an_uninterrupted_run_ends() {
    interrupt_and_resume("flex", &[]);
}

#[test]
fn on_ndarray_too() {
    interrupt_and_resume("ndarray", &[]);
}

/// On the GPU the batches are gathered and distorted on the device, the
/// dropout masks drawn there, and the optimizer's state comes back onto
/// it: bit-identical too.
#[test]
fn on_wgpu_too() {
    interrupt_and_resume(
        "wgpu",
        &[AUGMENTED, &["--set", "model.dropout=0.3"]].concat(),
    );
}

/// A wgpu run killed once its first epoch is committed resumes from that
/// epoch's checkpoint, which Burn writes on a thread of its own while the
/// next epoch trains, and ends bit-identical. Before `model::backend` made
/// GPU reads eager, `optim-1.bpk` held a later step's memory in two runs of
/// three and the resume was refused.
#[test]
fn killed_after_its_first_epoch_on_wgpu_resumes_exactly() {
    let data = data();
    let artifacts = tempfile::tempdir().unwrap();
    let whole = train(
        data.path(),
        artifacts.path(),
        "whole",
        &["--epochs", "3", "--plain", "--backend", "wgpu"],
    );
    assert_success(&whole);

    let run = artifacts.path().join("killed");
    let mut args = train_args(data.path(), artifacts.path(), "killed", "3");
    args.extend(["--backend", "wgpu"]);
    let mut child = spawn(&args, artifacts.path());
    wait_for_epoch(&mut child, &run, 1);
    signal(&child, "-KILL");
    assert!(!child.wait().unwrap().success());
    assert!(committed_epoch(&run).is_some_and(|epoch| epoch < 3));

    let resumed = run_train(
        &["--resume", run.to_str().unwrap(), "--plain"],
        artifacts.path(),
    );
    assert_success(&resumed);
    assert_same_result(&run, &artifacts.path().join("whole"));
}

/// Distortions are drawn from (seed, epoch, image): a resumed run sees the
/// epochs it has left exactly as an uninterrupted one.
#[test]
fn with_augmentation_too() {
    interrupt_and_resume("flex", AUGMENTED);
}

/// Dropout masks are drawn from (seed, step, layer) on flex (and on wgpu,
/// see `on_wgpu_too`): a resumed run draws the masks an uninterrupted one
/// draws.
#[test]
fn with_dropout_too() {
    interrupt_and_resume("flex", &["--set", "model.dropout=0.3"]);
}

/// On `backend`, with `extra` flags: an uninterrupted run, and the same run
/// stopped by SIGINT after epoch 2 or later and resumed, end bit-identical.
/// The stopped run leaves a stop point inside the epoch it stopped in, and
/// the resumed run goes on from there.
fn interrupt_and_resume(backend: &str, extra: &[&str]) {
    let data = data();
    let artifacts = tempfile::tempdir().unwrap();
    let mut whole_args = vec!["--epochs", "12", "--plain", "--backend", backend];
    whole_args.extend(extra);
    let whole = train(data.path(), artifacts.path(), "whole", &whole_args);
    assert_success(&whole);

    let run = artifacts.path().join("cut");
    let mut args = train_args(data.path(), artifacts.path(), "cut", "12");
    args.extend(["--backend", backend]);
    args.extend(extra);
    let mut child = spawn(&args, artifacts.path());
    wait_for_epoch(&mut child, &run, 2);
    signal(&child, "-INT");
    let output = child.wait_with_output().unwrap();
    assert_stopped_by_sigint(&output, &stderr(&output), &run);
    assert!(
        !run.join("model.bpk").exists(),
        "an interrupted run saves no final model"
    );
    let stopped_after = committed_epoch(&run).unwrap();
    assert!((2..12).contains(&stopped_after), "{stopped_after}");
    let (stopped_in, batch) = stop_point(&run);
    assert_eq!(stopped_in, stopped_after + 1);
    // 3,000 images in batches of 32: 94 an epoch (94 when stopped while validating).
    assert!((1..=94).contains(&batch), "{batch}");
    assert!(
        stderr(&output).contains(&format!(
            "It stopped after batch {batch} of epoch {stopped_in}, kept in "
        )),
        "{}",
        stderr(&output)
    );

    let resumed = run_train(
        &["--resume", run.to_str().unwrap(), "--plain"],
        artifacts.path(),
    );
    assert_success(&resumed);
    assert!(
        stdout(&resumed).contains(&format!(
            "resuming in epoch {stopped_in} of 12 after batch {batch}"
        )),
        "{}",
        stdout(&resumed)
    );
    assert_same_result(&run, &artifacts.path().join("whole"));

    let again = run_train(&["--resume", run.to_str().unwrap()], artifacts.path());
    let error = assert_one_line_error(&again);
    assert!(
        error.ends_with("finished all 12 epochs already: nothing to resume"),
        "{error}"
    );
}

#[test]
fn a_second_signal_exits_at_once_and_the_run_still_resumes() {
    let data = data();
    let artifacts = tempfile::tempdir().unwrap();
    let run = artifacts.path().join("twice");
    let mut child = spawn(
        &train_args(data.path(), artifacts.path(), "twice", "100"),
        artifacts.path(),
    );
    wait_for_epoch(&mut child, &run, 1);
    // Two system calls microseconds apart: the second arrives long before
    // the first has stopped training.
    let pid = child.id() as libc::pid_t;
    // SAFETY: signals to our own child, which has not been waited for.
    unsafe {
        assert_eq!(libc::kill(pid, libc::SIGINT), 0);
        assert_eq!(libc::kill(pid, libc::SIGTERM), 0);
    }
    let output = child.wait_with_output().unwrap();
    let err = stderr(&output);
    assert!(
        matches!(output.status.code(), Some(130 | 143)),
        "{:?}: {err}",
        output.status
    );
    assert!(err.contains("a second stop signal, "), "{err}");
    assert!(err.contains(": stopped at once. Resume with: "), "{err}");
    assert_whole(&run);
    let resumed = run_train(
        &["--resume", run.to_str().unwrap(), "--plain"],
        artifacts.path(),
    );
    assert_success(&resumed);
}

/// Ctrl-C typed into Burn's dashboard (a terminal from util-linux's `script`)
/// stops training like SIGINT, and the terminal is given back.
#[test]
fn ctrl_c_in_the_dashboard_stops_and_restores_the_terminal() {
    use std::io::Write;
    if Command::new("script").arg("--version").output().is_err() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "script (util-linux) is missing"
        );
        eprintln!("skipped: no `script` to give train a terminal");
        return;
    }
    let data = data();
    let artifacts = tempfile::tempdir().unwrap();
    let run = artifacts.path().join("tui");
    let mut args = train_args(data.path(), artifacts.path(), "tui", "100");
    args.retain(|arg| *arg != "--plain");
    let command = format!("{} {}", train_bin().display(), args.join(" "));
    let mut child = Command::new("script")
        .args(["-qec", &command, "/dev/null"])
        .current_dir(artifacts.path())
        .env("TERM", "xterm")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The dashboard redraws ten times a second: read its frames as they come,
    // or a full pipe would stop `script`, and the run behind it, on a busy
    // machine.
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let (out, err) = (drain(out.unwrap()), drain(err.unwrap()));
    // Two epochs: the dashboard has long been in raw mode with Ctrl-C re-enabled.
    wait_for_epoch(&mut child, &run, 2);
    child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();
    let output = Output {
        status: child.wait().unwrap(),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    };
    let screen = stdout(&output);
    assert_stopped_by_sigint(&output, &screen, &run);
    // The dashboard left the alternate screen and showed the cursor again.
    assert!(
        screen.contains("\x1b[?1049l") && screen.contains("\x1b[?25h"),
        "{screen:?}"
    );
    assert!(committed_epoch(&run).is_some());
}

/// Two runs ended with bit-identical test metrics and per-epoch metrics.
fn assert_same_result(run: &Path, reference: &Path) {
    assert_eq!(test_result(run), test_result(reference));
    assert_eq!(metrics_without_time(run), metrics_without_time(reference));
}

/// `train` ended on SIGINT: status 130, and `text` (its stderr, or the
/// terminal) says so and how to resume `run`.
fn assert_stopped_by_sigint(output: &std::process::Output, text: &str, run: &Path) {
    assert_eq!(output.status.code(), Some(130), "{text}");
    assert!(
        text.contains("training interrupted by SIGINT (Ctrl-C) during epoch "),
        "{text}"
    );
    let hint = format!(
        "Resume with: cargo run --release -p train -- --resume {}",
        run.display()
    );
    assert!(text.contains(&hint), "{text}");
}

/// The epoch and batch `<run>/checkpoint/stopped.json` names.
fn stop_point(run: &Path) -> (u64, u64) {
    let text = std::fs::read_to_string(run.join("checkpoint/stopped.json"))
        .expect("an interrupted run leaves a stop point");
    let point: serde_json::Value = serde_json::from_str(&text).unwrap();
    (
        point["epoch"].as_u64().unwrap(),
        point["trained"]["batches"].as_u64().unwrap(),
    )
}

fn run_train(args: &[&str], cwd: &Path) -> std::process::Output {
    run(&train_bin(), args, cwd)
}

/// Every file of the run is whole: config.toml and latest.json parse, and the
/// models of every epoch kept load into the network. Scratch files (`*.tmp`)
/// an interrupted write leaves are the only exception; a resume removes them.
fn assert_whole(run: &Path) {
    if let Err(error) = run::read_config(run) {
        panic!("config.toml is half-written: {error:#}");
    }
    committed_epoch(run);
    let Ok(entries) = std::fs::read_dir(run.join("checkpoint")) else {
        return;
    };
    for entry in entries {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        if name.starts_with("model-") && name.ends_with(".bpk") {
            let record = ModuleRecord::load(&path)
                .unwrap_or_else(|error| panic!("{name} does not load: {error}"));
            model::MlpConfig::new()
                .init(&Device::flex())
                .try_load_record(record)
                .unwrap_or_else(|error| panic!("{name} is not the network: {error}"));
        }
    }
}

#[test]
fn sigkill_at_random_moments_never_leaves_a_run_that_cannot_resume() {
    let data = data();
    let artifacts = tempfile::tempdir().unwrap();
    // Enough epochs (about 35 ms each) that twelve kills come before the end.
    let epochs = "200";
    let run = artifacts.path().join("killed");
    let fresh = train_args(data.path(), artifacts.path(), "killed", epochs);
    let resume = ["--resume", run.to_str().unwrap(), "--plain"];
    // A fixed pseudo-random sequence of delays, 20 to 320 ms.
    let mut state: u64 = 0x5eed;
    let mut delay = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Duration::from_millis(20 + (state >> 33) % 300)
    };
    let (mut kills, mut resumes, mut restarts) = (0, 0, 0);
    let started = Instant::now();
    while kills < 12 {
        assert!(
            started.elapsed() < Duration::from_secs(240),
            "{kills} kills in 240 s"
        );
        let mut child = if committed_epoch(&run).is_some() {
            resumes += 1;
            spawn(&resume, artifacts.path())
        } else {
            // Killed before any epoch finished: nothing to resume, start over.
            restarts += 1;
            let _ = std::fs::remove_dir_all(&run);
            spawn(&fresh, artifacts.path())
        };
        std::thread::sleep(delay());
        if child.try_wait().unwrap().is_some() {
            panic!(
                "the run ended before it was killed: {:?}",
                child.wait_with_output()
            );
        }
        signal(&child, "-KILL");
        let status: ExitStatus = child.wait().unwrap();
        assert!(!status.success());
        kills += 1;
        assert_whole(&run);
    }
    let last = run_train(&resume, artifacts.path());
    assert_success(&last);
    eprintln!("{kills} kills, {resumes} resumes, {restarts} fresh starts");

    let whole = train(
        data.path(),
        artifacts.path(),
        "whole",
        &["--epochs", epochs, "--plain"],
    );
    assert_success(&whole);
    assert_same_result(&run, &artifacts.path().join("whole"));
    let left: Vec<_> = std::fs::read_dir(run.join("checkpoint"))
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .filter(|name| name.ends_with(".tmp"))
        .collect();
    assert!(
        left.is_empty(),
        "scratch files left after the resume: {left:?}"
    );
}

#[test]
fn a_diverging_loss_stops_with_the_epoch_batch_and_rate() {
    let data = data();
    let artifacts = tempfile::tempdir().unwrap();
    let output = train(
        data.path(),
        artifacts.path(),
        "blown",
        &["--lr", "1e30", "--plain"],
    );
    let error = assert_one_line_error(&output);
    assert!(
        error.starts_with(
            "error: training diverged: the training loss became NaN at epoch 1, batch "
        ),
        "{error}"
    );
    assert!(
        error.contains("(learning rate 1e30); lower optimizer.learning_rate."),
        "{error}"
    );
    assert!(
        error.ends_with("No epoch finished, so there is no checkpoint: start the run again."),
        "{error}"
    );
    let run = artifacts.path().join("blown");
    assert!(!run.join("model.bpk").exists() && !run.join("test.json").exists());
}

#[test]
fn a_loss_that_explodes_without_reaching_nan_stops_with_the_epoch_batch_and_rate() {
    let data = data();
    let artifacts = tempfile::tempdir().unwrap();
    let output = train(
        data.path(),
        artifacts.path(),
        "exploded",
        &["--lr", "1000", "--plain"],
    );
    let error = assert_one_line_error(&output);
    assert!(
        error.starts_with(
            "error: training diverged: the training loss stayed above 100 times an untrained \
             network's ("
        ),
        "{error}"
    );
    // The loss is huge but a number: the NaN check alone let this run finish.
    assert!(
        error.contains(") for 20 batches in a row, reaching ") && !error.contains("NaN"),
        "{error}"
    );
    assert!(
        error.contains(" at epoch 1, batch ")
            && error.contains("(learning rate 1e3); lower optimizer.learning_rate."),
        "{error}"
    );
    let run = artifacts.path().join("exploded");
    assert!(!run.join("model.bpk").exists() && !run.join("test.json").exists());
}

#[test]
fn a_run_that_ends_no_better_than_chance_says_so_in_its_last_line() {
    // Adam at 10 blows the loss up in epoch 1 (to about 1e6 on average, never
    // NaN, never 20 batches in a row above the limit), and the network ends
    // dead: it answers one digit for every image.
    let data = data();
    let artifacts = tempfile::tempdir().unwrap();
    let output = train(
        data.path(),
        artifacts.path(),
        "chance",
        &["--lr", "10", "--epochs", "2", "--plain"],
    );
    assert_success(&output);
    let epoch_1 = stdout(&output)
        .lines()
        .find_map(|line| line.strip_prefix("Epoch 1/2 - ").map(str::to_string))
        .unwrap();
    let loss: f64 = epoch_1
        .split("loss: ")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(loss > 1000.0 && loss.is_finite(), "{epoch_1}");
    let err = stderr(&output);
    let last = err.lines().last().unwrap_or_default();
    // The labels cycle through the ten digits: guessing scores 10%.
    assert!(
        last.starts_with(
            "warning: the model is no better than chance: validation accuracy 10.00% against \
             10.00% for always answering the most common digit."
        ),
        "{err}"
    );
    assert!(last.contains("(this run: 1e1)"), "{last}");
    assert!(artifacts.path().join("chance/test.json").exists());
}

#[test]
fn resume_errors_are_one_line() {
    let artifacts = tempfile::tempdir().unwrap();
    let missing = artifacts.path().join("nothing");
    let error = assert_one_line_error(&run_train(
        &["--resume", missing.to_str().unwrap()],
        artifacts.path(),
    ));
    assert!(error.contains("nothing is not a run directory"), "{error}");

    let data = data();
    let output = train(
        data.path(),
        artifacts.path(),
        "started",
        &["--lr", "1e30", "--plain"],
    );
    assert!(!output.status.success());
    let run = artifacts.path().join("started");
    let error = assert_one_line_error(&run_train(
        &["--resume", run.to_str().unwrap()],
        artifacts.path(),
    ));
    assert!(error.contains("has no complete checkpoint"), "{error}");

    // Options that would change how the run was trained are refused, named.
    let changed = run_train(
        &["--resume", run.to_str().unwrap(), "--set", "epochs=2"],
        artifacts.path(),
    );
    assert_eq!(changed.status.code(), Some(2));
    assert!(
        stderr(&changed).contains("cannot be used with '--set <KEY=VALUE>'"),
        "{}",
        stderr(&changed)
    );
    // A run whose config is gone does not resume with the defaults.
    std::fs::write(run.join("config.toml"), "").unwrap();
    let error = assert_one_line_error(&run_train(
        &["--resume", run.to_str().unwrap()],
        artifacts.path(),
    ));
    assert!(
        error.contains("started/config.toml is empty: the run's config is lost"),
        "{error}"
    );
}

#[test]
fn a_full_disk_is_reported_with_the_path() {
    // A file size limit of 100 KiB: the first checkpoint's model or optimizer
    // file (about 220 and 440 KB) cannot be written. SIGXFSZ is ignored so that
    // the write fails instead of killing the process.
    let data = data();
    let artifacts = tempfile::tempdir().unwrap();
    let args = train_args(data.path(), artifacts.path(), "full", "2").join(" ");
    let output = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "trap '' XFSZ; ulimit -f 100; exec {} {args}",
            train_bin().display()
        ))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let error = assert_one_line_error(&output);
    assert!(error.starts_with("error: training failed: "), "{error}");
    assert!(error.contains("/full/checkpoint/"), "{error}");
    assert!(error.contains("-1.bpk"), "{error}");
    assert!(error.contains("File too large"), "{error}");
    assert!(!artifacts.path().join("full/model.bpk").exists());
}

/// A checkpoint file that changed after it was committed (truncated, emptied,
/// one bit flipped, another network's file, the optimizer state swapped for
/// the model's) is refused by name instead of panicking in Burn's loader or
/// resuming silently; a finished run whose final save did not complete is
/// saved again by `--resume` from its last checkpoint, to the same result.
#[test]
fn changed_checkpoints_are_refused_and_an_unfinished_final_save_is_redone() {
    let data = data();
    let artifacts = tempfile::tempdir().unwrap();
    assert_success(&train(
        data.path(),
        artifacts.path(),
        "done",
        &["--epochs", "2", "--plain"],
    ));
    assert_success(&train(
        data.path(),
        artifacts.path(),
        "other",
        &["--epochs", "1", "--plain", "--set", "model.hidden=[16]"],
    ));
    let done = artifacts.path().join("done");
    let reference = test_result(&done);

    // The final model lost (a full disk at the final save): resumed, saved again.
    std::fs::remove_file(done.join("model.bpk")).unwrap();
    let resumed = run_train(&["--resume", done.to_str().unwrap()], artifacts.path());
    assert_success(&resumed);
    assert!(
        stdout(&resumed).contains("final save of") && stdout(&resumed).contains("is incomplete"),
        "{}",
        stdout(&resumed)
    );
    assert_eq!(test_result(&done), reference);
    let infer = run(
        &infer_bin(),
        &[
            "--run",
            done.to_str().unwrap(),
            "--data-dir",
            data.path().to_str().unwrap(),
        ],
        artifacts.path(),
    );
    assert_success(&infer);

    // One more epoch to resume into, then each corruption of its checkpoint.
    let config = std::fs::read_to_string(done.join("config.toml")).unwrap();
    std::fs::write(
        done.join("config.toml"),
        config.replace("epochs = 2", "epochs = 3"),
    )
    .unwrap();
    let checkpoint = done.join("checkpoint");
    let model = std::fs::read(checkpoint.join("model-2.bpk")).unwrap();
    let mut flipped = model.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x08;
    let other = std::fs::read(artifacts.path().join("other/checkpoint/model-1.bpk")).unwrap();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("model-2.bpk", model[..model.len() / 2].to_vec()),
        ("model-2.bpk", Vec::new()),
        ("model-2.bpk", flipped),
        ("model-2.bpk", other),
        ("optim-2.bpk", model.clone()),
    ];
    for (file, bytes) in cases {
        let path = checkpoint.join(file);
        let kept = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes).unwrap();
        let output = run_train(&["--resume", done.to_str().unwrap()], artifacts.path());
        let error = assert_one_line_error(&output);
        assert!(
            error.contains(&format!("{file} is not the file"))
                && error.contains("it changed or is corrupt"),
            "{file} ({} bytes): {error}",
            bytes.len()
        );
        std::fs::write(&path, kept).unwrap();
    }
    // Whole again, it resumes.
    assert_success(&run_train(
        &["--resume", done.to_str().unwrap()],
        artifacts.path(),
    ));
    assert_eq!(test_summary(&done).epochs_completed, 3);
}

/// Two resumes of one run at once: the second is turned away, naming the
/// lock the first holds, and the first trains on to the end alone.
#[test]
fn a_second_resume_of_a_run_being_trained_is_refused() {
    let data = data();
    let artifacts = tempfile::tempdir().unwrap();
    let run = artifacts.path().join("twice");
    let mut child = spawn(
        &train_args(data.path(), artifacts.path(), "twice", "8"),
        artifacts.path(),
    );
    wait_for_epoch(&mut child, &run, 1);
    signal(&child, "-INT");
    assert_eq!(child.wait().unwrap().code(), Some(130));

    let resume = ["--resume", run.to_str().unwrap(), "--plain"];
    let mut first = spawn(&resume, artifacts.path());
    let resumed_from = committed_epoch(&run).unwrap();
    // Holding the lock from before it reads the checkpoint: once it has
    // committed an epoch of its own, it certainly holds it.
    wait_for_epoch(&mut first, &run, resumed_from + 1);
    let second = run_train(&resume, artifacts.path());
    let error = assert_one_line_error(&second);
    assert!(
        error.contains("twice is being trained by another process (it holds ")
            && error.contains("train.lock); wait for it to end"),
        "{error}"
    );
    let output = first.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(test_summary(&run).epochs_completed, 8);
}
