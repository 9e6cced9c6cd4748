//! The distortions of [`crate::augment`] drawn and applied on the device, so
//! that a GPU's distorted batches do not wait on the host's CPU.
//!
//! The host draws what is per image and costs nothing: [`Distortion::draw_keyed`]
//! gives the same affine map as the CPU's [`Distortion::draw`] for the same
//! `(seed, epoch, image index)`, and a 64-bit key for the elastic field
//! (drawn on the CPU from a few random numbers and a low-rank factor of the
//! blur, [`crate::elastic`]). A batch uploads
//! these, `B x 8` numbers, beside its item indices; the device does the rest.
//! On wgpu the noise and the sampling are CubeCL kernels of their own
//! ([`cube_warp`], fed one `[B, 2]` keys and one `[B, 6]` maps tensor); on
//! the CPU backends, where the tests check them, they are tensor programs:
//!
//! - **Noise.** An image's two uniform fields (`dx`, `dy`, 784 values each)
//!   are read from a table of 2^20 values uniform in [-1, 1), drawn once per
//!   run from its seed and uploaded once (4 MiB), at positions
//!   `(o + p s) mod 2^20` for `p` in 0..1568, where the offset `o` and the
//!   odd stride `s` come from the image's key. An odd stride visits 1,568
//!   distinct entries, and two images share an entry only by chance, so the
//!   noise is uniform and independent between pixels and images, though
//!   not the CPU's numbers (the "the same distribution", checked in
//!   the tests below).
//! - **Smoothing.** `alpha * G F G` with the CPU's blur matrix `G`, as
//!   Simard wrote it: two batched matrix products, cheap on a GPU.
//! - **Sampling.** The CPU's affine map plus the field gives each output
//!   pixel's source point, read by bilinear interpolation from the image in a
//!   border of paper, as [`crate::augment::Warp::apply`] does (the tensor
//!   programs: four gathers).
//!
//! The tensor programs take what differs per image as one `[B, 1]` tensor
//! per number, and the elastic scale is folded into the blur.
//!
//! Every product stays below 2^31 (`p s < 1568 x 2^20`), so the integer
//! arithmetic is exact on every backend's integers.

use burn::backend::DispatchDevice;
use burn::tensor::ops::PadMode;
use burn::tensor::{Device, Int, Tensor, TensorData};
use rand::rngs::SmallRng;
use rand::{RngCore, SeedableRng};

use crate::augment::{BORDER, CENTRE, Distortion, KeyedWarp, PADDED, mix};
use crate::elastic::{blur_matrix, signed_unit};
use crate::mnist::{IMAGE_PIXELS, IMAGE_SIDE};
use cube_warp::MAP_NUMBERS;

/// Bits of a position in the noise table.
const TABLE_BITS: u32 = 20;
/// Values in the noise table.
const TABLE: usize = 1 << TABLE_BITS;
/// A position's bits, for `mod TABLE`.
const TABLE_MASK: i32 = (TABLE - 1) as i32;

/// A run's distortion on one device: what every batch shares, uploaded once.
#[derive(Clone, Debug)]
pub(crate) struct DeviceDistortion {
    distortion: Distortion,
    seed: u64,
    /// `[1, 784]` each: every output pixel's x and y (0 to 27).
    x: Tensor<2>,
    y: Tensor<2>,
    /// With an elastic field: the noise table `[2^20]`; `alpha G` and the
    /// blur matrix `G`, each `[1, 28, 28]`; and `[1, 1568]`: 0 to 1567, each
    /// noise value's place in an image's two fields.
    elastic: Option<(Tensor<1>, [Tensor<3>; 2], Tensor<2, Int>)>,
}

impl DeviceDistortion {
    /// `distortion` as a run seeded `seed` draws it, on `device`.
    pub(crate) fn new(distortion: Distortion, seed: u64, device: &Device) -> Self {
        let grid = |coordinate: fn(usize) -> usize| {
            let values: Vec<f32> = (0..IMAGE_PIXELS).map(|p| coordinate(p) as f32).collect();
            Tensor::<2>::from_data(TensorData::new(values, [1, IMAGE_PIXELS]), device)
        };
        let elastic = distortion.is_elastic().then(|| {
            let mut rng = SmallRng::seed_from_u64(mix(seed, 0, u64::MAX));
            let table: Vec<f32> = (0..TABLE).map(|_| signed_unit(rng.next_u32())).collect();
            let positions: Vec<i32> = (0..2 * IMAGE_PIXELS as i32).collect();
            (
                Tensor::<1>::from_data(TensorData::new(table, [TABLE]), device),
                [distortion.elastic_alpha, 1.0].map(|scale| {
                    let blur = blur_matrix(distortion.elastic_sigma);
                    let scaled = blur.iter().map(|weight| weight * scale).collect();
                    Tensor::<3>::from_data(
                        TensorData::new(scaled, [1, IMAGE_SIDE, IMAGE_SIDE]),
                        device,
                    )
                }),
                Tensor::<2, Int>::from_data(
                    TensorData::new(positions, [1, 2 * IMAGE_PIXELS]),
                    device,
                ),
            )
        });
        Self {
            distortion,
            seed,
            x: grid(|p| p % IMAGE_SIDE),
            y: grid(|p| p / IMAGE_SIDE),
            elastic,
        }
    }

