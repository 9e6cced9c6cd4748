//! What reads digits: one network ([`Mlp`]) or a committee of them
//! ([`Committee`]). Evaluation and prediction take either.

use burn::tensor::Tensor;
use burn::tensor::activation::softmax;

use crate::{Committee, Mlp};

/// A model of digits: images in, class scores out.
pub trait Classifier {
    /// `[B, inputs]` -> `[B, classes]` logits: log-probabilities up to a
    /// constant per row, so that their softmax is the class probabilities
    /// and the cross-entropy of their softmax is the loss.
    fn logits(&self, images: Tensor<2>) -> Tensor<2>;

    /// Class probabilities, `[B, classes]`, each row summing to 1.
    fn class_probabilities(&self, images: Tensor<2>) -> Tensor<2> {
        softmax(self.logits(images), 1)
    }
}

impl Classifier for Mlp {
    fn logits(&self, images: Tensor<2>) -> Tensor<2> {
        self.forward(images)
    }
}

impl Classifier for Committee {
    /// The combined log-probabilities (already normalised).
    fn logits(&self, images: Tensor<2>) -> Tensor<2> {
        self.log_probabilities(images)
    }

    fn class_probabilities(&self, images: Tensor<2>) -> Tensor<2> {
        self.probabilities(images)
    }
}
