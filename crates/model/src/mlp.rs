//! The multilayer perceptron of the Keras beginner tutorial, and its
//! experiments: any number of hidden layers, another activation, dropout.
//!
//! Shapes use `B` for the batch size: input `[B, inputs]` (784 pixels normalised
//! to [-0.5, 0.5]), hidden `[B, hidden[i]]`, output `[B, classes]`.

use burn::backend::Dispatch;
use burn::config::Config;
use burn::module::Module;
use burn::nn::activation::{Activation as ActivationLayer, ActivationConfig};
use burn::nn::{Dropout, DropoutConfig, Initializer, LeakyReluConfig, Linear, LinearConfig};
use burn::tensor::activation::softmax;
use burn::tensor::{DType, Device, Tensor};

use crate::dropout::DropoutStream;
use crate::fused;
use crate::grad_norms::GradNormLog;

pub use config::{Activation, LEAKY_RELU_SLOPE, MAX_HIDDEN_LAYERS, MAX_LAYER_SIZE};

/// Burn's activation layer for `activation`.
fn activation_layer(activation: Activation) -> ActivationConfig {
    match activation {
        Activation::Relu => ActivationConfig::Relu,
        Activation::Sigmoid => ActivationConfig::Sigmoid,
        Activation::Tanh => ActivationConfig::Tanh,
        Activation::Gelu => ActivationConfig::Gelu,
        Activation::LeakyRelu => ActivationConfig::LeakyRelu(
            LeakyReluConfig::new().with_negative_slope(LEAKY_RELU_SLOPE.into()),
        ),
    }
}

/// Sizes, activation and dropout of the network. The defaults are the tutorial's.
#[derive(Config, Debug, PartialEq)]
pub struct MlpConfig {
    /// Pixels per image.
    #[config(default = 784)]
    pub inputs: usize,
    /// Units of each hidden layer, input side first. Empty: softmax regression.
    #[config(default = "vec![64, 64]")]
    pub hidden: Vec<usize>,
    /// Output classes (digits).
    #[config(default = 10)]
    pub classes: usize,
    /// Non-linearity after each hidden layer.
    #[config(default = "Activation::Relu")]
    pub activation: Activation,
    /// Fraction of each hidden layer's outputs zeroed while training, in [0, 1);
    /// 0 is off. Never applied at inference.
    #[config(default = 0.0)]
    pub dropout: f64,
}

/// Fully connected layers: `inputs -> hidden[0] -> ... -> classes`; the
/// tutorial's has three.
#[derive(Module, Debug)]
pub struct Mlp {
    /// Hidden layers then the output layer.
    pub(crate) layers: Vec<Linear>,
    pub(crate) activation: ActivationLayer,
    /// The same activation, for the fused path.
    #[module(skip)]
    activation_kind: Activation,
    dropout: Dropout,
    /// Where the fused path (flex and wgpu) draws its dropout masks.
    #[module(skip)]
    dropout_stream: DropoutStream,
    /// Where the training step records gradient norms, when asked to.
    #[module(skip)]
    grad_log: Option<GradNormLog>,
}

impl MlpConfig {
    /// Builds the network on `device`, initialised as Keras initialises `Dense`
    /// layers: Glorot-uniform weights, `U(-a, a)` with `a = sqrt(6 / (fan_in + fan_out))`,
    /// and zero biases. (Burn's own default is Kaiming-uniform for both.)
    pub fn init(&self, device: &Device) -> Mlp {
        let sizes = self.sizes();
        Mlp {
            layers: sizes
                .windows(2)
                .map(|pair| glorot_linear(pair[0], pair[1], device))
                .collect(),
            activation: activation_layer(self.activation).init(device),
            activation_kind: self.activation,
            dropout: DropoutConfig::new(self.dropout).init(),
            dropout_stream: DropoutStream::new(0, 0),
            grad_log: None,
        }
    }

