//! What Burn's `Learner` runs for each batch: the forward pass with its
//! cross-entropy loss, plus the backward pass when training (and, when asked,
//! each layer's weight-gradient norm).

use burn::nn::loss::CrossEntropyLossConfig;
use burn::train::{ClassificationOutput, InferenceStep, TrainOutput, TrainStep};

use crate::mlp::Mlp;
use data::MnistBatch;

impl Mlp {
    /// Logits, mean cross-entropy loss over the batch (log-softmax inside, as
    /// Keras's `SparseCategoricalCrossentropy(from_logits=True)`), and targets.
    pub fn forward_classification(&self, batch: MnistBatch) -> ClassificationOutput {
        let logits = self.forward(batch.images); // [B, 10]
        let loss = CrossEntropyLossConfig::new()
            .init(&logits.device())
            .forward(logits.clone(), batch.targets.clone()); // [1]
        ClassificationOutput::new(loss, logits, batch.targets)
    }
}

impl TrainStep for Mlp {
    type Input = MnistBatch;
    type Output = ClassificationOutput;

    fn step(&self, batch: MnistBatch) -> TrainOutput<ClassificationOutput> {
        let output = self.forward_classification(batch);
        let grads = output.loss.backward();
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
    type Output = ClassificationOutput;

    fn step(&self, batch: MnistBatch) -> ClassificationOutput {
        self.forward_classification(batch)
    }
}
