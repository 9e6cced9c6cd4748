//! A training run's directory and every file in it, each read and written by
//! one type here and nowhere else:
//!
//! ```text
//! <run>/config.toml      the resolved config (file plus flags)   RunDir::write_config, read_config
//! <run>/metrics.csv      one row per epoch                        EpochMetrics::write_csv, read_csv
//! <run>/grad_norms.csv   each layer's gradient norm per epoch     GradNorms
//! <run>/test.json        the final test figures                   TestSummary
//! <run>/plots/*.png      the pictures                             plots::write_run_plots
//! <run>/tensorboard/     TensorBoard's event files                TensorBoard
//! <run>/train.lock       held by the process training the run      RunDir
//! ```
//!
//! A sweep's directory holds its runs and `summary.md`, `summary.csv`
//! ([`sweep_summary`]).
//!
//! The model (`model.json`, `model.bpk`) is `model::artifact`'s, the
//! checkpoints (`checkpoint/latest.json`) `train`'s checkpoint module's.
//! A run never replaces an earlier one unless asked: a taken name gets `-2`,
//! `-3`...

mod csv;
mod dir;
mod grad_norms;
mod metrics;
pub mod plots;
mod summary;
pub mod sweep_summary;
mod tensorboard;

pub use dir::{CONFIG_FILE, LOCK_FILE, RunDir, create_numbered, newest_run, read_config};
pub use grad_norms::GradNorms;
pub use metrics::EpochMetrics;
pub use summary::TestSummary;
pub use tensorboard::{BATCH_LOSS_EVERY, TENSORBOARD_DIR, TensorBoard};
