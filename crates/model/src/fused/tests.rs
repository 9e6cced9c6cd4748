//! The fused path against Burn's layer-by-layer path on the same weights and
//! batches: logits, loss and every gradient, for every activation, with and
//! without dropout, 0 to 4 hidden layers and batches of 1, 7 and 32, over a
//! few Adam steps (so the weights have moved off their initial values).
//!
//! Both paths get the same dropout masks, drawn here once: flex's random
//! generator is shared by every test thread, so "seed, then draw in each path"
//! is not repeatable inside a test binary. That the model draws its masks as
//! Burn's `Dropout` does is checked on its own, in `tests/fused_dropout.rs`.

use burn::backend::Dispatch;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

use super::{Network, cross_entropy};
use crate::{Activation, Mlp, MlpConfig};
use data::MnistBatch;

/// How far `fused` is from `reference`, as a multiple of the tolerance
/// (at most 1 passes): each value within 1e-5 of the reference value, plus
/// 4e-6 of the tensor's largest magnitude (NumPy's `allclose` with
/// `rtol = 1e-5`, `atol = 4e-6 * max|reference|`). The absolute part is for
/// entries that are sums cancelling to nearly zero: they keep the rounding
/// error of their terms, so their own relative error measures the
/// cancellation, not the computation. (Seen: a bias gradient of 1.8e-4 next to
/// a largest one of 0.012, differing by 3e-9 because the two paths round the
/// loss gradient differently before 32 rows are summed. With 1e-6 instead of
/// 4e-6, about one run in twenty failed at 1.01-1.06 times the tolerance, on
/// a bias gradient of a tanh or sigmoid network, on random batches.)
fn excess(fused: &[f32], reference: &[f32]) -> f32 {
    assert_eq!(fused.len(), reference.len());
    let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    fused
        .iter()
        .zip(reference)
        .map(|(a, b)| (a - b).abs() / (1e-5 * b.abs() + 4e-6 * scale).max(f32::MIN_POSITIVE))
        .fold(0.0, f32::max)
}

fn values<const D: usize>(tensor: Tensor<D>) -> Vec<f32> {
    tensor
        .into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .unwrap()
}

fn assert_close<const D: usize>(what: &str, fused: Tensor<D>, reference: Tensor<D>) {
    assert_eq!(fused.dims(), reference.dims(), "{what}: shapes");
    let (fused, reference) = (values(fused), values(reference));
    let excess = excess(&fused, &reference);
    assert!(excess <= 1.0, "{what}: {excess} times the tolerance");
}

/// A batch of `size` random images in [-0.5, 0.5] and labels 0-9.
fn batch(size: usize, device: &Device) -> MnistBatch {
    let images = Tensor::<2>::random([size, 784], Distribution::Uniform(-0.5, 0.5), device);
    let labels: Vec<i64> = (0..size as i64).map(|i| (i * 7 + 3) % 10).collect();
    let targets = Tensor::<1, Int>::from_data(TensorData::new(labels, [size]), device);
    MnistBatch { images, targets }
}

/// One 0/1 mask per hidden layer of `model` for a batch of `size`, keeping
/// each unit with probability `1 - dropout` (none without dropout).
fn masks(model: &Mlp, size: usize, dropout: f64, device: &Device) -> Vec<Tensor<2>> {
    if dropout == 0.0 {
        return Vec::new();
    }
    let layers = model.layers();
    layers[..layers.len() - 1]
        .iter()
        .map(|layer| {
            let units = layer.weight.dims()[1];
            Tensor::random(
                [size, units],
                Distribution::Bernoulli(1.0 - dropout),
                device,
            )
        })
        .collect()
}

/// Burn's composition, layer by layer, with `masks` applied as Burn's
/// `Dropout` applies its own: `(h * mask) * (1 / (1 - p))`.
fn reference_logits(
    model: &Mlp,
    images: Tensor<2>,
    masks: &[Tensor<2>],
    dropout: f64,
) -> Tensor<2> {
    let (output, hidden) = model.layers().split_last().unwrap();
    let mut x = images;
    for (index, layer) in hidden.iter().enumerate() {
        x = model.activation.forward(layer.forward(x));
        if let Some(mask) = masks.get(index) {
            x = (x * mask.clone()) * (1.0 / (1.0 - dropout));
        }
    }
    output.forward(x)
}

