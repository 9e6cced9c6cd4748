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