    /// `images` (`[B, 784]`, pixel values in [0, 255]) of the items `indices`
    /// (their indices in the split, one per row), warped as drawn for
    /// `epoch`: `[B, 784]` in [0, 255], on the images' device.
    ///
    /// # Panics
    /// If `indices` does not hold one index per image.
    pub(crate) fn apply(&self, images: Tensor<2>, epoch: usize, indices: &[usize]) -> Tensor<2> {
        let [batch, _] = images.dims();
        assert_eq!(indices.len(), batch, "one index per image");
        let device = images.device();
        let draws: Vec<KeyedWarp> = indices
            .iter()
            .map(|&index| self.distortion.draw_keyed(self.seed, epoch, index))
            .collect();
        let fields = self.fields(&draws, &device); // [B, 1568]
        if is_cube(&device) {
            let maps: Vec<f32> = draws
                .iter()
                .flat_map(|draw| {
                    [draw.shift[0], draw.shift[1]]
                        .into_iter()
                        .chain(draw.inverse)
                })
                .collect();
            let maps = Tensor::<2>::from_data(TensorData::new(maps, [batch, MAP_NUMBERS]), &device);
            return cube_warp::warp(images, maps, fields);
        }
        // One [B, 1] tensor per number of the map.
        let column = |number: fn(&KeyedWarp) -> f32| {
            let values: Vec<f32> = draws.iter().map(number).collect();
            Tensor::<2>::from_data(TensorData::new(values, [batch, 1]), &device)
        };
        // Where each pixel reads, as on the CPU, for every image at once.
        let u = self.x.clone() - column(|d| d.shift[0]) - CENTRE; // [B, 784]
        let v = self.y.clone() - column(|d| d.shift[1]) - CENTRE;
        let mut sx =
            column(|d| d.inverse[0]) * u.clone() + column(|d| d.inverse[1]) * v.clone() + CENTRE;
        let mut sy = column(|d| d.inverse[2]) * u + column(|d| d.inverse[3]) * v + CENTRE;
        if let Some(fields) = fields {
            sx = sx + fields.clone().narrow(1, 0, IMAGE_PIXELS);
            sy = sy + fields.narrow(1, IMAGE_PIXELS, IMAGE_PIXELS);
        }
        bilinear(images, sx, sy)
    }

    /// The elastic displacements of `draws`, `[B, 1568]`: each image's `dx`
    /// then `dy` (784 each, in pixels), or `None` without an elastic
    /// distortion.
    fn fields(&self, draws: &[KeyedWarp], device: &Device) -> Option<Tensor<2>> {
        let (table, [scaled_blur, blur], positions) = self.elastic.as_ref()?;
        let batch = draws.len();
        // Per image: the offset `o` and the odd stride `s` (low and high
        // half of the key, 20 bits each).
        let offset = |key: u64| key as i32 & TABLE_MASK;
        let stride = |key: u64| (key >> 32) as i32 & TABLE_MASK | 1;
        let noise = if is_cube(device) {
            let keys: Vec<i32> = draws
                .iter()
                .flat_map(|draw| [offset(draw.field_key), stride(draw.field_key)])
                .collect();
            let keys = Tensor::<2, Int>::from_data(TensorData::new(keys, [batch, 2]), device);
            cube_warp::noise(table.clone(), keys)
        } else {
            let column = |number: &dyn Fn(u64) -> i32| {
                let values: Vec<i32> = draws.iter().map(|draw| number(draw.field_key)).collect();
                Tensor::<2, Int>::from_data(TensorData::new(values, [batch, 1]), device)
            };
            let at = (positions.clone() * column(&stride) + column(&offset))
                .bitwise_and_scalar(TABLE_MASK); // [B, 1568]
            table
                .clone()
                .select(0, at.reshape([batch * 2 * IMAGE_PIXELS]))
                .reshape([batch * 2, IMAGE_SIDE, IMAGE_SIDE])
        };
        let smoothed = scaled_blur.clone().matmul(noise).matmul(blur.clone()); // alpha G F G
        Some(smoothed.reshape([batch, 2 * IMAGE_PIXELS]))
    }
}

/// Whether `device` is a CubeCL one (wgpu), where the warp is one kernel.
fn is_cube(device: &Device) -> bool {
    matches!(
        device.as_dispatch().clone().inner(),
        DispatchDevice::Cube(_)
    )
}

/// `images` (`[B, 784]`) read at the points `(sx, sy)` (`[B, 784]` each, in
/// image coordinates) by bilinear interpolation, paper (0) outside the
/// frame: [`crate::augment::Warp::apply`]'s reading, for a whole batch.
fn bilinear(images: Tensor<2>, sx: Tensor<2>, sy: Tensor<2>) -> Tensor<2> {
    let [batch, _] = images.dims();
    let padded = images
        .reshape([batch, IMAGE_SIDE, IMAGE_SIDE])
        .pad(
            [(0, 0), (BORDER, BORDER), (BORDER, BORDER)],
            PadMode::Constant(0.0),
        )
        .reshape([batch, PADDED * PADDED]);
    let limit = (PADDED - 2) as f32;
    let x = (sx + BORDER as f32).clamp(0.0, limit);
    let y = (sy + BORDER as f32).clamp(0.0, limit);
    let (x0, y0) = (x.clone().floor(), y.clone().floor());
    let (fx, fy) = (x - x0.clone(), y - y0.clone());
    let at = (y0 * PADDED as f32 + x0).int();
    let read = |offset: usize| padded.clone().gather(1, at.clone() + offset as i32);
    let (top_left, top_right) = (read(0), read(1));
    let (bottom_left, bottom_right) = (read(PADDED), read(PADDED + 1));
    let top = top_left.clone() + (top_right - top_left) * fx.clone();
    let bottom = bottom_left.clone() + (bottom_right - bottom_left) * fx;
    top.clone() + (bottom - top) * fy
}

mod cube_warp;
#[cfg(test)]
mod tests;
