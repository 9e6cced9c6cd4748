//! `test.json`: what the finished run scored on every test image, and how it
//! got there.

use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::RunDir;

/// The contents of `<run>/test.json`. Fields are in alphabetical order, the
/// order the file has always had. Those after the four test figures came in
/// with the experiments (2026-11-26) and default when absent, so older runs
/// read.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestSummary {
    /// The backend it trained on (`flex`, `ndarray`, `wgpu`).
    #[serde(default)]
    pub backend: String,
    /// With `keep_best`: the epoch whose weights were kept.
    #[serde(default)]
    pub best_epoch: Option<usize>,
    /// The highest validation accuracy of any epoch, a fraction in [0, 1]
    /// (`null` when no epoch finished).
    #[serde(default)]
    pub best_valid_accuracy: Option<f64>,
    /// Test images classified correctly.
    pub correct: usize,
    /// Epochs trained, those before a resume included.
    #[serde(default)]
    pub epochs_completed: usize,
    /// The network's parameter count.
    #[serde(default)]
    pub parameters: usize,
    /// Wall time of each epoch in seconds (training plus its evaluation).
    #[serde(default)]
    pub seconds_per_epoch: Vec<f64>,
    /// Why training ended before its last epoch, if it did.
    #[serde(default)]
    pub stopped_early: Option<String>,
    /// `correct / test_images`.
    pub test_accuracy: f64,
    /// Test images evaluated.
    pub test_images: usize,
    /// Mean cross-entropy per test image (natural log).
    pub test_loss: f64,
    /// What the epochs were validated on: "held-out part of the training set"
    /// or "test set".
    #[serde(default)]
    pub validation: String,
}

impl TestSummary {
    /// The file's name inside a run directory.
    pub const FILE: &str = "test.json";

    /// The mean wall time of an epoch in seconds (0 when none was timed).
    pub fn mean_seconds_per_epoch(&self) -> f64 {
        let seconds = &self.seconds_per_epoch;
        seconds.iter().sum::<f64>() / seconds.len().max(1) as f64
    }

    /// Writes `<run>/test.json`, pretty-printed.
    pub fn write(&self, run: &RunDir) -> anyhow::Result<()> {
        let json = serde_json::to_string_pretty(self).expect("the summary serialises");
        run.write(Self::FILE, format!("{json}\n").as_bytes())
    }

    /// Reads `<run>/test.json`; errors name the file.
    pub fn read(run: &Path) -> anyhow::Result<Self> {
        let path = run.join(Self::FILE);
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_str(&text)
            .with_context(|| format!("{} is not a test summary written by train", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_file_as_it_always_was_and_reads_it_back() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        let summary = TestSummary {
            backend: "flex".into(),
            best_epoch: None,
            best_valid_accuracy: Some(0.9686),
            correct: 9686,
            epochs_completed: 2,
            parameters: 55050,
            seconds_per_epoch: vec![0.25, 0.75],
            stopped_early: None,
            test_accuracy: 0.9686,
            test_images: 10000,
            test_loss: 0.109,
            validation: "test set".into(),
        };
        summary.write(&run).unwrap();
        let text = std::fs::read_to_string(dir.path().join(TestSummary::FILE)).unwrap();
        assert_eq!(
            text,
            r#"{
  "backend": "flex",
  "best_epoch": null,
  "best_valid_accuracy": 0.9686,
  "correct": 9686,
  "epochs_completed": 2,
  "parameters": 55050,
  "seconds_per_epoch": [
    0.25,
    0.75
  ],
  "stopped_early": null,
  "test_accuracy": 0.9686,
  "test_images": 10000,
  "test_loss": 0.109,
  "validation": "test set"
}
"#
        );
        let back = TestSummary::read(dir.path()).unwrap();
        assert_eq!(back, summary);
        assert_eq!(back.mean_seconds_per_epoch(), 0.5);
    }

    #[test]
    fn an_old_summary_reads_and_a_broken_one_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TestSummary::FILE);
        std::fs::write(
            &path,
            r#"{"test_loss": 0.1, "test_accuracy": 0.97, "test_images": 100, "correct": 97}"#,
        )
        .unwrap();
        let old = TestSummary::read(dir.path()).unwrap();
        assert_eq!((old.correct, old.epochs_completed), (97, 0));
        std::fs::write(&path, "{").unwrap();
        let error = format!("{:#}", TestSummary::read(dir.path()).unwrap_err());
        assert!(
            error.starts_with(&format!(
                "{} is not a test summary written by train",
                path.display()
            )),
            "{error}"
        );
    }
}
