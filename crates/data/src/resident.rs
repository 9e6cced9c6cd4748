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
//!
//! With a distortion ([`ResidentBatcher::distorting`]) each image is warped on
//! the device too ([`crate::device_augment`]), as drawn for (seed, epoch,
//! image index); the epoch comes from an [`EpochCount`](crate::EpochCount)
//! around the loader, as for the host's
//! [`DistortingBatcher`](crate::DistortingBatcher).

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use burn::data::dataloader::batcher::Batcher;
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::augment::Distortion;
use crate::batcher::MnistBatch;
use crate::dataset::MnistItem;
use crate::device_augment::DeviceDistortion;
use crate::distorted::Epoch;
use crate::mnist::{IMAGE_PIXELS, MnistSplit};

/// Builds [`MnistBatch`]es by gathering rows of the whole split on the device.
/// The split is uploaded on the first batch, to the device that batch asks
/// for, and again only if a later batch asks for another device.
#[derive(Clone)]
pub struct ResidentBatcher {
    split: Arc<MnistSplit>,
    uploaded: Arc<Mutex<Option<Resident>>>,
    /// The distortion, the run's seed and the running epoch, if any.
    distorting: Option<(Distortion, u64, Epoch)>,
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
    distortion: Option<DeviceDistortion>,
}

/// Pixels per packed word.
const PACKED: usize = 4;

impl ResidentBatcher {
    /// Batches of `split`'s items; `split` must be the one the items index.
    pub fn new(split: Arc<MnistSplit>) -> Self {
        Self {
            split,
            uploaded: Arc::new(Mutex::new(None)),
            distorting: None,
        }
    }

    /// Batches of `split`'s items, each image distorted as a run seeded
    /// `seed` draws it in the epoch `epoch` holds (1-based). A distortion
    /// that is the identity gives [`Self::new`]'s batches.
    pub fn distorting(
        split: Arc<MnistSplit>,
        distortion: Distortion,
        seed: u64,
        epoch: Epoch,
    ) -> Self {
        Self {
            distorting: (!distortion.is_identity()).then_some((distortion, seed, epoch)),
            ..Self::new(split)
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
                    distortion: self.distorting.as_ref().map(|(distortion, seed, _)| {
                        DeviceDistortion::new(*distortion, *seed, device)
                    }),
                };
                *uploaded = Some(resident.clone());
                resident
            }
        }
    }
}

/// The images `indices` (`[B]`) of the packed `words`, unpacked: `[B, 784]`
/// pixel values in [0, 255].
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
    bytes.float()
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
        let indices: Vec<usize> = items.iter().map(MnistItem::index).collect();
        let rows = Tensor::<1, Int>::from_data(
            TensorData::new(
                indices.iter().map(|&index| index as i64).collect(),
                [indices.len()],
            ),
            device,
        );
        let mut images = gather(&resident.words, &rows);
        if let (Some(distortion), Some((_, _, epoch))) = (&resident.distortion, &self.distorting) {
            images = distortion.apply(images, epoch.load(Ordering::Acquire), &indices);
        }
        // As `crate::normalize`: [-0.5, 0.5].
        MnistBatch {
            images: images / 255.0 - 0.5,
            targets: resident.labels.select(0, rows),
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

    /// Through the loaders training uses: distorted on the device as on the
    /// host (affine only: the elastic noise is the same distribution, not
    /// the same numbers; see `device_augment`'s tests), epoch by epoch, and
    /// the identity gives the plain resident batches.
    #[test]
    fn distorts_each_epoch_as_the_host_batcher_does() {
        use crate::distorted::tests::{epochs, split};
        use crate::{DistortingBatcher, Epoch, EpochCount};
        use burn::data::dataloader::{DataLoader, DataLoaderBuilder};

        let two_epochs = |on_device: bool, distortion: Distortion| -> Vec<Vec<f32>> {
            let epoch = Epoch::default();
            let dataset = MnistDataset::new(split());
            let shuffled = if on_device {
                let batcher = ResidentBatcher::distorting(split(), distortion, 3, epoch.clone());
                DataLoaderBuilder::new(batcher)
                    .batch_size(8)
                    .shuffle(3)
                    .build(dataset)
            } else {
                let batcher = DistortingBatcher::new(distortion, 3, epoch.clone());
                DataLoaderBuilder::new(batcher)
                    .batch_size(8)
                    .shuffle(3)
                    .build(dataset)
            };
            let counted: Arc<dyn DataLoader<MnistBatch>> =
                Arc::new(EpochCount::new(shuffled, epoch));
            epochs(counted.as_ref(), 2)
        };
        let affine = Distortion {
            rotation: 12.0,
            shear: 10.0,
            translation: 2.0,
            ..Distortion::default()
        };
        let (ours, host) = (two_epochs(true, affine), two_epochs(false, affine));
        assert_ne!(ours[0], ours[1], "every epoch distorted anew");
        for (ours, host) in ours.iter().zip(&host) {
            let largest = ours
                .iter()
                .zip(host)
                .fold(0.0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(largest < 1e-3, "{largest} from the host's batches");
        }
        assert_eq!(
            two_epochs(true, Distortion::default()),
            two_epochs(false, Distortion::default())
        );
    }
}
