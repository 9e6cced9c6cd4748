//! `infer` without a subcommand: the model's answers for MNIST test digits
//! (some, or all with the accuracy and confusion matrix), or for image files
//! of handwritten digits. Also `infer plot`, which draws a run's pictures
//! again from the same test set.

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, bail};
use clap::Args;
use console::outln;
use data::NUM_CLASSES;
use model::{EVAL_BATCH_SIZE, Evaluation};
use serde::Serialize;

use crate::images;
use crate::loaded::{LoadedModel, ModelOptions, Reader};
use crate::predict::predict_test_digits;

/// Which digits to read, and how to print the answers.
#[derive(Args, Clone, Debug)]
pub struct DigitsOptions {
    #[command(flatten)]
    pub model: ModelOptions,
    /// First test image to predict.
    #[arg(long, default_value_t = 0)]
    pub index: usize,
    /// How many test images to predict, from --index.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..))]
    pub count: u64,
    /// Evaluate the whole test set: accuracy, loss and the confusion matrix.
    #[arg(long, conflicts_with_all = ["index", "count"])]
    pub all: bool,
    /// Image files of handwritten digits (PNG, JPEG) to read instead of test
    /// images; each is preprocessed the way MNIST was made.
    #[arg(long, num_args = 1.., conflicts_with_all = ["index", "count", "all"])]
    pub image: Vec<PathBuf>,
    /// With --image: write the 28x28 each file became into DIR, as `<file name>.png`.
    #[arg(long, requires = "image")]
    pub save_preprocessed: Option<PathBuf>,
    /// JSON Lines: one object per image (and with --all, a final summary object).
    #[arg(long)]
    pub json: bool,
}

/// Prints the answers `options` ask for on stdout.
pub fn read_digits(options: &DigitsOptions) -> anyhow::Result<()> {
    let LoadedModel {
        run_dir,
        model,
        device,
    } = options.model.load()?;
    let mut out = console::stdout();
    if !options.image.is_empty() {
        if !options.json {
            writeln!(out, "run {}: {}", run_dir.display(), model.describe())?;
        }
        return images::answer_files(
            &model,
            &options.image,
            options.save_preprocessed.as_deref(),
            options.json,
            &device,
            &mut out,
        );
    }
    let test = Arc::new(options.model.test_split()?);
    let indices = if options.all {
        0..test.len()
    } else {
        let count = usize::try_from(options.count).unwrap_or(usize::MAX);
        let end = options.index.saturating_add(count);
        if end > test.len() {
            bail!(
                "--index {} --count {count} asks for images up to {}, but the test set has {} (0 to {})",
                options.index,
                end - 1,
                test.len(),
                test.len() - 1
            );
        }
        options.index..end
    };

    if !options.json {
        writeln!(out, "run {}: {}", run_dir.display(), model.describe())?;
    }
    // With --all in text mode only the summary is printed: 10,000 lines would bury it.
    if options.json || !options.all {
        let digits = predict_test_digits(&model, test.clone(), indices, EVAL_BATCH_SIZE, &device)
            .context("cannot read the predictions back from the device")?;
        for digit in &digits {
            if options.json {
                writeln!(out, "{}", serde_json::to_string(digit)?)?;
            } else {
                writeln!(out, "{}", digit.line())?;
            }
        }
    }
    if options.all {
        let evaluation = model::evaluate(&model, test, NUM_CLASSES, EVAL_BATCH_SIZE, &device)
            .context("cannot read the evaluation back from the device")?;
        if options.json {
            writeln!(
                out,
                "{}",
                serde_json::to_string(&TestSetSummary::of(&evaluation))?
            )?;
        } else {
            write!(out, "{}", summary_text(&evaluation))?;
        }
    }
    Ok(())
}

/// `infer plot`: evaluates the run's model on the test set and draws its
/// pictures from that and the run's files; says which files it wrote.
pub fn draw_plots(options: &ModelOptions) -> anyhow::Result<()> {
    let loaded = options.load()?;
    let test = Arc::new(options.test_split()?);
    let evaluation = model::evaluate(
        &loaded.model,
        Arc::clone(&test),
        NUM_CLASSES,
        EVAL_BATCH_SIZE,
        &loaded.device,
    )
    .context("cannot read the test results back from the device")?;
    let written = match &loaded.model {
        Reader::Network { .. } => run::plots::write_run_plots(&loaded.run_dir, &evaluation, &test)?,
        Reader::Committee { .. } => {
            run::plots::write_evaluation_plots(&loaded.run_dir, &evaluation, &test)?
        }
    };
    for path in written {
        outln!("wrote {}", path.display());
    }
    Ok(())
}

/// `--all --json`'s last line (keys in alphabetical order, as it always had).
#[derive(Serialize)]
struct TestSetSummary<'a> {
    /// `correct / images`.
    accuracy: f64,
    /// `confusion[label][prediction]`.
    confusion: &'a [Vec<usize>],
    correct: usize,
    images: usize,
    /// Mean cross-entropy per image.
    loss: f64,
    /// Always `true`: tells this line from the per-image ones.
    summary: bool,
}

impl<'a> TestSetSummary<'a> {
    fn of(e: &'a Evaluation) -> Self {
        Self {
            accuracy: e.accuracy(),
            confusion: &e.confusion,
            correct: e.correct,
            images: e.count,
            loss: e.loss,
            summary: true,
        }
    }
}

/// Accuracy, loss and the confusion matrix (rows: true digit, columns: predicted).
fn summary_text(e: &Evaluation) -> String {
    let mut text = format!(
        "test accuracy: {:.4} ({} of {} images), test loss: {:.4}\n\
         confusion matrix (rows: true digit, columns: predicted digit)\n      ",
        e.accuracy(),
        e.correct,
        e.count,
        e.loss
    );
    for digit in 0..e.confusion.len() {
        text.push_str(&format!("{digit:>6}"));
    }
    text.push('\n');
    for (digit, row) in e.confusion.iter().enumerate() {
        text.push_str(&format!("{digit:>6}"));
        for count in row {
            text.push_str(&format!("{count:>6}"));
        }
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_prints_a_labelled_matrix() {
        let e = Evaluation {
            count: 4,
            loss: 0.5,
            correct: 3,
            confusion: vec![vec![2, 0], vec![1, 1]],
            mistakes: vec![],
        };
        let text = summary_text(&e);
        assert!(text.starts_with("test accuracy: 0.7500 (3 of 4 images), test loss: 0.5000\n"));
        assert!(
            text.ends_with("           0     1\n     0     2     0\n     1     1     1\n"),
            "{text}"
        );
        let json = serde_json::to_value(TestSetSummary::of(&e)).unwrap();
        assert_eq!(json["confusion"][1][0], 1);
        assert_eq!(json["summary"], true);
        assert_eq!(json["accuracy"], 0.75);
    }
}
