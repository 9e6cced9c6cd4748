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

use anyhow::Context;
use data::MnistSplit;
use model::Evaluation;
use plot::{EpochPoint, PlotError};

use crate::{EpochMetrics, GradNorms};

/// The pictures' directory inside a run directory.
pub const PLOTS_DIR: &str = "plots";

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
    let title = format!(
        "{}: training digits as each epoch distorts them",
        run_name(run)
    );
    write_pictures(
        run,
        vec![("augmentation.png", plot::augmentation_grid(&title, &digits))],
    )
    .map(|mut written| written.remove(0))
}

/// Draws every picture of `run` into `<run>/plots/` from its files and the
/// test set's `evaluation` (of `test`), and returns the files written.
pub fn write_run_plots(
    run: &Path,
    evaluation: &Evaluation,
    test: &MnistSplit,
) -> anyhow::Result<Vec<PathBuf>> {
    let name = run_name(run);
    let epochs: Vec<EpochPoint> = EpochMetrics::read_csv(run)?
        .iter()
        .map(|e| EpochPoint {
            epoch: e.epoch,
            train_loss: e.train_loss,
            train_accuracy: e.train_accuracy,
            valid_loss: e.valid_loss,
            valid_accuracy: e.valid_accuracy,
        })
        .collect();
    let mut pictures = vec![("training_curves.png", plot::training_curves(&name, &epochs))];
    pictures.extend(evaluation_pictures(&name, evaluation, test));
    if let Some(norms) = GradNorms::read(run)? {
        let title = format!("{name}: weight-gradient norm per layer");
        pictures.push(("grad_norms.png", plot::grad_norms(&title, &norms, None)));
    }
    write_pictures(run, pictures)
}

/// Draws the test set's pictures of what `dir` holds (a committee, which
/// trained nothing itself: no curves) into `<dir>/plots/` from its
/// `evaluation` (of `test`), and returns the files written.
pub fn write_evaluation_plots(
    dir: &Path,
    evaluation: &Evaluation,
    test: &MnistSplit,
) -> anyhow::Result<Vec<PathBuf>> {
    write_pictures(dir, evaluation_pictures(&run_name(dir), evaluation, test))
}

/// The confusion matrix and the misclassified digits of `evaluation` (of
/// `test`), titled with `name`.
fn evaluation_pictures(
    name: &str,
    evaluation: &Evaluation,
    test: &MnistSplit,
) -> Vec<(&'static str, Result<Vec<u8>, PlotError>)> {
    let mut pictures = vec![(
        "confusion_matrix.png",
        plot::confusion_matrix(&format!("{name}: test set"), &evaluation.confusion),
    )];
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
    pictures
}

/// The run's directory name, for titles.
fn run_name(run: &Path) -> String {
    run.file_name().map_or_else(
        || run.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    )
}

/// Writes each drawn picture into `<run>/plots/` (created if needed) under
/// its file name; returns the paths, or the first drawing or writing error.
fn write_pictures(
    run: &Path,
    pictures: Vec<(&str, Result<Vec<u8>, PlotError>)>,
) -> anyhow::Result<Vec<PathBuf>> {
    let dir = run.join(PLOTS_DIR);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    pictures
        .into_iter()
        .map(|(file, png)| {
            let path = dir.join(file);
            let png = png.with_context(|| format!("cannot draw {}", path.display()))?;
            files::write_atomic(&path, &png)
                .with_context(|| format!("cannot write {}", path.display()))?;
            Ok(path)
        })
        .collect()
}
