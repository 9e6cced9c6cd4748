//! A Slurm sweep's plan, `<sweep>/sweep.json`: what every array task trains
//! and how the job was asked for, written before submitting and read by each
//! task, by `sweep status` and by `sweep resume`.

use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::Job;

/// The plan's file in the sweep directory.
pub const PLAN_FILE: &str = "sweep.json";

/// What a Slurm sweep trains, with absolute paths (tasks run on other nodes,
/// in another directory).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Plan {
    /// The sweep's name (its directory's), for the chart's title.
    pub name: String,
    /// One per array task, in the task's index order.
    pub jobs: Vec<Job>,
    /// `KEY=VALUE` set in every run, before the job's own.
    pub set: Vec<String>,
    /// Passed to every run: a directory of MNIST-shaped IDX files.
    pub data_dir: Option<PathBuf>,
    /// The `train` binary each task runs.
    pub train: PathBuf,
    /// At most this many tasks run at once (`--array=...%K`).
    pub max_running: u32,
    /// What each task asks Slurm for.
    pub slurm: SlurmOptions,
    /// The Slurm job ids this sweep was submitted as, oldest first (a
    /// resumed sweep has several).
    pub submitted: Vec<String>,
}

impl Plan {
    /// Reads `<dir>/sweep.json`; errors name the file and what is wrong.
    pub fn read(dir: &Path) -> anyhow::Result<Self> {
        let path = dir.join(PLAN_FILE);
        let text = std::fs::read_to_string(&path).with_context(|| {
            format!(
                "cannot read {} (is {} a sweep submitted with --slurm?)",
                path.display(),
                dir.display()
            )
        })?;
        serde_json::from_str(&text).with_context(|| format!("{}: not a sweep plan", path.display()))
    }

    /// Writes `<dir>/sweep.json` atomically.
    pub fn write(&self, dir: &Path) -> anyhow::Result<()> {
        let path = dir.join(PLAN_FILE);
        let text = serde_json::to_string_pretty(self)?;
        files::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

/// What every array task asks Slurm for (`sbatch` options).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SlurmOptions {
    /// `--partition`.
    pub partition: Option<String>,
    /// `--time`, as Slurm writes it (`MM`, `HH:MM:SS`, `D-HH`...).
    pub time: Option<String>,
    /// `--cpus-per-task`; the run's thread pool takes as many threads.
    pub cpus_per_task: Option<u32>,
    /// `--mem` (per node: `4G`, `500M`).
    pub mem: Option<String>,
    /// `--gpus-per-task` (`1`, `a100:1`).
    pub gpus_per_task: Option<String>,
    /// Seconds before the time limit at which Slurm warns a task (USR1 to
    /// the task, which then stops its run with a checkpoint and requeues it).
    pub warning_seconds: u32,
    /// Further `sbatch` options, one per `#SBATCH` line (`--qos=long`).
    pub sbatch_args: Vec<String>,
}
