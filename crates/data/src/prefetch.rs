//! A Burn [`DataLoader`] that builds its batches on a thread of its own, a few
//! batches ahead of the training loop.
//!
//! Gathering a batch reads 32 scattered images (cache misses) and converts
//! 25,088 pixels; on the training thread that was about a fifth of an epoch.
//! Here one thread runs the wrapped loader's iterator from start to end and
//! hands the batches over through a bounded channel, in the same order, so the
//! training thread only receives them. They travel in groups: handing them
//! over one by one woke the sleeping producer for every batch, and those
//! wake-ups cost the training thread as much as building the batches had.
//! Burn's own multi-worker loader splits the data between workers and
//! delivers batches in whatever order they finish, which would change the
//! data order with the number of threads.

use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use burn::data::dataloader::{DataLoader, DataLoaderIterator, Progress};
use burn::data::dataset::DatasetError;
use burn::tensor::Device;

/// Groups the producer may have ready before it waits for the consumer.
const GROUPS_AHEAD: usize = 2;

/// Wraps `inner`: the same batches in the same order, built on another thread
/// and handed over `group` at a time (so at most `2 * group` ahead).
pub struct Prefetch<O> {
    inner: Arc<dyn DataLoader<O>>,
    group: usize,
}

impl<O> Prefetch<O> {
    /// # Panics
    /// If `group` is 0.
    pub fn new(inner: Arc<dyn DataLoader<O>>, group: usize) -> Self {
        assert!(group > 0, "a group holds at least one batch");
        Self { inner, group }
    }
}

/// A batch and the progress after it.
type Item<O> = (Result<O, DatasetError>, Progress);
type Group<O> = Vec<Item<O>>;

impl<O: Send + 'static> DataLoader<O> for Prefetch<O> {
    fn iter<'a>(&'a self) -> Box<dyn DataLoaderIterator<O> + 'a> {
        let (sender, receiver) = sync_channel::<Group<O>>(GROUPS_AHEAD);
        let inner = Arc::clone(&self.inner);
        let progress = Progress::new(0, inner.num_items(), None);
        let group = self.group;
        let producer = std::thread::Builder::new()
            .name("prefetch".into())
            .spawn(move || produce(inner.as_ref(), group, &sender))
            .expect("cannot start the data loader's thread");
        Box::new(Batches {
            receiver: Some(receiver),
            producer: Some(producer),
            ready: Vec::new().into_iter(),
            progress,
        })
    }

    fn num_items(&self) -> usize {
        self.inner.num_items()
    }

    fn to_device(&self, device: &Device) -> Arc<dyn DataLoader<O>> {
        Arc::new(Self::new(self.inner.to_device(device), self.group))
    }

    fn slice(&self, start: usize, end: usize) -> Arc<dyn DataLoader<O>> {
        Arc::new(Self::new(self.inner.slice(start, end), self.group))
    }
}

/// Runs `loader` to its end, sending its batches `group` at a time (the last
/// group may be shorter); stops early when the consumer is gone.
fn produce<O>(loader: &dyn DataLoader<O>, group: usize, sender: &SyncSender<Group<O>>) {
    let mut batches = loader.iter();
    let mut ready = Vec::with_capacity(group);
    while let Some(batch) = batches.next() {
        ready.push((batch, batches.progress()));
        if ready.len() == group
            && sender
                .send(std::mem::replace(&mut ready, Vec::with_capacity(group)))
                .is_err()
        {
            return;
        }
    }
    if !ready.is_empty() {
        let _ = sender.send(ready);
    }
}

/// The consuming end: one epoch's batches.
struct Batches<O> {
    receiver: Option<Receiver<Group<O>>>,
    producer: Option<JoinHandle<()>>,
    /// The rest of the group received last.
    ready: std::vec::IntoIter<Item<O>>,
    progress: Progress,
}

impl<O> Iterator for Batches<O> {
    type Item = Result<O, DatasetError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.len() == 0 {
            self.ready = self.receiver.as_ref()?.recv().ok()?.into_iter();
        }
        let (batch, progress) = self.ready.next()?;
        self.progress = progress;
        Some(batch)
    }
}

impl<O> DataLoaderIterator<O> for Batches<O> {
    fn progress(&self) -> Progress {
        self.progress.clone()
    }
}

impl<O> Drop for Batches<O> {
    fn drop(&mut self) {
        // Closing the channel first stops a producer that is still ahead.
        drop(self.receiver.take());
        if let Some(producer) = self.producer.take() {
            // A panic in the wrapped loader reaches the consumer here.
            if let Err(panic) = producer.join() {
                std::panic::resume_unwind(panic);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{MnistBatcher, MnistDataset, MnistSplit};
    use burn::data::dataloader::DataLoaderBuilder;

    fn loader() -> Arc<dyn DataLoader<crate::MnistBatch>> {
        let labels: Vec<u8> = (0..50).map(|i| (i % 10) as u8).collect();
        let images = (0..50 * crate::IMAGE_PIXELS)
            .map(|p| (p / crate::IMAGE_PIXELS) as u8)
            .collect();
        let split = Arc::new(MnistSplit::new(images, labels).unwrap());
        DataLoaderBuilder::new(MnistBatcher)
            .batch_size(8)
            .shuffle(3)
            .build(MnistDataset::new(split))
    }

    /// Every epoch's batches (their first pixel, which names the image), as
    /// `loader` gives them after a move to the device.
    fn epochs(loader: &dyn DataLoader<crate::MnistBatch>, count: usize) -> Vec<Vec<f32>> {
        let moved = loader.to_device(&Device::flex());
        (0..count)
            .map(|_| {
                let mut batches = moved.iter();
                let mut firsts = Vec::new();
                for batch in batches.by_ref() {
                    let images = batch
                        .unwrap()
                        .images
                        .into_data()
                        .try_to_vec::<f32>()
                        .unwrap();
                    firsts.extend(images.chunks(crate::IMAGE_PIXELS).map(|image| image[0]));
                }
                assert_eq!(batches.progress().items_processed, 50);
                firsts
            })
            .collect()
    }

    #[test]
    fn same_batches_in_the_same_order_as_the_wrapped_loader() {
        let direct = epochs(loader().as_ref(), 3);
        assert_ne!(direct[0], direct[1], "epochs are shuffled differently");
        // Groups that divide the 7 batches, that do not, and that hold them all.
        for group in [1, 3, 7, 16] {
            assert_eq!(
                epochs(&Prefetch::new(loader(), group), 3),
                direct,
                "group {group}"
            );
        }
        assert_eq!(Prefetch::new(loader(), 2).num_items(), 50);
    }

    #[test]
    fn stopping_early_ends_the_producer() {
        let loader = Prefetch::new(loader(), 2);
        let mut batches = loader.iter();
        assert!(batches.next().unwrap().is_ok());
        drop(batches); // returns: the producer saw the closed channel
        assert_eq!(loader.iter().count(), 7); // 50 images, batches of 8
    }
}
