//! The fused operations on flex's host memory: tensors in, [`kernels`] on
//! their slices, tensors out. Used directly for inference and by
//! [`super::autodiff`] for training.

use std::borrow::Cow;

use burn::backend::Flex;
use burn::backend::TensorMetadata;
use burn::tensor::{Bytes, DType, Shape};
use burn_flex::{FlexTensor, Layout};

use super::autodiff::{Gradient, Kernels, Pass};
use super::kernels::{self, LayerView, Tape};
use super::{FusedMlpOps, Network};

impl FusedMlpOps for Flex {
    fn fused_mlp_logits(x: FlexTensor, network: Network<Self>) -> FlexTensor {
        Self::pass(x, network, None, false).output
    }

    fn fused_mlp_cross_entropy(
        x: FlexTensor,
        network: Network<Self>,
        targets: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        Self::pass(x, network, Some(targets), false).into_loss()
    }
}

/// What the node's output is.
#[derive(Clone, Debug)]
pub(crate) enum Head {
    /// The logits themselves, `[B, C]`.
    Logits,
    /// The mean cross-entropy `[1]`; the backward pass needs the softmax.
    CrossEntropy {
        probabilities: Vec<f32>,
        targets: Vec<usize>,
    },
}

/// What the backward pass needs, kept in the graph until it runs.
#[derive(Clone, Debug)]
pub(crate) struct State {
    x: FlexTensor,
    weights: Vec<FlexTensor>,
    biases: Vec<FlexTensor>,
    tape: Tape,
    head: Head,
}

impl Kernels for Flex {
    type Saved = State;

    fn pass(
        x: FlexTensor,
        network: Network<Self>,
        targets: Option<FlexTensor>,
        record: bool,
    ) -> Pass<Self> {
        let targets = targets.as_ref().map(class_indices);
        let host = HostNetwork::new(&x, &network);
        let (logits, tape) = kernels::forward(
            &host.x,
            host.batch,
            &host.layers(),
            network.activation,
            &host.keep(),
            record,
        );
        let shape = [host.batch, host.classes()];
        let (output, extra, head) = match targets {
            None => (tensor(logits, shape), None, Head::Logits),
            Some(targets) => {
                let ce = kernels::cross_entropy(&logits, host.classes(), &targets);
                let extra = (tensor(logits, shape), tensor(vec![ce.correct as f32], [1]));
                let head = Head::CrossEntropy {
                    probabilities: ce.probabilities,
                    targets,
                };
                (tensor(vec![ce.loss], [1]), Some(extra), head)
            }
        };
        drop(host);
        let saved = tape.map(|tape| State {
            x,
            weights: network.weights,
            biases: network.biases,
            tape,
            head,
        });
        Pass {
            output,
            extra,
            saved,
        }
    }

    fn gradients(state: State, upstream: FlexTensor, input: bool) -> Gradient<Self> {
        let x = slice(&state.x);
        let batch = state.x.shape()[0];
        let weights: Vec<_> = state.weights.iter().map(slice).collect();
        let biases: Vec<_> = state.biases.iter().map(slice).collect();
        let layers: Vec<LayerView<'_>> = weights
            .iter()
            .zip(&biases)
            .map(|(weight, bias)| LayerView {
                weight,
                bias,
                inputs: weight.len() / bias.len(),
                outputs: bias.len(),
            })
            .collect();
        let classes = layers.last().expect("at least one layer").outputs;
        let grad_logits = match state.head {
            Head::Logits => slice(&upstream).into_owned(),
            Head::CrossEntropy {
                probabilities,
                targets,
            } => {
                let scale = slice(&upstream)[0];
                kernels::cross_entropy_grad(probabilities, classes, &targets, scale)
            }
        };
        let (params, input_grad) =
            kernels::backward(grad_logits, &x, batch, &layers, &state.tape, input);
        Gradient {
            input: input_grad.map(|grad| tensor(grad, [batch, layers[0].inputs])),
            weights: params
                .weights
                .into_iter()
                .zip(&layers)
                .map(|(grad, layer)| tensor(grad, [layer.inputs, layer.outputs]))
                .collect(),
            biases: params
                .biases
                .into_iter()
                .zip(&layers)
                .map(|(grad, layer)| tensor(grad, [layer.outputs]))
                .collect(),
        }
    }
}

