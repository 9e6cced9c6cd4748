//! The command-line flags that override one key each.

use std::path::PathBuf;

use crate::names::Backend;

/// Flags that override one key each.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Overrides {
    /// Overrides `epochs`.
    #[arg(long)]
    pub epochs: Option<usize>,
    /// Overrides `batch_size`.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Overrides `optimizer.learning_rate`.
    #[arg(long)]
    pub lr: Option<f64>,
    /// Overrides `seed`.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Overrides `backend`: flex, ndarray or wgpu.
    #[arg(long)]
    pub backend: Option<Backend>,
    /// Overrides `data_dir`: a directory of MNIST-shaped IDX files (raw or .gz).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Overrides `artifacts`: the directory that holds the runs.
    #[arg(long)]
    pub artifacts: Option<PathBuf>,
    /// Overrides `run_name`.
    #[arg(long)]
    pub run_name: Option<String>,
    /// Sets any key, as it is written in the config: `--set model.hidden=[128,128]`,
    /// `--set optimizer.kind=sgd` (which drops the keys SGD does not take).
    /// Repeatable; applied before the flags above.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}
