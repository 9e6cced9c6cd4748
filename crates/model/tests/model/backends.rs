//! The same weights give the same answers on every backend. The wgpu test runs
//! on a real GPU or on Mesa's software Vulkan (lavapipe); under `CI=true` a
//! missing adapter fails the test instead of skipping it.

use burn::module::Module;
use burn::store::ModuleRecord;
use burn::tensor::{Device, Tensor, TensorData};
use model::{Backend, BackendDevice, MlpConfig};

/// Deterministic inputs in [-0.5, 0.5]: `[rows, 784]`.
fn inputs(rows: usize, device: &Device) -> Tensor<2> {
    let values = (0..rows * 784)
        .map(|i| ((i * 37) % 256) as f32 / 255.0 - 0.5)
        .collect();
    Tensor::from_data(TensorData::new(values, [rows, 784]), device)
}

/// Logits of one randomly initialised network on `reference` and on `other`.
fn logits_on(reference: &Device, other: &Device) -> (Vec<f32>, Vec<f32>) {
    let config = MlpConfig::new();
    let model = config.init(reference);
    let bytes = model.clone().into_record().into_bytes().unwrap();
    let copy = config
        .init(other)
        .try_load_record(ModuleRecord::from_bytes(bytes).unwrap())
        .unwrap();
    let a = model
        .forward(inputs(16, reference))
        .into_data()
        .try_to_vec()
        .unwrap();
    let b = copy
        .forward(inputs(16, other))
        .into_data()
        .try_to_vec()
        .unwrap();
    (a, b)
}

fn max_difference(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[test]
fn flex_and_ndarray_agree() {
    let (ndarray, flex) = logits_on(
        &Backend::Ndarray.device().unwrap(),
        &Backend::Flex.device().unwrap(),
    );
    assert!(max_difference(&ndarray, &flex) < 1e-5);
}

#[test]
fn wgpu_forward_matches_ndarray() {
    let wgpu = match Backend::Wgpu.device() {
        Ok(device) => device,
        Err(error) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true needs a Vulkan adapter (mesa-vulkan-drivers): {error}")
        }
        Err(error) => {
            eprintln!("skipping the wgpu check: {error}");
            return;
        }
    };
    let (ndarray, gpu) = logits_on(&Backend::Ndarray.device().unwrap(), &wgpu);
    // Float sums in another order: logits of size ~1 agree to about 1e-6.
    let difference = max_difference(&ndarray, &gpu);
    assert!(difference < 1e-4, "wgpu and ndarray differ by {difference}");
}
