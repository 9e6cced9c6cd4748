//! Loss, accuracy and confusion matrix of a model over a whole split, the way
//! Keras's `model.evaluate` reports them: every image counts once.

use std::sync::Arc;

use burn::data::dataloader::DataLoaderBuilder;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::activation::softmax;
use burn::tensor::{Device, TensorReadError};

use crate::classifier::Classifier;
use data::{MnistBatcher, MnistDataset, MnistSplit};

/// Batch size of passes that only read the model (evaluation, prediction): big
/// batches are faster, and the means they report do not depend on it.
pub const EVAL_BATCH_SIZE: usize = 1000;

/// What a model scored on a split.
#[derive(Clone, Debug, PartialEq)]
pub struct Evaluation {
    /// Images evaluated.
    pub count: usize,
    /// Mean cross-entropy per image (natural log).
    pub loss: f64,
    /// Images whose most probable class is the label.
    pub correct: usize,
    /// `confusion[label][prediction]`: how often each digit was read as each digit.
    pub confusion: Vec<Vec<usize>>,
    /// Every image read wrongly, in split order.
    pub mistakes: Vec<Mistake>,
}

/// One image the model read wrongly.
#[derive(Clone, Debug, PartialEq)]
pub struct Mistake {
    /// Position in the split.
    pub index: usize,
    pub label: usize,
    pub prediction: usize,
    /// The probability the model gave `prediction`, in (0, 1].
    pub probability: f32,
}

impl Evaluation {
    /// Fraction of images classified correctly, in [0, 1].
    pub fn accuracy(&self) -> f64 {
        self.correct as f64 / self.count as f64
    }
}

