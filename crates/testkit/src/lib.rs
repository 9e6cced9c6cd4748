//! What the integration tests of the workspace's crates share. Each crate
//! has one test binary, `crates/<crate>/tests/<crate>/main.rs`, whose modules
//! are its test files (so Burn is linked once per crate, not once per file);
//! a crate's own helpers stay in its binary, and the ones several crates need
//! live here. A dev-dependency only.

mod own_process;

pub use own_process::in_own_process;
