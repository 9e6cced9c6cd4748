//! Training the tutorial network, as a library: [`resolve`] then [`train`]
//! are the whole `train` command (its `main.rs` reads flags and sets the
//! environment between the two); [`sweep`] is the sweep
//! command's grid and table; [`optim`] builds the optimizer and schedule a
//! config asks for.
//!
//! ```text
//! resolve      the config of a new run, or of the run to resume and where it stopped
//! session      the command: data, run directory, fit, the run's files
//! training     one fit through Burn's Learner: loaders, checkpoints, early stopping
//! strategy     the training loop (a custom Burn strategy that never waits on metrics)
//! metrics      the epoch's exact loss and accuracy as Burn metrics
//! guard        the divergence guard and the chance line
//! checkpoint   per-epoch checkpoints and checkpoint/latest.json
//! progress/    recorder (each epoch's figures), display (dashboard or lines), ended
//! stop_point   where a signal stopped a run inside an epoch, to resume there
//! signals      Ctrl-C and SIGTERM
//! optim        the optimizer and learning-rate schedule of a config
//! sweep        the sweep's grid of runs and its summary table
//! ```

mod checkpoint;
mod guard;
mod metrics;
pub mod optim;
mod progress;
mod resolve;
mod session;
mod signals;
mod stop_point;
mod strategy;
pub mod sweep;
mod training;

pub use resolve::{Resolved, TrainOptions, resolve};
pub use session::{Finished, train};
