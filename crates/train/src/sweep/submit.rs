//! Submitting a sweep to Slurm (`sweep --slurm`), following it when asked,
//! and submitting again what did not finish (`sweep resume`).

use std::path::Path;

use anyhow::{Context, bail};
use console::outln;

use super::follow::{self, TaskState};
use super::plan::{Plan, SlurmOptions};
use super::runner::{self, SweepOptions, Swept};
use super::slurm;

/// How `sweep --slurm` submits.
#[derive(Clone, Copy, Debug, Default)]
pub struct SlurmSubmit {
    /// Print the job script; write and submit nothing.
    pub dry_run: bool,
    /// Replace an existing sweep directory of the same name.
    pub overwrite: bool,
    /// Follow the job until every task has ended, then summarise.
    pub wait: bool,
}

/// Submits the sweep `options` describe as one Slurm job array (see the
/// module's doc), then follows it when `how.wait`. Returns the sweep's
/// outcome when it was followed to the end.
pub fn submit(
    options: &SweepOptions,
    slurm: &SlurmOptions,
    how: SlurmSubmit,
) -> anyhow::Result<Option<Swept>> {
    // Tasks run in another directory, on other nodes: absolute paths.
    let absolute = |path: &Path| {
        std::path::absolute(path)
            .with_context(|| format!("cannot make {} absolute", path.display()))
    };
    let mut jobs = runner::planned_jobs(options)?;
    for job in &mut jobs {
        if let Some(config) = &job.config {
            job.config = Some(absolute(config)?);
        }
    }
    let dir = slurm::sbatch_path(&options.artifacts.join(&options.name), "sweep directory")?;
    let sweep = slurm::sbatch_path(
        &std::env::current_exe().context("cannot find the sweep binary")?,
        "sweep binary",
    )?;
    let cwd = slurm::sbatch_path(
        &std::env::current_dir().context("cannot read the working directory")?,
        "working directory",
    )?;
    let mut plan = Plan {
        name: options.name.clone(),
        jobs,
        set: options.set.clone(),
        data_dir: options.data_dir.as_deref().map(absolute).transpose()?,
        train: runner::train_binary()?,
        max_running: options.jobs,
        slurm: slurm.clone(),
        submitted: Vec::new(),
    };
    let text = slurm::script(&plan, &dir, &sweep, &cwd);
    if how.dry_run {
        outln!("{text}");
        return Ok(None);
    }
    if dir.exists() {
        if !how.overwrite {
            bail!(
                "{} exists: give the sweep another --name, or --overwrite to replace it",
                dir.display()
            );
        }
        if let Ok(old) = Plan::read(&dir) {
            let (states, _) = follow::task_states(&dir, &old)?;
            if states.iter().any(TaskState::is_live) {
                bail!(
                    "{} has tasks still queued or running: scancel them first",
                    dir.display()
                );
            }
        }
        std::fs::remove_dir_all(&dir)
            .with_context(|| format!("cannot remove {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join(slurm::TASKS_DIR))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    let script_path = dir.join(slurm::SCRIPT_FILE);
    let submitted = plan
        .write(&dir)
        .and_then(|()| {
            files::write_atomic(&script_path, text.as_bytes())
                .with_context(|| format!("cannot write {}", script_path.display()))
        })
        .and_then(|()| slurm::sbatch(&script_path, None));
    let id = match submitted {
        Ok(id) => id,
        Err(error) => {
            // Nothing half-made: no job, no directory.
            let _ = std::fs::remove_dir_all(&dir);
            return Err(error);
        }
    };
    plan.submitted.push(id.clone());
    plan.write(&dir)?;
    outln!(
        "sweep of {} runs submitted as Slurm job array {id}, at most {} at a time: {}",
        plan.jobs.len(),
        plan.max_running,
        script_path.display()
    );
    follow_or_say(&dir, &plan, how.wait)
}

/// Follows the job to its end when `wait`; otherwise says how to ask later.
fn follow_or_say(dir: &Path, plan: &Plan, wait: bool) -> anyhow::Result<Option<Swept>> {
    if wait {
        return follow::follow(dir, plan).map(Some);
    }
    outln!("follow it with: sweep status {}", dir.display());
    Ok(None)
}

/// Submits again, as a new job array of the same script, the runs of the
/// sweep in `dir` that did not finish (cancelled, stopped, failed); each
/// resumes from its checkpoint. Refused while tasks are still queued or
/// running.
pub fn resume(dir: &Path, wait: bool) -> anyhow::Result<Option<Swept>> {
    let mut plan = Plan::read(dir)?;
    let (states, _) = follow::task_states(dir, &plan)?;
    let live = states.iter().filter(|state| state.is_live()).count();
    if live > 0 {
        bail!(
            "{live} tasks of {} are still queued or running: follow them with `sweep status {0}`",
            dir.display()
        );
    }
    let again: Vec<usize> = states
        .iter()
        .enumerate()
        .filter(|(_, state)| !matches!(state, TaskState::Done(_)))
        .map(|(index, _)| index)
        .collect();
    if again.is_empty() {
        outln!("every run of {} is done", dir.display());
        return follow::follow(dir, &plan).map(Some);
    }
    for &index in &again {
        follow::forget_failure(dir, index)?;
    }
    let spec = slurm::array_spec(&again, plan.max_running);
    let id = slurm::sbatch(&dir.join(slurm::SCRIPT_FILE), Some(spec.clone()))?;
    plan.submitted.push(id.clone());
    plan.write(dir)?;
    let names: Vec<&str> = again
        .iter()
        .map(|&index| plan.jobs[index].name.as_str())
        .collect();
    outln!(
        "{} runs submitted again as Slurm job array {id} (--array={spec}): {}",
        again.len(),
        names.join(", ")
    );
    follow_or_say(dir, &plan, wait)
}
