//! The run directory itself: claiming a fresh one, finding the newest, and
//! its `config.toml`.

use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, bail};
use config::TrainConfig;
use model::artifact::MODEL_RECORD_FILE;

/// The resolved config of a run (file plus flags), as `train --resume` reads it.
pub const CONFIG_FILE: &str = "config.toml";

/// A run directory: `<artifacts>/<run_name>/`, claimed by this process or
/// opened to resume.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    /// Creates `<artifacts>/<name>/`, or `<name>-2`, `<name>-3`... when taken
    /// (see [`create_numbered`]). With `overwrite`, an existing `<name>` is
    /// deleted instead.
    pub fn create(artifacts: &Path, name: &str, overwrite: bool) -> anyhow::Result<Self> {
        let first = artifacts.join(name);
        if overwrite && first.exists() {
            std::fs::remove_dir_all(&first)
                .with_context(|| format!("cannot remove the earlier run {}", first.display()))?;
        }
        let path = create_numbered(artifacts, name, "run")?;
        Ok(Self { path })
    }

    /// An existing run directory, to resume.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if !path.is_dir() {
            bail!("{} is not a run directory", path.display());
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

    /// Writes `config.toml`: the config the run trains with.
    pub fn write_config(&self, config: &TrainConfig) -> anyhow::Result<()> {
        self.write(CONFIG_FILE, config.to_toml().as_bytes())
    }
}

/// The config `run` was started with (its `config.toml`).
pub fn read_config(run: &Path) -> anyhow::Result<TrainConfig> {
    Ok(TrainConfig::load(&run.join(CONFIG_FILE))?)
}

/// Creates `<parent>/<name>/`, or `<name>-2`, `<name>-3`... when taken, and
/// returns it. The claim is a single `create_dir`, so two runs (or sweeps)
/// started together never share a directory. `what` names the directory in
/// errors ("run", "sweep").
pub fn create_numbered(parent: &Path, name: &str, what: &str) -> anyhow::Result<PathBuf> {
    std::fs::create_dir_all(parent)
        .with_context(|| format!("cannot create the artifacts directory {}", parent.display()))?;
    for number in 1.. {
        let path = match number {
            1 => parent.join(name),
            n => parent.join(format!("{name}-{n}")),
        };
        match std::fs::create_dir(&path) {
            Ok(()) => return Ok(path),
            Err(error) if error.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(error) => {
                return Err(error).with_context(|| {
                    format!("cannot create the {what} directory {}", path.display())
                });
            }
        }
    }
    unreachable!("some numbered name is free")
}

/// The run directory under `artifacts` whose model was saved last. Runs without
/// a model (still training, or failed) are skipped.
pub fn newest_run(artifacts: &Path) -> anyhow::Result<PathBuf> {
    let entries = std::fs::read_dir(artifacts).with_context(|| {
        format!(
            "cannot list the artifacts directory {} (train a model first: \
             cargo run --release -p train -- --config configs/default.toml)",
            artifacts.display()
        )
    })?;
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for entry in entries.flatten() {
        let run = entry.path();
        let Ok(saved) = std::fs::metadata(run.join(MODEL_RECORD_FILE)).and_then(|m| m.modified())
        else {
            continue;
        };
        if newest.as_ref().is_none_or(|(time, _)| saved > *time) {
            newest = Some((saved, run));
        }
    }
    match newest {
        Some((_, run)) => Ok(run),
        None => bail!(
            "no trained run in {} (a run holds {MODEL_RECORD_FILE}; train one with: \
             cargo run --release -p train -- --config configs/default.toml)",
            artifacts.display()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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

    #[test]
    fn the_config_reads_back_as_written() {
        let artifacts = tempfile::tempdir().unwrap();
        let run = RunDir::create(artifacts.path(), "r", false).unwrap();
        let config = TrainConfig {
            epochs: 3,
            ..TrainConfig::default()
        };
        run.write_config(&config).unwrap();
        assert_eq!(read_config(run.path()).unwrap().epochs, 3);
        let error = read_config(artifacts.path()).unwrap_err().to_string();
        assert!(error.contains(CONFIG_FILE), "{error}");
    }

    #[test]
    fn picks_the_run_saved_last_and_skips_unfinished_ones() {
        let artifacts = tempfile::tempdir().unwrap();
        let make = |name: &str, with_model: bool, age_seconds: u64| {
            let run = artifacts.path().join(name);
            std::fs::create_dir(&run).unwrap();
            if with_model {
                let file = std::fs::File::create(run.join(MODEL_RECORD_FILE)).unwrap();
                let time = SystemTime::now() - Duration::from_secs(age_seconds);
                file.set_modified(time).unwrap();
            }
        };
        make("old", true, 100);
        make("new", true, 10);
        make("unfinished", false, 0);
        assert_eq!(
            newest_run(artifacts.path()).unwrap(),
            artifacts.path().join("new")
        );
    }

    #[test]
    fn no_run_says_how_to_make_one() {
        let artifacts = tempfile::tempdir().unwrap();
        let error = newest_run(artifacts.path()).unwrap_err().to_string();
        assert!(error.starts_with("no trained run in "), "{error}");
        assert!(error.contains("cargo run --release -p train"), "{error}");
        let error = newest_run(&artifacts.path().join("missing")).unwrap_err();
        assert!(format!("{error:#}").contains("cannot list the artifacts directory"));
    }
}
