//! Batches for data that lives on the device: a split's images (normalised)
//! and labels are uploaded once, and each batch is gathered there from the
//! indices of its items.
//!
//! For the GPU: [`MnistBatcher`](crate::MnistBatcher) normalises every batch on
//! the host and copies its 100 KB (`[32, 784]` floats) to the device, once per
//! training step; here a step uploads only its item indices (`B` integers)
//! and the device selects the rows and unpacks and normalises their pixels. The items still come from Burn's
//! shuffling loader, so the order of the batches is the same as on the CPU
//! for the same seed, and a resumed run sees the batches it would have.

use std::sync::{Arc, Mutex};

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::batcher::MnistBatch;
use crate::dataset::MnistItem;
use crate::mnist::{IMAGE_PIXELS, MnistSplit};

/// Builds [`MnistBatch`]es by gathering rows of the whole split on the device.
/// The split is uploaded on the first batch, to the device that batch asks
/// for, and again only if a later batch asks for another device.
#[derive(Clone)]
pub struct ResidentBatcher {
    split: Arc<MnistSplit>,
    uploaded: Arc<Mutex<Option<Resident>>>,
}

/// A split on one device.
#[derive(Clone)]
struct Resident {
    device: Device,
    /// `[N, 196]`: each image's 784 pixels packed four to an integer, pixel
    /// `4w + k` in bits `8k..8k+8` of word `w`. As floats MNIST's 60,000
    /// training images are 188 MB, over wgpu's default limit of 128 MiB on
    /// one storage buffer (lavapipe refused it); packed they are 47 MB, and a
    /// batch is one gather and one element-wise pass.
    words: Tensor<2, Int>,
    /// `[N]`.
    labels: Tensor<1, Int>,
}

/// Pixels per packed word.
const PACKED: usize = 4;

impl ResidentBatcher {
    /// Batches of `split`'s items; `split` must be the one the items index.
    pub fn new(split: Arc<MnistSplit>) -> Self {
        Self {
            split,
            uploaded: Arc::new(Mutex::new(None)),
        }
    }

    /// The split on `device`, uploaded if it is not there yet.
    fn resident(&self, device: &Device) -> Resident {
        let mut uploaded = self.uploaded.lock().expect("resident split lock");
        match uploaded.as_ref() {
            Some(resident) if resident.device == *device => resident.clone(),
            _ => {
                let labels: Vec<i64> = self.split.labels().iter().map(|&l| i64::from(l)).collect();
                let count = labels.len();
                let words: Vec<i32> = self
                    .split
                    .images()
                    .chunks_exact(PACKED)
                    .map(|four| i32::from_le_bytes([four[0], four[1], four[2], four[3]]))
                    .collect();
                let resident = Resident {
                    device: device.clone(),
                    words: Tensor::from_data(
                        TensorData::new(words, [count, IMAGE_PIXELS / PACKED]),
                        device,
                    ),
                    labels: Tensor::from_data(TensorData::new(labels, [count]), device),
                };
                *uploaded = Some(resident.clone());
                resident
            }
        }
    }
}

/// The images `indices` (`[B]`) of the packed `words`, unpacked and
/// normalised as [`crate::normalize`] does: `[B, 784]` in [-0.5, 0.5].
fn gather(words: &Tensor<2, Int>, indices: &Tensor<1, Int>) -> Tensor<2> {
    let [batch] = indices.dims();
    let device = words.device();
    let rows = words.clone().select(0, indices.clone()); // [B, 196]
    let shifts =
        Tensor::<1, Int>::from_data(TensorData::new(vec![0i32, 8, 16, 24], [PACKED]), &device)
            .reshape([1, 1, PACKED]);
    let bytes = rows
        .unsqueeze_dim::<3>(2)
        .expand([batch, IMAGE_PIXELS / PACKED, PACKED])
        .bitwise_right_shift(shifts.expand([batch, IMAGE_PIXELS / PACKED, PACKED]))
        .bitwise_and_scalar(255)
        .reshape([batch, IMAGE_PIXELS]);
    bytes.float() / 255.0 - 0.5
}

impl std::fmt::Debug for ResidentBatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResidentBatcher")
            .field("images", &self.split.len())
            .finish_non_exhaustive()
    }
}

impl Batcher<MnistItem, MnistBatch> for ResidentBatcher {
    fn batch(&self, items: Vec<MnistItem>, device: &Device) -> MnistBatch {
        let resident = self.resident(device);
        let indices: Vec<i64> = items.iter().map(|item| item.index() as i64).collect();
        let size = indices.len();
        let indices = Tensor::<1, Int>::from_data(TensorData::new(indices, [size]), device);
        MnistBatch {
            images: gather(&resident.words, &indices),
            targets: resident.labels.select(0, indices),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MnistBatcher, MnistDataset};
    use burn::data::dataset::Dataset;

    /// The same batch as the host batcher builds, for any items in any order.
    #[test]
    fn gathers_the_rows_the_host_batcher_builds() {
        let images: Vec<u8> = (0..5 * 784).map(|i| (i * 7 % 256) as u8).collect();
        let split = Arc::new(MnistSplit::new(images, vec![3, 1, 4, 1, 5]).unwrap());
        let dataset = MnistDataset::new(Arc::clone(&split));
        let items = |order: &[usize]| -> Vec<MnistItem> {
            order.iter().map(|&i| dataset.get(i).unwrap()).collect()
        };
        let device = Device::flex();
        let resident = ResidentBatcher::new(split);
        for order in [vec![4, 0, 2], vec![1], vec![3, 3, 0, 1, 2, 4]] {
            let ours = resident.batch(items(&order), &device);
            let host = MnistBatcher.batch(items(&order), &device);
            assert_eq!(ours.images.into_data(), host.images.into_data());
            assert_eq!(
                ours.targets.into_data().convert::<i64>(),
                host.targets.into_data().convert::<i64>()
            );
        }
    }
}
