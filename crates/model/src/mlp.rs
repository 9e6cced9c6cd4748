//! The multilayer perceptron of the Keras beginner tutorial.
//!
//! Shapes use `B` for the batch size: input `[B, 784]` (pixels normalised to
//! [-0.5, 0.5]), hidden `[B, hidden1]` and `[B, hidden2]`, output `[B, 10]`.

use burn::config::Config;
use burn::module::Module;
use burn::nn::activation::{Activation as ActivationLayer, ActivationConfig};
use burn::nn::{Initializer, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// The non-linearity after each hidden layer. ReLU is the tutorial's choice;
/// sigmoid and tanh are there to see why (their gradients vanish).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    Relu,
    Sigmoid,
    Tanh,
}

impl std::fmt::Display for Activation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Relu => "relu",
            Self::Sigmoid => "sigmoid",
            Self::Tanh => "tanh",
        })
    }
}

impl Activation {
    fn layer_config(self) -> ActivationConfig {
        match self {
            Self::Relu => ActivationConfig::Relu,
            Self::Sigmoid => ActivationConfig::Sigmoid,
            Self::Tanh => ActivationConfig::Tanh,
        }
    }
}

/// The most units a layer may have (a limit on what a config or `model.json`
/// may ask for, far above any MLP that trains on one machine).
pub const MAX_LAYER_SIZE: usize = 1 << 20;

/// Sizes and activation of the network. The defaults are the tutorial's.
#[derive(Config, Debug, PartialEq)]
pub struct MlpConfig {
    /// Pixels per image.
    #[config(default = 784)]
    pub inputs: usize,
    /// Units of the first hidden layer.
    #[config(default = 64)]
    pub hidden1: usize,
    /// Units of the second hidden layer.
    #[config(default = 64)]
    pub hidden2: usize,
    /// Output classes (digits).
    #[config(default = 10)]
    pub classes: usize,
    /// Non-linearity after each hidden layer.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
}

/// Three fully connected layers: `inputs -> hidden1 -> hidden2 -> classes`.
#[derive(Module, Debug)]
pub struct Mlp {
    pub(crate) fc1: Linear,
    pub(crate) fc2: Linear,
    pub(crate) fc3: Linear,
    activation: ActivationLayer,
}

impl MlpConfig {
    /// Builds the network on `device`, initialised as Keras initialises `Dense`
    /// layers: Glorot-uniform weights, `U(-a, a)` with `a = sqrt(6 / (fan_in + fan_out))`,
    /// and zero biases. (Burn's own default is Kaiming-uniform for both.)
    pub fn init(&self, device: &Device) -> Mlp {
        Mlp {
            fc1: glorot_linear(self.inputs, self.hidden1, device),
            fc2: glorot_linear(self.hidden1, self.hidden2, device),
            fc3: glorot_linear(self.hidden2, self.classes, device),
            activation: self.activation.layer_config().init(device),
        }
    }

    /// The layer sizes as text, for messages: `784-64-64-10 relu`.
    pub fn describe(&self) -> String {
        format!(
            "{}-{}-{}-{} {}",
            self.inputs, self.hidden1, self.hidden2, self.classes, self.activation
        )
    }

    /// Checks every size is from 1 to [`MAX_LAYER_SIZE`]; the message names the
    /// offending field.
    pub fn validate(&self) -> Result<(), String> {
        for (name, value) in [
            ("inputs", self.inputs),
            ("hidden1", self.hidden1),
            ("hidden2", self.hidden2),
            ("classes", self.classes),
        ] {
            if !(1..=MAX_LAYER_SIZE).contains(&value) {
                return Err(format!(
                    "{name} must be from 1 to {MAX_LAYER_SIZE}, got {value}"
                ));
            }
        }
        Ok(())
    }

    /// Number of trainable values (weights and biases).
    pub fn num_params(&self) -> usize {
        let layer = |inputs: usize, outputs: usize| inputs * outputs + outputs;
        layer(self.inputs, self.hidden1)
            + layer(self.hidden1, self.hidden2)
            + layer(self.hidden2, self.classes)
    }
}

fn glorot_linear(inputs: usize, outputs: usize, device: &Device) -> Linear {
    let mut layer = LinearConfig::new(inputs, outputs)
        .with_initializer(Initializer::XavierUniform { gain: 1.0 })
        .init(device);
    layer.bias = Some(Initializer::Zeros.init([outputs], device));
    layer
}

impl Mlp {
    /// Logits (unnormalised scores): `[B, inputs]` -> `[B, classes]`. The loss
    /// applies log-softmax itself, which is stable where `log(softmax(x))` is not.
    pub fn forward(&self, images: Tensor<2>) -> Tensor<2> {
        let x = self.activation.forward(self.fc1.forward(images)); // [B, hidden1]
        let x = self.activation.forward(self.fc2.forward(x)); // [B, hidden2]
        self.fc3.forward(x) // [B, classes]
    }

