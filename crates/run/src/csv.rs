//! The numeric CSV files of a run (`metrics.csv`, `grad_norms.csv`): a
//! header line, then rows of numbers.

use std::path::Path;

use anyhow::{Context, bail};

/// The numbers of a CSV file with a header, one `Vec` per row, each as long as
/// the header; errors name the file and line.
pub(crate) fn read_numbers(path: &Path) -> anyhow::Result<Vec<Vec<f64>>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut lines = text.lines();
    let columns = lines.next().map_or(0, |header| header.split(',').count());
    lines
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(row, line)| {
            let values: Result<Vec<f64>, _> = line.split(',').map(str::parse).collect();
            match values {
                Ok(values) if values.len() == columns => Ok(values),
                _ => bail!(
                    "{}:{}: expected {columns} numbers separated by commas, got `{}`",
                    path.display(),
                    row + 2,
                    console::one_line(line)
                ),
            }
        })
        .collect()
}
