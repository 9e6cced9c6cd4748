//! `infer --image`: the digit in each image file, preprocessed the way MNIST
//! was made (see [`data::own_image`]). A file that cannot be read is reported
//! on its own line and the others are still answered.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use burn::tensor::Device;
use data::errln;
use model::Mlp;

use crate::predict::{argmax, probabilities_of};

/// One file's answer; serialises to the `--json` line.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct ImageAnswer {
    pub file: String,
    /// The argmax of `probabilities`.
    pub prediction: usize,
    pub probability: f32,
    /// The three most likely digits, most likely first, as `[digit, probability]`.
    pub top3: Vec<(usize, f32)>,
    /// Softmax output, one per class.
    pub probabilities: Vec<f32>,
}

impl ImageAnswer {
    fn new(file: &Path, probabilities: Vec<f32>) -> Self {
        let mut ranked: Vec<(usize, f32)> = probabilities.iter().copied().enumerate().collect();
        ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked.truncate(3);
        let prediction = argmax(&probabilities);
        Self {
            file: file.display().to_string(),
            prediction,
            probability: probabilities[prediction],
            top3: ranked,
            probabilities,
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
            self.prediction,
            self.probability,
            top.join(", ")
        )
    }
}

/// Answers every file in `files`, printing one line each to `out` (JSON with
/// `json`) and one `error: ...` line to stderr for each file that fails. With
/// `save_dir`, writes the 28x28 each file became there as `<name>.png`.
pub fn answer_files(
    model: &Mlp,
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
    model: &Mlp,
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
        data::write_atomic(&target, &data::png_bytes(&digit))
            .with_context(|| format!("cannot write {}", target.display()))?;
    }
    let probabilities = probabilities_of(model, &digit, device)
        .context("cannot read the probabilities back from the device")?;
    let row = probabilities
        .into_iter()
        .next()
        .expect("one image, one row");
    Ok(ImageAnswer::new(file, row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_three_are_the_most_likely_in_order() {
        let probabilities = vec![0.05, 0.1, 0.0, 0.6, 0.0, 0.2, 0.0, 0.05, 0.0, 0.0];
        let answer = ImageAnswer::new(Path::new("digits/three.png"), probabilities);
        assert_eq!(answer.prediction, 3);
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
