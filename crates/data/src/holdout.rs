//! A validation set held out of the training set: Keras's `validation_split`,
//! but drawn at random with the seed rather than taken from the end.

use rand::SeedableRng;
use rand::seq::SliceRandom;

use crate::mnist::MnistSplit;

impl MnistSplit {
    /// Splits off `round(len * fraction)` images, chosen by a shuffle seeded
    /// with `seed`, as `(train, validation)`. Each image lands in exactly one
    /// of the two; both keep the original order. `fraction` is in [0, 1).
    pub fn hold_out(&self, fraction: f64, seed: u64) -> (MnistSplit, MnistSplit) {
        let held = ((self.len() as f64) * fraction).round() as usize;
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut rand::rngs::StdRng::seed_from_u64(seed));
        let mut in_validation = vec![false; self.len()];
        for &index in &order[..held] {
            in_validation[index] = true;
        }
        let pick = |wanted: bool| {
            let indices = (0..self.len()).filter(|&i| in_validation[i] == wanted);
            let (mut images, mut labels) = (Vec::new(), Vec::new());
            for index in indices {
                images.extend_from_slice(self.image(index));
                labels.push(self.label(index));
            }
            MnistSplit::new(images, labels).expect("images and labels of a valid split")
        };
        (pick(false), pick(true))
    }
}

#[cfg(test)]
mod tests {
    use crate::IMAGE_PIXELS;
    use crate::mnist::MnistSplit;
    use std::collections::HashSet;

    /// 100 images; image i has every pixel equal to i, so it names itself.
    fn numbered() -> MnistSplit {
        let images = (0..100u8)
            .flat_map(|i| std::iter::repeat_n(i, IMAGE_PIXELS))
            .collect();
        MnistSplit::new(images, (0..100).map(|i| i % 10).collect()).unwrap()
    }

    fn ids(split: &MnistSplit) -> Vec<u8> {
        (0..split.len()).map(|i| split.image(i)[0]).collect()
    }

    #[test]
    fn sizes_are_the_fraction_and_the_parts_are_disjoint() {
        let (train, valid) = numbered().hold_out(0.1, 42);
        assert_eq!((train.len(), valid.len()), (90, 10));
        let (train_ids, valid_ids) = (ids(&train), ids(&valid));
        let all: HashSet<u8> = train_ids.iter().chain(&valid_ids).copied().collect();
        assert_eq!(all.len(), 100, "every image in exactly one part");
        // Labels travel with their images.
        for i in 0..valid.len() {
            assert_eq!(valid.label(i), valid.image(i)[0] % 10);
        }
        // Drawn at random, not the last 10 as Keras takes them.
        assert_ne!(valid_ids, (90..100).collect::<Vec<u8>>());
    }

    #[test]
    fn the_seed_decides_the_draw() {
        let split = numbered();
        assert_eq!(split.hold_out(0.2, 1), split.hold_out(0.2, 1));
        assert_ne!(
            ids(&split.hold_out(0.2, 1).1),
            ids(&split.hold_out(0.2, 2).1)
        );
        let (train, valid) = split.hold_out(0.0, 1);
        assert_eq!((train, valid.len()), (split, 0));
    }
}
