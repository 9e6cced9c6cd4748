//! The fused network on Burn's CubeCL backend (wgpu: Vulkan, Metal, DX12, or
//! Mesa's lavapipe without a GPU): the same arithmetic as [`super::kernels`],
//! written as a few tensor programs on the device instead of host loops.
//!
//! On the GPU the cost of Burn's layer-by-layer path is not arithmetic but
//! bookkeeping: every `Linear`, activation, dropout and loss operation is an
//! autodiff node of its own, with its own backward step and intermediate
//! tensors. Here the whole network is one node (see [`super::autodiff`]) whose
//! forward pass is, per layer, a matrix product followed by element-wise work
//! (bias, activation and its derivative, dropout), and whose backward pass is
//! two products and a column sum per layer. The element-wise work around each
//! product is what Burn's fusion (on by default for wgpu) compiles into the
//! product's own kernel or one kernel beside it; nothing is read back to the
//! host. Shapes: `B` images, `I` inputs, `O` outputs of a layer, `C` classes.

use std::f32::consts::SQRT_2;

use burn::backend::Cube;
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::tensor::Tensor;
use burn::tensor::activation::{relu, sigmoid};

use super::autodiff::{Gradient, Kernels, Pass};
use super::cube_head::cross_entropy_head;
use super::{FusedMlpOps, Network};
use config::{Activation, LEAKY_RELU_SLOPE};

impl FusedMlpOps for Cube {
    fn fused_mlp_logits(x: FloatTensor<Self>, network: Network<Self>) -> FloatTensor<Self> {
        Self::pass(x, network, None, false).output
    }

    fn fused_mlp_cross_entropy(
        x: FloatTensor<Self>,
        network: Network<Self>,
        targets: IntTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        Self::pass(x, network, Some(targets), false).into_loss()
    }
}

/// What the backward pass needs, kept on the device until it runs.
#[derive(Clone, Debug)]
pub(crate) struct Saved {
    /// `[B, I_0]`.
    x: Tensor<2>,
    /// `[I_l, O_l]` per layer.
    weights: Vec<Tensor<2>>,
    tape: Tape,
    /// With the loss head: the mean loss's gradient with respect to the
    /// logits, `(softmax(logits) - onehot(targets)) / B`, `[B, C]`.
    loss: Option<Tensor<2>>,
}

/// Per hidden layer `l`: its output `a_l` (after dropout) and
/// `s_l = act'(z_l) * keep_l`, both `[B, O_l]`, as in [`super::kernels::Tape`].
#[derive(Clone, Debug, Default)]
struct Tape {
    outputs: Vec<Tensor<2>>,
    slopes: Vec<Tensor<2>>,
}

impl Kernels for Cube {
    type Saved = Saved;

    fn pass(
        x: FloatTensor<Self>,
        network: Network<Self>,
        targets: Option<IntTensor<Self>>,
        record: bool,
    ) -> Pass<Self> {
        let x = Tensor::<2>::from_primitive::<Cube>(x);
        let weights: Vec<Tensor<2>> = network.weights.into_iter().map(tensor).collect();
        let biases: Vec<Tensor<1>> = network.biases.into_iter().map(tensor).collect();
        let keep: Vec<Tensor<2>> = network.keep.into_iter().map(tensor).collect();
        let (logits, tape) = forward(
            x.clone(),
            &weights,
            &biases,
            &keep,
            network.activation,
            record,
        );
        let Some(targets) = targets else {
            let saved = tape.map(|tape| Saved {
                x,
                weights,
                tape,
                loss: None,
            });
            return Pass {
                output: primitive(logits),
                extra: None,
                saved,
            };
        };
        let head = cross_entropy_head(primitive(logits.clone()), targets);
        let saved = tape.map(|tape| Saved {
            x,
            weights,
            tape,
            loss: Some(tensor(head.grad)),
        });
        Pass {
            output: head.loss,
            extra: Some((primitive(logits), head.correct)),
            saved,
        }
    }

    fn gradients(saved: Saved, upstream: FloatTensor<Self>, input: bool) -> Gradient<Self> {
        let upstream = Tensor::<2>::from_primitive::<Cube>(upstream);
        let grad = match saved.loss {
            None => upstream,
            // The head's gradient of the mean loss, scaled by the loss's own.
            Some(grad) => grad * upstream.reshape([1, 1]),
        };
        let (weights, biases, input) = backward(grad, saved.x, &saved.weights, saved.tape, input);
        Gradient {
            input: input.map(primitive),
            weights: weights.into_iter().map(primitive).collect(),
            biases: biases.into_iter().map(primitive).collect(),
        }
    }
}

/// A Cube primitive as a tensor, to compose with Burn's tensor API.
fn tensor<const D: usize>(primitive: FloatTensor<Cube>) -> Tensor<D> {
    Tensor::from_primitive::<Cube>(primitive)
}

