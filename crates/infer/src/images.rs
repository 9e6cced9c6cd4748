//! `infer --image`: the digit in each image file, preprocessed the way MNIST
//! was made (see [`data::own_image`]). A file that cannot be read is reported
//! on its own line and the others are still answered.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::Device;
use console::errln;
use model::Classifier;

use serde::Serialize;

use crate::predict::predict_images;
use crate::prediction::Prediction;

/// One file's answer; serialises to the `--json` line (`file`, the
/// [`Prediction`]'s fields, `top3`).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ImageAnswer {
    pub file: String,
    #[serde(flatten)]
    pub answer: Prediction,
    /// The three most likely digits, most likely first, as `[digit, probability]`.
    pub top3: Vec<(usize, f32)>,
}

impl ImageAnswer {
    fn new(file: &Path, answer: Prediction) -> Self {
        Self {
            file: file.display().to_string(),
            top3: answer.top(3),
            answer,
        }
    }

    /// `a.png: 7 (p 0.9946) | top 3: 7 0.9946, 3 0.0031, 2 0.0021`
    pub fn line(&self) -> String {
        let top: Vec<String> = self
            .top3
            .iter()
            .map(|(digit, p)| format!("{digit} {p:.4}"))
            .collect();
        format!(
            "{}: {} (p {:.4}) | top 3: {}",
            self.file,
            self.answer.prediction,
            self.answer.probability,
            top.join(", ")
        )
    }
}

/// Answers every file in `files`, printing one line each to `out` (JSON with
/// `json`) and one `error: ...` line to stderr for each file that fails. With
/// `save_dir`, writes the 28x28 each file became there as `<name>.png`.
pub fn answer_files(
    model: &impl Classifier,
    files: &[PathBuf],
    save_dir: Option<&Path>,
    json: bool,
    device: &Device,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    if let Some(dir) = save_dir {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create --save-preprocessed {}", dir.display()))?;
    }
    let mut failed = 0;
    for file in files {
        match answer_file(model, file, save_dir, device) {
            Ok(answer) if json => writeln!(
                out,
                "{}",
                serde_json::to_string(&answer).expect("numbers serialise")
            )?,
            Ok(answer) => writeln!(out, "{}", answer.line())?,
            Err(error) => {
                failed += 1;
                errln!("error: {error:#}");
            }
        }
    }
    if failed > 0 {
        bail!("{failed} of {} image files could not be read", files.len());
    }
    Ok(())
}

fn answer_file(
    model: &impl Classifier,
    file: &Path,
    save_dir: Option<&Path>,
    device: &Device,
) -> anyhow::Result<ImageAnswer> {
    let digit = data::read_digit(file)?;
    if let Some(dir) = save_dir {
        let name = file
            .file_name()
            .unwrap_or(file.as_os_str())
            .to_string_lossy();
        let target = dir.join(format!("{name}.png"));
        files::write_atomic(&target, &data::png_bytes(&digit))
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    let answer = predict_images(model, &digit, device)
        .context("cannot read the probabilities back from the device")?
        .remove(0);
    Ok(ImageAnswer::new(file, answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_three_are_the_most_likely_in_order() {
        let probabilities = vec![0.05, 0.1, 0.0, 0.6, 0.0, 0.2, 0.0, 0.05, 0.0, 0.0];
        let answer = ImageAnswer::new(
            Path::new("digits/three.png"),
            Prediction::new(probabilities),
        );
        assert_eq!(answer.answer.prediction, 3);
        assert_eq!(answer.top3, vec![(3, 0.6), (5, 0.2), (1, 0.1)]);
        assert_eq!(
            answer.line(),
            "digits/three.png: 3 (p 0.6000) | top 3: 3 0.6000, 5 0.2000, 1 0.1000"
        );
        let json: serde_json::Value = serde_json::to_value(&answer).unwrap();
        assert_eq!(json["file"], "digits/three.png");
        assert_eq!(json["prediction"], 3);
        assert_eq!(json["probabilities"].as_array().unwrap().len(), 10);
        assert_eq!(json["top3"][1][0], 5);
    }
}
