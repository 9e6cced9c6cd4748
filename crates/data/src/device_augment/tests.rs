//! The device's distortions against the CPU's ([`crate::augment`]): the
//! identity at zero strength, the CPU's affine map, the same draws for the
//! same seed, and elastic fields and distorted digits with the CPU's
//! statistics. The tensor programs run on flex here; `on_wgpu` holds the
//! GPU's (Mesa's lavapipe without one) to them: the same noise and
//! smoothing programs, and the warp as one kernel.

use super::*;
use crate::augment::tests::ring;
use crate::elastic::tests::assert_same_field_statistics;

/// `count` copies of `image` as a `[count, 784]` batch of values in [0, 255].
fn batch(image: &[u8], count: usize, device: &Device) -> Tensor<2> {
    let values: Vec<f32> = (0..count)
        .flat_map(|_| image.iter().map(|&p| f32::from(p)))
        .collect();
    Tensor::from_data(TensorData::new(values, [count, IMAGE_PIXELS]), device)
}

fn rows(tensor: Tensor<2>) -> Vec<Vec<f32>> {
    let [_, width] = tensor.dims();
    let values = tensor.into_data().try_to_vec::<f32>().unwrap();
    values.chunks_exact(width).map(<[f32]>::to_vec).collect()
}

/// The largest difference between two images or fields, element by element.
fn largest_difference(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()))
}

/// The ranges of `augment`'s ink test (a larger scale or shift pushes this
/// ring's ink onto the frame's edge, on the CPU too).
fn affine() -> Distortion {
    Distortion {
        rotation: 15.0,
        scale: 0.1,
        shear: 15.0,
        translation: 2.0,
        ..Distortion::default()
    }
}

fn elastic() -> Distortion {
    Distortion {
        elastic_sigma: 4.0,
        elastic_alpha: 34.0,
        ..affine()
    }
}

#[test]
fn zero_strength_is_the_identity() {
    let device = Device::flex();
    let image = ring();
    let none = DeviceDistortion::new(Distortion::default(), 7, &device);
    let out = rows(none.apply(batch(&image, 3, &device), 2, &[0, 5, 9]));
    let expected: Vec<f32> = image.iter().map(|&p| f32::from(p)).collect();
    assert!(out.iter().all(|row| *row == expected));
}

/// Without an elastic field the device's warp is the CPU's, up to float
/// rounding (bilinear reading is continuous, so a point rounded across a
/// pixel boundary still reads nearly the same value).
#[test]
fn the_affine_map_is_the_cpus() {
    let device = Device::flex();
    let image = ring();
    let indices: Vec<usize> = (100..164).collect();
    let gpu = DeviceDistortion::new(affine(), 11, &device);
    let out = rows(gpu.apply(batch(&image, indices.len(), &device), 3, &indices));
    for (row, &index) in out.iter().zip(&indices) {
        let mut cpu = vec![0.0f32; IMAGE_PIXELS];
        affine().draw(11, 3, index).apply(&image, &mut cpu);
        let largest = largest_difference(row, &cpu);
        assert!(largest < 0.05, "image {index}: {largest} from the CPU's");
    }
}

#[test]
fn the_same_seed_epoch_and_image_draw_the_same_warp() {
    let device = Device::flex();
    let image = ring();
    let draw = |seed: u64, epoch: usize, index: usize| {
        let distortion = DeviceDistortion::new(elastic(), seed, &device);
        rows(distortion.apply(batch(&image, 1, &device), epoch, &[index])).remove(0)
    };
    let first = draw(1, 2, 3);
    assert_eq!(first, draw(1, 2, 3));
    assert_ne!(first, draw(1, 3, 3), "another epoch");
    assert_ne!(first, draw(1, 2, 4), "another image");
    assert_ne!(first, draw(2, 2, 3), "another seed");
    // In a batch an image gets the warp it gets alone.
    let distortion = DeviceDistortion::new(elastic(), 1, &device);
    let together = rows(distortion.apply(batch(&image, 3, &device), 2, &[9, 3, 4]));
    assert_eq!(together[1], first);
}

/// The displacement fields of `count` images, `[dx..., dy...]` per image:
/// the device's read back, or the CPU's.
fn device_fields(count: usize, device: &Device) -> Vec<Vec<f32>> {
    let distortion = DeviceDistortion::new(elastic(), 5, device);
    let draws: Vec<KeyedWarp> = (0..count)
        .map(|index| elastic().draw_keyed(5, 1, index))
        .collect();
    rows(distortion.fields(&draws, device).unwrap())
}

fn cpu_fields(count: usize) -> Vec<Vec<f32>> {
    (0..count)
        .map(|index| {
            let field = elastic().draw(5, 1, index).field.unwrap();
            field.dx.into_iter().chain(field.dy).collect()
        })
        .collect()
}

