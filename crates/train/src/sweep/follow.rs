//! Where a Slurm sweep stands: each array task's state, from the queue
//! (`squeue`) and from the record each task keeps in
//! `<sweep>/slurm/task-<index>.json`; following the job until every task has
//! ended, and the summary once they have (`sweep status DIR` asks once).

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use console::outln;
use serde::{Deserialize, Serialize};

use super::plan::Plan;
use super::runner::{self, Swept};
use super::slurm::{self, TASKS_DIR};
use run::sweep_summary::Row;

/// How often a followed job's queue is read.
const POLL: Duration = Duration::from_secs(2);

/// What a task last did, as it records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Recorded {
    /// Training (or it died without a word: killed).
    Running,
    /// Stopped by a signal with its checkpoint; resumes when started again.
    Stopped,
    /// Trained and evaluated.
    Done,
    /// `train` failed; `why` says how.
    Failed,
}

/// A task's record, `<sweep>/slurm/task-<index>.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    /// How many times the task has started (1 + its requeues).
    pub starts: u32,
    pub state: Recorded,
    /// Why it failed: `train`'s exit status and the last line of its log.
    pub why: Option<String>,
}

/// `<sweep>/slurm/task-<index>.json`.
fn record_path(dir: &Path, index: usize) -> PathBuf {
    dir.join(TASKS_DIR).join(format!("task-{index}.json"))
}

