//! The sweep's comparison table: one row per run, read from its
//! `test.json`, written as `summary.md` and `summary.csv` (the one owner of
//! both).

use std::path::Path;

use anyhow::Context;
use run::TestSummary;

/// One row of the comparison table, read from a finished run's `test.json`.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub name: String,
    pub epochs: usize,
    pub best_valid_accuracy: f64,
    pub test_accuracy: f64,
    pub test_loss: f64,
    pub seconds_per_epoch: f64,
    pub parameters: usize,
}

impl Row {
    /// The row of the run in `run`, named `name`.
    pub fn read(run: &Path, name: &str) -> anyhow::Result<Self> {
        let summary = TestSummary::read(run)?;
        Ok(Self {
            name: name.to_string(),
            epochs: summary.epochs_completed,
            best_valid_accuracy: summary.best_valid_accuracy.unwrap_or(f64::NAN),
            test_accuracy: summary.test_accuracy,
            test_loss: summary.test_loss,
            seconds_per_epoch: summary.mean_seconds_per_epoch(),
            parameters: summary.parameters,
        })
    }
}

const COLUMNS: [&str; 7] = [
    "config",
    "epochs run",
    "best val acc",
    "test acc",
    "test loss",
    "s/epoch",
    "params",
];

/// The table as markdown; `failed` lists runs that did not finish, with why.
fn markdown(rows: &[Row], failed: &[(String, String)]) -> String {
    let mut text = format!(
        "| {} |\n|{}\n",
        COLUMNS.join(" | "),
        "---|".repeat(COLUMNS.len())
    );
    for row in rows {
        text += &format!(
            "| {} | {} | {:.2}% | {:.2}% | {:.4} | {:.2} | {} |\n",
            row.name,
            row.epochs,
            row.best_valid_accuracy * 100.0,
            row.test_accuracy * 100.0,
            row.test_loss,
            row.seconds_per_epoch,
            row.parameters
        );
    }
    for (name, why) in failed {
        text += &format!("| {name} | failed: {} | | | | | |\n", why.replace('|', "/"));
    }
    text
}

/// The table as CSV, with full precision; fractions, not percentages.
fn csv(rows: &[Row]) -> String {
    let mut text = "config,epochs_run,best_valid_accuracy,test_accuracy,test_loss,seconds_per_epoch,parameters\n".to_string();
    for row in rows {
        text += &format!(
            "{},{},{},{},{},{:.3},{}\n",
            row.name,
            row.epochs,
            row.best_valid_accuracy,
            row.test_accuracy,
            row.test_loss,
            row.seconds_per_epoch,
            row.parameters
        );
    }
    text
}

/// Writes `<dir>/summary.md` and `<dir>/summary.csv` for `rows` (and the
/// `failed` runs, with why); returns the markdown table.
pub fn write_summary(
    dir: &Path,
    rows: &[Row],
    failed: &[(String, String)],
) -> anyhow::Result<String> {
    let table = markdown(rows, failed);
    for (file, text) in [("summary.md", &table), ("summary.csv", &csv(rows))] {
        let path = dir.join(file);
        data::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_one_row_per_run() {
        let row = Row {
            name: "a".into(),
            epochs: 5,
            best_valid_accuracy: 0.9712,
            test_accuracy: 0.9701,
            test_loss: 0.10234,
            seconds_per_epoch: 0.6123,
            parameters: 55050,
        };
        let md = markdown(std::slice::from_ref(&row), &[("b".into(), "exit 1".into())]);
        assert_eq!(
            md.lines().nth(2),
            Some("| a | 5 | 97.12% | 97.01% | 0.1023 | 0.61 | 55050 |")
        );
        assert_eq!(md.lines().nth(3), Some("| b | failed: exit 1 | | | | | |"));
        assert_eq!(
            csv(&[row]).lines().nth(1),
            Some("a,5,0.9712,0.9701,0.10234,0.612,55050")
        );
    }
}
