//! The pictures of a run, drawn from the files the run wrote, so that they
//! can be drawn again at any time (`infer plot --run RUN`):
//!
//! ```text
//! <run>/plots/training_curves.png   loss and accuracy per epoch, training vs validation
//! <run>/plots/confusion_matrix.png  true vs predicted digit on the test set
//! <run>/plots/misclassified.png     the first 36 misclassified test digits
//! <run>/plots/grad_norms.png        with grad_norms = true: each layer's gradient norm
//! <run>/plots/augmentation.png      with [augment]: training digits and their distortions
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use data::MnistSplit;
use model::Evaluation;
use plot::EpochPoint;

/// The pictures' directory inside a run directory.
pub const PLOTS_DIR: &str = "plots";
/// Per-epoch metrics, written by `train`.
pub const METRICS_FILE: &str = "metrics.csv";
/// Per-epoch, per-layer gradient norms, written by `train` with `grad_norms = true`.
pub const GRAD_NORMS_FILE: &str = "grad_norms.csv";

/// `grad_norms.csv`: `epoch,layer1,...,layerN`, then one row per epoch.
pub fn grad_norms_csv(rows: &[(usize, &[f64])]) -> String {
    let layers = rows.first().map_or(0, |(_, norms)| norms.len());
    let header: Vec<String> = (1..=layers).map(|l| format!("layer{l}")).collect();
    let mut csv = format!("epoch,{}\n", header.join(","));
    for (epoch, norms) in rows {
        let values: Vec<String> = norms.iter().map(|n| format!("{n:e}")).collect();
        csv += &format!("{epoch},{}\n", values.join(","));
    }
    csv
}

/// The numbers of a CSV file with a header, one `Vec` per row; errors name
/// the file and line.
fn read_csv(path: &Path) -> anyhow::Result<Vec<Vec<f64>>> {
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
                    data::one_line(line)
                ),
            }
        })
        .collect()
}

/// The epochs of `<run>/metrics.csv` (`epoch,seconds,train_loss,
/// train_accuracy,valid_loss,valid_accuracy`).
pub fn read_metrics(run: &Path) -> anyhow::Result<Vec<EpochPoint>> {
    let path = run.join(METRICS_FILE);
    let rows = read_csv(&path)?;
    if rows.first().is_some_and(|row| row.len() != 6) {
        bail!("{}: expected 6 columns per row", path.display());
    }
    Ok(rows
        .iter()
        .map(|row| EpochPoint {
            epoch: row[0] as usize,
            train_loss: row[2],
            train_accuracy: row[3],
            valid_loss: row[4],
            valid_accuracy: row[5],
        })
        .collect())
}

/// `<run>/grad_norms.csv` as `norms[epoch][layer]`, if the run recorded them.
pub fn read_grad_norms(run: &Path) -> anyhow::Result<Option<Vec<Vec<f64>>>> {
    let path = run.join(GRAD_NORMS_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let rows = read_csv(&path)?;
    Ok(Some(
        rows.into_iter().map(|row| row[1..].to_vec()).collect(),
    ))
}

/// Training digits shown in `augmentation.png`, and distorted versions of each.
const AUGMENTED_DIGITS: usize = 6;
const AUGMENTED_VERSIONS: usize = 6;

/// Draws `<run>/plots/augmentation.png`: the first digits of `train` as MNIST
/// has them, then as `distortion` warps them in epochs 1 to 6 of a run seeded
/// `seed` (the draws the training loader makes for those images).
pub fn write_augmentation_plot(
    run: &Path,
    train: &MnistSplit,
    distortion: &data::Distortion,
    seed: u64,
) -> anyhow::Result<PathBuf> {
    let digits: Vec<plot::AugmentedDigit> = (0..AUGMENTED_DIGITS.min(train.len()))
        .map(|index| {
            let original = train.image(index);
            let versions = (1..=AUGMENTED_VERSIONS)
                .map(|epoch| {
                    let mut warped = vec![0.0f32; original.len()];
                    distortion
                        .draw(seed, epoch, index)
                        .apply(original, &mut warped);
                    warped
                        .iter()
                        .map(|&v| v.round().clamp(0.0, 255.0) as u8)
                        .collect()
                })
                .collect();
            plot::AugmentedDigit {
                index,
                original: original.to_vec(),
                versions,
            }
        })
        .collect();
    let name = run.file_name().map_or_else(
        || run.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let path = run.join(PLOTS_DIR).join("augmentation.png");
    let png = plot::augmentation_grid(
        &format!("{name}: training digits as each epoch distorts them"),
        &digits,
    )
    .with_context(|| format!("cannot draw {}", path.display()))?;
    let dir = run.join(PLOTS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    data::write_atomic(&path, &png).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(path)
}

/// Draws every picture of `run` into `<run>/plots/` from its files and the
/// test set's `evaluation` (of `test`), and returns the files written.
pub fn write_run_plots(
    run: &Path,
    evaluation: &Evaluation,
    test: &MnistSplit,
) -> anyhow::Result<Vec<PathBuf>> {
    let name = run.file_name().map_or_else(
        || run.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut pictures = vec![
        (
            "training_curves.png",
            plot::training_curves(&name, &read_metrics(run)?),
        ),
        (
            "confusion_matrix.png",
            plot::confusion_matrix(&format!("{name}: test set"), &evaluation.confusion),
        ),
    ];
    let mistakes: Vec<plot::Mistake> = evaluation
        .mistakes
        .iter()
        .take(plot::MAX_MISTAKES_SHOWN)
        .map(|m| plot::Mistake {
            index: m.index,
            pixels: test.image(m.index).to_vec(),
            label: m.label as u8,
            predicted: m.prediction as u8,
            probability: f64::from(m.probability),
        })
        .collect();
    pictures.push((
        "misclassified.png",
        plot::misclassified_grid(
            &format!("{name}: test set"),
            &mistakes,
            evaluation.mistakes.len(),
        ),
    ));
    if let Some(norms) = read_grad_norms(run)? {
        let title = format!("{name}: weight-gradient norm per layer");
        pictures.push(("grad_norms.png", plot::grad_norms(&title, &norms, None)));
    }
    let dir = run.join(PLOTS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    pictures
        .into_iter()
        .map(|(file, png)| {
            let path = dir.join(file);
            let png = png.with_context(|| format!("cannot draw {}", path.display()))?;
            data::write_atomic(&path, &png)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(path)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grad_norms_round_trip_through_their_csv() {
        let dir = tempfile::tempdir().unwrap();
        let rows = [(1, &[0.5, 2e-7][..]), (2, &[0.25, 1e-7][..])];
        std::fs::write(dir.path().join(GRAD_NORMS_FILE), grad_norms_csv(&rows)).unwrap();
        assert_eq!(
            read_grad_norms(dir.path()).unwrap(),
            Some(vec![vec![0.5, 2e-7], vec![0.25, 1e-7]])
        );
        let other = tempfile::tempdir().unwrap();
        assert_eq!(read_grad_norms(other.path()).unwrap(), None);
    }

    #[test]
    fn a_broken_metrics_file_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(METRICS_FILE);
        std::fs::write(
            &path,
            "epoch,seconds,a,b,c,d\n1,0.5,0.3,0.9,0.2,0.95\n2,x\n",
        )
        .unwrap();
        let error = read_metrics(dir.path()).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{}:3: expected 6 numbers separated by commas, got `2,x`",
                path.display()
            )
        );
    }
}