    /// Every layer's width, inputs and classes included: `[784, 64, 64, 10]`.
    pub fn sizes(&self) -> Vec<usize> {
        let mut sizes = Vec::with_capacity(self.hidden.len() + 2);
        sizes.push(self.inputs);
        sizes.extend(&self.hidden);
        sizes.push(self.classes);
        sizes
    }

    /// The network as text, for messages: `784-64-64-10 relu`, plus the
    /// dropout rate when there is one.
    pub fn describe(&self) -> String {
        let sizes: Vec<String> = self.sizes().iter().map(usize::to_string).collect();
        let mut text = format!("{} {}", sizes.join("-"), self.activation);
        if self.dropout > 0.0 {
            text += &format!(" dropout {}", self.dropout);
        }
        text
    }

    /// Checks every size is from 1 to [`MAX_LAYER_SIZE`], there are at most
    /// [`MAX_HIDDEN_LAYERS`] hidden layers and dropout is in [0, 1); the
    /// message names the offending field.
    pub fn validate(&self) -> Result<(), String> {
        config::check_layers(self.inputs, &self.hidden, self.classes)?;
        config::check_dropout(self.dropout)
    }

    /// The network a config's `[model]` section describes, for `inputs`
    /// pixels and `classes` digits.
    pub fn from_section(section: &config::ModelSection, inputs: usize, classes: usize) -> Self {
        Self::new()
            .with_inputs(inputs)
            .with_hidden(section.hidden.clone())
            .with_classes(classes)
            .with_activation(section.activation)
            .with_dropout(section.dropout)
    }

    /// About how many bytes training at `batch` images a step holds: every
    /// parameter four times in `f32` (the weights, their gradients and Adam's
    /// two moments) and every layer's outputs three times per image (the
    /// output, the activation's slope and the gradient). A lower bound:
    /// enough to refuse a network that cannot fit, before allocating it.
    pub fn training_bytes(&self, batch: usize) -> u64 {
        let units: u64 = self.sizes().iter().map(|&size| size as u64).sum();
        let params = self.num_params() as u64;
        (4 * params)
            .saturating_add((batch as u64).saturating_mul(units).saturating_mul(3))
            .saturating_mul(4)
    }

