//! The fused path against Burn's layer-by-layer path on the same weights and
//! batches: logits, loss and every gradient, for every activation, with and
//! without dropout, 0 to 4 hidden layers and batches of 1, 7 and 32, over a
//! few Adam steps (so the weights have moved off their initial values).
//!
//! Both paths get the same dropout masks, drawn here once: flex's random
//! generator is shared by every test thread, so "seed, then draw in each path"
//! is not repeatable inside a test binary. That the model's training step on
//! flex applies the masks of its `DropoutStream` is checked below.

use burn::backend::Dispatch;
use burn::nn::loss::CrossEntropyLossConfig;
use burn::optim::{AdamConfig, GradientsParams};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

use super::{Network, cross_entropy};
use crate::{Activation, DropoutStream, Mlp, MlpConfig};
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

/// Training on flex, the fused step applies the masks of the network's
/// dropout stream: the logits and loss are Burn's layers' with those masks
/// multiplied in by hand, and the next step draws other masks.
#[test]
fn the_fused_step_applies_its_dropout_streams_masks() {
    let device = Device::flex().autodiff();
    let model = MlpConfig::new()
        .with_hidden(vec![32, 16])
        .with_dropout(0.4)
        .init(&device)
        .with_dropout_stream(DropoutStream::new(21, 5));
    let pixels: Vec<f32> = (0..9 * 784)
        .map(|i| (i % 255) as f32 / 255.0 - 0.5)
        .collect();
    let images = Tensor::<2>::from_data(TensorData::new(pixels, [9, 784]), &device);
    let targets = Tensor::<1, Int>::from_data(TensorData::new(vec![3i64; 9], [9]), &device);
    let batch = || MnistBatch {
        images: images.clone(),
        targets: targets.clone(),
    };
    let fused = model.forward_loss(batch());

    // Step 5's masks of a run seeded 21, through Burn's layers by hand.
    let masks = DropoutStream::new(21, 5).next_masks(0.4, 9, &[32, 16]);
    let (output, hidden) = model.layers().split_last().unwrap();
    let mut x = images.clone();
    for (layer, keep) in hidden.iter().zip(masks) {
        let units = layer.weight.dims()[1];
        let keep = Tensor::<2>::from_data(TensorData::new(keep, [9, units]), &device);
        x = model.activation.forward(layer.forward(x)) * keep;
    }
    let logits = output.forward(x);
    let loss = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits.clone(), targets.clone());
    assert_close("logits", fused.logits.clone(), logits);
    assert_close("loss", fused.loss, loss);

    let again = model.forward_loss(batch());
    assert_ne!(
        again.logits.into_data().try_to_vec::<f32>().unwrap(),
        fused.logits.into_data().try_to_vec::<f32>().unwrap(),
        "the next step, other masks"
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

/// The fused path on the GPU (wgpu; Mesa's lavapipe on a machine without
/// one) against the fused path on flex: the same network, batches and
/// dropout masks on both, three Adam steps (the device's Adam on wgpu, the
/// host's on flex), and at each the logits, loss and every gradient within
/// 1e-4 (relative, plus 1e-4 of the tensor's largest value: float sums in
/// another order, compounded over the steps). Skipped without a Vulkan
/// adapter, except under `CI=true`, where that fails.
mod on_wgpu {
    use super::*;
    use crate::{Backend, FusedAdam};
    use burn::module::Module;
    use burn::optim::ModuleOptimizer;
    use burn::store::ModuleRecord;

    fn wgpu() -> Option<Device> {
        crate::backend::wgpu_for_tests().map(Device::autodiff)
    }

    /// `fused` within 1e-4 of `reference`, relative to each value and to the
    /// tensor's largest.
    fn assert_near<const D: usize>(what: &str, fused: Tensor<D>, reference: Tensor<D>) {
        assert_eq!(fused.dims(), reference.dims(), "{what}: shapes");
        let (fused, reference) = (values(fused), values(reference));
        let scale = reference.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        for (index, (a, b)) in fused.iter().zip(&reference).enumerate() {
            let tolerance = 1e-4 * (b.abs() + scale) + f32::MIN_POSITIVE;
            assert!((a - b).abs() <= tolerance, "{what}[{index}]: {a} vs {b}");
        }
    }

    /// `tensor`'s values on `device`.
    fn moved<const D: usize>(tensor: &Tensor<D>, device: &Device) -> Tensor<D> {
        Tensor::from_data(tensor.clone().into_data(), device)
    }

    /// The GPU model with `model`'s weights.
    fn copy_to(model: &Mlp, config: &MlpConfig, gpu: &Device) -> Mlp {
        let bytes = model.clone().into_record().into_bytes().unwrap();
        config
            .init(gpu)
            .load_record(ModuleRecord::from_bytes(bytes).unwrap())
    }

    /// Three steps of flex's Adam; at each, the GPU's fused pass on the same
    /// weights (copied over: Adam's step is about the learning rate for any
    /// gradient far above epsilon, so two devices' rounding of a small
    /// gradient would otherwise grow into differences of the step size).
    fn check(config: MlpConfig, size: usize, gpu: &Device) {
        let what = format!("{} batch {size} on wgpu", config.describe());
        let cpu = Device::flex().autodiff();
        let mut model: Mlp = config.init(&cpu);
        let mut adam = FusedAdam::new(Backend::Flex, 0.9, 0.999, 1e-7).init();
        for step in 0..3 {
            let what = format!("{what}, step {step}");
            let copy = copy_to(&model, &config, gpu);
            let batch = batch(size, &cpu);
            let masks = masks(&model, size, config.dropout, &cpu);
            let gpu_masks: Vec<Tensor<2>> = masks.iter().map(|mask| moved(mask, gpu)).collect();
            let reference = cross_entropy(
                batch.images.clone(),
                network(&model, &masks, config.dropout),
                batch.targets.clone(),
            );
            let fused = cross_entropy(
                moved(&batch.images, gpu),
                network(&copy, &gpu_masks, config.dropout),
                Tensor::<1, Int>::from_data(batch.targets.clone().into_data(), gpu),
            );
            let grads = reference.loss.backward();
            let gpu_grads = fused.loss.backward();
            assert_near(&format!("{what}: logits"), fused.logits, reference.logits);
            assert_near(&format!("{what}: loss"), fused.loss, reference.loss);
            assert_eq!(
                values(fused.correct),
                values(reference.correct),
                "{what}: correct"
            );
            for (index, (layer, gpu_layer)) in model.layers().iter().zip(copy.layers()).enumerate()
            {
                let gpu_bias = gpu_layer.bias.as_ref().unwrap();
                let bias = layer.bias.as_ref().unwrap();
                assert_near(
                    &format!("{what}: layer {index} weight gradient"),
                    moved(&gpu_layer.weight.grad(&gpu_grads).unwrap(), &Device::flex()),
                    layer.weight.grad(&grads).unwrap(),
                );
                assert_near(
                    &format!("{what}: layer {index} bias gradient"),
                    moved(&gpu_bias.grad(&gpu_grads).unwrap(), &Device::flex()),
                    bias.grad(&grads).unwrap(),
                );
            }
            let grads = GradientsParams::from_grads(grads, &model);
            model = adam.step(0.01, model, grads);
        }
    }

    /// The device's Adam against the host's: the same weights and the same
    /// gradients on both, three steps; the weights agree to float rounding.
    #[test]
    fn device_adam_matches_the_host_s() {
        let Some(gpu) = wgpu() else { return };
        let config = MlpConfig::new().with_hidden(vec![24, 24]);
        let cpu = Device::flex().autodiff();
        let mut model: Mlp = config.init(&cpu);
        let mut copy = copy_to(&model, &config, &gpu);
        let mut host = FusedAdam::new(Backend::Flex, 0.9, 0.999, 1e-7).init();
        let mut device: ModuleOptimizer = FusedAdam::new(Backend::Wgpu, 0.9, 0.999, 1e-7).init();
        let inner = gpu.clone().inner();
        for step in 0..3 {
            let images = Tensor::<2>::random([16, 784], Distribution::Default, &cpu);
            let loss = model.forward(images).powi_scalar(2).mean();
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            // The same gradients on the GPU, by parameter.
            let mut gpu_grads = GradientsParams::new();
            for (layer, gpu_layer) in model.layers().iter().zip(copy.layers()) {
                let weight: Tensor<2> = grads.get(layer.weight.id).unwrap();
                gpu_grads.register(gpu_layer.weight.id, moved(&weight, &inner));
                let bias = layer.bias.as_ref().unwrap();
                let gpu_bias = gpu_layer.bias.as_ref().unwrap();
                let bias_grad: Tensor<1> = grads.get(bias.id).unwrap();
                gpu_grads.register(gpu_bias.id, moved(&bias_grad, &inner));
            }
            model = host.step(0.01, model, grads);
            copy = device.step(0.01, copy, gpu_grads);
            for (index, (layer, gpu_layer)) in model.layers().iter().zip(copy.layers()).enumerate()
            {
                assert_near(
                    &format!("step {step}: layer {index} weights after Adam"),
                    moved(&gpu_layer.weight.val(), &Device::flex()),
                    layer.weight.val(),
                );
            }
        }
    }

    #[test]
    fn matches_flex_for_every_activation_depth_dropout_and_batch_size() {
        let Some(gpu) = wgpu() else { return };
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
                        check(config, size, &gpu);
                    }
                }
            }
        }
    }

    /// The loss head on the GPU is one cube of 64 threads striding over the
    /// rows: a batch of 200 (rows left over after three strides) agrees
    /// with flex as the smaller batches do.
    #[test]
    fn a_batch_larger_than_the_head_s_cube_matches_flex() {
        let Some(gpu) = wgpu() else { return };
        check(MlpConfig::new().with_hidden(vec![24]), 200, &gpu);
    }

    /// The GPU draws the dropout masks flex draws, to the bit (so a wgpu run
    /// with dropout resumes exactly, and trains with flex's masks): every
    /// rate, two steps, two layers, a mask of 300,000 elements among them,
    /// on the training (autodiff) device and the plain one.
    #[test]
    fn the_gpu_draws_flex_s_dropout_masks() {
        let Some(autodiff) = wgpu() else { return };
        for gpu in [autodiff.clone(), autodiff.inner()] {
            for p in [0.0, 0.2, 0.5, 0.9] {
                for (rows, units) in [(7, [64, 33]), (300, [1000, 3])] {
                    let host = DropoutStream::new(11, 3);
                    let device = DropoutStream::new(11, 3);
                    for step in 0..2 {
                        let drawn = device.next_masks_on(p, rows, &units, &gpu);
                        let expected = host.next_masks(p, rows, &units);
                        for (layer, (mask, keep)) in drawn.into_iter().zip(expected).enumerate() {
                            assert_eq!(mask.dims(), [rows, units[layer]]);
                            assert_eq!(mask.is_autodiff(), gpu.is_autodiff());
                            assert!(
                                values(mask) == keep,
                                "p {p}, {rows} rows, step {step}, layer {layer}"
                            );
                        }
                    }
                }
            }
        }
    }

    /// A mask of more than 65,535 x 256 elements (more cubes than wgpu
    /// takes in one dimension) is drawn whole, as flex draws it.
    #[test]
    fn the_gpu_draws_masks_past_one_launch_dimension() {
        let Some(gpu) = wgpu() else { return };
        let (rows, units) = (65_600, [256]);
        let drawn = DropoutStream::new(5, 0).next_masks_on(0.5, rows, &units, &gpu);
        let expected = DropoutStream::new(5, 0).next_masks(0.5, rows, &units);
        assert!(values(drawn.into_iter().next().unwrap()) == expected[0]);
    }

    /// The logits-only node on the GPU, inference and training devices: the
    /// fused network is taken, and agrees with Burn's layers there.
    #[test]
    fn logits_match_burns_layers_on_the_gpu() {
        let Some(gpu) = wgpu() else { return };
        for device in [gpu.clone().inner(), gpu] {
            let model = MlpConfig::new().with_hidden(vec![16, 8]).init(&device);
            let images = Tensor::<2>::random([7, 784], Distribution::Default, &device);
            assert!(model.fused_network(&images).is_some());
            assert_near(
                "wgpu logits",
                model.forward(images.clone()),
                model.forward_layers(images),
            );
        }
    }
}
