//! MNIST-shaped splits: 28x28 `u8` images with labels 0..=9, loaded from a
//! directory of the four IDX files and checked for consistency.
//!
//! Any data set with these shapes works (Fashion-MNIST, KMNIST, EMNIST Digits,
//! ...): nothing here checks checksums, only shapes and label ranges.

use std::path::{Path, PathBuf};

use crate::error::DataError;
use crate::idx;

/// Side of an image in pixels.
pub const IMAGE_SIDE: usize = 28;
/// Pixels per image: the length of the flattened input vector.
pub const IMAGE_PIXELS: usize = IMAGE_SIDE * IMAGE_SIDE;
/// Number of classes (digits 0..=9).
pub const NUM_CLASSES: usize = 10;

/// Canonical names of the four IDX files, as the original distribution spells them:
/// training images, training labels, test images, test labels.
pub const FILE_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// One split (train or test): `len()` images of [`IMAGE_PIXELS`] `u8` pixels
/// (0 = background, 255 = ink), row-major, in one contiguous buffer, and their
/// labels 0..=9.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MnistSplit {
    /// `len() * IMAGE_PIXELS` pixels, image after image.
    images: Vec<u8>,
    /// One class index per image.
    labels: Vec<u8>,
}

impl MnistSplit {
    /// Wraps pixels and labels after checking that `images.len() == labels.len() * 784`
    /// and that every label is below [`NUM_CLASSES`].
    pub fn new(images: Vec<u8>, labels: Vec<u8>) -> Result<Self, DataError> {
        Self::checked(images, labels, "in-memory MNIST split")
    }

    /// [`MnistSplit::new`] with `what` naming the data in error messages.
    fn checked(images: Vec<u8>, labels: Vec<u8>, what: &str) -> Result<Self, DataError> {
        if labels.len().checked_mul(IMAGE_PIXELS) != Some(images.len()) {
            return Err(DataError::SplitShape {
                what: what.to_string(),
                pixels: images.len(),
                labels: labels.len(),
                image_pixels: IMAGE_PIXELS,
            });
        }
        if let Some((index, &value)) = labels
            .iter()
            .enumerate()
            .find(|&(_, &label)| usize::from(label) >= NUM_CLASSES)
        {
            return Err(DataError::BadLabel {
                what: what.to_string(),
                index,
                value,
                classes: NUM_CLASSES,
            });
        }
        Ok(Self { images, labels })
    }

    /// Number of images.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether the split holds no image.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The [`IMAGE_PIXELS`] pixels of image `index`, row-major.
    ///
    /// # Panics
    /// If `index >= self.len()`, like slice indexing.
    pub fn image(&self, index: usize) -> &[u8] {
        &self.images[index * IMAGE_PIXELS..(index + 1) * IMAGE_PIXELS]
    }

    /// The label (0..=9) of image `index`.
    ///
    /// # Panics
    /// If `index >= self.len()`, like slice indexing.
    pub fn label(&self, index: usize) -> u8 {
        self.labels[index]
    }

    /// All pixels, `len() * IMAGE_PIXELS` bytes, image after image.
    pub fn images(&self) -> &[u8] {
        &self.images
    }

    /// All labels, one per image.
    pub fn labels(&self) -> &[u8] {
        &self.labels
    }

    /// The accuracy, a fraction in [0, 1], of always answering the most common
    /// label: what a network that learned nothing scores here. 0 when empty.
    pub fn chance_accuracy(&self) -> f64 {
        let mut counts = [0usize; NUM_CLASSES];
        for &label in &self.labels {
            counts[label as usize] += 1;
        }
        let most = counts.iter().copied().max().unwrap_or(0);
        most as f64 / self.len().max(1) as f64
    }
}

/// The two splits of an MNIST-shaped data set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mnist {
    /// The training split (60,000 images for MNIST).
    pub train: MnistSplit,
    /// The test split (10,000 images for MNIST).
    pub test: MnistSplit,
}

