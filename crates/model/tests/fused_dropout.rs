//! The fused path draws its dropout masks as Burn's `Dropout` draws them: from
//! the same seed, the model's fused training step and Burn's layer-by-layer
//! forward pass give the same logits. (Its own test binary: flex's random
//! generator is shared by the whole process, and this test must be the only
//! one drawing from it between the seed and the draws.)

use burn::nn::loss::CrossEntropyLossConfig;
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};
use data::MnistBatch;
use model::MlpConfig;

#[test]
fn the_fused_step_draws_the_masks_burns_dropout_draws() {
    let device = Device::flex().autodiff();
    let model = MlpConfig::new()
        .with_hidden(vec![32, 16])
        .with_dropout(0.4)
        .init(&device);
    let images = Tensor::<2>::random([9, 784], Distribution::Uniform(-0.5, 0.5), &device);
    let targets = Tensor::<1, Int>::from_data(TensorData::new(vec![3i64; 9], [9]), &device);
    // Burn initialises parameters on first use, from the same generator:
    // use them once before seeding, so both passes below draw only masks.
    let _ = model.forward_layers(images.clone());

    device.seed(21);
    let fused_targets = targets.clone();
    let fused = model.forward_loss(MnistBatch {
        images: images.clone(),
        targets: targets.clone(),
    });
    device.seed(21);
    let logits = model.forward_layers(images.clone());
    let loss = CrossEntropyLossConfig::new()
        .init(&device)
        .forward(logits.clone(), targets);

    let fused_logits = fused.logits.into_data().try_to_vec::<f32>().unwrap();
    let logits = logits.into_data().try_to_vec::<f32>().unwrap();
    for (a, b) in fused_logits.iter().zip(&logits) {
        assert!((a - b).abs() <= 1e-5 * b.abs().max(1e-3), "{a} vs {b}");
    }
    let (fused_loss, loss) = (fused.loss.into_scalar::<f32>(), loss.into_scalar::<f32>());
    assert!(
        (fused_loss - loss).abs() <= 1e-5 * loss,
        "{fused_loss} vs {loss}"
    );

    // And dropout is on: the next draw gives other logits.
    let again = model.forward_loss(MnistBatch {
        images,
        targets: fused_targets,
    });
    assert_ne!(
        again.logits.into_data().try_to_vec::<f32>().unwrap(),
        fused_logits
    );
}
