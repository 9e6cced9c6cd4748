//! The `train` crate's integration tests: one test binary, so Burn is linked
//! into one test executable (each module was a binary of its own). `common`
//! holds this crate's helpers; the ones several crates share are in testkit.

mod common;
mod end_to_end;
mod experiments;
mod not_root;
mod pipes;
mod resume;
mod slurm;
mod tensorboard;
mod together;
mod train_binary;
