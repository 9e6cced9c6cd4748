//! One array task of a Slurm sweep (`sweep task DIR INDEX`, what the job
//! script execs): trains run INDEX of the sweep's plan into the sweep
//! directory, or resumes it from its checkpoint when an earlier start of the
//! task left one, and records how it ended in `slurm/task-<INDEX>.json`.
//!
//! Signals: Slurm's warning before the time limit (USR1, sent to this
//! process only) is passed on to `train` as SIGTERM; `train` stops at the
//! next batch boundary with a stop point there, and the task
//! requeues itself with `scontrol requeue`. On preemption, requeue or
//! cancellation Slurm sends SIGTERM to every process of the job, `train`
//! included, so the task does not pass that one on (a second signal would
//! make `train` stop at once); it waits for `train` and records that the run
//! stopped.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, bail};
use console::outln;
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook::iterator::Signals;

use super::follow::{Recorded, TaskRecord};
use super::plan::Plan;
use super::runner;
use crate::checkpoint::{CHECKPOINT_DIR, LATEST_FILE};
use crate::stop_point::STOPPED_FILE;
use run::sweep_summary::Row;

/// Runs task `index` of the sweep in `dir`; returns the process's exit
/// status (0 when the run finished or was requeued).
pub fn task(dir: &Path, index: usize) -> anyhow::Result<u8> {
    let plan = Plan::read(dir)?;
    let Some(job) = plan.jobs.get(index) else {
        bail!(
            "task {index}: the sweep {} has {} runs (0 to {})",
            dir.display(),
            plan.jobs.len(),
            plan.jobs.len().saturating_sub(1)
        );
    };
    let mut record = TaskRecord::read(dir, index)?.unwrap_or(TaskRecord {
        starts: 0,
        state: Recorded::Running,
        why: None,
    });
    record.starts += 1;
    record.state = Recorded::Running;
    record.why = None;
    record.write(dir, index)?;
    let run_dir = dir.join(&job.name);
    outln!(
        "task {index} ({}), start {}, Slurm job {}",
        job.name,
        record.starts,
        std::env::var("SLURM_JOB_ID").unwrap_or_else(|_| "?".into())
    );

    let finished =
        model::artifact::check_saved(&run_dir).is_ok() && run::TestSummary::read(&run_dir).is_ok();
    let checkpoints = run_dir.join(CHECKPOINT_DIR);
    let resume =
        checkpoints.join(LATEST_FILE).is_file() || checkpoints.join(STOPPED_FILE).is_file();
    if !finished {
        if !resume && run_dir.exists() {
            // Stopped before its first checkpoint: nothing to keep.
            std::fs::remove_dir_all(&run_dir)
                .with_context(|| format!("cannot remove {}", run_dir.display()))?;
        }
        let watched = [SIGUSR1, SIGTERM, SIGINT];
        let mut signals = Signals::new(watched).context("cannot watch for Slurm's signals")?;
        let log_path = dir.join(format!("{}.log", job.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("cannot open {}", log_path.display()))?;
        let mut command = runner::train_command(
            &plan.train,
            job,
            dir,
            &plan.set,
            plan.data_dir.as_deref(),
            resume,
            log,
        )?;
        // The run's thread pool as wide as the CPUs Slurm gave the task.
        if let Ok(cpus) = std::env::var("SLURM_CPUS_PER_TASK")
            && std::env::var_os("RAYON_NUM_THREADS").is_none()
        {
            command.env("RAYON_NUM_THREADS", cpus);
        }
        outln!(
            "{} {}",
            if resume { "resuming" } else { "training" },
            run_dir.display()
        );
        let mut child = command
            .spawn()
            .with_context(|| format!("cannot start {}", plan.train.display()))?;
        let pid = child.id() as libc::pid_t;
        let warned = Arc::new(AtomicBool::new(false));
        let handle = signals.handle();
        let watcher = {
            let warned = Arc::clone(&warned);
            std::thread::spawn(move || {
                for signal in signals.forever() {
                    if signal == SIGUSR1 && !warned.swap(true, Ordering::SeqCst) {
                        // SAFETY: signals our own child, which this thread
                        // outlives only until the child has been waited for.
                        unsafe { libc::kill(pid, SIGTERM) };
                    }
                }
            })
        };
        let status = child.wait().context("cannot wait for train")?;
        handle.close();
        let _ = watcher.join();
        if !status.success() {
            let text = std::fs::read_to_string(&log_path).unwrap_or_default();
            let interrupted = [128 + SIGTERM, 128 + SIGINT].contains(&status.code().unwrap_or(0))
                || std::os::unix::process::ExitStatusExt::signal(&status).is_some();
            if !interrupted {
                record.state = Recorded::Failed;
                record.why = Some(runner::failure(status, &text));
                record.write(dir, index)?;
                outln!("failed: {}", record.why.as_deref().unwrap_or(""));
                return Ok(1);
            }
            record.state = Recorded::Stopped;
            record.write(dir, index)?;
            if !warned.load(Ordering::SeqCst) {
                outln!("stopped by a signal ({status}); its checkpoints are kept");
                return Ok(128 + SIGTERM as u8);
            }
            return requeue();
        }
    }
    Row::read(&run_dir, &job.name)?;
    record.state = Recorded::Done;
    record.write(dir, index)?;
    outln!("done: {}", run_dir.display());
    Ok(0)
}

/// After Slurm's warning: puts this task back in the queue, where it will
/// resume its run from the checkpoint.
fn requeue() -> anyhow::Result<u8> {
    let id = std::env::var("SLURM_JOB_ID")
        .context("warned (USR1) outside a Slurm job: not requeued; its checkpoints are kept")?;
    let output = Command::new("scontrol")
        .args(["requeue", &id])
        .output()
        .context("cannot run scontrol to requeue the task")?;
    if !output.status.success() {
        bail!(
            "scontrol requeue {id} refused: {}",
            console::one_line(String::from_utf8_lossy(&output.stderr).trim())
        );
    }
    outln!("stopped on Slurm's warning with its checkpoint; requeued as job {id}");
    Ok(0)
}
