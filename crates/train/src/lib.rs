//! What of `train` other programs use: the config format, which the fuzz
//! targets (`fuzz/`) parse.

pub mod config;