impl TaskRecord {
    /// The record of task `index`, if it ever started.
    pub fn read(dir: &Path, index: usize) -> anyhow::Result<Option<Self>> {
        let path = record_path(dir, index);
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text)
                .map(Some)
                .with_context(|| format!("{}: not a task record", path.display())),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
        }
    }

    /// Writes it atomically.
    pub fn write(&self, dir: &Path, index: usize) -> anyhow::Result<()> {
        let path = record_path(dir, index);
        files::write_atomic(&path, serde_json::to_string(self)?.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// Clears a failed task's record before it is submitted again.
pub fn forget_failure(dir: &Path, index: usize) -> anyhow::Result<()> {
    if let Some(mut record) = TaskRecord::read(dir, index)?
        && record.state == Recorded::Failed
    {
        record.state = Recorded::Stopped;
        record.why = None;
        record.write(dir, index)?;
    }
    Ok(())
}

/// Where one array task stands.
#[derive(Clone, Debug, PartialEq)]
pub enum TaskState {
    /// Waiting in the queue (first time, or requeued).
    Pending,
    /// On a node.
    Running,
    /// Finished: its row of the table.
    Done(Row),
    /// `train` failed: why.
    Failed(String),
    /// Out of the queue without finishing (cancelled, timed out, its node
    /// lost): `sweep resume` trains it on.
    Unfinished,
}

impl TaskState {
    /// Still queued or running.
    pub fn is_live(&self) -> bool {
        matches!(self, Self::Pending | Self::Running)
    }
}

/// Each task's state, in the plan's order, and how many were requeued
/// (started again, or waiting to be).
pub fn task_states(dir: &Path, plan: &Plan) -> anyhow::Result<(Vec<TaskState>, usize)> {
    let queue = slurm::queued_tasks()?;
    let mut states = Vec::with_capacity(plan.jobs.len());
    let mut requeued = 0;
    for (index, job) in plan.jobs.iter().enumerate() {
        let record = TaskRecord::read(dir, index)?;
        // The newest submission that holds this task.
        let queued = plan
            .submitted
            .iter()
            .rev()
            .find_map(|id| queue.get(&(id.clone(), index)));
        let started = record.as_ref().map_or(0, |r| r.starts);
        let live = queued.map(|state| state != "CD" && state != "F" && state != "CA");
        let state = match (record.as_ref().map(|r| r.state), live) {
            (Some(Recorded::Done), _) => Row::read(&dir.join(&job.name), &job.name)
                .map(TaskState::Done)
                .unwrap_or_else(|error| TaskState::Failed(format!("{error:#}"))),
            (Some(Recorded::Failed), _) => TaskState::Failed(
                record
                    .and_then(|r| r.why)
                    .unwrap_or_else(|| "failed".into()),
            ),
            (_, Some(true)) if queued.is_some_and(|s| s == "PD") => TaskState::Pending,
            (_, Some(true)) => TaskState::Running,
            _ => TaskState::Unfinished,
        };
        if started > 1 || (started == 1 && state == TaskState::Pending) {
            requeued += 1;
        }
        states.push(state);
    }
    Ok((states, requeued))
}

/// `3 pending, 1 running, 0 done, 0 failed, 1 requeued` (and how many
/// stopped without finishing, if any).
fn counts(states: &[TaskState], requeued: usize) -> String {
    let count = |f: fn(&TaskState) -> bool| states.iter().filter(|s| f(s)).count();
    let mut line = format!(
        "{} pending, {} running, {} done, {} failed, {requeued} requeued",
        count(|s| *s == TaskState::Pending),
        count(|s| *s == TaskState::Running),
        count(|s| matches!(s, TaskState::Done(_))),
        count(|s| matches!(s, TaskState::Failed(_))),
    );
    let unfinished = count(|s| *s == TaskState::Unfinished);
    if unfinished > 0 {
        line += &format!(", {unfinished} stopped unfinished");
    }
    line
}

/// The last `lines` non-empty lines of a run's log, indented.
fn log_tail(dir: &Path, name: &str, lines: usize) -> String {
    let text = std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap_or_default();
    let tail: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    tail[tail.len().saturating_sub(lines)..]
        .iter()
        .map(|line| format!("    {line}\n"))
        .collect()
}

/// Follows the sweep's job, printing each run as it ends (with the tail of
/// its log when it failed) and the counts whenever they change, until
/// every task has ended; then [`finish`]es.
pub fn follow(dir: &Path, plan: &Plan) -> anyhow::Result<Swept> {
    let total = plan.jobs.len();
    let mut reported = vec![false; total];
    let mut ended = 0;
    let mut last = String::new();
    loop {
        let (states, requeued) = task_states(dir, plan)?;
        for (index, state) in states.iter().enumerate() {
            let outcome = match state {
                TaskState::Done(row) => Ok(row.clone()),
                TaskState::Failed(why) => Err(why.clone()),
                _ => continue,
            };
            if !std::mem::replace(&mut reported[index], true) {
                ended += 1;
                let name = &plan.jobs[index].name;
                runner::report_outcome(ended, total, name, &outcome, dir);
                let tail = log_tail(dir, name, 5);
                if outcome.is_err() && !tail.is_empty() {
                    outln!("{}", tail.trim_end());
                }
            }
        }
        let line = counts(&states, requeued);
        if line != last {
            outln!("job {}: {line}", plan.submitted.join("+"));
            last = line;
        }
        if !states.iter().any(TaskState::is_live) {
            return finish(dir, plan, states);
        }
        std::thread::sleep(POLL);
    }
}

/// Once no task is queued or running: the summary when every run finished
/// or failed; otherwise an error naming the runs that did not finish and
/// how to go on.
fn finish(dir: &Path, plan: &Plan, states: Vec<TaskState>) -> anyhow::Result<Swept> {
    let unfinished: Vec<&str> = states
        .iter()
        .zip(&plan.jobs)
        .filter(|(state, _)| **state == TaskState::Unfinished)
        .map(|(_, job)| job.name.as_str())
        .collect();
    if !unfinished.is_empty() {
        bail!(
            "{} of {} runs did not finish (cancelled, timed out or lost): {}; \
             `sweep resume {}` trains them on from their checkpoints",
            unfinished.len(),
            plan.jobs.len(),
            unfinished.join(", "),
            dir.display()
        );
    }
    let outcomes = states
        .into_iter()
        .zip(&plan.jobs)
        .map(|(state, job)| {
            let outcome = match state {
                TaskState::Done(row) => Ok(row),
                TaskState::Failed(why) => Err(why),
                _ => unreachable!("every task has ended"),
            };
            (job.name.clone(), outcome)
        })
        .collect();
    runner::summarise(dir, &plan.name, outcomes)
}

/// `sweep status DIR`: the job's counts now; once every task has ended,
/// the summary (as a followed sweep writes it). `None` while tasks are
/// still queued or running.
pub fn status(dir: &Path) -> anyhow::Result<Option<Swept>> {
    let plan = Plan::read(dir)?;
    let (states, requeued) = task_states(dir, &plan)?;
    outln!(
        "job {}: {}",
        plan.submitted.join("+"),
        counts(&states, requeued)
    );
    for (state, job) in states.iter().zip(&plan.jobs) {
        if let TaskState::Failed(why) = state {
            outln!("{} failed: {why}", job.name);
        }
    }
    if states.iter().any(TaskState::is_live) {
        return Ok(None);
    }
    finish(dir, &plan, states).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_name_every_state() {
        let states = [
            TaskState::Pending,
            TaskState::Running,
            TaskState::Running,
            TaskState::Failed("exit 1".into()),
            TaskState::Unfinished,
        ];
        assert_eq!(
            counts(&states, 1),
            "1 pending, 2 running, 0 done, 1 failed, 1 requeued, 1 stopped unfinished"
        );
    }
}
