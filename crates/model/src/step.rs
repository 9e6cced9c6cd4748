//! What Burn's `Learner` runs for each batch: the forward pass with its
//! cross-entropy loss, plus the backward pass when training (and, when asked,
//! each layer's weight-gradient norm).
//!
//! A step returns a [`StepOutput`]: the batch's loss and correct count as
//! tensors still on the device. Nothing is read back per batch; the training
//! loop reads many batches' outputs back at once.

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, ExecutionError, Tensor, TensorReadError};
use burn::train::metric::ItemLazy;
use burn::train::{InferenceStep, TrainOutput, TrainStep};

use crate::fused;
use crate::mlp::Mlp;
use data::MnistBatch;

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

impl Mlp {
    /// Logits, mean cross-entropy loss over the batch (log-softmax inside, as
    /// Keras's `SparseCategoricalCrossentropy(from_logits=True)`) and the
    /// correct count. One fused operation on flex.
    pub fn forward_loss(&self, batch: MnistBatch) -> BatchLoss {
        match self.fused_network(&batch.images) {
            Some(network) => fused::cross_entropy(batch.images, network, batch.targets),
            None => self.forward_loss_layers(batch),
        }
    }

    /// [`forward_loss`](Self::forward_loss) as Burn composes it, one layer
    /// and one loss operation at a time: the path on ndarray, and what
    /// `bench profile --burn-layers` measures the fused path against.
    pub fn forward_loss_layers(&self, batch: MnistBatch) -> BatchLoss {
        let logits = self.forward_layers(batch.images); // [B, 10]
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.targets.clone()); // [1]
        let [images, _] = logits.dims();
        let correct = logits
            .clone()
            .argmax(1)
            .reshape([images])
            .equal(batch.targets)
            .int()
            .sum()
            .float(); // [1]
        BatchLoss {
            loss,
            logits,
            correct,
        }
    }
}

impl TrainStep for Mlp {
    type Input = MnistBatch;
    type Output = StepOutput;

    fn step(&self, batch: MnistBatch) -> TrainOutput<StepOutput> {
        let forward = self.forward_loss(batch);
        let output = forward.output();
        let grads = forward.loss.backward();
        if let Some(log) = self.grad_log() {
            let norms: Vec<f64> = self
                .layers()
                .iter()
                .map(|layer| {
                    layer.weight.grad(&grads).map_or(0.0, |grad| {
                        grad.powi_scalar(2).sum().sqrt().into_scalar::<f64>() // ||dL/dW||_2
                    })
                })
                .collect();
            log.record(&norms);
        }
        TrainOutput::new(self, grads, output)
    }
}

impl InferenceStep for Mlp {
    type Input = MnistBatch;
    type Output = StepOutput;

    fn step(&self, batch: MnistBatch) -> StepOutput {
        self.forward_loss(batch).output()
    }
}
