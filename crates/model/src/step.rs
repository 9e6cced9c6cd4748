//! What Burn's `Learner` runs for each batch: the forward pass with its
//! cross-entropy loss, plus the backward pass when training (and, when asked,
//! each layer's weight-gradient norm).
//!
//! A step returns a [`StepOutput`]: the batch's loss and correct count as
//! tensors still on the device ([`crate::outputs`]).

use burn::nn::loss::CrossEntropyLossConfig;
use burn::train::{InferenceStep, TrainOutput, TrainStep};

use crate::fused;
use crate::mlp::Mlp;
use crate::outputs::{BatchLoss, StepOutput};
use data::MnistBatch;

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
