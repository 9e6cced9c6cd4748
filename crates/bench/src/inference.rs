//! How fast a trained network (or a committee) answers: the whole test set
//! in one batch, and a single image, each from `u8` pixels in memory to
//! probabilities on the host.

use std::sync::Arc;

use anyhow::Context;
use burn::data::dataloader::batcher::Batcher;
use burn::data::dataset::Dataset;
use burn::tensor::Device;
use data::{MnistBatcher, MnistDataset, MnistItem, MnistSplit};
use model::Classifier;
use serde::Serialize;

use crate::timing::median_seconds;

/// Median wall times, in seconds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InferenceTimes {
    /// Images in the whole-split batch.
    pub images: usize,
    /// All of them at once: normalise, upload, forward, softmax, read back.
    pub all_seconds: f64,
    /// The first image alone, the same way.
    pub single_seconds: f64,
}

/// Times `model` on every image of `split` (`reps` runs) and on one image
/// (`reps * 100` runs).
pub fn time_inference(
    model: &impl Classifier,
    split: Arc<MnistSplit>,
    reps: usize,
    device: &Device,
) -> anyhow::Result<InferenceTimes> {
    let dataset = MnistDataset::new(split);
    // Items are cheap handles into the split, so fetching one cannot fail.
    let items: Vec<MnistItem> = dataset.iter().flatten().collect();
    let batcher = MnistBatcher;
    let answer = |items: &[MnistItem]| {
        let batch = batcher.batch(items.to_vec(), device);
        model
            .class_probabilities(batch.images)
            .try_into_data()
            .map(drop)
            .context("cannot read the probabilities back from the device")
    };
    let all_seconds = median_seconds(reps, || answer(&items))?;
    let single_seconds = median_seconds(reps * 100, || answer(&items[..1]))?;
    Ok(InferenceTimes {
        images: items.len(),
        all_seconds,
        single_seconds,
    })
}
