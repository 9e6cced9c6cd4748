//! Training batches with distortions ([`crate::augment`]): a batcher that
//! warps each image as drawn for `(seed, epoch, image index)`, and the loader
//! wrapper that tells it which epoch is running.
//!
//! Burn's batcher sees items, not epochs. [`EpochCount`] wraps the shuffling
//! loader and counts its `iter` calls since its last move to a device, which
//! is exactly how Burn's loader counts the epochs it shuffles for; the
//! batcher reads that count. A resumed run's loader is advanced by as many
//! `iter` calls as finished epochs, so its count continues where the
//! interrupted run stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use burn::data::dataloader::batcher::Batcher;
use burn::data::dataloader::{DataLoader, DataLoaderIterator};
use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::augment::Distortion;
use crate::batcher::MnistBatch;
use crate::dataset::MnistItem;
use crate::mnist::IMAGE_PIXELS;

/// The epoch the loader is in (1-based; 0 before the first), shared by
/// [`EpochCount`] and [`DistortingBatcher`].
pub type Epoch = Arc<AtomicUsize>;

/// Batches of distorted images: `[B, 784]` normalised as `x / 255 - 0.5`, as
/// [`MnistBatcher`](crate::MnistBatcher) does, after each image is warped.
#[derive(Clone, Debug)]
pub struct DistortingBatcher {
    distortion: Distortion,
    seed: u64,
    epoch: Epoch,
}

impl DistortingBatcher {
    pub fn new(distortion: Distortion, seed: u64, epoch: Epoch) -> Self {
        Self {
            distortion,
            seed,
            epoch,
        }
    }
}

impl Batcher<MnistItem, MnistBatch> for DistortingBatcher {
    fn batch(&self, items: Vec<MnistItem>, device: &Device) -> MnistBatch {
        let epoch = self.epoch.load(Ordering::Acquire);
        let size = items.len();
        let mut pixels = vec![0.0f32; size * IMAGE_PIXELS];
        for (row, item) in pixels.chunks_exact_mut(IMAGE_PIXELS).zip(&items) {
            self.distortion
                .draw(self.seed, epoch, item.index())
                .apply(item.pixels(), row);
            for value in row.iter_mut() {
                *value = *value / 255.0 - 0.5;
            }
        }
        let labels: Vec<i64> = items.iter().map(|item| i64::from(item.label())).collect();
        MnistBatch {
            images: Tensor::from_data(TensorData::new(pixels, [size, IMAGE_PIXELS]), device),
            targets: Tensor::<1, Int>::from_data(TensorData::new(labels, [size]), device),
        }
    }
}

/// Counts the epochs of the loader it wraps into `epoch`.
pub struct EpochCount<O> {
    inner: Arc<dyn DataLoader<O>>,
    epoch: Epoch,
}

impl<O> EpochCount<O> {
    pub fn new(inner: Arc<dyn DataLoader<O>>, epoch: Epoch) -> Self {
        Self { inner, epoch }
    }
}

impl<O: Send + 'static> DataLoader<O> for EpochCount<O> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<O> + 'a> {
        self.epoch.fetch_add(1, Ordering::AcqRel);
        self.inner.iter()
    }

    fn num_items(&self) -> usize {
        self.inner.num_items()
    }

    /// Burn's loader starts its epochs afresh when moved: so does the count.
    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<O>> {
        self.epoch.store(0, Ordering::Release);
        Arc::new(Self::new(
            self.inner.to_device(device),
            Arc::clone(&self.epoch),
        ))
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<O>> {
        Arc::new(Self::new(
            self.inner.slice(start, end),
            Arc::clone(&self.epoch),
        ))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::{MnistBatcher, MnistDataset, MnistSplit};
    use burn::data::dataloader::DataLoaderBuilder;

    /// 40 images of a vertical bar at 8 places.
    pub(crate) fn split() -> Arc<MnistSplit> {
        let labels: Vec<u8> = (0..40).map(|i| (i % 10) as u8).collect();
        let images = (0..40 * IMAGE_PIXELS)
            .map(|p| {
                if (p % 28).abs_diff(10 + p / IMAGE_PIXELS % 8) < 2 {
                    255
                } else {
                    0
                }
            })
            .collect();
        Arc::new(MnistSplit::new(images, labels).unwrap())
    }

    fn loader(distortion: Distortion, seed: u64) -> Arc<dyn DataLoader<MnistBatch>> {
        let epoch = Epoch::default();
        let shuffled =
            DataLoaderBuilder::new(DistortingBatcher::new(distortion, seed, epoch.clone()))
                .batch_size(8)
                .shuffle(seed)
                .build(MnistDataset::new(split()));
        Arc::new(EpochCount::new(shuffled, epoch))
    }

    /// Each epoch's images, as a loader gives them after a move to the device.
    pub(crate) fn epochs(loader: &dyn DataLoader<MnistBatch>, count: usize) -> Vec<Vec<f32>> {
        let moved = loader.to_device(&Device::flex());
        (0..count)
            .map(|_| {
                moved
                    .iter()
                    .flat_map(|batch| {
                        batch
                            .unwrap()
                            .images
                            .into_data()
                            .try_to_vec::<f32>()
                            .unwrap()
                    })
                    .collect()
            })
            .collect()
    }

    fn elastic() -> Distortion {
        Distortion {
            rotation: 10.0,
            elastic_sigma: 4.0,
            elastic_alpha: 20.0,
            ..Distortion::default()
        }
    }

    #[test]
    fn the_same_seed_and_epoch_give_the_same_distorted_batches() {
        let first = epochs(loader(elastic(), 3).as_ref(), 3);
        assert!(
            first == epochs(loader(elastic(), 3).as_ref(), 3),
            "the same seed, the same batches"
        );
        assert!(first[0] != first[1], "every epoch is distorted anew");
        assert!(
            first != epochs(loader(elastic(), 4).as_ref(), 3),
            "another seed"
        );
    }

    /// No distortion gives exactly the plain batcher's batches.
    #[test]
    fn no_distortion_is_the_plain_batcher() {
        let plain = DataLoaderBuilder::new(MnistBatcher)
            .batch_size(8)
            .shuffle(3)
            .build(MnistDataset::new(split()));
        let distorted = epochs(loader(Distortion::default(), 3).as_ref(), 2);
        assert!(
            distorted == epochs(plain.as_ref(), 2),
            "not the plain batches"
        );
    }
}
