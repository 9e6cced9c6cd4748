//! `grad_norms.csv`: with `grad_norms = true`, each layer's weight-gradient
//! norm per epoch (`epoch,layer1,...,layerN`).

use std::path::Path;

use crate::{EpochMetrics, RunDir};

/// The file's owner.
pub struct GradNorms;

impl GradNorms {
    /// The file's name inside a run directory.
    pub const FILE: &str = "grad_norms.csv";

    /// The file's text for the norms recorded in `epochs`.
    fn csv(epochs: &[EpochMetrics]) -> String {
        let layers = epochs.first().map_or(0, |e| e.grad_norms.len());
        let header: Vec<String> = (1..=layers).map(|l| format!("layer{l}")).collect();
        let mut csv = format!("epoch,{}\n", header.join(","));
        for e in epochs {
            let values: Vec<String> = e.grad_norms.iter().map(|n| format!("{n:e}")).collect();
            csv += &format!("{},{}\n", e.epoch, values.join(","));
        }
        csv
    }

    /// Writes `<run>/grad_norms.csv` from the epochs' norms.
    pub fn write(run: &RunDir, epochs: &[EpochMetrics]) -> anyhow::Result<()> {
        run.write(Self::FILE, Self::csv(epochs).as_bytes())
    }

    /// `<run>/grad_norms.csv` as `norms[epoch][layer]`, if the run recorded them.
    pub fn read(run: &Path) -> anyhow::Result<Option<Vec<Vec<f64>>>> {
        let path = run.join(Self::FILE);
        if !path.exists() {
            return Ok(None);
        }
        let rows = crate::csv::read_numbers(&path)?;
        Ok(Some(
            rows.into_iter().map(|row| row[1..].to_vec()).collect(),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_through_their_csv() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::open(dir.path()).unwrap();
        let epoch = |epoch, grad_norms| EpochMetrics {
            epoch,
            seconds: 1.0,
            train_loss: 0.0,
            train_accuracy: 0.0,
            valid_loss: 0.0,
            valid_accuracy: 0.0,
            grad_norms,
        };
        GradNorms::write(
            &run,
            &[epoch(1, vec![0.5, 2e-7]), epoch(2, vec![0.25, 1e-7])],
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(dir.path().join(GradNorms::FILE)).unwrap(),
            "epoch,layer1,layer2\n1,5e-1,2e-7\n2,2.5e-1,1e-7\n"
        );
        assert_eq!(
            GradNorms::read(dir.path()).unwrap(),
            Some(vec![vec![0.5, 2e-7], vec![0.25, 1e-7]])
        );
        let other = tempfile::tempdir().unwrap();
        assert_eq!(GradNorms::read(other.path()).unwrap(), None);
    }
}
