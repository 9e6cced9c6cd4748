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

/// The lock file inside a run directory: held (an advisory lock, which the
/// system releases when the process ends, however it ends) by the process
/// training the run.
pub const LOCK_FILE: &str = "train.lock";

/// A run directory: `<artifacts>/<run_name>/`, claimed by this process or
/// opened to resume, and locked by it until it is dropped, so that two
/// processes never train one run.
#[derive(Debug)]
pub struct RunDir {
    path: PathBuf,
    _lock: std::fs::File,
}

/// Inside a run that is to replace another when it finishes (`--overwrite`):
/// the name of the run it replaces.
const REPLACES_FILE: &str = "replaces";

impl RunDir {
    /// Creates `<artifacts>/<name>/`, or `<name>-2`, `<name>-3`... when taken
    /// (see [`create_numbered`]). With `overwrite` and an earlier `<name>`,
    /// the new run is built beside it, in `<artifacts>/.<name>.next/`, and
    /// only [`finish`](Self::finish) puts it in the earlier one's place: a
    /// run that fails, diverges or is killed leaves the earlier one as it
    /// was. (A run being trained by another process is not replaced.)
    pub fn create(artifacts: &Path, name: &str, overwrite: bool) -> anyhow::Result<Self> {
        let first = artifacts.join(name);
        if !(overwrite && first.exists()) {
            let path = create_numbered(artifacts, name, "run")?;
            let lock = lock(&path)?;
            return Ok(Self { path, _lock: lock });
        }
        drop(lock(&first)?);
        let staging = format!(".{name}.next");
        remove_abandoned(artifacts, &staging)?;
        let path = create_numbered(artifacts, &staging, "run")?;
        let lock = lock(&path)?;
        let run = Self { path, _lock: lock };
        run.write(REPLACES_FILE, name.as_bytes())?;
        Ok(run)
    }

    /// An existing run directory, to resume; refused while another process
    /// trains it.
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        if !path.is_dir() {
            bail!("{} is not a run directory", path.display());
        }
        Ok(Self {
            path: path.to_path_buf(),
            _lock: lock(path)?,
        })
    }

    /// Called once the run is complete: a run built to replace an earlier
    /// one (see [`create`](Self::create)) now takes its place, in one step
    /// where the system allows it, and the earlier one is removed. Other
    /// runs stay where they are.
    pub fn finish(&mut self) -> anyhow::Result<()> {
        let marker = self.path.join(REPLACES_FILE);
        let name = match std::fs::read_to_string(&marker) {
            Ok(name) => name,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", marker.display()));
            }
        };
        let parent = self.path.parent().unwrap_or(Path::new("."));
        let target = parent.join(name.trim());
        std::fs::remove_file(&marker)
            .with_context(|| format!("cannot remove {}", marker.display()))?;
        let old = if target.exists() {
            drop(lock(&target)?);
            files::exchange(&self.path, &target).with_context(|| {
                format!(
                    "cannot put {} in place of {}",
                    self.path.display(),
                    target.display()
                )
            })?;
            Some(std::mem::replace(&mut self.path, target))
        } else {
            std::fs::rename(&self.path, &target).with_context(|| {
                format!(
                    "cannot move {} to {}",
                    self.path.display(),
                    target.display()
                )
            })?;
            self.path = target;
            None
        };
        if let Some(old) = old {
            std::fs::remove_dir_all(&old).with_context(|| {
                format!("cannot remove the replaced run, now {}", old.display())
            })?;
        }
        Ok(())
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
        files::write_atomic(&path, contents)
            .with_context(|| format!("cannot write {}", path.display()))
    }

    /// Writes `config.toml`: the config the run trains with.
    pub fn write_config(&self, config: &TrainConfig) -> anyhow::Result<()> {
        self.write(CONFIG_FILE, config.to_toml().as_bytes())
    }
}

/// Removes the runs `<artifacts>/<staging>*` left by replacements that never
/// finished (killed, failed), unless a process still holds one's lock.
fn remove_abandoned(artifacts: &Path, staging: &str) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(artifacts) else {
        return Ok(());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let ours = entry.file_name().to_string_lossy().starts_with(staging);
        if ours && path.is_dir() && lock(&path).is_ok() {
            std::fs::remove_dir_all(&path).with_context(|| {
                format!("cannot remove the abandoned replacement {}", path.display())
            })?;
        }
    }
    Ok(())
}

/// Takes the lock of the run directory `run`, or says who has it.
fn lock(run: &Path) -> anyhow::Result<std::fs::File> {
    let path = run.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open the lock file {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => bail!(
            "{} is being trained by another process (it holds {}); wait for it to end",
            run.display(),
            path.display()
        ),
        Err(std::fs::TryLockError::Error(error)) => {
            Err(error).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// The config `run` was started with (its `config.toml`). An empty one is
/// an error: every key has a default, so it would read as the tutorial's
/// config whatever the run was trained with.
pub fn read_config(run: &Path) -> anyhow::Result<TrainConfig> {
    let path = run.join(CONFIG_FILE);
    if std::fs::metadata(&path).is_ok_and(|meta| meta.len() == 0) {
        anyhow::bail!(
            "{} is empty: the run's config is lost, so it cannot be resumed or described",
            path.display()
        );
    }
    Ok(TrainConfig::load(&path)?)
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

        // The replacement is built beside the earlier run, which stays
        // whole until the replacement finishes.
        let earlier = first.path().to_path_buf();
        drop(first); // (its lock released)
        let mut again = RunDir::create(artifacts.path(), "tutorial", true).unwrap();
        assert_eq!(again.path(), artifacts.path().join(".tutorial.next"));
        again.write("marker", b"again").unwrap();
        assert_eq!(std::fs::read(earlier.join("marker")).unwrap(), b"first");
        again.finish().unwrap();
        assert_eq!(again.path(), artifacts.path().join("tutorial"));
        assert_eq!(
            std::fs::read(again.path().join("marker")).unwrap(),
            b"again"
        );
        assert!(!again.path().join(REPLACES_FILE).exists());
        assert!(!artifacts.path().join(".tutorial.next").exists());

        // A replacement abandoned (killed: its lock is gone) is removed by
        // the next one, and never replaces anything.
        drop(again);
        let abandoned = RunDir::create(artifacts.path(), "tutorial", true).unwrap();
        drop(abandoned);
        let next = RunDir::create(artifacts.path(), "tutorial", true).unwrap();
        assert_eq!(next.path(), artifacts.path().join(".tutorial.next"));
        assert_eq!(
            std::fs::read_dir(artifacts.path()).unwrap().count(),
            4,
            "tutorial, -2, -3 and the one replacement"
        );
    }

    #[test]
    fn a_run_being_trained_cannot_be_opened_or_overwritten_by_another() {
        let artifacts = tempfile::tempdir().unwrap();
        let held = RunDir::create(artifacts.path(), "busy", false).unwrap();
        for error in [
            RunDir::open(held.path()).unwrap_err(),
            RunDir::create(artifacts.path(), "busy", true).unwrap_err(),
        ] {
            let message = format!("{error:#}");
            assert!(
                message.contains("busy is being trained by another process (it holds ")
                    && message.ends_with("train.lock); wait for it to end"),
                "{message}"
            );
        }
        assert!(held.path().is_dir());
        drop(held);
        let path = artifacts.path().join("busy");
        assert!(RunDir::open(&path).is_ok());
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