/// A network's tensors as host slices (borrowed when contiguous, which
/// parameters and batches always are).
struct HostNetwork<'a> {
    pub x: Cow<'a, [f32]>,
    pub batch: usize,
    weights: Vec<Cow<'a, [f32]>>,
    biases: Vec<Cow<'a, [f32]>>,
    keep: Vec<Cow<'a, [f32]>>,
    /// `(I_l, O_l)` per layer.
    shapes: Vec<(usize, usize)>,
}

impl<'a> HostNetwork<'a> {
    /// # Panics
    /// If a tensor is not `f32` or the shapes do not chain (`supports` and
    /// `Mlp` rule both out).
    pub fn new(x: &'a FlexTensor, network: &'a Network<Flex>) -> Self {
        let x_shape = x.shape();
        assert_eq!(
            x_shape.num_dims(),
            2,
            "the fused network takes [B, I] inputs"
        );
        let shapes: Vec<(usize, usize)> = network
            .weights
            .iter()
            .map(|weight| {
                let shape = weight.shape();
                (shape[0], shape[1])
            })
            .collect();
        assert!(
            !shapes.is_empty(),
            "the fused network needs at least one layer"
        );
        Self {
            x: slice(x),
            batch: x_shape[0],
            weights: network.weights.iter().map(slice).collect(),
            biases: network.biases.iter().map(slice).collect(),
            keep: network.keep.iter().map(slice).collect(),
            shapes,
        }
    }

    pub fn layers(&self) -> Vec<LayerView<'_>> {
        self.weights
            .iter()
            .zip(&self.biases)
            .zip(&self.shapes)
            .map(|((weight, bias), &(inputs, outputs))| LayerView {
                weight,
                bias,
                inputs,
                outputs,
            })
            .collect()
    }

    pub fn keep(&self) -> Vec<&[f32]> {
        self.keep.iter().map(|keep| &keep[..]).collect()
    }

    pub fn classes(&self) -> usize {
        self.shapes.last().expect("at least one layer").1
    }
}

/// The tensor's `f32` values in row-major order, copied only if its layout
/// is not contiguous.
pub(crate) fn slice(tensor: &FlexTensor) -> Cow<'_, [f32]> {
    assert_eq!(
        tensor.dtype(),
        DType::F32,
        "the fused network computes in f32"
    );
    match tensor.as_slice::<f32>() {
        Some(values) => Cow::Borrowed(values),
        None => Cow::Owned(
            tensor
                .to_contiguous()
                .as_slice::<f32>()
                .expect("contiguous")
                .to_vec(),
        ),
    }
}

/// The tensor's `f32` values for writing in place. A tensor that shares its
/// buffer (or views part of one) is first replaced by a copy of its own, once.
pub(crate) fn values_mut(tensor: &mut FlexTensor) -> &mut [f32] {
    let whole = tensor.is_contiguous()
        && tensor.layout().start_offset() == 0
        && tensor.bytes().len() == tensor.shape().num_elements() * size_of::<f32>();
    if !whole || !tensor.is_unique() {
        *tensor = self::tensor(slice(tensor).into_owned(), tensor.shape());
    }
    tensor
        .try_storage_mut::<f32>()
        .expect("a tensor of its own")
}

/// A new flex tensor owning `values` (no copy).
pub(crate) fn tensor<S: Into<Shape>>(values: Vec<f32>, shape: S) -> FlexTensor {
    let shape = shape.into();
    assert_eq!(values.len(), shape.num_elements(), "values for {shape:?}");
    FlexTensor::new(
        Bytes::from_elems(values),
        Layout::contiguous(shape),
        DType::F32,
    )
}

/// Class indices from an integer tensor of any integer dtype.
///
/// # Panics
/// On a negative index (the loss would be meaningless).
fn class_indices(targets: &FlexTensor) -> Vec<usize> {
    let targets = targets.to_contiguous();
    macro_rules! indices {
        ($element:ty) => {
            targets
                .as_slice::<$element>()
                .expect("contiguous")
                .iter()
                .map(|&value| usize::try_from(value).expect("class indices are not negative"))
                .collect()
        };
    }
    match targets.dtype() {
        DType::I64 => indices!(i64),
        DType::I32 => indices!(i32),
        DType::I16 => indices!(i16),
        DType::I8 => indices!(i8),
        DType::U64 => indices!(u64),
        DType::U32 => indices!(u32),
        DType::U16 => indices!(u16),
        DType::U8 => indices!(u8),
        other => panic!("class indices must be integers, got {other:?}"),
    }
}