/// The elastic fields have the CPU's statistics (mean 0, the root mean
/// square at every place of the frame, neighbours' correlation), within the
/// tolerances `assert_same_field_statistics` justifies.
#[test]
fn elastic_fields_have_the_cpus_statistics() {
    let count = 2000;
    assert_same_field_statistics(&device_fields(count, &Device::flex()), &cpu_fields(count));
}

/// Distorted digits keep their ink in the frame, and the ink ratio over
/// 1,000 draws has the CPU's distribution: median, 10th and 90th percentiles
/// within 2% (their sampling error over 1,000 draws is under 1%). Strong
/// draws put a little ink on the frame's top or bottom row now and then (3
/// of these 1,000 on the CPU, none on the device when written): at most 1%.
#[test]
fn distorted_digits_have_the_cpus_ink() {
    let device = Device::flex();
    let image = ring();
    let ink: f32 = image.iter().map(|&p| f32::from(p)).sum();
    let count = 1000;
    let indices: Vec<usize> = (0..count).collect();
    let distortion = DeviceDistortion::new(elastic(), 9, &device);
    let gpu = rows(distortion.apply(batch(&image, count, &device), 4, &indices));
    let cpu: Vec<Vec<f32>> = indices
        .iter()
        .map(|&index| {
            let mut out = vec![0.0f32; IMAGE_PIXELS];
            elastic().draw(9, 4, index).apply(&image, &mut out);
            out
        })
        .collect();
    // Sorted ink ratios, and how many images put ink on the edge rows.
    let ink_of = |images: &[Vec<f32>]| -> (Vec<f32>, usize) {
        let mut edged = 0;
        let mut ratios: Vec<f32> = images
            .iter()
            .map(|out| {
                assert!(out.iter().all(|&v| (0.0..=255.0).contains(&v)));
                let border: f32 = (0..IMAGE_SIDE)
                    .map(|i| out[i] + out[IMAGE_PIXELS - 1 - i])
                    .sum();
                edged += usize::from(border >= 0.01 * ink);
                out.iter().sum::<f32>() / ink
            })
            .collect();
        ratios.sort_by(f32::total_cmp);
        (ratios, edged)
    };
    let ((gpu, gpu_edged), (cpu, cpu_edged)) = (ink_of(&gpu), ink_of(&cpu));
    assert!(
        gpu_edged <= count / 100 && cpu_edged <= count / 100,
        "images with ink on the edge: {gpu_edged} on the device, {cpu_edged} on the CPU"
    );
    for quantile in [100, 500, 900] {
        let (g, c) = (gpu[quantile], cpu[quantile]);
        assert!(
            (g / c - 1.0).abs() < 0.02,
            "ink ratio's {}th percentile: {g} on the device, {c} on the CPU",
            quantile / 10
        );
    }
}

/// The GPU (wgpu; Mesa's lavapipe on a machine without one) distorts as
/// flex does, within float rounding: its noise and warp kernels against
/// flex's tensor programs, the fields and the warped digits, with and
/// without an elastic field, and the identity exactly.
/// Skipped without a Vulkan adapter, except under `CI=true`, where that
/// fails.
#[test]
fn on_wgpu_as_on_flex() {
    let gpu = match Device::wgpu_options().init() {
        Ok(device) => device,
        Err(error) if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("CI=true needs a Vulkan adapter (mesa-vulkan-drivers): {error}")
        }
        Err(error) => {
            eprintln!("skipping the wgpu check: {error}");
            return;
        }
    };
    // The fields: the same noise, smoothed by products in another order.
    let (flex, wgpu) = (device_fields(64, &Device::flex()), device_fields(64, &gpu));
    for (index, (a, b)) in flex.iter().zip(&wgpu).enumerate() {
        let largest = largest_difference(a, b);
        assert!(
            largest < 1e-3,
            "field {index}: wgpu {largest} pixels from flex"
        );
    }
    let image = ring();
    let indices: Vec<usize> = (0..128).collect();
    for distortion in [elastic(), affine(), Distortion::default()] {
        let on = |device: &Device| {
            let distortion = DeviceDistortion::new(distortion, 3, device);
            rows(distortion.apply(batch(&image, indices.len(), device), 1, &indices))
        };
        let (flex, wgpu) = (on(&Device::flex()), on(&gpu));
        for (index, (a, b)) in flex.iter().zip(&wgpu).enumerate() {
            let largest = largest_difference(a, b);
            assert!(
                largest < 0.05,
                "{distortion:?}, image {index}: wgpu {largest} from flex"
            );
        }
        if distortion.is_identity() {
            let expected: Vec<f32> = image.iter().map(|&p| f32::from(p)).collect();
            assert!(wgpu.iter().all(|row| *row == expected));
        }
    }
}
