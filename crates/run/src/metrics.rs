//! `metrics.csv`: one row per finished epoch.

use std::path::Path;

use anyhow::bail;
use serde::{Deserialize, Serialize};

use crate::RunDir;

/// One finished epoch. Accuracies are fractions in [0, 1], losses mean
/// cross-entropy per image (natural log).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// 1-based.
    pub epoch: usize,
    /// Wall time of the epoch: training plus its evaluation pass, in seconds.
    pub seconds: f64,
    pub train_loss: f64,
    pub train_accuracy: f64,
    pub valid_loss: f64,
    pub valid_accuracy: f64,
    /// With `grad_norms = true`: the mean L2 norm of each layer's weight
    /// gradient over the epoch's batches, input side first. Kept in the
    /// checkpoint's record; `grad_norms.csv` ([`crate::GradNorms`]) has them
    /// for the pictures; `metrics.csv` does not.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub grad_norms: Vec<f64>,
}

impl EpochMetrics {
    /// The file's name inside a run directory.
    pub const FILE: &str = "metrics.csv";
    /// Its header line.
    const CSV_HEADER: &str = "epoch,seconds,train_loss,train_accuracy,valid_loss,valid_accuracy";

    /// The Keras-like line printed for an epoch without a dashboard.
    pub fn line(&self, total_epochs: usize) -> String {
        format!(
            "Epoch {}/{} - {:.2}s - loss: {:.4} - accuracy: {:.4} - val_loss: {:.4} - val_accuracy: {:.4}",
            self.epoch,
            total_epochs,
            self.seconds,
            self.train_loss,
            self.train_accuracy,
            self.valid_loss,
            self.valid_accuracy
        )
    }

    /// `metrics.csv`'s text for `epochs`: seconds to the millisecond, the
    /// rest to six decimals.
    fn csv(epochs: &[EpochMetrics]) -> String {
        let mut csv = String::from(Self::CSV_HEADER);
        for e in epochs {
            csv += &format!(
                "\n{},{:.3},{:.6},{:.6},{:.6},{:.6}",
                e.epoch, e.seconds, e.train_loss, e.train_accuracy, e.valid_loss, e.valid_accuracy
            );
        }
        csv.push('\n');
        csv
    }

    /// Writes `<run>/metrics.csv`, replacing it whole.
    pub fn write_csv(run: &RunDir, epochs: &[EpochMetrics]) -> anyhow::Result<()> {
        run.write(Self::FILE, Self::csv(epochs).as_bytes())
    }

    /// The epochs of `<run>/metrics.csv` (without gradient norms).
    pub fn read_csv(run: &Path) -> anyhow::Result<Vec<EpochMetrics>> {
        let path = run.join(Self::FILE);
        let rows = crate::csv::read_numbers(&path)?;
        let columns = Self::CSV_HEADER.split(',').count();
        if rows.first().is_some_and(|row| row.len() != columns) {
            bail!("{}: expected {columns} columns per row", path.display());
        }
        Ok(rows
            .iter()
            .map(|row| EpochMetrics {
                epoch: row[0] as usize,
                seconds: row[1],
                train_loss: row[2],
                train_accuracy: row[3],
                valid_loss: row[4],
                valid_accuracy: row[5],
                grad_norms: Vec::new(),
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn epoch(epoch: usize) -> EpochMetrics {
        EpochMetrics {
            epoch,
            seconds: 0.5,
            train_loss: 0.25,
            train_accuracy: 0.925,
            valid_loss: 0.125,
            valid_accuracy: 0.96,
            grad_norms: vec![1.0],
        }
    }

    #[test]
    fn round_trips_through_its_csv() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        EpochMetrics::write_csv(&run, &[epoch(1), epoch(2)]).unwrap();
        let text = std::fs::read_to_string(dir.path().join(EpochMetrics::FILE)).unwrap();
        assert_eq!(
            text,
            "epoch,seconds,train_loss,train_accuracy,valid_loss,valid_accuracy\n\
             1,0.500,0.250000,0.925000,0.125000,0.960000\n\
             2,0.500,0.250000,0.925000,0.125000,0.960000\n"
        );
        let back = EpochMetrics::read_csv(dir.path()).unwrap();
        let without_norms = EpochMetrics {
            grad_norms: vec![],
            ..epoch(2)
        };
        assert_eq!(back[1], without_norms);
        assert!(epoch(1).line(2).ends_with(
            "s - loss: 0.2500 - accuracy: 0.9250 - val_loss: 0.1250 - val_accuracy: 0.9600"
        ));
    }

    #[test]
    fn a_broken_file_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(EpochMetrics::FILE);
        std::fs::write(
            &path,
            "epoch,seconds,a,b,c,d\n1,0.5,0.3,0.9,0.2,0.95\n2,x\n",
        )
        .unwrap();
        let error = EpochMetrics::read_csv(dir.path()).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{}:3: expected 6 numbers separated by commas, got `2,x`",
                path.display()
            )
        );
        std::fs::write(&path, "epoch,seconds\n1,0.5\n").unwrap();
        let error = EpochMetrics::read_csv(dir.path()).unwrap_err().to_string();
        assert!(error.ends_with("expected 6 columns per row"), "{error}");
    }
}
