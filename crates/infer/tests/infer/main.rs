//! The `infer` crate's integration tests: one test binary, so Burn is linked
//! into one test executable (each module was a binary of its own). `common`
//! holds this crate's helpers; the ones several crates share are in testkit.

mod browser;
mod committee;
mod common;
mod export;
mod fuzz_regressions;
mod serve_api;
mod serve_limits;
mod site;
