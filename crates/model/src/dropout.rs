//! Dropout masks from a counter-based generator, for the fused network on
//! flex and on the GPU: each keep factor is a hash of (run seed, training
//! step, layer, element), so a mask costs one pass and no generator state.
//!
//! Burn's `Dropout` draws its mask with `Tensor::random` from the backend's
//! one generator: on the CPU a ChaCha stream read one Bernoulli draw at a
//! time, then a multiplication by the mask and another by `1 / (1 - p)`. It
//! also means a resumed run draws other masks than the uninterrupted one did
//! (the generator's state is not in the checkpoint). Here step `s` of a run
//! seeded `seed` draws the same masks whatever happened before it, and on
//! every backend: the training loop starts the count at the resumed step.
//! Flex computes the hash in a vectorised host loop, wgpu in one CubeCL
//! kernel a layer on the device ([`DropoutStream::next_masks_on`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use burn::tensor::{Device, Tensor, TensorData};
use multiversion::multiversion;

use crate::fused;
use crate::fused::cube_dropout::KeepDraw;

/// Where a network's training steps draw their dropout masks: the run's
/// seed and the number of the next step, shared by the network's clones.
#[derive(Clone, Debug)]
pub struct DropoutStream {
    seed: u64,
    next_step: Arc<AtomicU64>,
}

impl DropoutStream {
    /// The stream of a run seeded `seed` whose next training step is
    /// `first_step` (0-based: the number of steps already trained).
    pub fn new(seed: u64, first_step: u64) -> Self {
        Self {
            seed,
            next_step: Arc::new(AtomicU64::new(first_step)),
        }
    }

    /// The keep factors of every hidden layer for the next training step,
    /// one `Vec` of `rows * units` per layer (row-major `[rows, units]`):
    /// 0 with probability `p`, else `1 / (1 - p)`.
    pub fn next_masks(&self, p: f64, rows: usize, units: &[usize]) -> Vec<Vec<f32>> {
        let step = self.next_step.fetch_add(1, Ordering::Relaxed);
        units
            .iter()
            .enumerate()
            .map(|(layer, &units)| keep_factors(self.seed, step, layer, p, rows * units))
            .collect()
    }

    /// [`next_masks`](Self::next_masks) as tensors `[rows, units[l]]` on
    /// `device`: drawn on the host and uploaded on flex, computed on the
    /// device by one kernel a layer on a CubeCL device (wgpu), with the same
    /// values to the bit.
    ///
    /// # Panics
    /// As [`keep_factors`], and on a device that is neither (ndarray).
    pub fn next_masks_on(
        &self,
        p: f64,
        rows: usize,
        units: &[usize],
        device: &Device,
    ) -> Vec<Tensor<2>> {
        if *device == Device::flex() {
            return self
                .next_masks(p, rows, units)
                .into_iter()
                .zip(units)
                .map(|(keep, &units)| {
                    Tensor::from_data(TensorData::new(keep, [rows, units]), device)
                })
                .collect();
        }
        let step = self.next_step.fetch_add(1, Ordering::Relaxed);
        units
            .iter()
            .enumerate()
            .map(|(layer, &units)| {
                let draw = draw(self.seed, step, layer, p, rows * units);
                fused::cube_dropout::keep_factors(draw, rows, units, device)
            })
            .collect()
    }
}

/// `count` keep factors of `layer` at `step` of a run seeded `seed`: 0 with
/// probability `p` (to 2^-32), else `1 / (1 - p)`.
///
/// # Panics
/// If `p` is not in [0, 1), or `count` is 2^32 or more (each element's
/// counter is 32 bits).
pub fn keep_factors(seed: u64, step: u64, layer: usize, p: f64, count: usize) -> Vec<f32> {
    let KeepDraw {
        key,
        threshold,
        keep,
    } = draw(seed, step, layer, p, count);
    let mut out = vec![0.0f32; count];
    fill(key, threshold, keep, &mut out);
    out
}

/// What `count` keep factors of `layer` at `step` of a run seeded `seed`
/// are drawn from, on either device.
///
/// # Panics
/// As [`keep_factors`].
fn draw(seed: u64, step: u64, layer: usize, p: f64, count: usize) -> KeepDraw {
    assert!((0.0..1.0).contains(&p), "a dropout rate in [0, 1), got {p}");
    assert!(u32::try_from(count).is_ok(), "{count} elements in one mask");
    let key = data::augment::mix(seed, step, layer as u64);
    KeepDraw {
        key: [key as u32, (key >> 32) as u32],
        threshold: (p * 4_294_967_296.0).round().min(f64::from(u32::MAX)) as u32,
        keep: (1.0 / (1.0 - p)) as f32,
    }
}