/// Runs `model` (a network or a committee) over every image of `split` in
/// batches of `batch_size` on `device`. Reads back one loss and the
/// predictions per batch.
pub fn evaluate(
    model: &impl Classifier,
    split: Arc<MnistSplit>,
    classes: usize,
    batch_size: usize,
    device: &Device,
) -> Result<Evaluation, TensorReadError> {
    let loader = DataLoaderBuilder::new(MnistBatcher)
        .batch_size(batch_size)
        .set_device(device.clone())
        .build(MnistDataset::new(split));
    let loss_fn = CrossEntropyLossConfig::new().init(device);
    let mut evaluation = Evaluation {
        count: 0,
        loss: 0.0,
        correct: 0,
        confusion: vec![vec![0; classes]; classes],
        mistakes: Vec::new(),
    };
    let mut loss_sum = 0.0;
    // Items are cheap handles into the split, so fetching one cannot fail.
    for batch in loader.iter().flatten() {
        let size = batch.targets.dims()[0];
        let logits = model.logits(batch.images); // [B, classes]
        let loss = loss_fn.forward(logits.clone(), batch.targets.clone()); // [1], batch mean
        loss_sum += loss.try_into_scalar::<f64>()? * size as f64;
        let (top, predictions) = softmax(logits, 1).max_dim_with_indices(1); // [B, 1] each
        let top = top.try_into_data()?.convert::<f32>();
        let predictions = predictions.try_into_data()?.convert::<i64>();
        let labels = batch.targets.try_into_data()?.convert::<i64>();
        let top = top.as_slice::<f32>().expect("converted to f32");
        let predictions = predictions.as_slice::<i64>().expect("converted to i64");
        let labels = labels.as_slice::<i64>().expect("converted to i64");
        for (row, (&label, &prediction)) in labels.iter().zip(predictions).enumerate() {
            let (label, prediction) = (label as usize, prediction as usize);
            evaluation.confusion[label][prediction] += 1;
            if label == prediction {
                evaluation.correct += 1;
            } else {
                evaluation.mistakes.push(Mistake {
                    index: evaluation.count + row,
                    label,
                    prediction,
                    probability: top[row],
                });
            }
        }
        evaluation.count += size;
    }
    evaluation.loss = loss_sum / evaluation.count as f64;
    Ok(evaluation)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Classifier, MlpConfig};
    use data::IMAGE_PIXELS;

    #[test]
    fn counts_every_image_once_across_uneven_batches() {
        let device = Device::flex();
        let labels: Vec<u8> = (0..25).map(|i| (i % 10) as u8).collect();
        let images = (0..25u32)
            .flat_map(|i| (0..IMAGE_PIXELS as u32).map(move |p| ((i * 7 + p) % 256) as u8))
            .collect();
        let split = Arc::new(MnistSplit::new(images, labels).unwrap());
        let model = MlpConfig::new().init(&device);

        let by_7 = evaluate(&model, split.clone(), 10, 7, &device).unwrap();
        let by_25 = evaluate(&model, split, 10, 25, &device).unwrap();

        assert_eq!(by_7.count, 25);
        assert_eq!(by_7.confusion.iter().flatten().sum::<usize>(), 25);
        assert_eq!(
            by_7.correct,
            (0..10).map(|d| by_7.confusion[d][d]).sum::<usize>()
        );
        // Batch sizes change the summation order only.
        assert_eq!(by_7.correct, by_25.correct);
        assert_eq!(by_7.mistakes, by_25.mistakes);
        assert_eq!(by_7.mistakes.len(), 25 - by_7.correct);
        for mistake in &by_7.mistakes {
            assert_eq!(mistake.label, mistake.index % 10);
            assert_ne!(mistake.prediction, mistake.label);
            // The top one of ten probabilities is at least 1/10.
            assert!((0.1..=1.0).contains(&mistake.probability), "{mistake:?}");
        }
        assert!((by_7.loss - by_25.loss).abs() < 1e-5);
        // An untrained 10-class network is near chance: loss near ln(10) = 2.30.
        assert!((by_7.loss - 10f64.ln()).abs() < 0.5, "{}", by_7.loss);
    }

    /// 25 images of pixels `(i * 7 + p) % 256`, labels `i % 10`.
    fn split() -> Arc<MnistSplit> {
        let labels: Vec<u8> = (0..25).map(|i| (i % 10) as u8).collect();
        let images = (0..25u32)
            .flat_map(|i| (0..IMAGE_PIXELS as u32).map(move |p| ((i * 7 + p) % 256) as u8))
            .collect();
        Arc::new(MnistSplit::new(images, labels).unwrap())
    }

    /// A committee of copies of one network reads as that network; one of
    /// two networks scores the mean of -ln of its combined probability of
    /// each label, and its mistakes carry the combined probability.
    #[test]
    fn a_committee_is_evaluated_on_its_combined_probabilities() {
        use crate::{Combine, Committee};
        let device = Device::flex();
        let a = MlpConfig::new().init(&device);
        let b = MlpConfig::new().with_hidden(vec![32]).init(&device);
        let alone = evaluate(&a, split(), 10, 10, &device).unwrap();
        for combine in [Combine::Mean, Combine::Geometric] {
            let copies = Committee {
                members: vec![a.clone(), a.clone()],
                combine,
            };
            let together = evaluate(&copies, split(), 10, 10, &device).unwrap();
            assert_eq!(together.confusion, alone.confusion, "{combine}");
            assert!((together.loss - alone.loss).abs() < 1e-5, "{combine}");

            let pair = Committee {
                members: vec![a.clone(), b.clone()],
                combine,
            };
            let evaluation = evaluate(&pair, split(), 10, 10, &device).unwrap();
            let images = data::images_tensor(split().images(), &device);
            let p = pair
                .class_probabilities(images)
                .into_data()
                .try_to_vec::<f32>()
                .unwrap();
            let loss = (0..25)
                .map(|i| -f64::from(p[i * 10 + i % 10]).ln())
                .sum::<f64>()
                / 25.0;
            assert!(
                (evaluation.loss - loss).abs() < 1e-5,
                "{combine}: {} vs {loss}",
                evaluation.loss
            );
            for mistake in &evaluation.mistakes {
                let row = &p[mistake.index * 10..][..10];
                assert!((row[mistake.prediction] - mistake.probability).abs() < 1e-6);
            }
        }
    }
}
