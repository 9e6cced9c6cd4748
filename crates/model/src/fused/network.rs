//! [`Network`]: the parameters of every layer, the dropout factors and the
//! activation, carried as one argument of the fused operations.

use burn::backend::tensor::FloatTensor;
use burn::backend::{
    Backend, BackendTensor, Dispatch, DispatchAutodiffContext, DispatchTensor, DispatchTensorKind,
    ExtensionType,
};

use config::Activation;

/// Everything the fused network reads besides its input, on backend `B`.
/// Layer `l` maps `I_l` inputs to `O_l` outputs; the last layer's outputs are
/// the classes.
#[derive(Clone, Debug)]
pub struct Network<B: Backend> {
    /// `[I_l, O_l]` per layer, input side first (Burn's `Linear` layout).
    pub weights: Vec<FloatTensor<B>>,
    /// `[O_l]` per layer.
    pub biases: Vec<FloatTensor<B>>,
    /// While training with dropout: one `[B, O_l]` factor per hidden layer, 0
    /// for a dropped unit and `1 / (1 - p)` for a kept one. Empty otherwise.
    pub keep: Vec<FloatTensor<B>>,
    /// After every hidden layer.
    pub activation: Activation,
}

/// Crossing Burn's dispatch layer. Burn's derive maps single tensor fields;
/// the network's layers are vectors, so this writes out the same mapping for
/// each element: the tensors are wrapped and unwrapped one by one, the first
/// weight chooses the backend, and every tensor's autodiff context is merged.
impl<B: Backend> ExtensionType<B> for Network<B> {
    type Target = Network<Dispatch>;

    fn map_to_dispatch<F>(self, map_kind: F, autodiff: DispatchAutodiffContext) -> Network<Dispatch>
    where
        F: Fn(BackendTensor<B>) -> DispatchTensorKind,
    {
        let wrap = |tensors: Vec<FloatTensor<B>>| -> Vec<DispatchTensor> {
            tensors
                .into_iter()
                .map(|tensor| DispatchTensor {
                    kind: map_kind(BackendTensor::Float(tensor)),
                    autodiff,
                })
                .collect()
        };
        Network {
            weights: wrap(self.weights),
            biases: wrap(self.biases),
            keep: wrap(self.keep),
            activation: self.activation,
        }
    }

    fn map_from_dispatch<F>(target: Network<Dispatch>, unwrap_kind: F) -> Self
    where
        F: Fn(DispatchTensor) -> BackendTensor<B>,
    {
        let unwrap = |tensors: Vec<DispatchTensor>| -> Vec<FloatTensor<B>> {
            tensors
                .into_iter()
                .map(|tensor| unwrap_kind(tensor).float())
                .collect()
        };
        Network {
            weights: unwrap(target.weights),
            biases: unwrap(target.biases),
            keep: unwrap(target.keep),
            activation: target.activation,
        }
    }

    fn routing_tensor(target: &Network<Dispatch>) -> Option<&DispatchTensor> {
        target.weights.first()
    }

    fn routing_float_tensor(target: &Network<Dispatch>) -> Option<&DispatchTensor> {
        target.weights.first()
    }

    fn autodiff_context(target: &Network<Dispatch>) -> DispatchAutodiffContext {
        target
            .weights
            .iter()
            .chain(&target.biases)
            .chain(&target.keep)
            .fold(DispatchAutodiffContext::Disabled, |context, tensor| {
                context.merge(tensor.autodiff)
            })
    }
}
