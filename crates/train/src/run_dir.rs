//! The directory a training run writes: `<artifacts>/<run_name>/`.
//!
//! ```text
//! config.toml   the resolved config (file plus flags)
//! metrics.csv   one row per epoch: seconds, train and evaluation loss/accuracy
//! test.json     the final test loss and accuracy over all test images
//! model.json    the architecture, model.bpk the weights (read by `infer`)
//! checkpoint/   the last two epochs' model, optimizer and schedule, and
//!               latest.json, the newest complete one (see `checkpoint.rs`)
//! learner/      Burn's Learner logs (experiment.log, per-batch metric logs)
//! ```
//! A run never replaces an earlier one unless asked: a taken name gets `-2`, `-3`...

use std::io;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// A claimed, empty run directory.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates `<artifacts>/<name>/`, or `<name>-2`, `<name>-3`... when taken. With
    /// `overwrite`, an existing `<name>` is deleted instead. The claim is a single
    /// `create_dir`, so two runs started together never share a directory.
    pub fn create(artifacts: &Path, name: &str, overwrite: bool) -> anyhow::Result<Self> {
        std::fs::create_dir_all(artifacts).with_context(|| {
            format!(
                "cannot create the artifacts directory {}",
                artifacts.display()
            )
        })?;
        let first = artifacts.join(name);
        if overwrite && first.exists() {
            std::fs::remove_dir_all(&first)
                .with_context(|| format!("cannot remove the earlier run {}", first.display()))?;
        }
        for number in 1.. {
            let path = match number {
                1 => first.clone(),
                n => artifacts.join(format!("{name}-{n}")),
            };
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(error) => {
                    return Err(error).with_context(|| {
                        format!("cannot create the run directory {}", path.display())
                    });
                }
            }
        }
        unreachable!("some numbered name is free")
    }

    /// An existing run directory, to resume.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if !path.is_dir() {
            anyhow::bail!("{} is not a run directory", path.display());
        }
        Ok(Self {
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Where Burn's Learner keeps its own logs.
    pub fn learner_dir(&self) -> PathBuf {
        self.path.join("learner")
    }

    /// Writes `name` inside the run directory atomically.
    pub fn write(&self, name: &str, contents: &[u8]) -> anyhow::Result<()> {
        let path = self.path.join(name);
        data::write_atomic(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_taken_name_gets_a_number_and_overwrite_replaces() {
        let artifacts = tempfile::tempdir().unwrap();
        let first = RunDir::create(artifacts.path(), "tutorial", false).unwrap();
        first.write("marker", b"first").unwrap();
        let second = RunDir::create(artifacts.path(), "tutorial", false).unwrap();
        let third = RunDir::create(artifacts.path(), "tutorial", false).unwrap();
        assert_eq!(first.path(), artifacts.path().join("tutorial"));
        assert_eq!(second.path(), artifacts.path().join("tutorial-2"));
        assert_eq!(third.path(), artifacts.path().join("tutorial-3"));
        assert_eq!(
            std::fs::read(first.path().join("marker")).unwrap(),
            b"first"
        );

        let again = RunDir::create(artifacts.path(), "tutorial", true).unwrap();
        assert_eq!(again.path(), artifacts.path().join("tutorial"));
        assert!(!again.path().join("marker").exists());
    }

    #[test]
    fn an_unwritable_artifacts_path_is_reported_with_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"").unwrap();
        let error = RunDir::create(&file.join("runs"), "tutorial", false).unwrap_err();
        let message = format!("{error:#}");
        assert!(
            message.starts_with("cannot create the artifacts directory"),
            "{message}"
        );
        assert!(message.contains("a-file/runs"), "{message}");
    }
}
