//! The f32 matrix-multiply throughput a backend reaches: the ceiling any
//! training step built from matmuls can approach on that backend.

use anyhow::Context;
use burn::tensor::{Device, Distribution, Tensor};

use crate::timing::median_seconds;

/// Median GFLOP/s (10^9 floating-point operations per second, counting a
/// multiply-add as two) of `[size, size] x [size, size]` products on `device`,
/// over `reps` runs after one warm-up.
pub fn matmul_gflops(size: usize, reps: usize, device: &Device) -> anyhow::Result<f64> {
    let a = Tensor::<2>::random([size, size], Distribution::Uniform(-1.0, 1.0), device);
    let b = Tensor::<2>::random([size, size], Distribution::Uniform(-1.0, 1.0), device);
    let seconds = median_seconds(reps, || {
        let product = a.clone().matmul(b.clone());
        device.sync()?;
        drop(product);
        Ok::<_, burn::tensor::ExecutionError>(())
    })
    .context("the device failed during the matmul")?;
    Ok(2.0 * (size as f64).powi(3) / seconds / 1e9)
}
