//! MNIST-shaped data for the tutorial network: IDX files read into contiguous `u8`
//! buffers, found on disk, in the cache, through npm or on the public mirrors, and
//! served to Burn as a [`Dataset`](burn::data::dataset::Dataset) plus a
//! [`Batcher`](burn::data::dataloader::batcher::Batcher) that builds one tensor per batch.
//! Also what every binary shares: one-line errors ([`one_line`]), atomic writes
//! ([`write_atomic`]) and printing that survives a closed pipe ([`console`]).

pub mod atomic;
pub mod augment;
pub mod batcher;
pub mod console;
pub mod dataset;
pub mod distorted;
pub mod error;
pub mod fetch;
pub mod holdout;
pub mod idx;
pub mod mnist;
pub mod own_image;
pub mod prefetch;
pub mod synthetic;

pub use atomic::write_atomic;
pub use augment::{Distortion, Warp};
pub use batcher::{MnistBatch, MnistBatcher, images_tensor, normalize};
pub use dataset::{MnistDataset, MnistItem};
pub use distorted::{DistortingBatcher, Epoch, EpochCount};
pub use error::{DataError, one_line};
pub use fetch::{Fetcher, Located};
pub use mnist::{IMAGE_PIXELS, IMAGE_SIDE, Mnist, MnistSplit, NUM_CLASSES, load_dir};
pub use own_image::{ImageError, decode_digit, png_bytes, read_digit};
pub use prefetch::Prefetch;