/// `out[i]` = `keep` if the hash of `i` under `key` is at least
/// `threshold`, else 0. Compiled for AVX-512 and AVX2 too, chosen at run
/// time: eight or sixteen elements per instruction.
#[multiversion(targets("x86_64+avx512f+avx512bw+avx512dq+avx512vl", "x86_64+avx2+fma",))]
fn fill(key: [u32; 2], threshold: u32, keep: f32, out: &mut [f32]) {
    for (i, out) in out.iter_mut().enumerate() {
        let hash = finalize(finalize(i as u32 ^ key[0]) ^ key[1]);
        *out = if hash >= threshold { keep } else { 0.0 };
    }
}

/// MurmurHash3's 32-bit finaliser: a bijection whose every output bit
/// depends on every input bit.
#[inline]
fn finalize(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A run's masks depend on (seed, step, layer) only: the same in a
    /// stream started at that step, different at another step, layer or
    /// seed.
    #[test]
    fn the_same_step_draws_the_same_masks_wherever_the_stream_started() {
        let whole = DropoutStream::new(7, 0);
        let masks: Vec<Vec<Vec<f32>>> = (0..4)
            .map(|_| whole.next_masks(0.3, 5, &[64, 32]))
            .collect();
        let resumed = DropoutStream::new(7, 2);
        assert_eq!(resumed.next_masks(0.3, 5, &[64, 32]), masks[2]);
        assert_eq!(resumed.next_masks(0.3, 5, &[64, 32]), masks[3]);
        assert_ne!(masks[0], masks[1], "another step");
        assert_ne!(&masks[0][0][..160], &masks[0][1][..], "another layer");
        assert_ne!(
            DropoutStream::new(8, 0).next_masks(0.3, 5, &[64, 32]),
            masks[0],
            "another seed"
        );
        // A clone (Burn's Learner clones the network) continues the count.
        let clone = whole.clone();
        assert_eq!(
            clone.next_masks(0.3, 5, &[64, 32]),
            DropoutStream::new(7, 4).next_masks(0.3, 5, &[64, 32])
        );
    }

    /// The factors are 0 or exactly `1 / (1 - p)`; the dropped share over a
    /// million elements is `p` within 0.003 (the binomial's standard
    /// deviation is 0.0005 at most); and neighbouring elements, layers and
    /// steps are uncorrelated (a drop beside a drop as often as anywhere,
    /// within 0.005).
    #[test]
    fn masks_drop_the_share_asked_for_independently() {
        for p in [0.0, 0.2, 0.5, 0.9] {
            let keep = (1.0 / (1.0 - p)) as f32;
            let count = 1 << 20;
            let masks: Vec<Vec<f32>> = (0..2)
                .flat_map(|step| (0..2).map(move |layer| keep_factors(3, step, layer, p, count)))
                .collect();
            for mask in &masks {
                assert!(mask.iter().all(|&v| v == 0.0 || v == keep));
                let dropped = mask.iter().filter(|&&v| v == 0.0).count() as f64 / count as f64;
                assert!((dropped - p).abs() < 0.003, "p {p}: dropped {dropped}");
                let both = mask
                    .windows(2)
                    .filter(|w| w[0] == 0.0 && w[1] == 0.0)
                    .count() as f64
                    / (count - 1) as f64;
                assert!(
                    (both - p * p).abs() < 0.005,
                    "p {p}: neighbours both dropped {both}"
                );
            }
            // Across steps and layers: element i dropped in both as often as p^2.
            for (a, b) in [(0, 1), (0, 2), (1, 3)] {
                let both = masks[a]
                    .iter()
                    .zip(&masks[b])
                    .filter(|(x, y)| **x == 0.0 && **y == 0.0)
                    .count() as f64
                    / count as f64;
                assert!(
                    (both - p * p).abs() < 0.005,
                    "p {p}: masks {a} and {b} drop together {both}"
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "a dropout rate in [0, 1), got 1")]
    fn a_rate_of_one_is_refused() {
        keep_factors(0, 0, 0, 1.0, 4);
    }
}
