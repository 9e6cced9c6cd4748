//! The epoch's loss and accuracy as Burn metrics, fed with sums of many
//! batches at once.
//!
//! Burn's `LossMetric` and `AccuracyMetric` take one batch's tensors per
//! update (and the loss metric weighs every batch the same, a short last
//! batch included). The training loop here reports a [`StepOutput`] that
//! already sums every batch since its last report, so these weigh each
//! update by its number of images: the epoch's value is the exact mean over
//! its images. The names are Burn's ("Loss", "Accuracy", the latter in
//! percent), so the dashboard and early stopping see what they always saw.

use std::sync::Arc;

use burn::tensor::TensorReadError;
use burn::train::metric::state::{FormatOptions, NumericMetricState};
use burn::train::metric::{
    Adaptor, Metric, MetricAttributes, MetricMetadata, MetricName, Numeric, NumericAttributes,
    NumericEntry, SerializedEntry,
};
use model::StepOutput;

/// What both metrics read: a [`StepOutput`] (several batches' sums).
pub struct Summed(StepOutput);

impl Adaptor<Summed> for StepOutput {
    fn adapt(&self) -> Summed {
        Summed(self.clone())
    }
}

/// Which number of a [`StepOutput`] a metric follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Quantity {
    /// Mean cross-entropy per image.
    Loss,
    /// Percentage of images classified correctly.
    Accuracy,
}

/// Mean loss ("Loss") or accuracy in percent ("Accuracy") over the images
/// seen since the epoch began.
#[derive(Clone)]
pub struct EpochMetric {
    quantity: Quantity,
    name: MetricName,
    state: NumericMetricState,
}

impl EpochMetric {
    /// "Loss": mean cross-entropy per image.
    pub fn loss() -> Self {
        Self::new(Quantity::Loss, "Loss")
    }

    /// "Accuracy": percentage of images classified correctly.
    pub fn accuracy() -> Self {
        Self::new(Quantity::Accuracy, "Accuracy")
    }

    fn new(quantity: Quantity, name: &str) -> Self {
        Self {
            quantity,
            name: Arc::new(name.to_string()),
            state: NumericMetricState::default(),
        }
    }

    fn format(&self) -> FormatOptions {
        match self.quantity {
            Quantity::Loss => FormatOptions::new(self.name()).precision(4),
            Quantity::Accuracy => FormatOptions::new(self.name()).unit("%").precision(2),
        }
    }
}

impl Metric for EpochMetric {
    type Input = Summed;

    fn name(&self) -> MetricName {
        self.name.clone()
    }

    fn update(
        &mut self,
        Summed(output): &Summed,
        _metadata: &MetricMetadata,
    ) -> Result<SerializedEntry, TensorReadError> {
        let value = match self.quantity {
            Quantity::Loss => match output.read_loss {
                Some(loss) => loss,
                None => output.loss.clone().try_into_scalar::<f64>()?,
            },
            Quantity::Accuracy => {
                let correct = output.correct.clone().try_into_scalar::<f64>()?;
                100.0 * correct / output.images as f64
            }
        };
        self.state.update(value, output.images);
        Ok(self.state.compute_update(self.format()))
    }

    fn compute(&mut self) -> Result<SerializedEntry, TensorReadError> {
        Ok(self.state.compute_final(self.format()))
    }

    fn clear(&mut self) {
        self.state.reset();
    }

    fn attributes(&self) -> MetricAttributes {
        match self.quantity {
            Quantity::Loss => NumericAttributes {
                unit: None,
                higher_is_better: false,
            },
            Quantity::Accuracy => NumericAttributes {
                unit: Some("%".to_string()),
                higher_is_better: true,
            },
        }
        .into()
    }
}

impl Numeric for EpochMetric {
    fn value(&self) -> Option<NumericEntry> {
        Some(self.state.current_value())
    }

    fn running_value(&self) -> Option<NumericEntry> {
        Some(self.state.running_value())
    }

    fn final_value(&self) -> NumericEntry {
        self.state.final_value()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::data::dataloader::Progress;
    use burn::tensor::{Device, Tensor};

    fn output(loss: f32, correct: f32, images: usize) -> StepOutput {
        let device = Device::flex();
        StepOutput {
            loss: Tensor::from_floats([loss], &device),
            correct: Tensor::from_floats([correct], &device),
            images,
            read_loss: None,
        }
    }

    /// What a metric is told besides its input (not read by these metrics).
    fn metadata() -> MetricMetadata {
        MetricMetadata {
            progress: Progress {
                items_processed: 1,
                items_total: 1,
                unit: None,
            },
            iteration: None,
            lr: None,
        }
    }

    /// A report read back already gives its f64 loss (0.1 as an f32 tensor
    /// would read 0.10000000149; the state's sum and division leave 1e-17).
    #[test]
    fn a_loss_read_back_already_is_taken_as_is() {
        let metadata = metadata();
        let mut loss = EpochMetric::loss();
        let mut report = output(0.1, 0.0, 3);
        report.read_loss = Some(0.1);
        loss.update(&report.adapt(), &metadata).unwrap();
        let value = loss.final_value().current();
        assert!((value - 0.1).abs() < 1e-15, "{value}");
    }

    /// Two reports, 30 images at mean loss 1.0 (24 correct) and 10 at 3.0 (1
    /// correct): the epoch is 40 images at (30 + 30) / 40 = 1.5, 25/40 = 62.5%.
    #[test]
    fn weighs_each_report_by_its_images() {
        let metadata = metadata();
        let (mut loss, mut accuracy) = (EpochMetric::loss(), EpochMetric::accuracy());
        for report in [output(1.0, 24.0, 30), output(3.0, 1.0, 10)] {
            loss.update(&report.adapt(), &metadata).unwrap();
            accuracy.update(&report.adapt(), &metadata).unwrap();
        }
        assert_eq!(loss.final_value().current(), 1.5);
        assert_eq!(accuracy.final_value().current(), 62.5);
        loss.clear();
        loss.update(&output(2.0, 0.0, 5).adapt(), &metadata)
            .unwrap();
        assert_eq!(loss.final_value().current(), 2.0);
        assert_eq!(loss.name().as_str(), "Loss");
        assert_eq!(accuracy.name().as_str(), "Accuracy");
    }
}