/// Loads the four IDX files from `dir`.
///
/// Each of [`FILE_NAMES`] may be present under its own name, with `.gz` added, or
/// in the dotted spelling some distributions use (`train-images.idx3-ubyte`,
/// optionally `.gz`). Checks that images are 28x28, labels are 0..=9 and each
/// split has as many labels as images. Checksums are not checked: any
/// MNIST-shaped data set works.
pub fn load_dir(dir: &Path) -> Result<Mnist, DataError> {
    let [train_images, train_labels, test_images, test_labels] = find_files(dir)?;
    Ok(Mnist {
        train: load_split(&train_images, &train_labels)?,
        test: load_split(&test_images, &test_labels)?,
    })
}

/// Checks cheaply, from the file headers alone, that `dir` holds MNIST-shaped
/// data: all four files present, images 28x28, as many labels as images. The
/// full check (data length, label values) happens in [`load_dir`].
pub(crate) fn check_dir(dir: &Path) -> Result<(), DataError> {
    let [train_images, train_labels, test_images, test_labels] = find_files(dir)?;
    for (images_path, labels_path) in [(train_images, train_labels), (test_images, test_labels)] {
        let (images, rows, cols) = idx::read_images_shape(&images_path)?;
        check_image_side(&images_path, rows, cols)?;
        let labels = idx::read_labels_count(&labels_path)?;
        check_counts(&images_path, images, &labels_path, labels)?;
    }
    Ok(())
}

/// The accepted names of one file, in order of preference: raw, gzipped, dotted,
/// dotted and gzipped.
fn accepted_names(name: &str) -> [String; 4] {
    let dotted = name.replacen("-idx", ".idx", 1);
    [
        name.to_string(),
        format!("{name}.gz"),
        dotted.clone(),
        format!("{dotted}.gz"),
    ]
}

/// The paths of the four files in [`FILE_NAMES`] order, each under the first of
/// its accepted names that exists.
fn find_files(dir: &Path) -> Result<[PathBuf; 4], DataError> {
    if !dir.is_dir() {
        return Err(DataError::NotADirectory {
            dir: dir.to_path_buf(),
        });
    }
    // A directory this user may not read hides its files from `is_file`
    // below: say so rather than call them missing.
    std::fs::read_dir(dir).map_err(|error| DataError::Io {
        path: dir.to_path_buf(),
        action: "list the directory",
        error,
    })?;
    let find = |name: &'static str| {
        let names = accepted_names(name);
        names
            .iter()
            .map(|candidate| dir.join(candidate))
            .find(|path| path.is_file())
            .ok_or_else(|| DataError::MissingFile {
                dir: dir.to_path_buf(),
                name,
                tried: names.to_vec(),
            })
    };
    let [train_images, train_labels, test_images, test_labels] = FILE_NAMES;
    Ok([
        find(train_images)?,
        find(train_labels)?,
        find(test_images)?,
        find(test_labels)?,
    ])
}

fn load_split(images_path: &Path, labels_path: &Path) -> Result<MnistSplit, DataError> {
    let images = idx::read_images(images_path)?;
    check_image_side(images_path, images.rows, images.cols)?;
    let labels = idx::read_labels(labels_path)?;
    check_counts(images_path, images.count, labels_path, labels.len())?;
    MnistSplit::checked(images.pixels, labels, &labels_path.display().to_string())
}

fn check_image_side(path: &Path, rows: usize, cols: usize) -> Result<(), DataError> {
    if (rows, cols) == (IMAGE_SIDE, IMAGE_SIDE) {
        Ok(())
    } else {
        Err(DataError::BadShape {
            path: path.to_path_buf(),
            rows,
            cols,
            expected: IMAGE_SIDE,
        })
    }
}

fn check_counts(
    images_path: &Path,
    images: usize,
    labels_path: &Path,
    labels: usize,
) -> Result<(), DataError> {
    if images == labels {
        Ok(())
    } else {
        Err(DataError::CountMismatch {
            images_path: images_path.to_path_buf(),
            labels_path: labels_path.to_path_buf(),
            images,
            labels,
        })
    }
}

/// Small MNIST-shaped data sets on disk, for tests here and in the other modules.
#[cfg(test)]
pub(crate) mod fixtures {
    use std::io::Write;
    use std::path::Path;