    /// Class probabilities: `[B, inputs]` -> `[B, classes]`, each row sums to 1.
    pub fn probabilities(&self, images: Tensor<2>) -> Tensor<2> {
        softmax(self.forward(images), 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::TensorData;

    fn device() -> Device {
        Device::flex()
    }

    #[test]
    fn defaults_are_the_tutorial_network() {
        let config = MlpConfig::new();
        assert_eq!(config.describe(), "784-64-64-10 relu");
        // 784*64+64 + 64*64+64 + 64*10+10, as Keras's model.summary() reports.
        assert_eq!(config.num_params(), 55_050);
        assert_eq!(config.init(&device()).num_params(), 55_050);
    }

    #[test]
    fn weights_are_glorot_uniform_and_biases_zero() {
        let model = MlpConfig::new().init(&device());
        let limit = (6.0f32 / (784.0 + 64.0)).sqrt();
        let weights = model
            .fc1
            .weight
            .val()
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(weights.len(), 784 * 64);
        assert!(weights.iter().all(|w| w.abs() <= limit));
        // A uniform draw on [-a, a] has variance a^2 / 3.
        let variance = weights.iter().map(|w| w * w).sum::<f32>() / weights.len() as f32;
        assert!(
            (variance / (limit * limit / 3.0) - 1.0).abs() < 0.05,
            "{variance}"
        );
        for layer in [&model.fc1, &model.fc2, &model.fc3] {
            let bias = layer.bias.as_ref().unwrap().val().into_data();
            assert!(bias.try_to_vec::<f32>().unwrap().iter().all(|&b| b == 0.0));
        }
    }

    #[test]
    fn shapes_and_probabilities() {
        let model = MlpConfig::new().init(&device());
        let images = Tensor::<2>::random(
            [5, 784],
            burn::tensor::Distribution::Uniform(-0.5, 0.5),
            &device(),
        );
        assert_eq!(model.forward(images.clone()).dims(), [5, 10]);
        let probabilities = model.probabilities(images);
        assert_eq!(probabilities.dims(), [5, 10]);
        let rows = probabilities
            .sum_dim(1)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        for row in rows {
            assert!((row - 1.0).abs() < 1e-6, "row sums to {row}");
        }
    }

    /// A 2-2-2-2 network with hand-set weights, checked by hand:
    /// x = [1, -2]; fc1 = identity -> [1, -2] -> relu [1, 0];
    /// fc2 = [[2, 0], [0, 1]], bias [0, 1] -> [2, 1]; fc3 = identity, bias [0, -1] -> [2, 0].
    /// softmax([2, 0]) = [e^2, 1] / (e^2 + 1) = [0.880797, 0.119203].
    #[test]
    fn forward_matches_a_hand_computed_case() {
        let device = device();
        let config = MlpConfig::new()
            .with_inputs(2)
            .with_hidden1(2)
            .with_hidden2(2)
            .with_classes(2);
        let mut model = config.init(&device);
        let set = |layer: &mut Linear, weight: [[f32; 2]; 2], bias: [f32; 2]| {
            layer.weight = burn::module::Param::from_tensor(Tensor::from_data(weight, &device));
            layer.bias = Some(burn::module::Param::from_tensor(Tensor::from_data(
                bias, &device,
            )));
        };
        set(&mut model.fc1, [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0]);
        set(&mut model.fc2, [[2.0, 0.0], [0.0, 1.0]], [0.0, 1.0]);
        set(&mut model.fc3, [[1.0, 0.0], [0.0, 1.0]], [0.0, -1.0]);
        let x = Tensor::<2>::from_data(TensorData::new(vec![1.0f32, -2.0], [1, 2]), &device);

        let logits = model
            .forward(x.clone())
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert_eq!(logits, vec![2.0, 0.0]);
        let p = model
            .probabilities(x)
            .into_data()
            .try_to_vec::<f32>()
            .unwrap();
        assert!((p[0] - 0.880_797).abs() < 1e-6 && (p[1] - 0.119_203).abs() < 1e-6);
    }

    #[test]
    fn activation_is_a_config_change() {
        let x = Tensor::<2>::from_data([[-1.0f32, 0.0, 2.0]], &device());
        let run = |activation: Activation| {
            activation
                .layer_config()
                .init(&device())
                .forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        assert_eq!(run(Activation::Relu), vec![0.0, 0.0, 2.0]);
        let sigmoid = run(Activation::Sigmoid);
        assert!((sigmoid[0] - 0.268_941_4).abs() < 1e-6 && sigmoid[1] == 0.5);
        let tanh = run(Activation::Tanh);
        assert!((tanh[2] - 0.964_027_6).abs() < 1e-6 && tanh[1] == 0.0);
    }
}
