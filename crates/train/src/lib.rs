//! What of `train` other programs use: the config format (which the fuzz
//! targets in `fuzz/` parse), the optimizer and schedule it builds, and the
//! pictures of a run (which `infer plot` draws again), and the sweep's grid
//! and table.

pub mod config;
pub mod optim;
pub mod plots;
pub mod sweep;
