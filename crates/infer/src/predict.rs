//! Class probabilities for chosen test images, the tutorial's `model.predict`.

use std::ops::Range;
use std::sync::Arc;

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::{Device, Tensor, TensorReadError};
use data::{MnistBatcher, MnistDataset, MnistSplit};
use model::Mlp;

/// One image's answer; serialises to the `--json` line.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Prediction {
    pub index: usize,
    pub label: u8,
    /// The argmax of `probabilities`.
    pub prediction: usize,
    /// Softmax output, one per class, summing to 1.
    pub probabilities: Vec<f32>,
}

/// Predicts the images at `indices` of `split`, `batch_size` at a time.
/// `indices` must lie inside the split.
pub fn predict(
    model: &Mlp,
    split: Arc<MnistSplit>,
    indices: Range<usize>,
    batch_size: usize,
    device: &Device,
) -> Result<Vec<Prediction>, TensorReadError> {
    let dataset = MnistDataset::new(split);
    let batcher = MnistBatcher;
    let mut predictions = Vec::with_capacity(indices.len());
    let indices: Vec<usize> = indices.collect();
    for chunk in indices.chunks(batch_size.max(1)) {
        let items: Vec<_> = chunk
            .iter()
            .map(|&index| dataset.get(index).expect("indices lie inside the split"))
            .collect();
        let labels: Vec<u8> = items.iter().map(|item| item.label()).collect();
        let batch = batcher.batch(items, device);
        let rows = read_probabilities(model, batch.images)?;
        for ((&index, label), row) in chunk.iter().zip(labels).zip(rows) {
            predictions.push(Prediction {
                index,
                label,
                prediction: argmax(&row),
                probabilities: row,
            });
        }
    }
    Ok(predictions)
}

/// Softmax output for `images` (`u8` pixels, 784 per image, as
/// [`data::read_digit`] gives them): one row of class probabilities per image.
pub fn probabilities_of(
    model: &Mlp,
    images: &[u8],
    device: &Device,
) -> Result<Vec<Vec<f32>>, TensorReadError> {
    read_probabilities(model, data::images_tensor(images, device))
}

/// Runs `images` (`[B, 784]`, normalised) through `model` and reads the `[B,
/// classes]` probabilities back, one row per image.
fn read_probabilities(model: &Mlp, images: Tensor<2>) -> Result<Vec<Vec<f32>>, TensorReadError> {
    let count = images.dims()[0];
    let probabilities = model.probabilities(images).try_into_data()?;
    let probabilities = probabilities
        .try_to_vec::<f32>()
        .expect("float probabilities");
    let classes = probabilities.len() / count.max(1);
    Ok(probabilities.chunks(classes).map(<[f32]>::to_vec).collect())
}

/// Index of the largest value; the first one on ties, as `argmax` does.
pub fn argmax(values: &[f32]) -> usize {
    values
        .iter()
        .enumerate()
        .fold(0, |best, (i, &v)| if v > values[best] { i } else { best })
}

#[cfg(test)]
mod tests {
    use super::*;
    use data::IMAGE_PIXELS;
    use model::MlpConfig;

    #[test]
    fn argmax_takes_the_first_of_equals() {
        assert_eq!(argmax(&[0.1, 0.7, 0.2]), 1);
        assert_eq!(argmax(&[0.5, 0.5]), 0);
    }

    #[test]
    fn one_prediction_per_index_with_probabilities_summing_to_one() {
        let device = Device::flex();
        let labels: Vec<u8> = (0..9).collect();
        let images = (0..9 * IMAGE_PIXELS).map(|p| (p % 251) as u8).collect();
        let split = Arc::new(MnistSplit::new(images, labels).unwrap());
        let model = MlpConfig::new().init(&device);

        let predictions = predict(&model, split.clone(), 2..7, 2, &device).unwrap();
        assert_eq!(
            predictions.iter().map(|p| p.index).collect::<Vec<_>>(),
            vec![2, 3, 4, 5, 6]
        );
        for p in &predictions {
            assert_eq!(p.label as usize, p.index);
            assert_eq!(p.probabilities.len(), 10);
            assert!((p.probabilities.iter().sum::<f32>() - 1.0).abs() < 1e-5);
            assert_eq!(p.prediction, argmax(&p.probabilities));
        }
        // Batching does not change the answers.
        let one_batch = predict(&model, split, 2..7, 100, &device).unwrap();
        for (a, b) in predictions.iter().zip(&one_batch) {
            assert_eq!(a.prediction, b.prediction);
            for (x, y) in a.probabilities.iter().zip(&b.probabilities) {
                assert!((x - y).abs() < 1e-6);
            }
        }
    }
}
