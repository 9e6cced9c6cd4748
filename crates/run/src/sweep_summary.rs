//! A sweep's comparison table: one row per run, read from its
//! `test.json`, written as `<sweep>/summary.md` and `<sweep>/summary.csv`
//! once every run has ended (the one owner of both): `train`'s sweeps
//! write them, `infer committee --from` reads which runs finished.

use std::path::Path;

use crate::TestSummary;
use anyhow::Context;

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

/// How `summary.md` marks a run that did not finish, before why.
const FAILED: &str = "failed: ";

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
        text += &format!("| {name} | {FAILED}{} | | | | | |\n", why.replace('|', "/"));
    }
    text
}

/// `summary.csv`'s first line.
const CSV_HEADER: &str =
    "config,epochs_run,best_valid_accuracy,test_accuracy,test_loss,seconds_per_epoch,parameters";

/// The table as CSV, with full precision; fractions, not percentages.
fn csv(rows: &[Row]) -> String {
    let mut text = format!("{CSV_HEADER}\n");
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
        files::write_atomic(&path, text.as_bytes())
            .with_context(|| format!("cannot write {}", path.display()))?;
    }
    Ok(table)
}

/// The rows of `<dir>/summary.csv`, in its order (failed runs have none);
/// errors name the file, the line and what was expected.
pub fn read_summary(dir: &Path) -> anyhow::Result<Vec<Row>> {
    let path = dir.join("summary.csv");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    anyhow::ensure!(
        lines.next() == Some(CSV_HEADER),
        "{}:1: expected the header `{CSV_HEADER}`",
        path.display()
    );
    lines
        .enumerate()
        .map(|(index, line)| {
            parse_row(line).with_context(|| {
                format!(
                    "{}:{}: expected a name and six numbers separated by commas, got `{}`",
                    path.display(),
                    index + 2,
                    console::one_line(line)
                )
            })
        })
        .collect()
}

/// The runs `<dir>/summary.md` lists as failed (they have no row in
/// `summary.csv`), in its order.
pub fn read_failed(dir: &Path) -> anyhow::Result<Vec<String>> {
    let path = dir.join("summary.md");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(text
        .lines()
        .filter_map(|line| {
            let (name, rest) = line.strip_prefix("| ")?.split_once(" | ")?;
            rest.starts_with(FAILED).then(|| name.to_string())
        })
        .collect())
}

/// One line of `summary.csv`.
fn parse_row(line: &str) -> anyhow::Result<Row> {
    let fields: Vec<&str> = line.split(',').collect();
    let [name, epochs, best, accuracy, loss, seconds, parameters] = fields[..] else {
        anyhow::bail!("{} fields", fields.len());
    };
    Ok(Row {
        name: name.to_string(),
        epochs: epochs.parse()?,
        best_valid_accuracy: best.parse()?,
        test_accuracy: accuracy.parse()?,
        test_loss: loss.parse()?,
        seconds_per_epoch: seconds.parse()?,
        parameters: parameters.parse()?,
    })
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

    #[test]
    fn summary_csv_reads_back_as_written() {
        let dir = tempfile::tempdir().unwrap();
        let rows = vec![
            Row {
                name: "default_seed-1".into(),
                epochs: 11,
                best_valid_accuracy: 0.9708,
                test_accuracy: 0.9688,
                test_loss: 0.0998,
                seconds_per_epoch: 0.602,
                parameters: 55050,
            },
            Row {
                name: "wide".into(),
                epochs: 1,
                best_valid_accuracy: f64::NAN,
                test_accuracy: 0.5,
                test_loss: 1.25,
                seconds_per_epoch: 2.0,
                parameters: 26506,
            },
        ];
        write_summary(dir.path(), &rows, &[("broken".into(), "exit 1".into())]).unwrap();
        let read = read_summary(dir.path()).unwrap();
        assert_eq!(read_failed(dir.path()).unwrap(), ["broken"]);
        assert_eq!(read[0], rows[0]);
        assert_eq!(read[1].name, "wide");
        assert!(read[1].best_valid_accuracy.is_nan());
        assert_eq!(read.len(), 2);

        let path = dir.path().join("summary.csv");
        std::fs::write(
            &path,
            format!("{CSV_HEADER}\nwide,1,x,0.5,1.25,2.000,26506\n"),
        )
        .unwrap();
        let error = format!("{:#}", read_summary(dir.path()).unwrap_err());
        assert!(
            error.starts_with(&format!(
                "{}:2: expected a name and six numbers",
                path.display()
            )),
            "{error}"
        );
    }
}
