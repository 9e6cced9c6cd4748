//! The fused network on the autodiff backend, over any backend that has its
//! [`Kernels`] (flex's host loops, the GPU's tensor programs): the forward
//! pass runs once and is recorded as a single graph node; its backward pass
//! ([`FusedBackward`]) computes every layer's weight and bias gradient (and
//! the input's, if it is tracked) and registers them.
//!
//! A node's parents are a fixed-size array in Burn (`Backward<B, N>`), while
//! the network has 1 to 65 layers: [`with_arity!`] picks the `N` that fits,
//! `1 + 2 * layers` (the input, then each layer's weight and bias).

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, NodeGuard, Ops, OpsKind};
use burn::backend::autodiff::{Autodiff, NodeId};
use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{AutodiffBackend, Backend};

use super::{FusedMlpOps, Network};

/// The network's arithmetic on one backend, which the autodiff node records
/// and the plain backend runs directly.
pub(crate) trait Kernels: Backend {
    /// What the backward pass needs from a recorded forward pass.
    type Saved: Clone + Send + std::fmt::Debug + 'static;

    /// The forward pass of `x` (`[B, I]`). Without `targets` the output is the
    /// logits `[B, C]`; with them, the mean cross-entropy `[1]`, and
    /// [`Pass::extra`] holds the logits and the correct count `[1]`. With
    /// `record`, [`Pass::saved`] holds what the backward pass needs.
    fn pass(
        x: FloatTensor<Self>,
        network: Network<Self>,
        targets: Option<IntTensor<Self>>,
        record: bool,
    ) -> Pass<Self>;

    /// Every gradient from the gradient of the pass's output (`upstream`,
    /// shaped as that output); the input's only with `input`.
    fn gradients(saved: Self::Saved, upstream: FloatTensor<Self>, input: bool) -> Gradient<Self>;
}

/// What [`Kernels::pass`] returns.
pub(crate) struct Pass<B: Kernels> {
    pub output: FloatTensor<B>,
    /// With targets: `(logits [B, C], correct [1])`, untracked.
    pub extra: Option<(FloatTensor<B>, FloatTensor<B>)>,
    pub saved: Option<B::Saved>,
}

impl<B: Kernels> Pass<B> {
    /// A pass with targets on a plain backend, as the fused cross-entropy
    /// returns it: `(loss [1], logits [B, C], correct [1])`.
    pub fn into_loss(self) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
        let (logits, correct) = self
            .extra
            .expect("the loss head returns logits and a count");
        (self.output, logits, correct)
    }
}

/// What [`Kernels::gradients`] returns, input side first.
pub(crate) struct Gradient<B: Backend> {
    /// `[B, I_0]`, when asked for.
    pub input: Option<FloatTensor<B>>,
    /// `[I_l, O_l]` per layer.
    pub weights: Vec<FloatTensor<B>>,
    /// `[O_l]` per layer.
    pub biases: Vec<FloatTensor<B>>,
}

impl<B: Kernels, C: CheckpointStrategy> FusedMlpOps for Autodiff<B, C> {
    fn fused_mlp_logits(x: FloatTensor<Self>, network: Network<Self>) -> FloatTensor<Self> {
        record::<B, C>(x, network, None).0
    }

    fn fused_mlp_cross_entropy(
        x: FloatTensor<Self>,
        network: Network<Self>,
        targets: IntTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (loss, extra) = record::<B, C>(x, network, Some(targets));
        let (logits, correct) = extra.expect("the loss head returns logits and a count");
        (loss, Self::from_inner(logits), Self::from_inner(correct))
    }
}

/// The node's backward step for a network whose input and parameters are
/// `N` parents: `[x, w_0, b_0, w_1, b_1, ...]`.
#[derive(Debug)]
struct FusedBackward;

impl<B: Kernels, const N: usize> Backward<B, N> for FusedBackward {
    type State = B::Saved;

    fn backward(self, ops: Ops<B::Saved, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let upstream = grads.consume::<B>(&ops.node);
        let parents: Vec<Option<NodeId>> = ops
            .parents
            .iter()
            .map(|parent| parent.as_ref().map(|node| node.id))
            .collect();
        let gradient = B::gradients(ops.state, upstream, parents[0].is_some());
        if let (Some(id), Some(input)) = (parents[0], gradient.input) {
            grads.register::<B>(id, input);
        }
        let per_layer = gradient.weights.into_iter().zip(gradient.biases);
        for (index, (weight, bias)) in per_layer.enumerate() {
            if let Some(id) = parents[1 + 2 * index] {
                grads.register::<B>(id, weight);
            }
            if let Some(id) = parents[2 + 2 * index] {
                grads.register::<B>(id, bias);
            }
        }
    }
}

/// `register::<B, C, N>` for `N = guards.len()`: the input plus a weight and
/// a bias for each of 1 to 65 layers (64 hidden layers, `MAX_HIDDEN_LAYERS`).
macro_rules! with_arity {
    ($guards:expr, $compute:expr, $backend:ty, $strategy:ty) => {
        with_arity!(@arms $guards, $compute, $backend, $strategy;
            3 5 7 9 11 13 15 17 19 21 23 25 27 29 31 33 35 37 39 41 43 45 47 49 51 53 55 57 59 61 63 65
            67 69 71 73 75 77 79 81 83 85 87 89 91 93 95 97 99 101 103 105 107 109 111 113 115 117 119
            121 123 125 127 129 131)
    };
    (@arms $guards:expr, $compute:expr, $backend:ty, $strategy:ty; $($n:literal)*) => {
        match $guards.len() {
            $($n => register::<$backend, $strategy, $n>($guards, $compute),)*
            other => panic!("the fused network takes 1 to 65 layers, got {other} tensors"),
        }
    };
}

/// The forward pass as one node. With `targets`, the output is the mean
/// cross-entropy and the logits and correct count come back untracked.
#[allow(clippy::type_complexity)]
fn record<B: Kernels, C: CheckpointStrategy>(
    x: FloatTensor<Autodiff<B, C>>,
    network: Network<Autodiff<B, C>>,
    targets: Option<IntTensor<B>>,
) -> (
    FloatTensor<Autodiff<B, C>>,
    Option<(FloatTensor<B>, FloatTensor<B>)>,
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
    let keep: Vec<FloatTensor<B>> = network
        .keep
        .into_iter()
        .map(|keep| keep.into_primitive())
        .collect();
    let plain = Network::<B> {
        weights,
        biases,
        keep,
        activation,
    };
    let mut extra = None;
    let compute = |tracked: bool| -> (FloatTensor<B>, Option<B::Saved>) {
        let pass = B::pass(x, plain, targets, tracked);
        extra = pass.extra;
        (pass.output, pass.saved)
    };
    let output = with_arity!(guards, compute, B, C);
    (output, extra)
}

/// Registers the node with `N` parents (`guards.len() == N`), computing the
/// output (and the state when any parent is tracked) in between.
fn register<B: Kernels, C: CheckpointStrategy, const N: usize>(
    guards: Vec<NodeGuard>,
    compute: impl FnOnce(bool) -> (FloatTensor<B>, Option<B::Saved>),
) -> FloatTensor<Autodiff<B, C>> {
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