/// The network for the fused operation, with `masks` as its keep factors.
fn network(model: &Mlp, masks: &[Tensor<2>], dropout: f64) -> Network<Dispatch> {
    let mut network = model.fused_network_without_dropout();
    network.keep = masks
        .iter()
        .map(|mask| (mask.clone() * (1.0 / (1.0 - dropout))).into_dispatch())
        .collect();
    network
}

/// Three Adam steps on `config`; at each, both paths on the same weights,
/// batch and dropout masks.
fn check(config: MlpConfig, size: usize) {
    let what = format!("{} batch {size}", config.describe());
    let device = Device::flex().autodiff();
    let mut model: Mlp = config.init(&device);
    let mut optimizer = AdamConfig::new().init();
    let loss_fn = CrossEntropyLossConfig::new().init(&device);
    for step in 0..3 {
        let what = format!("{what}, step {step}");
        let batch = batch(size, &device);
        let masks = masks(&model, size, config.dropout, &device);

        let fused = cross_entropy(
            batch.images.clone(),
            network(&model, &masks, config.dropout),
            batch.targets.clone(),
        );
        let fused_grads = fused.loss.backward();
        let logits = reference_logits(&model, batch.images.clone(), &masks, config.dropout);
        let loss = loss_fn.forward(logits.clone(), batch.targets.clone());
        let grads = loss.backward();

        assert_close(
            &format!("{what}: logits"),
            fused.logits.clone(),
            logits.clone(),
        );
        assert_close(&format!("{what}: loss"), fused.loss.clone(), loss.clone());
        for (index, layer) in model.layers().iter().enumerate() {
            let bias = layer.bias.as_ref().unwrap();
            assert_close(
                &format!("{what}: layer {index} weight gradient"),
                layer.weight.grad(&fused_grads).unwrap(),
                layer.weight.grad(&grads).unwrap(),
            );
            assert_close(
                &format!("{what}: layer {index} bias gradient"),
                bias.grad(&fused_grads).unwrap(),
                bias.grad(&grads).unwrap(),
            );
        }
        let grads = GradientsParams::from_grads(grads, &model);
        model = optimizer.step(0.01, model, grads);
    }
}

#[test]
fn matches_burn_for_every_activation_depth_dropout_and_batch_size() {
    let activations = [
        Activation::Relu,
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Gelu,
        Activation::LeakyRelu,
    ];
    for activation in activations {
        for depth in 0..=4 {
            for dropout in [0.0, 0.3] {
                for size in [1, 7, 32] {
                    let config = MlpConfig::new()
                        .with_hidden(vec![24; depth])
                        .with_activation(activation)
                        .with_dropout(dropout);
                    check(config, size);
                }
            }
        }
    }
}

/// The logits-only node: a loss built from the logits with Burn's own
/// operations backpropagates through it, the input's gradient included.
#[test]
fn logits_node_passes_gradients_through_to_the_input() {
    let device = Device::flex().autodiff();
    let model = MlpConfig::new().with_hidden(vec![16, 8]).init(&device);
    let images = Tensor::<2>::random([7, 784], Distribution::Default, &device).require_grad();
    let loss = |logits: Tensor<2>| logits.powi_scalar(2).mean();

    let fused = loss(model.forward(images.clone()));
    let fused_grads = fused.backward();
    let reference = loss(model.forward_layers(images.clone()));
    let grads = reference.backward();

    assert_close(
        "input gradient",
        images.grad(&fused_grads).unwrap(),
        images.grad(&grads).unwrap(),
    );
    for (index, layer) in model.layers().iter().enumerate() {
        assert_close(
            &format!("layer {index} weight gradient"),
            layer.weight.grad(&fused_grads).unwrap(),
            layer.weight.grad(&grads).unwrap(),
        );
    }
}

/// Inference (flex without autodiff): the fused logits are Burn's, and
/// dropout is off.
#[test]
fn inference_matches_burn_and_ignores_dropout() {
    let device = Device::flex();
    let model = MlpConfig::new().with_dropout(0.5).init(&device);
    let images = Tensor::<2>::random([33, 784], Distribution::Default, &device);
    assert!(model.fused_network(&images).unwrap().keep.is_empty());
    assert_close(
        "logits",
        model.forward(images.clone()),
        model.forward_layers(images),
    );
}

/// ndarray keeps Burn's path.
#[test]
fn other_backends_take_the_layer_path() {
    #[allow(deprecated)]
    let device = Device::ndarray();
    let model = MlpConfig::new().init(&device);
    let images = Tensor::<2>::zeros([2, 784], &device);
    assert!(model.fused_network(&images).is_none());
    assert_eq!(model.forward(images).dims(), [2, 10]);
}
