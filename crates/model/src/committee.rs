//! A committee: several trained networks reading the same digits, their
//! class probabilities combined into one answer (Meier et al. 2011, Ciresan
//! et al. 2012). Networks that differ (seed, width, distortions) make
//! different mistakes; the combination removes many of the ones they make
//! alone.
//!
//! Two combinations, for `M` members with logits `z_i` (`[B, classes]`):
//!
//! ```text
//! mean       p = (1/M) sum_i softmax(z_i)             the default
//! geometric  p = softmax((1/M) sum_i z_i)             prod_i softmax(z_i)^(1/M), normalised
//! ```
//!
//! (Each member's log-sum-exp is one constant per row, which the softmax of
//! the geometric mean cancels.)

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::{log_softmax, softmax};
use serde::{Deserialize, Serialize};

use crate::{Mlp, MlpConfig};

/// How a committee combines its members' probabilities.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Combine {
    /// The arithmetic mean of the members' probabilities.
    #[default]
    Mean,
    /// The normalised geometric mean: the softmax of the mean logits.
    Geometric,
}

impl std::fmt::Display for Combine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Mean => "mean",
            Self::Geometric => "geometric",
        })
    }
}

/// Trained networks of the same inputs and classes, read together.
#[derive(Module, Debug)]
pub struct Committee {
    /// At least one; `members.<i>.layers.<j>` in a record.
    pub members: Vec<Mlp>,
    #[module(skip)]
    pub combine: Combine,
}

impl Committee {
    /// The committee's networks and combination as exports record them
    /// (`architecture` in their metadata): `{"combine": "mean", "members":
    /// [<each member's model.json>...]}`, `configs` in the members' order.
    pub fn architecture(&self, configs: &[MlpConfig]) -> String {
        serde_json::json!({ "combine": self.combine, "members": configs }).to_string()
    }

    /// Class probabilities: `[B, inputs]` -> `[B, classes]`, each row sums
    /// to 1, combined as [`Combine`] says.
    pub fn probabilities(&self, images: Tensor<2>) -> Tensor<2> {
        match self.combine {
            Combine::Mean => self.mean_over_members(|member| member.probabilities(images.clone())),
            Combine::Geometric => softmax(self.mean_logits(images), 1),
        }
    }

    /// The natural log of [`probabilities`](Self::probabilities), computed
    /// without taking the log of a rounded-off zero: `[B, classes]`.
    pub fn log_probabilities(&self, images: Tensor<2>) -> Tensor<2> {
        match self.combine {
            Combine::Mean => {
                // log((1/M) sum_i p_i) = logsumexp_i(log p_i) - ln M, per class.
                let logs: Vec<Tensor<2>> = self
                    .members
                    .iter()
                    .map(|member| log_softmax(member.forward(images.clone()), 1))
                    .collect();
                let stacked = Tensor::stack::<3>(logs, 0); // [M, B, classes]
                let top = stacked.clone().max_dim(0); // [1, B, classes]
                let spread = (stacked - top.clone()).exp().sum_dim(0).log(); // [1, B, classes]
                (top + spread)
                    .squeeze_dim::<2>(0)
                    .sub_scalar((self.members.len() as f32).ln())
            }
            Combine::Geometric => log_softmax(self.mean_logits(images), 1),
        }
    }

    /// `(1/M) sum_i z_i`: `[B, classes]`.
    fn mean_logits(&self, images: Tensor<2>) -> Tensor<2> {
        self.mean_over_members(|member| member.forward(images.clone()))
    }

    /// `(1/M) sum_i of(member_i)`.
    fn mean_over_members(&self, of: impl Fn(&Mlp) -> Tensor<2>) -> Tensor<2> {
        let sum = self
            .members
            .iter()
            .map(of)
            .reduce(|sum, tensor| sum + tensor)
            .expect("a committee has members");
        sum.div_scalar(self.members.len() as f32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::MlpConfig;
    use burn::tensor::{Device, TensorData};

    /// A 2-input, 2-class network without hidden layers whose logits are
    /// `x @ weight + bias`.
    fn linear(weight: [f32; 4], bias: [f32; 2]) -> Mlp {
        let device = Device::flex();
        let mut model = MlpConfig::new()
            .with_inputs(2)
            .with_hidden(vec![])
            .with_classes(2)
            .init(&device);
        let layer = &mut model.layers[0];
        layer.weight = layer
            .weight
            .clone()
            .map(|_| Tensor::from_data(TensorData::new(weight.to_vec(), [2, 2]), &device));
        layer.bias = layer
            .bias
            .clone()
            .map(|b| b.map(|_| Tensor::from_data(TensorData::new(bias.to_vec(), [2]), &device)));
        model
    }

    fn rows(tensor: Tensor<2>) -> Vec<f32> {
        tensor.into_data().try_to_vec::<f32>().unwrap()
    }

    /// Two members with logits [ln 3, 0] and [0, 0] at x = [1, 0]:
    /// probabilities [3/4, 1/4] and [1/2, 1/2].
    fn two(combine: Combine) -> Committee {
        Committee {
            members: vec![
                linear([3f32.ln(), 0.0, 0.0, 0.0], [0.0, 0.0]),
                linear([0.0; 4], [0.0, 0.0]),
            ],
            combine,
        }
    }

    fn x() -> Tensor<2> {
        Tensor::from_data(TensorData::new(vec![1.0f32, 0.0], [1, 2]), &Device::flex())
    }

    fn assert_close(got: &[f32], want: &[f64]) {
        for (g, w) in got.iter().zip(want) {
            assert!((f64::from(*g) - w).abs() < 1e-6, "{got:?} vs {want:?}");
        }
    }

    #[test]
    fn the_mean_averages_the_members_probabilities() {
        // ([3/4, 1/4] + [1/2, 1/2]) / 2 = [5/8, 3/8].
        let committee = two(Combine::Mean);
        assert_close(&rows(committee.probabilities(x())), &[0.625, 0.375]);
        let logs = rows(committee.log_probabilities(x()));
        assert_close(&logs, &[0.625f64.ln(), 0.375f64.ln()]);
    }

    #[test]
    fn the_geometric_mean_is_the_normalised_product_of_roots() {
        // sqrt(3/4 * 1/2) : sqrt(1/4 * 1/2) = sqrt 3 : 1 -> [sqrt3, 1] / (sqrt3 + 1).
        let committee = two(Combine::Geometric);
        let root = 3f64.sqrt();
        let want = [root / (root + 1.0), 1.0 / (root + 1.0)];
        assert_close(&rows(committee.probabilities(x())), &want);
        let logs = rows(committee.log_probabilities(x()));
        assert_close(&logs, &[want[0].ln(), want[1].ln()]);
    }

    #[test]
    fn a_committee_of_one_is_its_member() {
        let member = MlpConfig::new().with_hidden(vec![8]).init(&Device::flex());
        let images = Tensor::<2>::from_data(
            TensorData::new(
                (0..3 * 784).map(|i| (i % 17) as f32 / 17.0 - 0.5).collect(),
                [3, 784],
            ),
            &Device::flex(),
        );
        let alone = rows(member.probabilities(images.clone()));
        for combine in [Combine::Mean, Combine::Geometric] {
            let committee = Committee {
                members: vec![member.clone()],
                combine,
            };
            let together = rows(committee.probabilities(images.clone()));
            let worst = alone
                .iter()
                .zip(&together)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0, f32::max);
            assert!(worst < 1e-6, "{combine}: {worst}");
        }
    }
}