/// Back to the primitive the operation returns.
fn primitive<const D: usize>(tensor: Tensor<D>) -> FloatTensor<Cube> {
    tensor
        .try_into_primitive::<Cube>()
        .expect("the fused network's tensors stay on the Cube backend")
}

/// The forward pass: per layer `z = a · W + b`, then (but after the last)
/// the activation and dropout. Returns the logits `[B, C]` and, with
/// `record`, the tape.
fn forward(
    x: Tensor<2>,
    weights: &[Tensor<2>],
    biases: &[Tensor<1>],
    keep: &[Tensor<2>],
    activation: Activation,
    record: bool,
) -> (Tensor<2>, Option<Tape>) {
    let hidden = weights.len() - 1;
    let mut tape = record.then(Tape::default);
    let mut a = x;
    for (index, (weight, bias)) in weights.iter().zip(biases).enumerate() {
        let z = a.matmul(weight.clone()) + bias.clone().unsqueeze::<2>(); // [B, O]
        if index == hidden {
            return (z, tape);
        }
        let (mut output, mut slope) = activate(activation, z, record);
        if let Some(keep) = keep.get(index) {
            output = output * keep.clone();
            slope = slope.map(|slope| slope * keep.clone());
        }
        if let (Some(tape), Some(slope)) = (tape.as_mut(), slope) {
            tape.outputs.push(output.clone());
            tape.slopes.push(slope);
        }
        a = output;
    }
    unreachable!("a network has at least its output layer")
}

/// `act(z)` and, when asked, `act'(z)`, with the host kernels' formulas.
fn activate(activation: Activation, z: Tensor<2>, slope: bool) -> (Tensor<2>, Option<Tensor<2>>) {
    match activation {
        // The 0/1 slopes are written with `mask_fill`, which fusion compiles
        // into the kernel beside the product; turning a comparison's bools
        // into floats (`.float()`) is a launch of its own in Burn 0.22.1.
        Activation::Relu => {
            let a = relu(z.clone());
            let slope = slope.then(|| a.clone().mask_fill(z.greater_elem(0.0), 1.0));
            (a, slope)
        }
        Activation::LeakyRelu => {
            // 1 where z >= 0, the slope below: the output is z times it.
            let factor = z
                .clone()
                .mask_fill(z.clone().greater_equal_elem(0.0), 1.0)
                .mask_fill(z.clone().lower_elem(0.0), LEAKY_RELU_SLOPE);
            (z * factor.clone(), slope.then_some(factor))
        }
        Activation::Sigmoid => {
            let s = sigmoid(z);
            let slope = slope.then(|| s.clone() * (s.clone().neg() + 1.0));
            (s, slope)
        }
        Activation::Tanh => {
            let t = z.tanh();
            let slope = slope.then(|| t.clone().powi_scalar(2).neg() + 1.0);
            (t, slope)
        }
        // The exact GELU, z * Phi(z), and its derivative Phi(z) + z * phi(z).
        Activation::Gelu => {
            let cdf = ((z.clone() / SQRT_2).erf() + 1.0) * 0.5;
            let slope = slope.then(|| {
                let pdf = (z.clone().powi_scalar(2) * -0.5).exp() * INV_SQRT_2PI;
                cdf.clone() + z.clone() * pdf
            });
            (z * cdf, slope)
        }
    }
}

const INV_SQRT_2PI: f32 = 0.398_942_3;

/// The backward pass from `grad` (`[B, C]`): every layer's weight gradient
/// `a^T · g` and bias gradient (the column sums of `g`), and with `input`
/// the input's, `g · W^T`. Input side first.
#[allow(clippy::type_complexity)]
fn backward(
    mut grad: Tensor<2>,
    x: Tensor<2>,
    weights: &[Tensor<2>],
    mut tape: Tape,
    input: bool,
) -> (Vec<Tensor<2>>, Vec<Tensor<1>>, Option<Tensor<2>>) {
    let count = weights.len();
    let mut weight_grads = Vec::with_capacity(count);
    let mut bias_grads = Vec::with_capacity(count);
    let mut input_grad = None;
    for (index, weight) in weights.iter().enumerate().rev() {
        let outputs = weight.dims()[1];
        let a = match index {
            0 => x.clone(),
            _ => tape.outputs.pop().expect("one output per hidden layer"),
        };
        weight_grads.push(a.transpose().matmul(grad.clone())); // [I, O]
        bias_grads.push(grad.clone().sum_dim(0).reshape([outputs])); // [O]
        if index == 0 && !input {
            break;
        }
        let previous = grad.matmul(weight.clone().transpose()); // [B, I]
        if index == 0 {
            input_grad = Some(previous);
            break;
        }
        grad = previous * tape.slopes.pop().expect("one slope per hidden layer");
    }
    weight_grads.reverse();
    bias_grads.reverse();
    (weight_grads, bias_grads, input_grad)
}
