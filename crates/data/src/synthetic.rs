//! A small, learnable MNIST-shaped dataset written as raw IDX files, for tests
//! that need real files on disk without the 55 MB of MNIST.

use std::io;
use std::path::Path;

use crate::idx::{IdxImages, encode_images, encode_labels};
use crate::mnist::{IMAGE_PIXELS, IMAGE_SIDE};

/// Writes `train` and `test` images with labels into `dir` under MNIST's file
/// names. Digit `d` is a bright bar on rows `2d+4` and `2d+5` over light noise,
/// so the tutorial network learns it within an epoch. Labels cycle through all
/// ten digits.
pub fn write_learnable(dir: &Path, train: usize, test: usize) -> io::Result<()> {
    for (prefix, count, salt) in [("train", train, 1usize), ("t10k", test, 7)] {
        let labels: Vec<u8> = (0..count).map(|i| ((i * 7 + salt) % 10) as u8).collect();
        let mut pixels = Vec::with_capacity(count * IMAGE_PIXELS);
        for (i, &label) in labels.iter().enumerate() {
            for p in 0..IMAGE_PIXELS {
                let row = p / IMAGE_SIDE;
                let bar = row == 2 * label as usize + 4 || row == 2 * label as usize + 5;
                let noise = ((i * 131 + p * 29 + salt) % 61) as u8;
                pixels.push(if bar { 200 + noise / 2 } else { noise });
            }
        }
        let images = IdxImages {
            count,
            rows: IMAGE_SIDE,
            cols: IMAGE_SIDE,
            pixels,
        };
        std::fs::write(
            dir.join(format!("{prefix}-images-idx3-ubyte")),
            encode_images(&images),
        )?;
        std::fs::write(
            dir.join(format!("{prefix}-labels-idx1-ubyte")),
            encode_labels(&labels),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_a_loadable_pair_of_splits() {
        let dir = tempfile::tempdir().unwrap();
        write_learnable(dir.path(), 12, 5).unwrap();
        let mnist = crate::load_dir(dir.path()).unwrap();
        assert_eq!((mnist.train.len(), mnist.test.len()), (12, 5));
        // Label 1 of the training split: (1 * 7 + 1) % 10 = 8, bar on rows 20 and 21.
        assert_eq!(mnist.train.label(1), 8);
        let image = mnist.train.image(1);
        assert!(image[20 * IMAGE_SIDE] >= 200 && image[21 * IMAGE_SIDE + 27] >= 200);
        assert!(image[19 * IMAGE_SIDE] < 61);
    }
}
