//! What a batch gives back: the loss and logits of a forward pass
//! ([`BatchLoss`]), the numbers a step keeps as tensors still on the device
//! ([`StepOutput`]), and many steps' outputs read back to the host at once
//! ([`Tally`]). Nothing is read back per batch.

use burn::tensor::{Device, ExecutionError, Tensor, TensorReadError};
use burn::train::metric::ItemLazy;

/// A batch through the network and its loss head.
#[derive(Clone, Debug)]
pub struct BatchLoss {
    /// `[1]`: mean cross-entropy over the batch (natural log); tracked while
    /// training, so `loss.backward()` gives every parameter's gradient.
    pub loss: Tensor<1>,
    /// `[B, classes]`.
    pub logits: Tensor<2>,
    /// `[1]`: images whose largest logit is the label, as a float.
    pub correct: Tensor<1>,
}

impl BatchLoss {
    /// The numbers the training loop and the metrics keep, off the autodiff graph.
    pub fn output(&self) -> StepOutput {
        StepOutput {
            loss: self.loss.clone().without_autodiff(),
            correct: self.correct.clone().without_autodiff(),
            images: self.logits.dims()[0],
            read_loss: None,
        }
    }
}

/// One batch's (or, summed, several batches') results: what the epoch's loss
/// and accuracy are made of.
#[derive(Clone, Debug)]
pub struct StepOutput {
    /// `[1]`: mean cross-entropy over the images.
    pub loss: Tensor<1>,
    /// `[1]`: how many of them were classified correctly (a float count).
    pub correct: Tensor<1>,
    /// How many images.
    pub images: usize,
    /// The mean loss already read back in f64 (a [`Tally`]'s): what the
    /// metrics take instead of `loss`, whose f32 would round each group of
    /// batches differently, so that the epoch's loss does not depend on how
    /// its batches were grouped into reports (which follows the clock).
    pub read_loss: Option<f64>,
}

/// [`StepOutput`]s read back to the host: the loss of each batch and the totals.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Tally {
    /// Mean loss of each batch, in order.
    pub losses: Vec<f64>,
    pub images: usize,
    /// Sum over the images of their cross-entropy.
    pub loss_sum: f64,
    pub correct: usize,
}

impl Tally {
    /// Reads `outputs` back with one transfer (they are concatenated on the
    /// device first).
    pub fn read(outputs: &[StepOutput]) -> Result<Self, TensorReadError> {
        if outputs.is_empty() {
            return Ok(Self::default());
        }
        let values = Tensor::cat(
            outputs
                .iter()
                .flat_map(|output| [output.loss.clone(), output.correct.clone()])
                .collect(),
            0,
        ); // [2 * batches]: loss, correct, loss, correct, ...
        let values = values.try_into_data()?.convert::<f64>();
        let values = values.as_slice::<f64>().expect("converted to f64");
        let mut tally = Self::default();
        for (pair, output) in values.chunks_exact(2).zip(outputs) {
            tally.losses.push(pair[0]);
            tally.images += output.images;
            tally.loss_sum += pair[0] * output.images as f64;
            tally.correct += pair[1] as usize;
        }
        Ok(tally)
    }

    /// The same numbers as one [`StepOutput`] on `device` (for Burn's metrics).
    pub fn output(&self, device: &Device) -> StepOutput {
        StepOutput {
            loss: Tensor::from_floats([self.mean_loss() as f32], device),
            correct: Tensor::from_floats([self.correct as f32], device),
            images: self.images,
            read_loss: Some(self.mean_loss()),
        }
    }

    /// Mean cross-entropy per image (NaN when there are none).
    pub fn mean_loss(&self) -> f64 {
        self.loss_sum / self.images as f64
    }
}

impl ItemLazy for StepOutput {
    fn sync(self) -> Result<Self, ExecutionError> {
        // As Burn's ClassificationOutput: no read-back here, only the queue flushed.
        self.loss.device().flush()?;
        Ok(self)
    }
}
