//! Why a config could not be read, parsed or accepted: one line that names
//! the file (and line) or the flag, the key and what was expected.

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // Not a `#[source]`: the message shows it, and `{:#}` would repeat it.
    #[error("cannot read config {path}: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "config {path} is larger than {} bytes: not a config file",
        crate::MAX_CONFIG_BYTES
    )]
    TooLarge { path: PathBuf },
    #[error("{path}:{line}: {message} (in `{text}`)")]
    Parse {
        path: PathBuf,
        line: usize,
        text: String,
        message: String,
    },
    #[error("{origin}: {key} = {value}: {expected}")]
    Invalid {
        origin: String,
        key: &'static str,
        value: String,
        expected: String,
    },
    #[error("--set {assignment}: {message}")]
    Set { assignment: String, message: String },
}

impl ConfigError {
    /// `key` (from `origin`: a file or the flags) has `value`, and `expected`
    /// says what it should be.
    pub fn invalid(
        origin: &str,
        key: &'static str,
        value: &dyn std::fmt::Display,
        expected: &str,
    ) -> Self {
        Self::Invalid {
            origin: origin.to_string(),
            key,
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }
}
