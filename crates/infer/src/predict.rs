//! The network's answers for images, the tutorial's `model.predict`: for
//! chosen test images (with their labels) or for raw 28x28 images.

use std::ops::Range;
use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::{Device, Tensor, TensorReadError};
use data::{MnistBatcher, MnistDataset, MnistSplit};
use model::Classifier;
use serde::Serialize;

use crate::prediction::Prediction;

/// A test image's answer; serialises to the `--json` line
/// (`index`, `label`, then the [`Prediction`]'s fields).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TestDigit {
    /// Position in the test split.
    pub index: usize,
    pub label: u8,
    #[serde(flatten)]
    pub answer: Prediction,
}

impl TestDigit {
    /// `image 0: label 7, predicted 7 (p 0.9990) | 0:0.0000 1:0.0001 ...`,
    /// with `WRONG` after the probability when the label differs.
    pub fn line(&self) -> String {
        let answer = &self.answer;
        let verdict = if answer.prediction == usize::from(self.label) {
            ""
        } else {
            "  WRONG"
        };
        let probabilities: Vec<String> = answer
            .probabilities
            .iter()
            .enumerate()
            .map(|(digit, probability)| format!("{digit}:{probability:.4}"))
            .collect();
        format!(
            "image {}: label {}, predicted {} (p {:.4}){verdict} | {}",
            self.index,
            self.label,
            answer.prediction,
            answer.probability,
            probabilities.join(" ")
        )
    }
}

/// Answers the images at `indices` of `split`, `batch_size` at a time.
/// `indices` must lie inside the split.
pub fn predict_test_digits(
    model: &impl Classifier,
    split: Arc<MnistSplit>,
    indices: Range<usize>,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<TestDigit>, TensorReadError> {
    let dataset = MnistDataset::new(split);
    let mut answers = Vec::with_capacity(indices.len());
    let indices: Vec<usize> = indices.collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let items: Vec<_> = chunk
            .iter()
            .map(|&index| dataset.get(index).expect("indices lie inside the split"))
            .collect();
        let labels: Vec<u8> = items.iter().map(|item| item.label()).collect();
        let batch = MnistBatcher.batch(items, device);
        let rows = answer_batch(model, batch.images)?;
        for ((&index, label), answer) in chunk.iter().zip(labels).zip(rows) {
            answers.push(TestDigit {
                index,
                label,
                answer,
            });
        }
    }
    Ok(answers)
}

/// The answers for `images` (`u8` pixels, 784 per image, as
/// [`data::read_digit`] gives them), one per image.
pub fn predict_images(
    model: &impl Classifier,
    images: &[u8],
    device: &Device,
) -> Result<Vec<Prediction>, TensorReadError> {
    answer_batch(model, data::images_tensor(images, device))
}

/// Runs `images` (`[B, 784]`, normalised) through `model` and reads the `[B,
/// classes]` probabilities back: one answer per image.
fn answer_batch(
    model: &impl Classifier,
    images: Tensor<2>,
) -> Result<Vec<Prediction>, TensorReadError> {
    let count = images.dims()[0];
    let probabilities = model.class_probabilities(images).try_into_data()?;
    let probabilities = probabilities
        .try_to_vec::<f32>()
        .expect("float probabilities");
    let classes = probabilities.len() / count.max(1);
    Ok(probabilities
        .chunks(classes)
        .map(|row| Prediction::new(row.to_vec()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use data::IMAGE_PIXELS;
    use model::MlpConfig;

    #[test]
    fn one_answer_per_index_with_probabilities_summing_to_one() {
        let device = Device::flex();
        let labels: Vec<u8> = (0..9).collect();
        let images = (0..9 * IMAGE_PIXELS).map(|p| (p % 251) as u8).collect();
        let split = Arc::new(MnistSplit::new(images, labels).unwrap());
        let model = MlpConfig::new().init(&device);

        let answers = predict_test_digits(&model, split.clone(), 2..7, 2, &device).unwrap();
        assert_eq!(
            answers.iter().map(|a| a.index).collect::<Vec<_>>(),
            vec![2, 3, 4, 5, 6]
        );
        for a in &answers {
            assert_eq!(a.label as usize, a.index);
            assert_eq!(a.answer.probabilities.len(), 10);
            assert!((a.answer.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
        // Batching does not change the answers, nor does the way in.
        let one_batch = predict_test_digits(&model, split.clone(), 2..7, 100, &device).unwrap();
        let raw = predict_images(
            &model,
            &split.images()[2 * IMAGE_PIXELS..7 * IMAGE_PIXELS],
            &device,
        )
        .unwrap();
        for ((a, b), c) in answers.iter().zip(&one_batch).zip(&raw) {
            assert_eq!(a.answer.prediction, b.answer.prediction);
            assert_eq!(a.answer.prediction, c.prediction);
            for ((x, y), z) in a
                .answer
                .probabilities
                .iter()
                .zip(&b.answer.probabilities)
                .zip(&c.probabilities)
            {
                assert!((x - y).abs() < 1e-6 && (x - z).abs() < 1e-6);
            }
        }
    }

    #[test]
    fn a_line_shows_label_guess_and_all_probabilities() {
        let digit = TestDigit {
            index: 3,
            label: 1,
            answer: Prediction::new(vec![0.0, 0.25, 0.0, 0.0, 0.0, 0.0, 0.0, 0.75, 0.0, 0.0]),
        };
        let line = digit.line();
        assert!(
            line.starts_with("image 3: label 1, predicted 7 (p 0.7500)  WRONG | 0:0.0000 1:0.2500"),
            "{line}"
        );
        let json = serde_json::to_string(&digit).unwrap();
        assert!(
            json.starts_with(
                r#"{"index":3,"label":1,"prediction":7,"probability":0.75,"probabilities":[0.0,0.25,0.0"#
            ),
            "{json}"
        );
    }
}
