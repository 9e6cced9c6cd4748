//! The fused network on the autodiff backend over flex: the forward pass runs
//! once through [`kernels`] and is recorded as a single graph node; its
//! backward pass ([`FusedBackward`]) computes every layer's weight and bias
//! gradient (and the input's, if it is tracked) and registers them.
//!
//! A node's parents are a fixed-size array in Burn (`Backward<B, N>`), while
//! the network has 1 to 65 layers: [`with_arity!`] picks the `N` that fits,
//! `1 + 2 * layers` (the input, then each layer's weight and bias).

use burn::backend::TensorMetadata;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::FloatTensor;
use burn::backend::{AutodiffBackend, Flex};
use burn_flex::FlexTensor;

use super::flex::{HostNetwork, class_indices, slice, tensor};
use super::kernels::{self, LayerView, Tape};
use super::{FusedMlpOps, Network};

impl<C: CheckpointStrategy> FusedMlpOps for Autodiff<Flex, C> {
    fn fused_mlp_logits(x: FloatTensor<Self>, network: Network<Self>) -> FloatTensor<Self> {
        record::<C>(x, network, None).0
    }

    fn fused_mlp_cross_entropy(
        x: FloatTensor<Self>,
        network: Network<Self>,
        targets: FlexTensor,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (loss, extra) = record::<C>(x, network, Some(class_indices(&targets)));
        let (logits, correct) = extra.expect("the loss head returns logits and a count");
        (loss, Self::from_inner(logits), Self::from_inner(correct))
    }
}

/// What the node's output is.
#[derive(Clone, Debug)]
enum Head {
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
struct State {
    x: FlexTensor,
    weights: Vec<FlexTensor>,
    biases: Vec<FlexTensor>,
    tape: Tape,
    head: Head,
}

/// The node's backward step for a network whose input and parameters are
/// `N` parents: `[x, w_0, b_0, w_1, b_1, ...]`.
#[derive(Debug)]
struct FusedBackward;

impl<const N: usize> Backward<Flex, N> for FusedBackward {
    type State = State;

