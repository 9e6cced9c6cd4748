//! A Burn [`Dataset`] over one MNIST split held as contiguous bytes.
//!
//! An item is a cheap handle (a shared pointer to the split and an index), so
//! fetching a batch of items copies no pixels: the [`MnistBatcher`](crate::MnistBatcher)
//! reads the rows straight from the split's buffer.

use std::fmt;
use std::sync::Arc;

use burn::data::dataset::{Dataset, DatasetError};

use crate::mnist::MnistSplit;

/// One image of a split: its 784 pixels (`u8`, row-major 28x28) and its label.
#[derive(Clone)]
pub struct MnistItem {
    split: Arc<MnistSplit>,
    index: usize,
}

impl MnistItem {
    /// Position of the image in its split.
    pub fn index(&self) -> usize {
        self.index
    }

    /// The 784 raw pixels, 0 (background) to 255 (ink).
    pub fn pixels(&self) -> &[u8] {
        self.split.image(self.index)
    }

    /// The digit, 0 to 9.
    pub fn label(&self) -> u8 {
        self.split.label(self.index)
    }
}

// Not derived: a derived Debug would print the whole split behind the Arc.
impl fmt::Debug for MnistItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MnistItem")
            .field("index", &self.index)
            .field("label", &self.label())
            .finish()
    }
}

/// The train or test split as a Burn dataset.
#[derive(Clone)]
pub struct MnistDataset {
    split: Arc<MnistSplit>,
}

impl MnistDataset {
    pub fn new(split: Arc<MnistSplit>) -> Self {
        Self { split }
    }

    /// The split behind the dataset.
    pub fn split(&self) -> &Arc<MnistSplit> {
        &self.split
    }
}

/// Asked for an image past the end of a split.
#[derive(Debug, thiserror::Error)]
#[error("image index {index} is out of range: the split holds {len} images")]
pub struct IndexOutOfRange {
    pub index: usize,
    pub len: usize,
}

impl Dataset<MnistItem> for MnistDataset {
    fn get(&self, index: usize) -> Result<MnistItem, DatasetError> {
        let len = self.split.len();
        if index >= len {
            return Err(DatasetError::new(IndexOutOfRange { index, len }));
        }
        Ok(MnistItem {
            split: Arc::clone(&self.split),
            index,
        })
    }

    fn len(&self) -> usize {
        self.split.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::IMAGE_PIXELS;

    fn split_of(labels: &[u8]) -> Arc<MnistSplit> {
        // Image i is filled with the value i, so a row tells which image it is.
        let images = (0..labels.len())
            .flat_map(|i| std::iter::repeat_n(i as u8, IMAGE_PIXELS))
            .collect();
        Arc::new(MnistSplit::new(images, labels.to_vec()).unwrap())
    }

    #[test]
    fn items_point_at_their_row_and_label() {
        let dataset = MnistDataset::new(split_of(&[7, 2, 9]));
        assert_eq!(dataset.len(), 3);
        let item = dataset.get(1).unwrap();
        assert_eq!(item.index(), 1);
        assert_eq!(item.label(), 2);
        assert_eq!(item.pixels().len(), IMAGE_PIXELS);
        assert!(item.pixels().iter().all(|&p| p == 1));
        assert_eq!(format!("{item:?}"), "MnistItem { index: 1, label: 2 }");
    }

    #[test]
    fn an_index_past_the_end_is_an_error_not_a_panic() {
        let dataset = MnistDataset::new(split_of(&[7, 2]));
        let error = dataset.get(2).unwrap_err();
        assert_eq!(
            error.to_string(),
            "image index 2 is out of range: the split holds 2 images"
        );
    }
}
