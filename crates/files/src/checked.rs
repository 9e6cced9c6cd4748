//! Bytes checked against the SHA-256 they were published with, and a cache
//! that takes files whole: what a download or a package brings is verified
//! first, then written under its name atomically.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::atomic::write_atomic;

/// Why [`verify_sha256`] or [`write_cache`] failed; each message is one line
/// that names the bytes or the file.
#[derive(Debug, thiserror::Error)]
pub enum CheckedError {
    /// The bytes differ from the published ones.
    #[error("{what}: SHA-256 checksum mismatch: expected {expected}, got {actual}")]
    Checksum {
        /// Where the bytes came from, e.g. a URL or a path inside an npm package.
        what: String,
        expected: String,
        actual: String,
    },
    /// The operating system refused to create the cache or write the file.
    // `error` is shown in the message, so it is deliberately not a `#[source]`.
    #[error("{}: could not {action}: {error}", path.display())]
    Io {
        path: PathBuf,
        /// What was being done, e.g. "write the cache file".
        action: &'static str,
        error: io::Error,
    },
}

/// Lowercase hex SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Checks that `bytes` (from `what`, named in the error) have the SHA-256 `expected`.
pub fn verify_sha256(bytes: &[u8], expected: &str, what: &str) -> Result<(), CheckedError> {
    let actual = sha256_hex(bytes);
    if actual == expected {
        Ok(())
    } else {
        Err(CheckedError::Checksum {
            what: what.to_string(),
            expected: expected.to_string(),
            actual,
        })
    }
}

/// Writes `cache/name` atomically (see [`write_atomic`]): a reader, or a run after
/// a crash, never sees a partial file under the real name.
pub fn write_cache(cache: &Path, name: &str, bytes: &[u8]) -> Result<(), CheckedError> {
    fs::create_dir_all(cache).map_err(|error| CheckedError::Io {
        path: cache.to_path_buf(),
        action: "create the cache directory",
        error,
    })?;
    let path = cache.join(name);
    write_atomic(&path, bytes).map_err(|error| CheckedError::Io {
        path,
        action: "write the cache file",
        error,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_sha256_accepts_the_right_hash_and_names_both_on_mismatch() {
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        verify_sha256(b"abc", abc, "test bytes").unwrap();
        let text = verify_sha256(b"abd", abc, "test bytes")
            .unwrap_err()
            .to_string();
        assert_eq!(
            text,
            format!(
                "test bytes: SHA-256 checksum mismatch: expected {abc}, got {}",
                sha256_hex(b"abd")
            )
        );
    }

    #[test]
    fn write_cache_creates_the_directory_and_leaves_only_the_file() {
        let tmp = tempfile::tempdir().unwrap();
        let cache = tmp.path().join("a").join("cache");
        write_cache(&cache, "x", b"first").unwrap();
        write_cache(&cache, "x", b"second").unwrap();
        assert_eq!(fs::read(cache.join("x")).unwrap(), b"second");
        let names: Vec<_> = fs::read_dir(&cache)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, ["x"]);
    }
}
