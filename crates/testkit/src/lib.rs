//! What the integration tests of the workspace's crates share. Each crate
//! has one test binary, `crates/<crate>/tests/<crate>/main.rs`, whose modules
//! are its test files (so Burn is linked once per crate, not once per file);
//! a crate's own helpers stay in its binary, and the ones several crates need
//! live here, with the unit tests' fake npm ([`fake_npm`], for data's fetch
//! and infer's onnxruntime-web). A dev-dependency only.

mod bins;
mod cache;
mod command;
mod http;
#[cfg(unix)]
mod npm;
mod own_process;
mod server;

pub use bins::workspace_bin;
pub use cache::{cache_dir, export_python_or_skip, skip};
pub use command::{assert_one_line_error, assert_success, run, signal, start, stderr, stdout};
pub use http::{RawResponse, raw_request};
#[cfg(unix)]
pub use npm::fake_npm;
pub use own_process::in_own_process;
pub use server::ChildServer;