    /// Number of trainable values (weights and biases). Sizes are capped by
    /// [`validate`](Self::validate), so this cannot overflow.
    pub fn num_params(&self) -> usize {
        self.sizes()
            .windows(2)
            .map(|pair| pair[0] * pair[1] + pair[1])
            .sum()
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
    /// Dropout acts only on an autodiff device, i.e. while the `Learner` trains.
    ///
    /// On flex and wgpu the whole network is one fused operation
    /// ([`crate::fused`]); on ndarray it is [`forward_layers`](Self::forward_layers).
    pub fn forward(&self, images: Tensor<2>) -> Tensor<2> {
        match self.fused_network(&images) {
            Some(network) => fused::logits(images, network),
            None => self.forward_layers(images),
        }
    }

    /// The forward pass as Burn composes it, one `Linear`, activation and
    /// dropout at a time: the path on ndarray, and the reference the fused
    /// path is tested against.
    pub fn forward_layers(&self, images: Tensor<2>) -> Tensor<2> {
        let (output, hidden) = self.layers.split_last().expect("at least the output layer");
        let x = hidden.iter().fold(images, |x, layer| {
            self.dropout
                .forward(self.activation.forward(layer.forward(x))) // [B, hidden[i]]
        });
        output.forward(x) // [B, classes]
    }

    /// The network's tensors for the fused operations, when they can run on
    /// `images` (flex or wgpu, `f32`, every layer with a bias): the weights and biases,
    /// and, while training with dropout, one keep factor per hidden layer
    /// (0 or `1 / (1 - p)`) from the network's [`DropoutStream`]: drawn on
    /// the host on flex, on the device on wgpu, the same masks on both.
    pub(crate) fn fused_network(&self, images: &Tensor<2>) -> Option<fused::Network<Dispatch>> {
        let device = images.device();
        let f32_params = self
            .layers
            .iter()
            .all(|layer| layer.weight.val().dtype() == DType::F32 && layer.bias.is_some());
        if !fused::supports(&device, images.dtype()) || !f32_params {
            return None;
        }
        let mut network = self.fused_network_without_dropout();
        let dropout = &self.dropout;
        if dropout.prob > 0.0 && device.is_autodiff() && dropout.training.is_enabled() {
            let batch = images.dims()[0];
            let hidden = &self.layers[..self.layers.len() - 1];
            let units: Vec<usize> = hidden.iter().map(|layer| layer.weight.dims()[1]).collect();
            network.keep = self
                .dropout_stream
                .next_masks_on(dropout.prob, batch, &units, &device)
                .into_iter()
                .map(Tensor::into_dispatch)
                .collect();
        }
        Some(network)
    }

    /// The weights, biases and activation for the fused operations, with no
    /// dropout factors. Every layer must have a bias.
    pub(crate) fn fused_network_without_dropout(&self) -> fused::Network<Dispatch> {
        fused::Network {
            weights: self
                .layers
                .iter()
                .map(|layer| layer.weight.val().into_dispatch())
                .collect(),
            biases: self
                .layers
                .iter()
                .map(|layer| {
                    layer
                        .bias
                        .as_ref()
                        .expect("checked above")
                        .val()
                        .into_dispatch()
                })
                .collect(),
            keep: Vec::new(),
            activation: self.activation_kind,
        }
    }

    /// Class probabilities: `[B, inputs]` -> `[B, classes]`, each row sums to 1.
    pub fn probabilities(&self, images: Tensor<2>) -> Tensor<2> {
        softmax(self.forward(images), 1)
    }

    /// Draws the fused path's dropout masks (flex and wgpu) from `stream` (a
    /// run's seed and its next step), so that a resumed run draws the masks
    /// an uninterrupted one would.
    pub fn with_dropout_stream(mut self, stream: DropoutStream) -> Self {
        self.dropout_stream = stream;
        self
    }

    /// The network whose training step records each layer's weight-gradient
    /// norm into `log` (one sync per layer per batch: opt-in).
    pub fn with_grad_log(mut self, log: GradNormLog) -> Self {
        self.grad_log = Some(log);
        self
    }

    pub(crate) fn grad_log(&self) -> Option<&GradNormLog> {
        self.grad_log.as_ref()
    }

    /// The layers, input side first, the output layer last.
    pub(crate) fn layers(&self) -> &[Linear] {
        &self.layers
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
        let weights = model.layers[0]
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
        assert_eq!(model.layers.len(), 3);
        for layer in &model.layers {
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
            .with_hidden(vec![2, 2])
            .with_classes(2);
        let mut model = config.init(&device);
        let set = |layer: &mut Linear, weight: [[f32; 2]; 2], bias: [f32; 2]| {
            layer.weight = burn::module::Param::from_tensor(Tensor::from_data(weight, &device));
            layer.bias = Some(burn::module::Param::from_tensor(Tensor::from_data(
                bias, &device,
            )));
        };
        set(&mut model.layers[0], [[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0]);
        set(&mut model.layers[1], [[2.0, 0.0], [0.0, 1.0]], [0.0, 1.0]);
        set(&mut model.layers[2], [[1.0, 0.0], [0.0, 1.0]], [0.0, -1.0]);
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
            activation_layer(activation)
                .init(&device())
                .forward(x.clone())
                .into_data()
                .try_to_vec::<f32>()
                .unwrap()
        };
        assert_eq!(run(Activation::Relu), vec![0.0, 0.0, 2.0]);
        assert_eq!(run(Activation::LeakyRelu), vec![-0.01, 0.0, 2.0]);
        // GELU(x) = x * Phi(x): Phi(-1) = 0.158655, Phi(2) = 0.977250.
        let gelu = run(Activation::Gelu);
        assert!(
            (gelu[0] + 0.158_655).abs() < 1e-5 && (gelu[2] - 1.954_5).abs() < 1e-4,
            "{gelu:?}"
        );
        let sigmoid = run(Activation::Sigmoid);
        assert!((sigmoid[0] - 0.268_941_4).abs() < 1e-6 && sigmoid[1] == 0.5);
        let tanh = run(Activation::Tanh);
        assert!((tanh[2] - 0.964_027_6).abs() < 1e-6 && tanh[1] == 0.0);
    }

    #[test]
    fn any_number_of_hidden_layers() {
        let deeper = MlpConfig::new().with_hidden(vec![64, 64, 64, 64]);
        assert_eq!(deeper.describe(), "784-64-64-64-64-10 relu");
        // The tutorial's 55,050 plus two 64x64 layers with biases.
        assert_eq!(deeper.num_params(), 55_050 + 2 * (64 * 64 + 64));
        let model = deeper.init(&device());
        assert_eq!(model.layers.len(), 5);
        assert_eq!(model.num_params(), deeper.num_params());
        let images = Tensor::<2>::zeros([3, 784], &device());
        assert_eq!(model.forward(images.clone()).dims(), [3, 10]);

        let regression = MlpConfig::new().with_hidden(vec![]);
        assert_eq!(regression.describe(), "784-10 relu");
        assert_eq!(regression.num_params(), 7_850);
        assert_eq!(regression.init(&device()).forward(images).dims(), [3, 10]);
    }

    #[test]
    fn validate_names_the_bad_field() {
        let error = |config: MlpConfig| config.validate().unwrap_err();
        assert_eq!(
            error(MlpConfig::new().with_hidden(vec![64, 0])),
            "hidden must be from 1 to 1048576, got 0"
        );
        assert_eq!(
            error(MlpConfig::new().with_hidden(vec![8; 65])),
            "hidden must list at most 64 layers, got 65"
        );
        assert_eq!(
            error(MlpConfig::new().with_dropout(1.0)),
            "dropout must be in [0, 1), got 1"
        );
        assert!(MlpConfig::new().with_dropout(0.5).validate().is_ok());
    }

    /// Dropout 0.5 zeroes about half the hidden units while training (on the
    /// autodiff device), and never at inference: the same input gives the same
    /// output there, equal to the network without dropout.
    #[test]
    fn dropout_acts_in_training_only() {
        let images = |device: &Device| {
            Tensor::<2>::random([64, 784], burn::tensor::Distribution::Default, device)
        };
        let config = MlpConfig::new().with_dropout(0.5);
        let device = device();
        let model = config.init(&device);
        let x = images(&device);
        let a = model.forward(x.clone()).into_data();
        let b = model.forward(x.clone()).into_data();
        assert_eq!(a, b, "inference must be deterministic");
        let without = Mlp {
            dropout: DropoutConfig::new(0.0).init(),
            ..model.clone()
        };
        assert_eq!(without.forward(x).into_data(), a);

        let train_device = device.clone().autodiff();
        let model = config.init(&train_device);
        let x = images(&train_device);
        let hidden = |model: &Mlp| {
            let first = &model.layers[0];
            model
                .dropout
                .forward(model.activation.forward(first.forward(x.clone())))
        };
        let active = hidden(&model).into_data().try_to_vec::<f32>().unwrap();
        let plain = model.activation.forward(model.layers[0].forward(x.clone()));
        let plain = plain.into_data().try_to_vec::<f32>().unwrap();
        let alive = plain.iter().filter(|v| **v > 0.0).count();
        let dropped = plain
            .iter()
            .zip(&active)
            .filter(|(p, a)| **p > 0.0 && **a == 0.0)
            .count();
        // About half of the 64x64 positive units are dropped; the kept ones
        // are scaled by 1 / (1 - 0.5) = 2.
        let fraction = dropped as f64 / alive as f64;
        assert!((0.4..0.6).contains(&fraction), "dropped {fraction}");
        for (p, a) in plain.iter().zip(&active) {
            assert!(*a == 0.0 || (a - 2.0 * p).abs() < 1e-5, "{p} -> {a}");
        }
        assert_ne!(
            model.forward(x.clone()).into_data(),
            model.forward(x).into_data()
        );
    }
}