    use flate2::Compression;
    use flate2::write::GzEncoder;

    use super::FILE_NAMES;
    use crate::idx::{IdxImages, encode_images, encode_labels};

    /// `count` images of `rows` x `cols` with distinct, deterministic pixels.
    pub(crate) fn images(count: usize, rows: usize, cols: usize) -> IdxImages {
        IdxImages {
            count,
            rows,
            cols,
            pixels: (0..count * rows * cols)
                .map(|i| (i * 7 % 256) as u8)
                .collect(),
        }
    }

    /// `count` labels cycling through 0..=9.
    pub(crate) fn labels(count: usize) -> Vec<u8> {
        (0..count).map(|i| (i % 10) as u8).collect()
    }

    pub(crate) fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::fast());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    /// The four files' bytes, in `FILE_NAMES` order: `train` and `test` 28x28 images.
    pub(crate) fn files(train: usize, test: usize) -> [Vec<u8>; 4] {
        [
            encode_images(&images(train, 28, 28)),
            encode_labels(&labels(train)),
            encode_images(&images(test, 28, 28)),
            encode_labels(&labels(test)),
        ]
    }

    /// Writes [`files`] into `dir`, each under `rename(canonical name)`, gzipped if `gz`.
    pub(crate) fn write_dir(
        dir: &Path,
        train: usize,
        test: usize,
        gz: bool,
        rename: impl Fn(&str) -> String,
    ) {
        std::fs::create_dir_all(dir).unwrap();
        for (name, bytes) in FILE_NAMES.iter().zip(files(train, test)) {
            let bytes = if gz { gzip(&bytes) } else { bytes };
            std::fs::write(dir.join(rename(name)), bytes).unwrap();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::{self, write_dir};
    use super::*;
    use crate::idx::{encode_images, encode_labels};

    fn same(name: &str) -> String {
        name.to_string()
    }

    fn assert_fixture(mnist: &Mnist, train: usize, test: usize) {
        assert_eq!(mnist.train.len(), train);
        assert_eq!(mnist.test.len(), test);
        let expected = fixtures::images(train, 28, 28).pixels;
        assert_eq!(mnist.train.images(), &expected[..]);
        assert_eq!(
            mnist.train.image(1),
            &expected[IMAGE_PIXELS..2 * IMAGE_PIXELS]
        );
        assert_eq!(mnist.train.labels(), &fixtures::labels(train)[..]);
        assert_eq!(mnist.test.label(3), 3);
    }

    fn message(result: Result<Mnist, DataError>) -> String {
        result.expect_err("loading should fail").to_string()
    }

    #[test]
    fn loads_raw_names() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 12, 5, false, same);
        assert_fixture(&load_dir(dir.path()).unwrap(), 12, 5);
        check_dir(dir.path()).unwrap();
    }

    #[test]
    fn loads_gz_names() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 12, 5, true, |name| format!("{name}.gz"));
        assert_fixture(&load_dir(dir.path()).unwrap(), 12, 5);
        check_dir(dir.path()).unwrap();
    }

    #[test]
    fn loads_dotted_names_raw_and_gz() {
        let dotted = |name: &str| name.replacen("-idx", ".idx", 1);
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 12, 5, false, dotted);
        assert!(dir.path().join("train-images.idx3-ubyte").is_file());
        assert_fixture(&load_dir(dir.path()).unwrap(), 12, 5);

        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 12, 5, true, |name| {
            format!("{}.gz", dotted(name))
        });
        assert_fixture(&load_dir(dir.path()).unwrap(), 12, 5);
    }

    #[test]
    fn gzip_content_under_a_raw_name_and_raw_content_under_a_gz_name_both_load() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 3, 4, true, same);
        assert_fixture(&load_dir(dir.path()).unwrap(), 3, 4);
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 3, 4, false, |name| format!("{name}.gz"));
        assert_fixture(&load_dir(dir.path()).unwrap(), 3, 4);
    }

    #[test]
    fn a_missing_file_is_named_with_the_names_tried() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 3, 2, false, same);
        std::fs::remove_file(dir.path().join("t10k-labels-idx1-ubyte")).unwrap();
        for text in [
            message(load_dir(dir.path())),
            check_dir(dir.path()).unwrap_err().to_string(),
        ] {
            assert!(text.contains(&dir.path().display().to_string()), "{text}");
            assert!(
                text.contains("missing MNIST file t10k-labels-idx1-ubyte"),
                "{text}"
            );
            assert!(text.contains("t10k-labels.idx1-ubyte.gz"), "{text}");
        }
    }

    #[test]
    fn a_missing_directory_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let text = message(load_dir(&missing));
        assert!(text.contains(&missing.display().to_string()), "{text}");
        assert!(text.contains("no such directory"), "{text}");
    }

    #[test]
    fn image_and_label_counts_must_agree() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 3, 2, false, same);
        let labels = dir.path().join("train-labels-idx1-ubyte");
        std::fs::write(&labels, encode_labels(&fixtures::labels(2))).unwrap();
        for text in [
            message(load_dir(dir.path())),
            check_dir(dir.path()).unwrap_err().to_string(),
        ] {
            assert!(text.contains(&labels.display().to_string()), "{text}");
            assert!(text.contains("train-images-idx3-ubyte: 3 images"), "{text}");
            assert!(text.contains("2 labels"), "{text}");
            assert!(text.contains("expected the same count"), "{text}");
        }
    }

    #[test]
    fn labels_must_be_below_ten() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 3, 2, false, same);
        let labels = dir.path().join("t10k-labels-idx1-ubyte");
        std::fs::write(&labels, encode_labels(&[4, 10])).unwrap();
        let text = message(load_dir(dir.path()));
        assert!(text.contains(&labels.display().to_string()), "{text}");
        assert!(
            text.contains("label 10 at index 1 is out of range, expected 0..=9"),
            "{text}"
        );
    }

    #[test]
    fn images_must_be_28_by_28() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 3, 2, false, same);
        let images = dir.path().join("train-images-idx3-ubyte");
        std::fs::write(&images, encode_images(&fixtures::images(3, 27, 29))).unwrap();
        for text in [
            message(load_dir(dir.path())),
            check_dir(dir.path()).unwrap_err().to_string(),
        ] {
            assert!(text.contains(&images.display().to_string()), "{text}");
            assert!(
                text.contains("images are 27x29 pixels, expected 28x28"),
                "{text}"
            );
        }
    }

    #[test]
    fn file_errors_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        write_dir(dir.path(), 3, 2, false, same);
        let images = dir.path().join("t10k-images-idx3-ubyte");
        std::fs::write(&images, b"\x1f\x8bnot gzip at all").unwrap();
        let text = message(load_dir(dir.path()));
        assert!(text.contains(&images.display().to_string()), "{text}");
        assert!(text.contains("gzip"), "{text}");
    }

    #[test]
    fn chance_is_the_share_of_the_most_common_label() {
        let split = MnistSplit::new(vec![0; 5 * IMAGE_PIXELS], vec![3, 1, 3, 7, 3]).unwrap();
        assert_eq!(split.chance_accuracy(), 0.6);
        let empty = MnistSplit::new(vec![], vec![]).unwrap();
        assert_eq!(empty.chance_accuracy(), 0.0);
    }

    #[test]
    fn split_new_validates_lengths_and_labels() {
        let split = MnistSplit::new(vec![7; 2 * IMAGE_PIXELS], vec![0, 9]).unwrap();
        assert_eq!(split.len(), 2);
        assert!(!split.is_empty());
        assert_eq!(split.image(1), &[7; IMAGE_PIXELS][..]);
        assert_eq!(split.label(1), 9);
        assert!(MnistSplit::new(Vec::new(), Vec::new()).unwrap().is_empty());

        let text = MnistSplit::new(vec![0; IMAGE_PIXELS + 1], vec![1])
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("785 pixel bytes for 1 labels, expected 1 x 784"),
            "{text}"
        );
        let text = MnistSplit::new(vec![0; IMAGE_PIXELS], vec![200])
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("label 200 at index 0 is out of range"),
            "{text}"
        );
    }
}
