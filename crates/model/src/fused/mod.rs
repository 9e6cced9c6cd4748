//! The whole network as one Burn operation on flex and on the GPU (wgpu):
//! forward and backward of every `Linear` layer, activation and dropout, and
//! (for training) the softmax cross-entropy, in one call and, on the autodiff
//! device, one graph node whose backward pass registers every weight and bias
//! gradient.
//!
//! ```text
//! Mlp::forward(images [B, 784])         -> logits [B, 10]           (infer, evaluate, serve)
//! Mlp::forward_loss(images, targets)    -> loss [1], logits, correct (the training step)
//! ```
//!
//! It is a Burn backend extension (`#[backend_extension(Autodiff, Flex, Cube)]`):
//! [`flex.rs`](flex) runs the kernels of [`kernels`] on flex's host memory;
//! [`cube.rs`](cube) runs the same arithmetic as tensor programs on the GPU
//! (Burn's CubeCL backend, which wgpu is), with the loss head as one CubeCL
//! kernel of its own ([`cube_head.rs`](cube_head)) and the dropout masks as
//! another ([`cube_dropout.rs`](cube_dropout)); [`autodiff.rs`](autodiff) records
//! the node and its hand-written backward pass over either. Burn's macro takes a fixed list of tensors per operation, while the
//! network has any number of layers: [`Network`] carries them as vectors
//! across Burn's dispatch layer, with the `ExtensionType` written out by hand
//! (the derive handles single tensor fields only).
//!
//! The `Mlp` module keeps its `Linear` layers, so records, checkpoints and
//! exports are unchanged. ndarray never reaches this module: the model takes
//! Burn's layer-by-layer path there ([`supports`] decides, at run time).

mod autodiff;
mod cube;
pub(crate) mod cube_dropout;
mod cube_head;
pub(crate) mod flex;
pub mod kernels;
mod network;
pub mod products;
#[cfg(test)]
mod tests;

use burn::backend::tensor::{FloatTensor, IntTensor};
use burn::backend::{Backend, Dispatch, DispatchDevice, backend_extension};
use burn::tensor::{DType, Device, Int, Tensor};

pub use network::Network;

use crate::outputs::BatchLoss;

/// The fused operations. Implemented for flex, for Burn's CubeCL backend
/// (wgpu) and for the autodiff backend on either; Burn's dispatch picks the
/// implementation from the tensors' backend.
#[backend_extension(Autodiff, Flex, Cube)]
pub trait FusedMlpOps: Backend {
    /// Logits `[B, C]` of `x` (`[B, I]`) through the network.
    fn fused_mlp_logits(
        x: FloatTensor<Self>,
        #[extension_type] network: Network<Self>,
    ) -> FloatTensor<Self>;

    /// The training head: `(loss [1], logits [B, C], correct [1])`: the mean
    /// cross-entropy against `targets` (`[B]`, class indices), the logits, and
    /// how many rows' largest logit is the target (a float count). Only the
    /// loss carries gradients.
    fn fused_mlp_cross_entropy(
        x: FloatTensor<Self>,
        #[extension_type] network: Network<Self>,
        targets: IntTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// Whether the fused operations can run on `tensor`'s device and dtype: flex
/// or a CubeCL device such as wgpu's (with or without autodiff), and `f32`.
pub fn supports(device: &Device, dtype: DType) -> bool {
    let cube = matches!(
        device.as_dispatch().clone().inner(),
        DispatchDevice::Cube(_)
    );
    (cube || *device == Device::flex()) && dtype == DType::F32
}

/// Logits of `images` through `network`, as one operation.
pub fn logits(images: Tensor<2>, network: Network<Dispatch>) -> Tensor<2> {
    Tensor::from_dispatch(Dispatch::fused_mlp_logits(images.into_dispatch(), network))
}

/// Loss, logits and correct count of `images` against `targets`, as one operation.
pub fn cross_entropy(
    images: Tensor<2>,
    network: Network<Dispatch>,
    targets: Tensor<1, Int>,
) -> BatchLoss {
    let (loss, logits, correct) =
        Dispatch::fused_mlp_cross_entropy(images.into_dispatch(), network, targets.into_dispatch());
    BatchLoss {
        loss: Tensor::from_dispatch(loss),
        logits: Tensor::from_dispatch(logits),
        correct: Tensor::from_dispatch(correct),
    }
}