    fn backward(self, ops: Ops<State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let upstream = grads.consume::<Flex>(&ops.node);
        let parents: Vec<Option<NodeId>> = ops
            .parents
            .iter()
            .map(|parent| parent.as_ref().map(|node| node.id))
            .collect();
        for (id, gradient) in gradients(ops.state, upstream, &parents) {
            grads.register::<Flex>(id, gradient);
        }
    }
}

/// Every tracked parent's gradient, from the gradient of the node's output.
fn gradients(
    state: State,
    upstream: FlexTensor,
    parents: &[Option<NodeId>],
) -> Vec<(NodeId, FlexTensor)> {
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
    let input_tracked = parents[0].is_some();
    let (params, input) =
        kernels::backward(grad_logits, &x, batch, &layers, &state.tape, input_tracked);
    let mut registered = Vec::with_capacity(parents.len());
    if let (Some(id), Some(input)) = (parents[0], input) {
        registered.push((id, tensor(input, [batch, layers[0].inputs])));
    }
    let per_layer = params.weights.into_iter().zip(params.biases).zip(&layers);
    for (index, ((weight, bias), layer)) in per_layer.enumerate() {
        if let Some(id) = parents[1 + 2 * index] {
            registered.push((id, tensor(weight, [layer.inputs, layer.outputs])));
        }
        if let Some(id) = parents[2 + 2 * index] {
            registered.push((id, tensor(bias, [layer.outputs])));
        }
    }
    registered
}

/// `register::<C, N>` for `N = guards.len()`: the input plus a weight and a
/// bias for each of 1 to 65 layers (64 hidden layers, `MAX_HIDDEN_LAYERS`).
macro_rules! with_arity {
    ($guards:expr, $compute:expr, $strategy:ty) => {
        with_arity!(@arms $guards, $compute, $strategy;
            3 5 7 9 11 13 15 17 19 21 23 25 27 29 31 33 35 37 39 41 43 45 47 49 51 53 55 57 59 61 63 65
            67 69 71 73 75 77 79 81 83 85 87 89 91 93 95 97 99 101 103 105 107 109 111 113 115 117 119
            121 123 125 127 129 131)
    };
    (@arms $guards:expr, $compute:expr, $strategy:ty; $($n:literal)*) => {
        match $guards.len() {
            $($n => register::<$strategy, $n>($guards, $compute),)*
            other => panic!("the fused network takes 1 to 65 layers, got {other} tensors"),
        }
    };
}

/// The forward pass as one node. With `targets`, the output is the mean
/// cross-entropy and the logits and correct count come back untracked.
fn record<C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<Flex, C>>,
    network: Network<Autodiff<Flex, C>>,
    targets: Option<Vec<usize>>,
) -> (
    FloatTensor<Autodiff<Flex, C>>,
    Option<(FlexTensor, FlexTensor)>,
) {
    let activation = network.activation;
    let (x, x_guard) = x.into_parts();
    let mut guards = vec![x_guard];
    let mut weights = Vec::with_capacity(network.weights.len());
    let mut biases = Vec::with_capacity(network.biases.len());
    for (weight, bias) in network.weights.into_iter().zip(network.biases) {
        let (weight, weight_guard) = weight.into_parts();
        let (bias, bias_guard) = bias.into_parts();
        guards.extend([weight_guard, bias_guard]);
        weights.push(weight);
        biases.push(bias);
    }
    // Dropout factors are constants of this step: no gradient flows into them.
    let keep: Vec<FlexTensor> = network
        .keep
        .into_iter()
        .map(|keep| keep.into_primitive())
        .collect();
    let plain = Network::<Flex> {
        weights,
        biases,
        keep,
        activation,
    };
    let mut extra = None;
    let compute = |tracked: bool| -> (FlexTensor, Option<State>) {
        let host = HostNetwork::new(&x, &plain);
        let (logits, tape) = kernels::forward(
            &host.x,
            host.batch,
            &host.layers(),
            activation,
            &host.keep(),
            tracked,
        );
        let shape = [host.batch, host.classes()];
        let (output, head) = match &targets {
            None => (tensor(logits, shape), Head::Logits),
            Some(targets) => {
                let ce = kernels::cross_entropy(&logits, host.classes(), targets);
                extra = Some((tensor(logits, shape), tensor(vec![ce.correct as f32], [1])));
                let head = Head::CrossEntropy {
                    probabilities: ce.probabilities,
                    targets: targets.clone(),
                };
                (tensor(vec![ce.loss], [1]), head)
            }
        };
        let state = tape.map(|tape| State {
            x: x.clone(),
            weights: plain.weights.clone(),
            biases: plain.biases.clone(),
            tape,
            head,
        });
        (output, state)
    };
    let output = with_arity!(guards, compute, C);
    (output, extra)
}

/// Registers the node with `N` parents (`guards.len() == N`), computing the
/// output (and the state when any parent is tracked) in between.
fn register<C: CheckpointStrategy, const N: usize>(
    guards: Vec<NodeGuard>,
    compute: impl FnOnce(bool) -> (FlexTensor, Option<State>),
) -> FloatTensor<Autodiff<Flex, C>> {
    let guards: [NodeGuard; N] = guards
        .try_into()
        .unwrap_or_else(|guards: Vec<_>| panic!("{} parents for a node of {N}", guards.len()));
    match FusedBackward
        .prepare::<C>(guards)
        .compute_bound()
        .stateful()
    {
        OpsKind::Tracked(prep) => {
            let (output, state) = compute(true);
            prep.finish(state.expect("a tracked pass records its tape"), output)
        }
        OpsKind::UnTracked(prep) => prep.finish(compute(false).0),
    }
}
