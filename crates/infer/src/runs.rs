//! Finding a trained run: the one named on the command line, or the newest one
//! under the artifacts directory.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, bail};
use model::artifact::MODEL_RECORD_FILE;

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
